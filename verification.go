package keyward

import (
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward/audit"
)

func verifyThrottleKey(accountID string) string { return "verify:account:" + accountID }
func emailChangeThrottleKey(accountID string) string {
	return "change:account:" + accountID
}

// sendVerification mails a link that proves a.Email, in the caller's
// transaction; it replaces any earlier one.
func (s *Service) sendVerification(ctx context.Context, q Queries, a *Account, c Client, now time.Time) error {
	token, hash, err := s.newToken(verifyTokenPrefix)
	if err != nil {
		return err
	}
	if _, err := q.DeleteEmailTokens(ctx, a.ID, PurposeVerify); err != nil {
		return err
	}
	expires := now.Add(s.cfg.VerifyTokenTTL)
	if err := q.CreateEmailToken(ctx, &EmailToken{TokenHash: hash, Purpose: PurposeVerify, AccountID: a.ID, Email: a.Email, CreatedAt: now, ExpiresAt: expires}); err != nil {
		return err
	}
	cl := c.clean()
	return s.enqueueMail(ctx, q, a, &MailContent{To: a.Email, Kind: MailVerifyEmail, Token: token, Time: now, IP: cl.IP, Device: describe(cl), ExpiresAt: expires})
}

func alreadyVerified() *Error {
	return Errorf(CodeAlreadyVerified, "Your email address is confirmed already.")
}

// ResendVerification mails the caller a new verification link. Resending is
// throttled per account like "forgot password" per email.
func (s *Service) ResendVerification(ctx context.Context, caller *Session, c Client) error {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return err
	}
	if a.EmailVerified() {
		return alreadyVerified()
	}
	now := s.clock()
	if _, err := s.reserveAttempt(ctx, now, throttleCheck{verifyThrottleKey(a.ID), s.cfg.ForgotEmailThrottle}); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q Queries) error { return s.sendVerification(ctx, q, a, c, now) })
}

// VerifyEmail follows a link mailed to prove an address: the one of
// sign-up (the account's address is verified) or that of an email change
// (the account moves to the new address, verified, and the old address is
// told). A change whose new address was taken meanwhile is email_taken.
func (s *Service) VerifyEmail(ctx context.Context, token string, c Client) (*Account, error) {
	now := s.clock()
	tok, err := s.emailTokenFor(ctx, token, verifyTokenPrefix, []TokenPurpose{PurposeVerify, PurposeEmailChange}, audit.EmailVerified, c)
	if err != nil {
		return nil, err
	}
	if tok.Purpose == PurposeEmailChange {
		return s.changeEmail(ctx, tok, c, now)
	}
	var a *Account
	// Through changeAccount: a node's cached account says whether it is
	// verified.
	err = s.changeAccount(ctx, tok.AccountID, func(q Queries) error {
		if consumed, err := q.ConsumeEmailToken(ctx, tok.TokenHash); err != nil || !consumed {
			return orInvalidToken(err)
		}
		done, err := q.MarkEmailVerified(ctx, tok.AccountID, tok.Email, now)
		if err != nil {
			return err
		}
		if a, err = q.LockAccount(ctx, tok.AccountID); err != nil {
			return err
		}
		if !done {
			if EmailKey(a.Email) != EmailKey(tok.Email) {
				// The account has moved to another address since.
				return invalidToken()
			}
			return errUnchanged // verified already: the link did its work before
		}
		e := event(a.ID, audit.EmailVerified, c, "")
		e.Time = now
		return s.record(ctx, q, e)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Service) changeEmail(ctx context.Context, tok *EmailToken, c Client, now time.Time) (*Account, error) {
	var a *Account
	err := s.changeAccount(ctx, tok.AccountID, func(q Queries) error {
		if consumed, err := q.ConsumeEmailToken(ctx, tok.TokenHash); err != nil || !consumed {
			return orInvalidToken(err)
		}
		old, err := q.LockAccount(ctx, tok.AccountID)
		if err != nil {
			return notFoundAs(err, invalidToken())
		}
		if old.Disabled() {
			// Moving a disabled account to another address would hand it
			// to whoever reads that address once it is enabled.
			return invalidToken()
		}
		if err := q.SetEmail(ctx, old.ID, tok.Email, &now); err != nil {
			if IsCode(err, CodeEmailTaken) {
				return emailTakenMeanwhile()
			}
			return err
		}
		// Links mailed to the old address (a reset, a verification) stop
		// working; so do other pending changes.
		for _, p := range []TokenPurpose{PurposeReset, PurposeVerify, PurposeEmailChange} {
			if _, err := q.DeleteEmailTokens(ctx, old.ID, p); err != nil {
				return err
			}
		}
		e := event(old.ID, audit.EmailChanged, c, "")
		e.Time = now
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if a, err = q.LockAccount(ctx, old.ID); err != nil {
			return err
		}
		// The old address hears of it, with a way back.
		return s.notify(ctx, q, a, notice{event: string(audit.EmailChanged), client: c, now: now, to: old.Email, newEmail: tok.Email})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func emailTakenMeanwhile() *Error {
	return Errorf(CodeEmailTaken, "Another account has this email address now. Your address was not changed.")
}

// RequestEmailChange starts moving the caller's account to newEmail: a
// link goes to the new address, and the change happens when it is followed
// (VerifyEmail); a notice goes to the current address at once. It is a
// sensitive action: it needs the caller's sudo window, or pw (when not
// empty) to be the password, which opens it.
func (s *Service) RequestEmailChange(ctx context.Context, caller *Session, newEmail, pw string, c Client) error {
	email, err := ParseEmail(newEmail)
	if err != nil {
		return err
	}
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return err
	}
	if err := s.sudoFor(ctx, caller, pw, audit.EmailChangeRequested, c); err != nil {
		return err
	}
	if EmailKey(email) == EmailKey(a.Email) {
		return Errorf(CodeEmailTaken, "This is already your email address.")
	}
	// Each request mails an address the requester chooses: counted, like
	// "forgot password", per account and per address mailed (the key of
	// forgot password's, so one person receives as few of either). This
	// bounds probing for taken addresses too.
	now := s.clock()
	if _, err := s.reserveAttempt(ctx, now,
		throttleCheck{emailChangeThrottleKey(a.ID), s.cfg.ForgotEmailThrottle},
		throttleCheck{forgotEmailThrottleKey(email), s.cfg.ForgotEmailThrottle}); err != nil {
		return err
	}
	if _, err := s.store.AccountByEmail(ctx, email); err == nil {
		return emailTaken()
	} else if !IsCode(err, CodeNotFound) {
		return err
	}
	token, hash, err := s.newToken(verifyTokenPrefix)
	if err != nil {
		return err
	}
	expires := now.Add(s.cfg.VerifyTokenTTL)
	return s.store.InTx(ctx, func(q Queries) error {
		// Under the account's lock: a reset or a lockdown that committed
		// since the sudo check cancelled pending changes, this one too; a
		// reset, a lockdown or a password change that signed the others out
		// ended the caller's session, which requireSudo sees.
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		if cur.LockedDownAt != nil {
			return passwordResetRequired()
		}
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		if _, err := q.DeleteEmailTokens(ctx, a.ID, PurposeEmailChange); err != nil {
			return err
		}
		if err := q.CreateEmailToken(ctx, &EmailToken{TokenHash: hash, Purpose: PurposeEmailChange, AccountID: a.ID, Email: email, CreatedAt: now, ExpiresAt: expires}); err != nil {
			return err
		}
		cl := c.clean()
		if err := s.enqueueMail(ctx, q, a, &MailContent{To: email, Kind: MailConfirmChange, Token: token, Time: now, IP: cl.IP, Device: describe(cl), ExpiresAt: expires}); err != nil {
			return err
		}
		e := event(a.ID, audit.EmailChangeRequested, c, caller.ID)
		e.Time = now
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		return s.notify(ctx, q, a, notice{event: NoticeEmailChangeRequested, client: c, now: now, newEmail: email})
	})
}

// purposeIn reports whether p is one of ps.
func purposeIn(p TokenPurpose, ps []TokenPurpose) bool { return slices.Contains(ps, p) }

func emailNotVerified() *Error {
	return Errorf(CodeEmailNotVerified, "Confirm your email address first: open the link we mailed you (a new one is on its way), then sign in.")
}

// refuseUnconfirmed refuses a sign-in whose password was right (at is its
// attempt) because the account cannot sign in yet: reason is the audit
// reason and err the answer. The password's counts clear, as for any right
// password; the account's address gets a new verification link when that
// is what is missing (at most as often as a resend).
func (s *Service) refuseUnconfirmed(ctx context.Context, at *signInAttempt, reason string, answer *Error) error {
	a := at.account
	resend := false
	if answer.Code == CodeEmailNotVerified {
		if _, err := s.reserveAttempt(ctx, at.now, throttleCheck{verifyThrottleKey(a.ID), s.cfg.ForgotEmailThrottle}); err == nil {
			resend = true
		} else if !IsCode(err, CodeTooManyAttempts) {
			return err
		}
	}
	err := s.store.InTx(ctx, func(q Queries) error {
		if err := at.passed(ctx, q); err != nil {
			return err
		}
		e := event(a.ID, audit.SigninFailed, at.client, "")
		e.Outcome, e.Reason, e.Time = audit.Failure, reason, at.now
		e.Details = map[string]string{audit.DetailMethod: audit.MethodPassword}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if resend {
			return s.sendVerification(ctx, q, a, at.client, at.now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return answer
}
