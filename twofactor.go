package keyward

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/backupcode"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/totp"
)

// TwoFactorStatus is what the two-factor page and API show.
type TwoFactorStatus struct {
	// Enabled: the account asks for a second factor (TOTP or a passkey)
	// at every sign-in, since EnabledAt.
	Enabled              bool
	EnabledAt            *time.Time
	BackupCodesRemaining int
	// TOTP: the authenticator app is one of the factors, since
	// TOTPEnabledAt.
	TOTP          bool
	TOTPEnabledAt *time.Time
	// Passkeys counts the account's passkeys.
	Passkeys int
}

// TOTPSetup is a pending setup as the person sees it: the key to type, the
// URI for the QR code, and the QR code itself.
type TOTPSetup struct {
	Secret    string
	URL       string
	QRPNG     []byte
	Issuer    string
	Account   string
	ExpiresAt time.Time
}

// qrSize is the QR code's side in pixels: large enough for phone cameras.
const qrSize = 256

// TwoFactor returns the account's two-factor status, as stored now (a
// cached a may be older).
func (s *Service) TwoFactor(ctx context.Context, a *Account) (*TwoFactorStatus, error) {
	cur, err := s.store.AccountByID(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	st := &TwoFactorStatus{Enabled: cur.TwoFactorEnabled(), EnabledAt: cur.TwoFactorEnabledAt}
	cred, err := s.store.TOTPCredential(ctx, a.ID)
	switch {
	case err == nil:
		st.TOTP, st.TOTPEnabledAt = true, &cred.EnabledAt
	case !IsCode(err, CodeNotFound):
		return nil, err
	}
	list, err := s.store.ListPasskeys(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	st.Passkeys = len(list)
	if st.Enabled {
		if st.BackupCodesRemaining, err = s.store.BackupCodesRemaining(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// hasTOTP reports whether the account's factors include the
// authenticator app.
func hasTOTP(ctx context.Context, q Factors, accountID string) (bool, error) {
	_, err := q.TOTPCredential(ctx, accountID)
	if IsCode(err, CodeNotFound) {
		return false, nil
	}
	return err == nil, err
}

func totpAlreadyOn() *Error {
	return Errorf(CodeAlreadyEnabled, "The authenticator app is already set up. Remove it first to set up a new device.")
}

// PendingSetup returns the setup of account a waiting for its confirming
// code, or nil when there is none, it expired, or another session started
// it: the seed is shown to the session that asked for it and to no other.
// It opens the seed and draws the QR code, so only the page that shows
// them asks for it.
func (s *Service) PendingSetup(ctx context.Context, a *Account, caller *Session) (*TOTPSetup, error) {
	p, err := s.ownPendingSetup(ctx, a.ID, caller)
	if p == nil || err != nil {
		return nil, err
	}
	return s.describeSetup(ctx, a, p)
}

// ownPendingSetup returns the caller's unexpired pending setup, or nil.
//
// Binding a setup to its session keeps the seed to the session that proved
// it was the person: BeginTOTPSetup, the only writer of setups, admits only
// a session in its sudo window. A session that could not start a setup (one
// outside its window, which may be someone else's) can neither read nor
// confirm the owner's, and confirming needs the window too; a session that
// ended can confirm nothing.
func (s *Service) ownPendingSetup(ctx context.Context, accountID string, caller *Session) (*PendingTOTP, error) {
	p, err := s.store.PendingTOTP(ctx, accountID)
	if IsCode(err, CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.clock().Before(p.ExpiresAt) || caller == nil || p.SessionID == "" || p.SessionID != caller.ID {
		return nil, nil
	}
	return p, nil
}

func noPendingSetup() *Error {
	return Errorf(CodeNoPendingSetup, "There is no setup waiting for a code, or it expired. Start the setup again.")
}

// secondFactorRequired refuses a session that never proved the second
// factor: only signing in again, with it, helps.
func secondFactorRequired() *Error {
	return Errorf(CodeReauthRequired, "Sign in again with your authenticator app or a backup code to change two-factor authentication.")
}

// BeginTOTPSetup starts (or restarts) enrolment: a fresh 160-bit seed,
// sealed at rest, waiting for a confirming code. Nothing is enabled yet.
// Changing factors is a sensitive action (ASVS 5 V7.5.1): the caller's
// session must be in its sudo window, or pw (when not empty) must be the
// password, which opens it. The setup belongs to the caller's session (see
// ownPendingSetup); it replaces any earlier one, whichever session started
// that.
func (s *Service) BeginTOTPSetup(ctx context.Context, caller *Session, pw string, c Client) (*TOTPSetup, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	switch on, err := hasTOTP(ctx, s.store, a.ID); {
	case err != nil:
		return nil, err
	case on:
		return nil, totpAlreadyOn()
	case a.TwoFactorEnabled() && caller.AAL < 2:
		// Two-factor is on with a passkey: only a session that proved it
		// adds a factor.
		return nil, secondFactorRequired()
	}
	if err := s.sudoFor(ctx, caller, pw, audit.TwoFactorEnabled, c); err != nil {
		return nil, err
	}
	secret, err := totp.GenerateSecret(s.rand)
	if err != nil {
		return nil, Internal(err)
	}
	sealed, err := s.keys.Seal([]byte(secret), []byte(a.ID))
	if err != nil {
		return nil, Internal(err)
	}
	now := s.clock()
	p := &PendingTOTP{AccountID: a.ID, SessionID: caller.ID, SealedSecret: sealed, CreatedAt: now, ExpiresAt: now.Add(s.cfg.PendingSetupTTL)}
	if err := s.store.PutPendingTOTP(ctx, p); err != nil {
		return nil, err
	}
	return s.describeSetup(ctx, a, p)
}

func (s *Service) describeSetup(ctx context.Context, a *Account, p *PendingTOTP) (*TOTPSetup, error) {
	secret, err := s.openSecret(ctx, p.SealedSecret, a.ID)
	if err != nil {
		return nil, err
	}
	url := totp.KeyURL(s.cfg.Issuer, a.Email, secret)
	png, err := totp.QRPNG(url, qrSize)
	if err != nil {
		return nil, Internal(err)
	}
	return &TOTPSetup{Secret: secret, URL: url, QRPNG: png, Issuer: s.cfg.Issuer, Account: a.Email, ExpiresAt: p.ExpiresAt}, nil
}

func (s *Service) openSecret(ctx context.Context, sealed, accountID string) (string, error) {
	b, err := s.keys.Open(sealed, []byte(accountID))
	if err != nil {
		if errors.Is(err, keyring.ErrUnknownKey) {
			s.log.ErrorContext(ctx, "a TOTP seed is sealed with a key this node does not have",
				"request_id", RequestIDFrom(ctx), "key_id", s.keys.KeyID(sealed))
		}
		return "", Internal(err)
	}
	return string(b), nil
}

// EnableTOTP confirms the caller's own pending setup with a code from the
// app, turns two-factor on and returns the ten backup codes, shown this
// once. A setup another session started is not the caller's to confirm:
// no_pending_setup. Like starting, it needs the caller's sudo window. The
// confirming code's time step is stored, so it cannot be used again to
// sign in.
func (s *Service) EnableTOTP(ctx context.Context, caller *Session, code string, c Client) ([]string, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	if on, err := hasTOTP(ctx, s.store, a.ID); err != nil || on {
		return nil, cmpOr(err, totpAlreadyOn())
	}
	now := s.clock()
	p, err := s.ownPendingSetup(ctx, a.ID, caller)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, noPendingSetup()
	}
	// Before the code is counted: outside the window the person is sent to
	// confirm it is them, and comes back with a code still unused.
	if err := s.requireSudo(ctx, s.store, caller); err != nil {
		return nil, err
	}
	tried, err := s.reserveAttempt(ctx, now, throttleCheck{secondFactorThrottleKey(a.ID), s.cfg.SecondFactorRule})
	if err != nil {
		return nil, err
	}
	secret, err := s.openSecret(ctx, p.SealedSecret, a.ID)
	if err != nil {
		return nil, err
	}
	digits, _ := totpInput(code)
	step, ok := totp.Verify(secret, digits, now, 0)
	if !ok {
		err := s.recordFailure(ctx, failure{attempt: tried, event: event(a.ID, audit.TwoFactorEnabled, c, caller.ID), reason: string(CodeInvalidCode)})
		if err != nil {
			return nil, err
		}
		return nil, invalidCode()
	}
	codes, salt, hashes, err := s.newBackupCodes()
	if err != nil {
		return nil, err
	}
	err = s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		if on, err := hasTOTP(ctx, q, a.ID); err != nil || on {
			return cmpOr(err, totpAlreadyOn())
		}
		// Two-factor may be on already, with a passkey: then the app is
		// one more factor, and sessions stay.
		wasOn := cur.TwoFactorEnabled()
		// The setup belongs to the caller's session: one that ended (signed
		// out, revoked) since this request was authenticated confirms
		// nothing, nor one whose window closed meanwhile.
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		// The setup may have been replaced (by another session) since it
		// was read; a key rotation may have re-sealed it, and then its
		// newer sealing is the one to keep.
		sealed, err := s.stillPending(ctx, q, p, secret)
		if err != nil {
			return err
		}
		cred := &TOTPCredential{AccountID: a.ID, SealedSecret: sealed, EnabledAt: now, LastStep: step, BackupSalt: salt}
		if err := q.EnableTOTP(ctx, cred); err != nil {
			return err
		}
		if err := q.ReplaceBackupCodes(ctx, a.ID, salt, hashes); err != nil {
			return err
		}
		if err := q.DeletePendingTOTP(ctx, a.ID); err != nil {
			return err
		}
		if err := tried.passed(ctx, q); err != nil {
			return err
		}
		e := event(a.ID, audit.TwoFactorEnabled, c, caller.ID)
		if wasOn {
			e.Details = map[string]string{audit.DetailMethod: audit.MethodTOTP, audit.DetailTwoFactor: "on"}
			if err := s.record(ctx, q, e); err != nil {
				return err
			}
			if err := s.notify(ctx, q, cur, notice{event: NoticeTOTPAdded, client: c, now: now}); err != nil {
				return err
			}
			return q.SetSessionAAL(ctx, caller.ID, 2, caller.AMR|AMROTP|AMRMultiFactor)
		}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if err := s.notify(ctx, q, cur, notice{event: string(audit.TwoFactorEnabled), client: c, now: now}); err != nil {
			return err
		}
		// A factor changed: every other session, opened with the password
		// alone, ends (ASVS V7.4.3); this one has just proved the code.
		if _, err := s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, keepID: caller.ID, client: c, reason: "2fa_enabled"}); err != nil {
			return err
		}
		return q.SetSessionAAL(ctx, caller.ID, 2, caller.AMR|AMROTP|AMRMultiFactor)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// stillPending checks, inside the enabling transaction, that the pending
// setup read before as p, holding secret, is still there and the same
// session's, and returns its sealed seed as stored now.
func (s *Service) stillPending(ctx context.Context, q Queries, p *PendingTOTP, secret string) (string, error) {
	cur, err := q.PendingTOTP(ctx, p.AccountID)
	if IsCode(err, CodeNotFound) {
		return "", noPendingSetup()
	}
	if err != nil {
		return "", err
	}
	if cur.SessionID != p.SessionID || !cur.CreatedAt.Equal(p.CreatedAt) {
		return "", noPendingSetup()
	}
	if cur.SealedSecret != p.SealedSecret {
		if now, err := s.openSecret(ctx, cur.SealedSecret, p.AccountID); err != nil || now != secret {
			return "", noPendingSetup()
		}
	}
	return cur.SealedSecret, nil
}

// newBackupCodes makes a set of codes and what is stored of them.
func (s *Service) newBackupCodes() (codes []string, salt []byte, hashes [][]byte, err error) {
	codes, err = backupcode.Generate(s.rand, backupcode.Count)
	if err != nil {
		return nil, nil, nil, Internal(err)
	}
	salt, err = backupcode.NewSalt(s.rand)
	if err != nil {
		return nil, nil, nil, Internal(err)
	}
	for _, code := range codes {
		norm, _ := backupcode.Normalize(code)
		hashes = append(hashes, backupcode.Hash(norm, salt))
	}
	return codes, salt, hashes, nil
}

func notEnabled() *Error {
	return Errorf(CodeNotEnabled, "Two-factor authentication is not on.")
}

// RegenerateBackupCodes replaces the whole set; every older code stops
// working. It needs the caller's sudo window, or pw (when not empty) to be
// the password, which opens it.
func (s *Service) RegenerateBackupCodes(ctx context.Context, caller *Session, pw string, c Client) ([]string, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	if !a.TwoFactorEnabled() {
		return nil, notEnabled()
	}
	if caller.AAL < 2 {
		return nil, secondFactorRequired()
	}
	if err := s.sudoFor(ctx, caller, pw, audit.BackupCodesRegenerated, c); err != nil {
		return nil, err
	}
	codes, salt, hashes, err := s.newBackupCodes()
	if err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		if err := q.ReplaceBackupCodes(ctx, a.ID, salt, hashes); err != nil {
			return err
		}
		if err := s.record(ctx, q, event(a.ID, audit.BackupCodesRegenerated, c, caller.ID)); err != nil {
			return err
		}
		return s.notify(ctx, q, a, notice{event: string(audit.BackupCodesRegenerated), client: c, now: s.clock()})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP removes the authenticator app and deletes the seed. When it
// was the account's only second factor, two-factor authentication goes
// off with it (and the backup codes); with a passkey left, two-factor
// stays on. It needs the caller's sudo window, or pw (when not empty) to
// be the password, which opens it.
func (s *Service) DisableTOTP(ctx context.Context, caller *Session, pw string, c Client) error {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return err
	}
	if on, err := hasTOTP(ctx, s.store, a.ID); err != nil || !on {
		return cmpOr(err, notEnabled())
	}
	if caller.AAL < 2 {
		return secondFactorRequired()
	}
	if err := s.sudoFor(ctx, caller, pw, audit.TwoFactorDisabled, c); err != nil {
		return err
	}
	return s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		// The window is checked again in the transaction: a session that
		// ended, or whose window closed, meanwhile, changes nothing.
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		list, err := q.ListPasskeys(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return s.turnOff(ctx, q, cur, event(a.ID, audit.TwoFactorDisabled, c, caller.ID), caller.ID, c, nil)
		}
		if err := q.RemoveTOTP(ctx, a.ID); err != nil {
			return err
		}
		e := event(a.ID, audit.TwoFactorDisabled, c, caller.ID)
		e.Details = map[string]string{audit.DetailMethod: audit.MethodTOTP, audit.DetailTwoFactor: "on"}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if _, err := s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, keepID: caller.ID, client: c, reason: "2fa_disabled"}); err != nil {
			return err
		}
		return s.notify(ctx, q, cur, notice{event: NoticeTOTPRemoved, client: c, now: s.clock()})
	})
}

// ResetTwoFactor is the operator's support path for a person who lost both
// the devices and the codes (`keyward account reset-2fa`): every second
// factor goes (TOTP and passkeys). It is recorded as done by an admin.
func (s *Service) ResetTwoFactor(ctx context.Context, email string) error {
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil {
		return notFoundAs(err, Errorf(CodeNotFound, "No account has that email."))
	}
	return s.resetTwoFactor(ctx, CommandLineAdmin(), a, Client{})
}

// AdminResetTwoFactor is ResetTwoFactor from the admin API, for the
// account with id (accounts:write).
func (s *Service) AdminResetTwoFactor(ctx context.Context, by Admin, id string, c Client) error {
	if err := by.require(ScopeAccountsWrite); err != nil {
		return err
	}
	a, err := s.adminAccount(ctx, id)
	if err != nil {
		return err
	}
	return notFoundAs(s.resetTwoFactor(ctx, by, a, c), noSuchAccount())
}

// resetTwoFactor turns 2FA off for an admin, passkeys too: every session
// ends, since whoever holds the lost device may hold sessions.
func (s *Service) resetTwoFactor(ctx context.Context, by Admin, a *Account, c Client) error {
	if !a.TwoFactorEnabled() {
		return notEnabled()
	}
	e := event(a.ID, audit.TwoFactorDisabled, c, "")
	e.Details = map[string]string{"reason": "operator_reset"}
	by.mark(e)
	return s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		if _, err := q.DeletePasskeys(ctx, a.ID); err != nil {
			return err
		}
		return s.turnOff(ctx, q, cur, e, "", c, &by)
	})
}

// turnOff turns two-factor authentication off in q (the TOTP seed, the
// codes), ends waiting second steps and every session but keepID ("" ends
// all; by, when an admin ends them), with its event e and a notice.
func (s *Service) turnOff(ctx context.Context, q Queries, a *Account, e *Event, keepID string, c Client, by *Admin) error {
	if err := q.DisableTOTP(ctx, a.ID); err != nil {
		return err
	}
	if _, err := q.DeleteMFAChallenges(ctx, a.ID); err != nil {
		return err
	}
	if err := s.record(ctx, q, e); err != nil {
		return err
	}
	if _, err := s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, keepID: keepID, client: c, reason: "2fa_disabled", by: by}); err != nil {
		return err
	}
	return s.notify(ctx, q, a, notice{event: string(audit.TwoFactorDisabled), client: c, now: s.clock()})
}

// cmpOr is err when set, else fallback.
func cmpOr(err error, fallback *Error) error {
	if err != nil {
		return err
	}
	return fallback
}
