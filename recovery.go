package keyward

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/device"
)

// Prefixes of the tokens of mailed links (see newToken): a link of one
// kind is refused by the others before any lookup.
const (
	resetTokenPrefix    = "kwr_"
	verifyTokenPrefix   = "kwv_"
	lockdownTokenPrefix = "kwl_"
)

func invalidToken() *Error {
	return Errorf(CodeInvalidToken, "This link is not valid: it was used already, it expired, or it was copied wrong. Ask for a new one.")
}

// describe is how a mail names the device of a client: "Chrome on macOS".
// Only names the parser knows: anyone can cause a mail to an account's
// owner, and an unknown agent's name is the agent's own text.
func describe(c Client) string {
	if c.UserAgent == "" {
		return ""
	}
	d, ok := device.Parse(c.UserAgent).Known()
	if !ok {
		return ""
	}
	return d.String()
}

// ForgotPassword mails a password reset link to the account of email, if
// there is one. It answers the same for every email (the API's 202), in
// the same time: a known and an unknown email take the same throttles, a
// token and a sealing each, and one transaction with one audit event (in
// the account's log, or for an unknown email in the system log under a
// keyed digest), and the answer waits for Config.ForgotPasswordTime.
// Requests are throttled per email and per client address, for both alike.
func (s *Service) ForgotPassword(ctx context.Context, email string, c Client) error {
	// The floor is wall-clock time: it is about what a client can measure.
	started := time.Now()
	defer func() {
		if wait := s.cfg.ForgotPasswordTime - time.Since(started); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}()
	now := s.clock()
	email = cleanText(email, maxEmailLength)
	addr := clientAddress(c.IP)
	// Every request counts, known email or not: this bounds the mails one
	// address can cause, and those one person can receive.
	if _, err := s.reserveAttempt(ctx, now,
		throttleCheck{forgotEmailThrottleKey(email), s.cfg.ForgotEmailThrottle},
		throttleCheck{forgotAddressThrottleKey(addr), s.cfg.ForgotAddressThrottle}); err != nil {
		return err
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil && !IsCode(err, CodeNotFound) {
		return err
	}
	token, hash, err := s.newToken(resetTokenPrefix)
	if err != nil {
		return err
	}
	if a != nil && a.Disabled() {
		// No link: a reset must not change a disabled account. The answer
		// and its time are those of any other email (the floor above); the
		// attempt is in the account's log.
		if _, err := s.keys.Seal([]byte(token), []byte(a.ID)); err != nil {
			return Internal(err)
		}
		err := s.store.InTx(ctx, func(q Queries) error {
			e := event(a.ID, audit.PasswordResetRequested, c, "")
			e.Outcome, e.Reason, e.Time = audit.Failure, string(CodeAccountDisabled), now
			return s.record(ctx, q, e)
		})
		if IsCode(err, CodeNotFound) {
			return nil // deleted meanwhile: answered as any email is
		}
		return err
	}
	if a == nil {
		digest, err := s.emailDigest(email)
		if err != nil {
			return err
		}
		// The sealing the known path does for its mail.
		if _, err := s.keys.Seal([]byte(token), []byte(digest)); err != nil {
			return Internal(err)
		}
		return s.store.InTx(ctx, func(q Queries) error {
			e := event(audit.SystemChain, audit.PasswordResetRequested, c, "")
			e.Outcome, e.Reason, e.Time = audit.Failure, "unknown_email", now
			e.Details = map[string]string{audit.DetailEmailDigest: digest}
			return s.record(ctx, q, e)
		})
	}
	expires := now.Add(s.cfg.ResetTokenTTL)
	err = s.store.InTx(ctx, func(q Queries) error {
		// One link at a time: asking again replaces the earlier one.
		if _, err := q.DeleteEmailTokens(ctx, a.ID, PurposeReset); err != nil {
			return err
		}
		if err := q.CreateEmailToken(ctx, &EmailToken{TokenHash: hash, Purpose: PurposeReset, AccountID: a.ID, Email: a.Email, CreatedAt: now, ExpiresAt: expires}); err != nil {
			return err
		}
		cl := c.clean()
		if err := s.enqueueMail(ctx, q, a, &MailContent{To: a.Email, Kind: MailPasswordReset, Token: token, Time: now,
			IP: cl.IP, Device: describe(cl), ExpiresAt: expires}); err != nil {
			return err
		}
		e := event(a.ID, audit.PasswordResetRequested, c, "")
		e.Time = now
		return s.record(ctx, q, e)
	})
	if IsCode(err, CodeNotFound) {
		return nil // deleted meanwhile: answered as any email is
	}
	return err
}

// ResetPassword sets a new password with the token of a reset link. When
// two-factor authentication is on, code (a TOTP code or a backup code) must
// pass too: a reset never bypasses the second factor, and wrong codes count
// in the same throttle and cap as at sign-in. Every session ends, nothing
// is opened, a lockdown is lifted, and the address counts as verified (the
// link was followed). It returns how many sessions ended.
//
// An unknown, used or expired token is invalid_token, recorded once; a
// refused code or password leaves the token usable.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword, code string, c Client) (int, error) {
	now := s.clock()
	tok, err := s.emailTokenFor(ctx, token, resetTokenPrefix, []TokenPurpose{PurposeReset}, audit.PasswordReset, c)
	if err != nil {
		return 0, err
	}
	a, err := s.store.AccountByID(ctx, tok.AccountID)
	if err != nil {
		return 0, notFoundAs(err, invalidToken())
	}
	if err := s.checkPolicy(ctx, newPassword, a.Email); err != nil {
		return 0, err
	}
	var factor *factorCode
	if a.TwoFactorEnabled() {
		if code == "" {
			return 0, Errorf(CodeMFARequired, "Two-factor authentication is on for this account: enter a code from your authenticator app or a backup code.")
		}
		if factor, err = s.checkResetFactor(ctx, a, code, c, now); err != nil {
			return 0, notFoundAs(err, invalidToken())
		}
	}
	hash, err := s.hash(ctx, newPassword)
	if err != nil {
		return 0, err
	}
	revoked := 0
	err = s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		// 2FA turned on or off since the check: start again. A disabled
		// account's links were deleted when it was disabled; one that
		// raced the disable is refused here.
		if cur.TwoFactorEnabled() != a.TwoFactorEnabled() || cur.Disabled() {
			return invalidToken()
		}
		// A link works for the address the account has: one written for
		// the old address while the account moved (a forgot-password
		// racing an email change) must not reset it.
		if EmailKey(cur.Email) != EmailKey(tok.Email) {
			return invalidToken()
		}
		if consumed, err := q.ConsumeEmailToken(ctx, tok.TokenHash); err != nil || !consumed {
			return orInvalidToken(err)
		}
		if factor != nil {
			if err := factor.consume(ctx, q, now); err != nil {
				return err
			}
		}
		if err := q.SetPasswordHash(ctx, a.ID, hash); err != nil {
			return err
		}
		if cur.LockedDownAt != nil {
			if err := q.SetLockedDown(ctx, a.ID, nil); err != nil {
				return err
			}
		}
		// Other reset links, and an email change asked with the old
		// password (maybe by whoever the owner is locking out).
		for _, p := range []TokenPurpose{PurposeReset, PurposeEmailChange} {
			if _, err := q.DeleteEmailTokens(ctx, a.ID, p); err != nil {
				return err
			}
		}
		if _, err := q.MarkEmailVerified(ctx, a.ID, tok.Email, now); err != nil {
			return err
		}
		if _, err := q.DeleteMFAChallenges(ctx, a.ID); err != nil {
			return err
		}
		if revoked, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, client: c, reason: "password_reset"}); err != nil {
			return err
		}
		e := event(a.ID, audit.PasswordReset, c, "")
		e.Time = now
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(revoked)}
		if factor != nil {
			e.Details[audit.DetailMethod] = factor.method
		}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if factor != nil && factor.method == audit.MethodBackupCode {
			if err := s.backupCodeUsed(ctx, q, a.ID, "", c, now); err != nil {
				return err
			}
		}
		return s.notify(ctx, q, cur, notice{event: string(audit.PasswordReset), client: c, now: now})
	})
	if errors.Is(err, errCodeRefused) {
		// A backup code not (or no longer) unused, or a TOTP step a
		// sign-in took meanwhile: recorded as any refused code.
		return 0, s.refuseCode(ctx, factor.st)
	}
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

func orInvalidToken(err error) error {
	if err != nil {
		return err
	}
	return invalidToken()
}

// emailTokenFor finds the live token of one of purposes behind a link's token.
// Guessing is throttled per client address; a token that is not one is
// recorded (in its account's log when it names one, else in the system
// log) as a failure of action.
//
// Only wrong tokens count, and a live one clears nothing: clearing would
// let anyone holding a live link of his own (a reset link keeps working
// after a weak password) wipe his address's count between guesses. The
// count is taken after the lookup, not reserved before it: a lookup is
// cheap, and a burst in flight together gains nothing against 256 bits.
func (s *Service) emailTokenFor(ctx context.Context, token, prefix string, purposes []TokenPurpose, action audit.Type, c Client) (*EmailToken, error) {
	now := s.clock()
	guesses := throttleCheck{tokenThrottleKey(clientAddress(c.IP)), s.cfg.TokenThrottle}
	if err := s.checkThrottle(ctx, now, guesses); err != nil {
		return nil, err
	}
	tried := &attempt{now: now, onFail: []throttleCheck{guesses}}
	refuse := func(chain string) error {
		if err := s.recordFailure(ctx, failure{attempt: tried, event: event(chain, action, c, ""), reason: string(CodeInvalidToken)}); err != nil {
			return err
		}
		return invalidToken()
	}
	parsed, ok := parseToken(prefix, token)
	if !ok {
		return nil, refuse(audit.SystemChain)
	}
	tok, err := s.store.EmailToken(ctx, parsed[:])
	switch {
	case IsCode(err, CodeNotFound):
		return nil, refuse(audit.SystemChain)
	case err != nil:
		return nil, err
	case !purposeIn(tok.Purpose, purposes) || !now.Before(tok.ExpiresAt):
		return nil, refuse(tok.AccountID)
	}
	// A live token is no guess: what the person does with it next (a
	// weak password, a wrong code) does not count against the address.
	return tok, nil
}

// factorCode is a second-factor code given outside a sign-in (with a
// reset, or to confirm it is the person), checked, to be consumed in the
// transaction of what it allows.
type factorCode struct {
	checkedCode
	st *secondStep // the attempt, and how a refusal is recorded
}

// consume takes the code for good, under the account's lock. A code taken
// meanwhile (a concurrent sign-in) fails what it was to allow.
func (f *factorCode) consume(ctx context.Context, q Queries, now time.Time) error {
	if err := f.take(ctx, q, f.st.account.ID, now); err != nil {
		return err
	}
	if err := f.st.attempt.passed(ctx, q); err != nil {
		return err
	}
	if err := q.ClearSecondFactorFailures(ctx, f.st.account.ID); err != nil && !IsCode(err, CodeNotFound) {
		return err
	}
	return nil
}

// checkResetFactor checks the code a reset was given (see checkFactorCode).
func (s *Service) checkResetFactor(ctx context.Context, a *Account, code string, c Client, now time.Time) (*factorCode, error) {
	return s.checkFactorCode(ctx, &secondStep{account: a, client: c}, code, now, invalidToken())
}

// checkFactorCode checks code as the second step of a sign-in does: in the
// account's second-factor throttle, counted against the cap of consecutive
// wrong codes, TOTP refused unchecked past the cap. st names the account
// and the client, and how a refusal is recorded; the rest of it is filled
// here. missing is the answer when the account has no second factor.
func (s *Service) checkFactorCode(ctx context.Context, st *secondStep, code string, now time.Time, missing *Error) (*factorCode, error) {
	a := st.account
	tried, err := s.reserveAttempt(ctx, now, throttleCheck{secondFactorThrottleKey(a.ID), s.cfg.SecondFactorRule})
	if err != nil {
		return nil, err
	}
	st.attempt = tried
	if err := s.fillSecondStep(ctx, st); err != nil {
		return nil, notFoundAs(err, missing)
	}
	checked, err := s.checkCode(ctx, st, code)
	if err != nil {
		return nil, err
	}
	return &factorCode{checkedCode: checked, st: st}, nil
}

// backupCodeUsed records the use of a backup code outside a sign-in (a
// reset), with the count left, and mails the notice.
func (s *Service) backupCodeUsed(ctx context.Context, q Queries, accountID, sessionID string, c Client, now time.Time) error {
	remaining, err := q.BackupCodesRemaining(ctx, accountID)
	if err != nil {
		return err
	}
	used := event(accountID, audit.BackupCodeUsed, c, sessionID)
	used.Time = now
	used.Details = map[string]string{audit.DetailRemaining: strconv.Itoa(remaining)}
	if err := s.record(ctx, q, used); err != nil {
		return err
	}
	a, err := q.LockAccount(ctx, accountID)
	if err != nil {
		return err
	}
	return s.notify(ctx, q, a, notice{event: string(audit.BackupCodeUsed), client: c, now: now, remaining: &remaining})
}

// notice is a security event to mail the account's owner about.
type notice struct {
	event     string // an audit type, or NoticeNewDevice
	client    Client
	now       time.Time
	to        string // the address, when not the account's own (the old one after a change)
	newEmail  string
	remaining *int
}

// notify mails a notice of n to the account, in the caller's transaction,
// with a fresh "This wasn't me" link.
func (s *Service) notify(ctx context.Context, q Queries, a *Account, n notice) error {
	token, hash, err := s.newToken(lockdownTokenPrefix)
	if err != nil {
		return err
	}
	to := n.to
	if to == "" {
		to = a.Email
	}
	expires := n.now.Add(s.cfg.LockdownTokenTTL)
	if err := q.CreateEmailToken(ctx, &EmailToken{TokenHash: hash, Purpose: PurposeLockdown, AccountID: a.ID, Email: to, CreatedAt: n.now, ExpiresAt: expires}); err != nil {
		return err
	}
	cl := n.client.clean()
	return s.enqueueMail(ctx, q, a, &MailContent{To: to, Kind: MailNotice, Event: n.event, LockdownToken: token, Time: n.now,
		IP: cl.IP, Device: describe(cl), NewEmail: n.newEmail, Remaining: n.remaining, ExpiresAt: expires})
}

// ResetNeedsCode tells the reset page, before the form is sent, whether the
// link works and whether the account asks for a second-factor code. A
// refused token is recorded in the audit log when the form is sent, but
// counted here already: telling live links from dead ones is what a
// guesser needs, so it is throttled as the form is.
func (s *Service) ResetNeedsCode(ctx context.Context, token string, c Client) (bool, error) {
	_, needsCode, err := s.ResetLink(ctx, token, c)
	return needsCode, err
}

// ResetLink is ResetNeedsCode with the account's email address too, which
// the reset page gives password managers (the link was mailed to it).
func (s *Service) ResetLink(ctx context.Context, token string, c Client) (email string, needsCode bool, err error) {
	now := s.clock()
	guesses := throttleCheck{tokenThrottleKey(clientAddress(c.IP)), s.cfg.TokenThrottle}
	if err := s.checkThrottle(ctx, now, guesses); err != nil {
		return "", false, err
	}
	refuse := func() (string, bool, error) {
		tried := &attempt{now: now, onFail: []throttleCheck{guesses}}
		if _, err := tried.failed(ctx, s.store); err != nil {
			return "", false, err
		}
		return "", false, invalidToken()
	}
	parsed, ok := parseToken(resetTokenPrefix, token)
	if !ok {
		return refuse()
	}
	tok, err := s.store.EmailToken(ctx, parsed[:])
	switch {
	case IsCode(err, CodeNotFound):
		return refuse()
	case err != nil:
		return "", false, err
	case tok.Purpose != PurposeReset || !now.Before(tok.ExpiresAt):
		return refuse()
	}
	a, err := s.store.AccountByID(ctx, tok.AccountID)
	if err != nil {
		return "", false, notFoundAs(err, invalidToken())
	}
	return a.Email, a.TwoFactorEnabled(), nil
}

func passwordResetRequired() *Error {
	return Errorf(CodePasswordResetReq, "This account was locked down: its password no longer works. Reset it with \"Forgot password?\" to get back in.")
}
