package keyward

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/backupcode"
	"github.com/keyward/keyward/device"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/totp"
)

// SignInResult is the outcome of a sign-in step: either a session (Token and
// Session set) or a request for the second factor (MFAToken set).
type SignInResult struct {
	Account  *Account
	Session  *Session
	Token    string // the session token; shown once, never stored
	MFAToken string // set when a second factor is required
	// DeviceToken comes with every session: the device presents it at its
	// next sign-in to the account (see Client.DeviceToken).
	DeviceToken string
	// TOTPSuspended is set with MFAToken when the account has had too many
	// consecutive wrong codes: only a backup code can pass the second step.
	TOTPSuspended bool
	// Methods lists, with MFAToken, how the second step can be passed
	// (API.md's names: "totp", "backup_code", "passkey").
	Methods []string
	// UsedBackupCode and BackupCodesRemaining tell the person how many
	// codes are left after signing in with one.
	UsedBackupCode       bool
	BackupCodesRemaining int
}

// MFARequired reports whether the second step must follow.
func (r *SignInResult) MFARequired() bool { return r.MFAToken != "" }

func invalidCredentials() *Error {
	return Errorf(CodeInvalidCredentials, "The email or password is incorrect.")
}

func accountDisabled() *Error {
	return Errorf(CodeAccountDisabled, "This account is disabled. Ask the operator of this site to enable it again.")
}

func mfaTokenExpired() *Error {
	return Errorf(CodeMFATokenExpired, "This sign-in has expired. Sign in again with your password.")
}

func invalidCode() *Error {
	return Errorf(CodeInvalidCode, "That code is not valid. Check your authenticator app or backup codes and try again.")
}

func totpSuspended() *Error {
	return Errorf(CodeInvalidCode, "Codes from your authenticator app are turned off for this account after too many wrong codes. Sign in with one of your backup codes.")
}

// MaxSecondFactorFailures caps consecutive wrong second-factor codes
// (NIST SP 800-63B 5.2.2 allows at most 100): past it TOTP codes are
// refused without being checked until a backup code signs in. The
// throttle alone would allow some 12 guesses an hour forever.
const MaxSecondFactorFailures = 100

// SignIn is the password step. Unknown emails and wrong passwords take the
// same path: the same throttling, a hash of the same cost, the same store
// reads and writes, one audit write, and the same answer.
func (s *Service) SignIn(ctx context.Context, email, pw string, c Client) (*SignInResult, error) {
	res, err := s.signIn(ctx, email, pw, c)
	s.metrics.SignIns.Inc(signInOutcome(res, err))
	return res, err
}

// signInOutcome is the label a sign-in step is counted under.
func signInOutcome(res *SignInResult, err error) int {
	switch {
	case err == nil && res.MFAToken != "":
		return metrics.SignInSecondFactorRequired
	case err == nil:
		return metrics.SignInSuccess
	case IsCode(err, CodeInvalidCredentials):
		return metrics.SignInInvalidCredentials
	case IsCode(err, CodeInvalidCode), IsCode(err, CodeMFATokenExpired):
		return metrics.SignInInvalidCode
	case IsCode(err, CodeTooManyAttempts):
		return metrics.SignInThrottled
	case IsCode(err, CodeInvalidCredential):
		return metrics.SignInInvalidPasskey
	}
	return metrics.SignInError
}

func (s *Service) signIn(ctx context.Context, email, pw string, c Client) (*SignInResult, error) {
	now := s.clock()
	// Whatever was typed becomes a throttle key: make it fit to store first.
	email = cleanText(email, maxEmailLength)
	addr := clientAddress(c.IP)
	if !s.checks.enter(addr) {
		s.metrics.Throttled.Inc(metrics.ThrottleConcurrent)
		return nil, throttled(time.Second)
	}
	defer s.checks.leave(addr)
	address := throttleCheck{addressThrottleKey(addr), s.cfg.AddressThrottle}
	if err := s.checkThrottle(ctx, now, address); err != nil {
		return nil, err
	}
	// The account is read before the per-email counts: which counts apply
	// depends on whether the device token is this account's.
	a, err := s.store.AccountByEmail(ctx, email)
	if err != nil && !IsCode(err, CodeNotFound) {
		return nil, err
	}
	tried, err := s.reserveAttempt(ctx, now, s.signInChecks(a, email, addr, c.DeviceToken, now)...)
	if err != nil {
		return nil, err
	}
	// The address, checked above, is counted only for a wrong password.
	tried.onFail = []throttleCheck{address}
	at := &signInAttempt{account: a, email: email, client: c, attempt: tried}
	var ok, rehash bool
	if a == nil {
		err = hasherError(s.hasher.DummyVerify(ctx, pw))
	} else {
		ok, rehash, err = s.verifyPassword(ctx, a, pw)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.signInFailed(ctx, at); err != nil {
			// Not found: the account was deleted during the check.
			return nil, notFoundAs(err, invalidCredentials())
		}
		return nil, invalidCredentials()
	}

	switch {
	case a.Disabled():
		return nil, notFoundAs(s.refuseUnconfirmed(ctx, at, string(CodeAccountDisabled), accountDisabled()), invalidCredentials())
	case a.LockedDownAt != nil:
		return nil, s.refuseUnconfirmed(ctx, at, string(CodePasswordResetReq), passwordResetRequired())
	case s.cfg.RequireVerifiedEmail && !a.EmailVerified():
		return nil, s.refuseUnconfirmed(ctx, at, string(CodeEmailNotVerified), emailNotVerified())
	}

	var newHash string
	if rehash {
		// Parameters changed since this hash was made (or it came from
		// bcrypt): upgrade it now, while we hold the password.
		if newHash, err = s.hash(ctx, pw); err != nil {
			return nil, err
		}
	}
	if a.TwoFactorEnabled() {
		return s.beginSecondFactor(ctx, at, newHash)
	}
	var res *SignInResult
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := s.passwordAccepted(ctx, q, at, newHash); err != nil {
			return err
		}
		var err error
		res, err = s.openSession(ctx, q, sessionOpening{account: a, aal: 1, amr: AMRPassword, client: c, now: now, method: audit.MethodPassword, newDevice: !s.knownDevice(c.DeviceToken, a.ID, now)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// signInAttempt is one password attempt.
type signInAttempt struct {
	account *Account // nil for an unknown email
	email   string   // as typed (cleaned): only its keyed digest is ever stored
	client  Client
	*attempt
}

// signInChecks are the counts a password attempt is reserved against. The
// tight rule counts an email from one address, so an attacker elsewhere
// slows only himself; the looser one counts the email from everywhere,
// against guessing spread over many addresses. An attempt from a device
// that completed a sign-in to this very account before is counted in the
// device's own bucket instead, so that such guessing cannot keep the owner
// out from his devices. The token is read whether or not the email has an
// account: an unknown email with any token is an unknown email.
func (s *Service) signInChecks(a *Account, email, addr, deviceToken string, now time.Time) []throttleCheck {
	d, trusted := s.readDeviceToken(deviceToken, now)
	if trusted && a != nil && d.accountID == a.ID {
		return []throttleCheck{{d.throttleKey(), s.cfg.DeviceThrottle}}
	}
	return []throttleCheck{
		{pairThrottleKey(email, addr), s.cfg.SignInThrottle},
		{emailThrottleKey(email), s.cfg.AccountThrottle},
	}
}

// passwordAccepted confirms, under the account's lock, that the password
// just checked (outside the transaction, since hashing is slow) is still the
// account's and its factors are unchanged: a sign-in racing a password
// change or a 2FA change must not open a session. Then it clears the
// email's failures and stores an upgraded hash.
func (s *Service) passwordAccepted(ctx context.Context, q Queries, at *signInAttempt, newHash string) error {
	a := at.account
	cur, err := q.LockAccount(ctx, a.ID)
	if err != nil {
		return notFoundAs(err, invalidCredentials())
	}
	if cur.PasswordHash != a.PasswordHash || cur.TwoFactorEnabled() != a.TwoFactorEnabled() {
		return invalidCredentials()
	}
	// A disable or a lockdown that committed since the account was read wins.
	if cur.Disabled() {
		return accountDisabled()
	}
	if cur.LockedDownAt != nil {
		return passwordResetRequired()
	}
	if err := at.passed(ctx, q); err != nil {
		return err
	}
	if newHash != "" {
		a.PasswordHash = newHash
		return q.SetPasswordHash(ctx, a.ID, newHash)
	}
	return nil
}

// signInFailed counts the failure against the address (the other counts
// were taken before the check) and records it: in the account's log, or for
// an unknown email in the system log that only operators read. There the
// email is a keyed digest, never the text: whatever was typed (a password,
// at times) must not sit in the log for its retention.
func (s *Service) signInFailed(ctx context.Context, at *signInAttempt) error {
	chain := audit.SystemChain
	// Computed for known emails too, so both take the same work.
	digest, err := s.emailDigest(at.email)
	if err != nil {
		return err
	}
	details := func(m map[string]string) map[string]string {
		if at.account == nil {
			m[audit.DetailEmailDigest] = digest
		}
		return m
	}
	if at.account != nil {
		chain = at.account.ID
	}
	e := event(chain, audit.SigninFailed, at.client, "")
	e.Details = details(map[string]string{audit.DetailMethod: audit.MethodPassword})
	return s.recordFailure(ctx, failure{
		attempt: at.attempt, event: e, reason: "invalid_password",
		throttled: details(map[string]string{audit.DetailMethod: audit.MethodPassword}),
	})
}

// beginSecondFactor hands out the short-lived mfa_token that opens nothing
// but the second step.
func (s *Service) beginSecondFactor(ctx context.Context, at *signInAttempt, newHash string) (*SignInResult, error) {
	a, c, now := at.account, at.client.clean(), at.now
	token, hash, err := s.newToken(mfaTokenPrefix)
	if err != nil {
		return nil, err
	}
	methods, err := s.secondStepMethods(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	ch := &MFAChallenge{TokenHash: hash, AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.MFATokenTTL), IP: c.IP, UserAgent: c.UserAgent}
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := s.passwordAccepted(ctx, q, at, newHash); err != nil {
			return err
		}
		return q.CreateMFAChallenge(ctx, ch)
	})
	if err != nil {
		return nil, err
	}
	// Codes from the app are listed unless they are suspended after too
	// many wrong ones; an account without TOTP has no such codes at all.
	suspended, err := s.totpSuspended(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return &SignInResult{Account: a, MFAToken: token, TOTPSuspended: suspended, Methods: methods}, nil
}

// totpSuspended reports whether the account's TOTP codes are refused
// after too many wrong ones in a row (false without TOTP).
func (s *Service) totpSuspended(ctx context.Context, accountID string) (bool, error) {
	cred, err := s.store.TOTPCredential(ctx, accountID)
	if IsCode(err, CodeNotFound) {
		return false, nil
	}
	return err == nil && cred.Failures >= MaxSecondFactorFailures, err
}

// errCodeRefused is a second-factor code that did not pass: wrong, replayed,
// or taken by a concurrent request (then it rolls back the transaction that
// lost). The caller records the failure.
var errCodeRefused = errors.New("code refused")

// CompleteSignIn is the second step: a TOTP code or a backup code for the
// account behind mfaToken. Wrong codes are throttled per account across
// mfa_tokens, so asking for a new token does not reset the count.
func (s *Service) CompleteSignIn(ctx context.Context, mfaToken, code string, c Client) (*SignInResult, error) {
	res, err := s.completeSignIn(ctx, mfaToken, code, c)
	s.metrics.SignIns.Inc(signInOutcome(res, err))
	return res, err
}

func (s *Service) completeSignIn(ctx context.Context, mfaToken, code string, c Client) (*SignInResult, error) {
	now := s.clock()
	parsed, ok := parseToken(mfaTokenPrefix, mfaToken)
	if !ok {
		return nil, mfaTokenExpired()
	}
	hash := parsed[:]
	ch, err := s.store.MFAChallenge(ctx, hash)
	if IsCode(err, CodeNotFound) || (err == nil && !now.Before(ch.ExpiresAt)) {
		return nil, mfaTokenExpired()
	}
	if err != nil {
		return nil, err
	}
	tried, err := s.reserveAttempt(ctx, now, throttleCheck{secondFactorThrottleKey(ch.AccountID), s.cfg.SecondFactorRule})
	if err != nil {
		return nil, err
	}
	a, err := s.store.AccountByID(ctx, ch.AccountID)
	if err != nil {
		return nil, notFoundAs(err, mfaTokenExpired())
	}
	st := &secondStep{account: a, client: c, attempt: tried, mfaHash: hash}
	if err := s.fillSecondStep(ctx, st); err != nil {
		// 2FA was turned off between the two steps: start again.
		return nil, notFoundAs(err, mfaTokenExpired())
	}
	checked, err := s.checkCode(ctx, st, code)
	if err != nil {
		return nil, notFoundAs(err, mfaTokenExpired())
	}
	res, err := s.signInWithCode(ctx, st, checked)
	switch {
	case errors.Is(err, errCodeRefused):
		return nil, notFoundAs(s.refuseCode(ctx, st), mfaTokenExpired())
	case errors.Is(err, errDisabled):
		return nil, notFoundAs(s.refuseDisabledStep(ctx, st), mfaTokenExpired())
	}
	return res, err
}

// fillSecondStep reads, for st's account, what a code is checked against: the account's TOTP
// credential (nil without one: a passkey holds two-factor on) and the
// backup codes' salt. A TOTP account's attempt is counted in its
// consecutive failures before the check, like the throttle's, so that
// attempts in flight together cannot pass the cap; a success clears the
// count. CodeNotFound when the account's two-factor authentication is off.
func (s *Service) fillSecondStep(ctx context.Context, st *secondStep) error {
	a := st.account
	if !a.TwoFactorEnabled() {
		return Errorf(CodeNotFound, "Two-factor authentication is off.")
	}
	st.method = audit.MethodTOTP
	cred, err := s.store.TOTPCredential(ctx, a.ID)
	switch {
	case err == nil:
		st.cred, st.salt = cred, cred.BackupSalt
		if st.failures, err = s.store.AddSecondFactorFailure(ctx, a.ID); err != nil && !IsCode(err, CodeNotFound) {
			return err
		}
		return nil
	case !IsCode(err, CodeNotFound):
		return err
	}
	st.salt, err = s.store.BackupCodeSalt(ctx, a.ID)
	if err != nil && !IsCode(err, CodeNotFound) {
		return err
	}
	return nil
}

// errDisabled rolls back a second step whose code passed for an account
// disabled since the password step: the code and the mfa token stay
// unused, and refuseDisabledStep answers.
var errDisabled = errors.New("account disabled")

// refuseDisabledStep records a second step refused because the account was
// disabled, after its code passed (a wrong code is answered invalid_code,
// whatever the account's state): the code's counts clear, as for any right
// code, and the answer is account_disabled.
func (s *Service) refuseDisabledStep(ctx context.Context, st *secondStep) error {
	err := s.store.InTx(ctx, func(q Queries) error {
		if err := st.passed(ctx, q); err != nil {
			return err
		}
		if err := q.ClearSecondFactorFailures(ctx, st.account.ID); err != nil {
			return err
		}
		e := event(st.account.ID, audit.SigninFailed, st.client, "")
		e.Outcome, e.Reason, e.Time = audit.Failure, string(CodeAccountDisabled), st.now
		e.Details = map[string]string{audit.DetailMethod: st.method}
		return s.record(ctx, q, e)
	})
	if err != nil {
		return err
	}
	return accountDisabled()
}

// secondStep is one second-factor attempt under way.
type secondStep struct {
	account  *Account
	cred     *TOTPCredential // nil when the account has no TOTP
	salt     []byte          // the backup codes' (nil without codes)
	mfaHash  []byte
	client   Client
	method   string // audit.MethodTOTP or audit.MethodBackupCode
	failures int    // consecutive failures, this attempt included
	// failedAs and sessionID say how a refused code is recorded when the
	// code is not a sign-in's (sudo): the event's type, and the session
	// that asked. A sign-in's is signin.mfa_failed, of no session.
	failedAs  audit.Type
	sessionID string
	*attempt
}

// totpInput reports whether code looks like a TOTP code (six digits, spaces
// allowed); anything else is tried as a backup code.
func totpInput(code string) (string, bool) {
	digits := strings.Join(strings.Fields(code), "")
	if len(digits) != totp.Digits {
		return "", false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return digits, true
}

// checkedCode is a second-factor code checked as far as it can be outside
// a transaction: a TOTP code against the secret (its step not taken yet), a
// backup code hashed (whether it is unused is the consuming update's to
// say). The sign-in's second step and a password reset check codes alike.
type checkedCode struct {
	method   string // audit.MethodTOTP or audit.MethodBackupCode
	step     int64  // TOTP
	codeHash []byte // backup code
}

// checkCode checks code for st, whose attempt is already counted. A wrong
// code is recorded and answered (refuseCode); past the cap a TOTP code is
// refused unchecked, since only a backup code proves the account then.
func (s *Service) checkCode(ctx context.Context, st *secondStep, code string) (checkedCode, error) {
	digits, isTOTP := totpInput(code)
	switch {
	case isTOTP && st.cred == nil:
		// No authenticator app on this account: no six digits pass.
		return checkedCode{}, s.refuseCode(ctx, st)
	case isTOTP && st.failures > MaxSecondFactorFailures:
		if err := s.secondFactorFailed(ctx, st, audit.ReasonTOTPSuspended); err != nil {
			return checkedCode{}, err
		}
		return checkedCode{}, totpSuspended()
	case isTOTP:
		secret, err := s.openSecret(ctx, st.cred.SealedSecret, st.account.ID)
		if err != nil {
			return checkedCode{}, err
		}
		step, ok := totp.Verify(secret, digits, st.now, st.cred.LastStep)
		if !ok {
			return checkedCode{}, s.refuseCode(ctx, st)
		}
		return checkedCode{method: audit.MethodTOTP, step: step}, nil
	default:
		st.method = audit.MethodBackupCode
		norm, ok := backupcode.Normalize(code)
		if !ok || st.salt == nil {
			return checkedCode{}, s.refuseCode(ctx, st)
		}
		// One slow hash per attempt, within the hashing bound (so a flood of
		// backup codes cannot exhaust memory), then a conditional update
		// decides.
		var h []byte
		if err := hasherError(s.hasher.Bounded(ctx, func() { h = backupcode.Hash(norm, st.salt) })); err != nil {
			return checkedCode{}, err
		}
		return checkedCode{method: audit.MethodBackupCode, codeHash: h}, nil
	}
}

// take consumes the code for good in q: the TOTP step (a step at or before
// the last accepted one loses, even against a concurrent request on another
// node) or the backup code. errCodeRefused when another request took it
// first.
func (c checkedCode) take(ctx context.Context, q Queries, accountID string, now time.Time) error {
	var ok bool
	var err error
	if c.method == audit.MethodTOTP {
		ok, err = q.AdvanceTOTPStep(ctx, accountID, c.step)
	} else {
		ok, err = q.UseBackupCode(ctx, accountID, c.codeHash, now)
	}
	if err != nil || !ok {
		return orRefused(err)
	}
	return nil
}

// refuseCode records a refused code and answers it: invalid_code, or
// totp_suspended once this refusal reached the cap.
func (s *Service) refuseCode(ctx context.Context, st *secondStep) error {
	if err := s.secondFactorFailed(ctx, st, string(CodeInvalidCode)); err != nil {
		return err
	}
	if st.failures >= MaxSecondFactorFailures {
		return totpSuspended()
	}
	return invalidCode()
}

// signInWithCode finishes the sign-in with a checked code: the code and the
// mfa token are consumed with the session opened, in one transaction.
func (s *Service) signInWithCode(ctx context.Context, st *secondStep, checked checkedCode) (*SignInResult, error) {
	a, now := st.account, st.now
	var res *SignInResult
	err := s.store.InTx(ctx, func(q Queries) error {
		cur, err := stillTwoFactor(ctx, q, a.ID)
		if err != nil {
			return err
		}
		if err := checked.take(ctx, q, a.ID, now); err != nil {
			return err
		}
		if consumed, err := q.ConsumeMFAChallenge(ctx, st.mfaHash); err != nil || !consumed {
			return orExpired(err)
		}
		// Checked after the code passed: a wrong code never learns that the
		// account is disabled.
		if cur.Disabled() {
			return errDisabled
		}
		if checked.method != audit.MethodBackupCode {
			var err error
			res, err = s.secondFactorPassed(ctx, q, st)
			return err
		}
		remaining, err := q.BackupCodesRemaining(ctx, a.ID)
		if err != nil {
			return err
		}
		if res, err = s.secondFactorPassed(ctx, q, st); err != nil {
			return err
		}
		used := event(a.ID, audit.BackupCodeUsed, st.client, res.Session.ID)
		used.Time = now
		used.Details = map[string]string{audit.DetailRemaining: strconv.Itoa(remaining)}
		res.UsedBackupCode, res.BackupCodesRemaining = true, remaining
		if err := s.record(ctx, q, used); err != nil {
			return err
		}
		return s.notify(ctx, q, a, notice{event: string(audit.BackupCodeUsed), client: st.client, now: now, remaining: &remaining})
	})
	return res, err
}

// stillTwoFactor locks the account for the rest of the transaction and
// requires two-factor to be still on: a second step racing a disable or a
// password change (which end waiting second steps) loses.
func stillTwoFactor(ctx context.Context, q Queries, accountID string) (*Account, error) {
	cur, err := q.LockAccount(ctx, accountID)
	if err != nil {
		return nil, notFoundAs(err, mfaTokenExpired())
	}
	if !cur.TwoFactorEnabled() {
		return nil, mfaTokenExpired()
	}
	return cur, nil
}

func orRefused(err error) error {
	if err != nil {
		return err
	}
	return errCodeRefused
}

func orExpired(err error) error {
	if err != nil {
		return err
	}
	return mfaTokenExpired()
}

// notFoundAs replaces a not-found error with replacement.
func notFoundAs(err error, replacement *Error) error {
	if IsCode(err, CodeNotFound) {
		return replacement
	}
	return err
}

// secondFactorPassed, once the code has passed, clears the counts of wrong
// codes (the throttle's and the consecutive failures) and opens the session.
func (s *Service) secondFactorPassed(ctx context.Context, q Queries, st *secondStep) (*SignInResult, error) {
	if err := st.passed(ctx, q); err != nil {
		return nil, err
	}
	if err := q.ClearSecondFactorFailures(ctx, st.account.ID); err != nil && !IsCode(err, CodeNotFound) {
		return nil, err
	}
	return s.openSession(ctx, q, sessionOpening{account: st.account, aal: 2, amr: AMRPassword | AMROTP | AMRMultiFactor, client: st.client, now: st.now, method: st.method,
		newDevice: !s.knownDevice(st.client.DeviceToken, st.account.ID, st.now)})
}

// secondFactorFailed records a refused code (counted before the check),
// the throttling it starts, and once, at the cap, that TOTP codes are
// refused from now on.
func (s *Service) secondFactorFailed(ctx context.Context, st *secondStep, reason string) error {
	a, c, now := st.account, st.client, st.now
	typ := audit.SigninMFAFailed
	if st.failedAs != "" {
		typ = st.failedAs
	}
	e := event(a.ID, typ, c, st.sessionID)
	e.Details = map[string]string{audit.DetailMethod: st.method}
	var also []*Event
	if st.failures == MaxSecondFactorFailures {
		t := event(a.ID, audit.SigninThrottled, c, "")
		t.Outcome, t.Reason, t.Actor, t.Time = audit.Failure, audit.ReasonTOTPSuspended, audit.ActorSystem, now
		t.Details = map[string]string{audit.DetailMethod: audit.MethodTOTP}
		also = append(also, t)
	}
	return s.recordFailure(ctx, failure{
		attempt: st.attempt, event: e, reason: reason, also: also,
		throttled: map[string]string{audit.DetailMethod: "second_factor"},
	})
}

// sessionOpening is a session about to open, as openSession records it.
type sessionOpening struct {
	account *Account
	aal     int // 1 after the password, 2 after a second factor too
	amr     AMR // the methods proved
	client  Client
	now     time.Time
	method  string   // the factor proved last: audit.MethodPassword, MethodTOTP, MethodBackupCode, MethodPasskey
	passkey *Passkey // the passkey used, when one was
	// newDevice is set for a sign-in from a device that never completed
	// one to the account: the owner is told by mail (unless turned off).
	newDevice bool
}

// knownDevice reports whether a device token marks a device that signed
// in to the account before (see devicetoken.go).
func (s *Service) knownDevice(token, accountID string, now time.Time) bool {
	d, ok := s.readDeviceToken(token, now)
	return ok && d.accountID == accountID
}

// openSession creates a session (always a new one, with a new token) and
// records the sign-in, inside the caller's transaction.
func (s *Service) openSession(ctx context.Context, q Queries, o sessionOpening) (*SignInResult, error) {
	token, hash, err := s.newToken(sessionTokenPrefix)
	if err != nil {
		return nil, err
	}
	a, c, now := o.account, o.client.clean(), o.now
	sess := &Session{
		ID:         s.newID("sess_"),
		AccountID:  a.ID,
		TokenHash:  hash,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(s.cfg.SessionLifetime),
		IP:         c.IP,
		UserAgent:  c.UserAgent,
		Device:     device.Parse(c.UserAgent),
		AAL:        o.aal,
		AMR:        o.amr,
	}
	if err := q.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	// Signing in is proving it is the person: the session starts in its
	// sudo window, so that sensitive actions right after it ask nothing
	// more (as GitHub's sudo mode does). Not a passkey alone whose
	// authenticator did not check who holds it: that proves possession of
	// a key, which a thief has too.
	if o.amr&(AMRPassword|AMROTP|AMRMultiFactor) != 0 {
		if err := q.ExtendSessionSudo(ctx, a.ID, sess.ID, now.Add(s.cfg.SudoWindow)); err != nil {
			return nil, err
		}
	}
	e := event(a.ID, audit.SigninSucceeded, c, sess.ID)
	e.Time, e.Details = now, map[string]string{audit.DetailMethod: o.method}
	if o.passkey != nil {
		e.Details[audit.DetailPasskey], e.Details[audit.DetailPasskeyID] = o.passkey.Name, o.passkey.ID
	}
	if err := s.record(ctx, q, e); err != nil {
		return nil, err
	}
	if o.newDevice && !a.NewDeviceMailOff {
		if err := s.notify(ctx, q, a, notice{event: NoticeNewDevice, client: o.client, now: now}); err != nil {
			return nil, err
		}
	}
	// A complete sign-in marks the device (see devicetoken.go).
	dev, err := s.newDeviceToken(a.ID, now)
	if err != nil {
		return nil, err
	}
	return &SignInResult{Account: a, Session: sess, Token: token, DeviceToken: dev}, nil
}
