package keyward

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keyward/audit"
)

// Sudo mode. The sensitive actions (setting up, enabling and disabling
// two-factor authentication, new backup codes, moving the account to
// another email address) need the person to have proved it is them within
// Config.SudoWindow, in this very session: by signing in (a session starts
// in its window), or again with the password or a code (GrantSudo). A
// password sent with the action itself still works, and opens the window
// as GrantSudo does (the bodies of API version 1 carry one).
//
// The window's end lives on the session's row, and only there: it is read
// from the store by the action that needs it, inside the action's
// transaction, never from the copy of the session the per-request check
// caches. That copy stays as small and as fast as it was, and a window
// opened or an ended session is seen at once by every node.

// ErrSudoRequired is the cause of the reauthentication_required error a
// sensitive action answers outside the session's sudo window: the pages
// send the person to confirm it is them, and back.
var ErrSudoRequired = errors.New("keyward: the session's sudo window is closed")

func sudoRequired() *Error {
	return &Error{Code: CodeReauthRequired, Err: ErrSudoRequired,
		Message: "Confirm it is you first: enter your password, or a code from your authenticator app or a backup code."}
}

// NeedsSudo reports whether err asks the person to confirm it is them
// (GrantSudo) before trying again. Another reauthentication_required (a
// session that never proved the second factor) is not cured by that.
func NeedsSudo(err error) bool { return errors.Is(err, ErrSudoRequired) }

// SudoProof is what a person gives to confirm it is them: the password, a
// code (a TOTP code or a backup code), or a passkey's answer (Credential,
// what credential.toJSON() gave) to the ceremony ChallengeID that
// BeginPasskeySudo began. Exactly one is set.
type SudoProof struct {
	Password    string
	Code        string
	ChallengeID string
	Credential  []byte
}

// GrantSudo opens the caller's sudo window for Config.SudoWindow from now
// and returns its end, once the proof passes. Wrong proofs are throttled
// and recorded: a password per account by Config.ReauthThrottle, a code as
// at the sign-in's second step (its throttle, its cap, its replay guard; a
// backup code is used up). The grant and its sudo.granted event are one
// transaction, which fails, using up nothing, if the session has ended.
func (s *Service) GrantSudo(ctx context.Context, caller *Session, p SudoProof, c Client) (time.Time, error) {
	var proof sudoProof
	given := 0
	for _, set := range []bool{p.Password != "", p.Code != "", p.ChallengeID != "" || len(p.Credential) > 0} {
		if set {
			given++
		}
	}
	switch {
	case given > 1:
		return time.Time{}, Errorf(CodeInvalidRequest, "Give your password, a code or a passkey: one of them.")
	case p.Password != "":
		proof = &passwordProof{password: p.Password}
	case p.Code != "":
		proof = &codeProof{code: p.Code}
	case p.ChallengeID != "" && len(p.Credential) > 0:
		proof = &passkeyProof{challengeID: p.ChallengeID, response: p.Credential}
	case given == 1:
		return time.Time{}, Errorf(CodeInvalidRequest, "A passkey's answer needs its challenge_id and its credential.")
	default:
		return time.Time{}, Errorf(CodeInvalidRequest, "Enter your password or a code, or use a passkey.")
	}
	return s.sudo(ctx, caller, c, proof, audit.SudoGranted)
}

// SudoUntil returns the end of the caller's sudo window as stored now: the
// zero time when none was ever opened, a time at or before Now when it has
// closed. unauthenticated when the session has ended.
func (s *Service) SudoUntil(ctx context.Context, caller *Session) (time.Time, error) {
	until, err := s.store.SessionSudoUntil(ctx, caller.AccountID, caller.ID)
	if err != nil {
		return time.Time{}, notFoundAs(err, unauthenticated())
	}
	if s.forgedSudo(until) {
		return time.Time{}, nil
	}
	return until, nil
}

// sudoSkew is how far past a full window from now a stored end may lie
// and still be one a grant made: another node's clock running ahead.
const sudoSkew = time.Minute

// forgedSudo reports whether until lies further ahead than any grant
// makes (Config.SudoWindow from now, give or take the nodes' clocks): a
// database edit or a restore, never a proof, so it opens nothing.
func (s *Service) forgedSudo(until time.Time) bool {
	return until.After(s.clock().Add(s.cfg.SudoWindow + sudoSkew))
}

// RequireSudo answers nil while the caller's session is in its sudo
// window, read from the store (never from a cached session), and
// reauthentication_required (NeedsSudo) outside it: for an application
// that guards its own sensitive actions with keyward's sudo mode.
func (s *Service) RequireSudo(ctx context.Context, caller *Session) error {
	return s.requireSudo(ctx, s.store, caller)
}

// requireSudo is RequireSudo through q: inside a sensitive action's
// transaction it also refuses a caller whose session ended after its
// request was authenticated (callerStillSignedIn's rule).
func (s *Service) requireSudo(ctx context.Context, q Sessions, caller *Session) error {
	until, err := q.SessionSudoUntil(ctx, caller.AccountID, caller.ID)
	if err != nil {
		return notFoundAs(err, unauthenticated())
	}
	if !s.clock().Before(until) || s.forgedSudo(until) {
		return sudoRequired()
	}
	return nil
}

// sudoFor lets the caller on to a sensitive action: a password sent with
// the action is checked and opens the window (recorded as a failure of
// action when wrong); without one the window must be open. The action
// checks again, with requireSudo, inside its own transaction.
func (s *Service) sudoFor(ctx context.Context, caller *Session, pw string, action audit.Type, c Client) error {
	if pw != "" {
		_, err := s.sudo(ctx, caller, c, &passwordProof{password: pw}, action)
		return err
	}
	return s.requireSudo(ctx, s.store, caller)
}

// sudoAttempt is one try at confirming it is the person.
type sudoAttempt struct {
	account *Account
	caller  *Session
	client  Client
	now     time.Time
	// action is recorded as failed when the proof is wrong: sudo.granted,
	// or the action a password came with.
	action audit.Type
}

// sudoProof is one way of confirming it is the person. Passkeys add one:
// a type with these methods, and a caller of Service.sudo.
type sudoProof interface {
	// method names the proof in sudo.granted's details (audit.Method*).
	method() string
	// check does the slow part, outside any transaction: a password hash,
	// a code checked against the seed. It throttles, and records and
	// answers a wrong proof itself.
	check(ctx context.Context, s *Service, at *sudoAttempt) error
	// take runs in the transaction that opens the window, under the
	// account's lock: it confirms that what check saw still holds, uses up
	// what works once, and clears the counts of wrong guesses. It returns
	// errCodeRefused when a concurrent request used the proof first.
	take(ctx context.Context, s *Service, q Queries, at *sudoAttempt) error
}

// refusable is a proof that can lose to a concurrent request (a code):
// refuse records that and answers, after take's transaction rolled back.
type refusable interface {
	refuse(ctx context.Context, s *Service) error
}

// sudo checks proof and opens the caller's window: the seam every proof
// goes through.
func (s *Service) sudo(ctx context.Context, caller *Session, c Client, proof sudoProof, action audit.Type) (time.Time, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return time.Time{}, notFoundAs(err, unauthenticated())
	}
	at := &sudoAttempt{account: a, caller: caller, client: c, now: s.clock(), action: action}
	if err := proof.check(ctx, s, at); err != nil {
		return time.Time{}, err
	}
	var until time.Time
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := proof.take(ctx, s, q, at); err != nil {
			return err
		}
		var err error
		until, err = s.grantSudo(ctx, q, at, proof.method())
		return err
	})
	if r, ok := proof.(refusable); ok && errors.Is(err, errCodeRefused) {
		return time.Time{}, r.refuse(ctx, s)
	}
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// grantSudo opens the window of at's session in q and records it: what
// every proof ends with, once taken.
func (s *Service) grantSudo(ctx context.Context, q Queries, at *sudoAttempt, method string) (time.Time, error) {
	until := at.now.Add(s.cfg.SudoWindow)
	if err := q.ExtendSessionSudo(ctx, at.account.ID, at.caller.ID, until); err != nil {
		// Signed out or revoked since the request was authenticated.
		return time.Time{}, notFoundAs(err, unauthenticated())
	}
	e := event(at.account.ID, audit.SudoGranted, at.client, at.caller.ID)
	e.Time = at.now
	e.Details = map[string]string{audit.DetailMethod: method}
	if err := s.record(ctx, q, e); err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// passwordProof is the account's password, given again.
type passwordProof struct {
	password string
	tried    *attempt
}

func (p *passwordProof) method() string { return audit.MethodPassword }

// check is the rule of sensitive actions: wrong passwords are throttled per
// account (Config.ReauthThrottle), tightly, so that a stolen session adds
// little to what sign-in allows a guesser, and each is recorded as a
// failure of the action.
func (p *passwordProof) check(ctx context.Context, s *Service, at *sudoAttempt) error {
	a := at.account
	tried, err := s.reserveAttempt(ctx, at.now, throttleCheck{reauthThrottleKey(a.ID), s.cfg.ReauthThrottle})
	if err != nil {
		return err
	}
	ok, _, err := s.verifyPassword(ctx, a, p.password)
	if err != nil {
		return err
	}
	if !ok {
		e := event(a.ID, at.action, at.client, at.caller.ID)
		if err := s.recordFailure(ctx, failure{attempt: tried, event: e, reason: string(CodeInvalidCurrentPass)}); err != nil {
			return err
		}
		return invalidCurrentPassword()
	}
	p.tried = tried
	return nil
}

// take confirms the password checked is still the account's, and clears
// the wrong guesses.
func (p *passwordProof) take(ctx context.Context, s *Service, q Queries, at *sudoAttempt) error {
	cur, err := q.LockAccount(ctx, at.account.ID)
	if err != nil {
		return notFoundAs(err, unauthenticated())
	}
	if cur.LockedDownAt != nil {
		return passwordResetRequired()
	}
	if cur.PasswordHash != at.account.PasswordHash {
		return Errorf(CodeInvalidCurrentPass, "Your password was changed meanwhile. Reload and try again.")
	}
	return p.tried.passed(ctx, q)
}

func invalidCurrentPassword() *Error {
	return Errorf(CodeInvalidCurrentPass, "Your current password is incorrect.")
}

// codeProof is a code from the authenticator app, or a backup code,
// checked by the sign-in's own machinery (checkFactorCode).
type codeProof struct {
	code   string
	factor *factorCode
}

func (p *codeProof) method() string { return p.factor.method }

func (p *codeProof) check(ctx context.Context, s *Service, at *sudoAttempt) error {
	noCodes := Errorf(CodeInvalidCode, "Two-factor authentication is not on for this account: confirm with your password.")
	if !at.account.TwoFactorEnabled() {
		return noCodes
	}
	st := &secondStep{account: at.account, client: at.client, failedAs: at.action, sessionID: at.caller.ID}
	f, err := s.checkFactorCode(ctx, st, p.code, at.now, noCodes)
	if err != nil {
		return err
	}
	p.factor = f
	return nil
}

// take uses the code up (the TOTP step, or the backup code) while
// two-factor authentication is still on, and records a backup code's use.
func (p *codeProof) take(ctx context.Context, s *Service, q Queries, at *sudoAttempt) error {
	cur, err := q.LockAccount(ctx, at.account.ID)
	if err != nil {
		return notFoundAs(err, unauthenticated())
	}
	if !cur.TwoFactorEnabled() {
		return invalidCode() // turned off since the check
	}
	if err := p.factor.consume(ctx, q, at.now); err != nil {
		return err
	}
	if p.factor.method == audit.MethodBackupCode {
		return s.backupCodeUsed(ctx, q, at.account.ID, at.caller.ID, at.client, at.now)
	}
	return nil
}

// refuse records a code another request used first (a replay racing
// this one) as any wrong code is.
func (p *codeProof) refuse(ctx context.Context, s *Service) error {
	return s.refuseCode(ctx, p.factor.st)
}
