package keyward

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/passkey"
)

// Signing in with a passkey: without a password (a discoverable passkey
// names its account by the user handle), or as the second step after one.

// BeginPasskeySignIn begins a passkey sign-in and returns the request
// options for the browser and the ceremony's id. Without mfaToken it is a
// sign-in without a password: any passkey of this relying party may
// answer. With it, the second step of the sign-in that token stands for:
// only the account's passkeys may. Every one begun counts against the
// client's address (it writes a challenge to the store).
func (s *Service) BeginPasskeySignIn(ctx context.Context, mfaToken string, c Client) (options []byte, id string, err error) {
	if s.passkeys == nil {
		return nil, "", passkeysUnavailable(s.passkeysOff)
	}
	now := s.clock()
	begun := throttleCheck{passkeyOptionsThrottleKey(clientAddress(c.IP)), s.cfg.PasskeyOptionsThrottle}
	if _, err := s.reserveAttempt(ctx, now, begun); err != nil {
		return nil, "", err
	}
	if mfaToken == "" {
		return s.beginCeremony(ctx, ceremonyBinding{purpose: CeremonySignIn},
			func(challenge []byte) (*passkey.Ceremony, error) { return s.passkeys.BeginLogin(nil, challenge) })
	}
	ch, err := s.liveMFAChallenge(ctx, mfaToken, now)
	if err != nil {
		return nil, "", err
	}
	a, err := s.store.AccountByID(ctx, ch.AccountID)
	if err != nil {
		return nil, "", notFoundAs(err, mfaTokenExpired())
	}
	return s.beginAccountAssertion(ctx, a, ceremonyBinding{purpose: CeremonySecondStep, accountID: a.ID, mfaHash: ch.TokenHash})
}

// beginAccountAssertion begins a ceremony that asks for one of a's
// passkeys, bound as binding says; no_passkeys when a has none (there is
// then nothing to ask for, and no user handle to make for it).
func (s *Service) beginAccountAssertion(ctx context.Context, a *Account, binding ceremonyBinding) ([]byte, string, error) {
	if list, err := s.store.ListPasskeys(ctx, a.ID); err != nil || len(list) == 0 {
		return nil, "", cmpOr(err, noPasskeys())
	}
	u, _, err := s.passkeyUser(ctx, a)
	if err != nil {
		return nil, "", err
	}
	return s.beginCeremony(ctx, binding,
		func(challenge []byte) (*passkey.Ceremony, error) { return s.passkeys.BeginLogin(&u, challenge) })
}

// liveMFAChallenge returns the waiting second step mfaToken stands for, or
// mfa_token_expired.
func (s *Service) liveMFAChallenge(ctx context.Context, mfaToken string, now time.Time) (*MFAChallenge, error) {
	parsed, ok := parseToken(mfaTokenPrefix, mfaToken)
	if !ok {
		return nil, mfaTokenExpired()
	}
	ch, err := s.store.MFAChallenge(ctx, parsed[:])
	if IsCode(err, CodeNotFound) || (err == nil && !now.Before(ch.ExpiresAt)) {
		return nil, mfaTokenExpired()
	}
	return ch, err
}

// SecondStepMethods lists the ways the second step of mfaToken's sign-in
// can be passed, as API.md names them: "totp" (unless codes from the app
// are suspended after too many wrong ones), "backup_code", "passkey".
func (s *Service) SecondStepMethods(ctx context.Context, mfaToken string) ([]string, error) {
	ch, err := s.liveMFAChallenge(ctx, mfaToken, s.clock())
	if err != nil {
		return nil, err
	}
	return s.secondStepMethods(ctx, ch.AccountID)
}

func (s *Service) secondStepMethods(ctx context.Context, accountID string) ([]string, error) {
	var methods []string
	switch cred, err := s.store.TOTPCredential(ctx, accountID); {
	case err == nil && cred.Failures < MaxSecondFactorFailures:
		methods = append(methods, audit.MethodTOTP)
	case err != nil && !IsCode(err, CodeNotFound):
		return nil, err
	}
	methods = append(methods, audit.MethodBackupCode)
	list, err := s.store.ListPasskeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if len(list) > 0 && s.passkeys != nil {
		methods = append(methods, audit.MethodPasskey)
	}
	return methods, nil
}

// passkeyAttempt is one passkey sign-in under way, as a refusal records it.
type passkeyAttempt struct {
	account *Account // nil until the assertion names a known one
	passkey *Passkey // nil until then
	client  Client
	second  bool         // the second step after a password
	sudo    *sudoAttempt // confirming it is the person, in a session
	*attempt
}

// errPasskeyCounter is a passkey whose counter did not move forward (found
// by the check, or by the conditional update that lost to a concurrent
// use of the same counter).
var errPasskeyCounter = errors.New("passkey counter did not move forward")

// FinishPasskeySignIn checks the browser's answer to the ceremony id and
// opens a session. Without mfaToken it is a sign-in without a password:
// the session is two-factor (aal 2) when the authenticator verified its
// user, one-factor otherwise. With mfaToken it is the second step after
// the password: two-factor either way. A response that does not pass is
// invalid_credential and recorded; one whose counter went back too, as
// signin.failed with reason passkey_counter.
func (s *Service) FinishPasskeySignIn(ctx context.Context, id string, response []byte, mfaToken string, c Client) (*SignInResult, error) {
	var res *SignInResult
	var err error
	if s.passkeys == nil {
		err = passkeysUnavailable(s.passkeysOff)
	} else if mfaToken == "" {
		res, err = s.passkeySignIn(ctx, id, response, c)
	} else {
		res, err = s.passkeySecondStep(ctx, id, response, mfaToken, c)
	}
	s.metrics.SignIns.Inc(signInOutcome(res, err))
	return res, err
}

func (s *Service) passkeySignIn(ctx context.Context, id string, response []byte, c Client) (*SignInResult, error) {
	now := s.clock()
	failures := throttleCheck{passkeyThrottleKey(clientAddress(c.IP)), s.cfg.PasskeyThrottle}
	if err := s.checkThrottle(ctx, now, failures); err != nil {
		return nil, err
	}
	// Only failures count: a success clears nothing, so that signing in
	// with one's own passkey cannot wipe an address's count.
	at := &passkeyAttempt{client: c, attempt: &attempt{now: now, onFail: []throttleCheck{failures}}}
	assertion, err := passkey.ParseAssertion(response)
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	accountID, err := s.store.AccountIDByUserHandle(ctx, assertion.UserHandle())
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	if at.account, err = s.store.AccountByID(ctx, accountID); err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	if at.passkey, err = s.accountPasskey(ctx, accountID, assertion.CredentialID()); err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	cer, challenge, err := s.takeCeremony(ctx, id, ceremonyBinding{purpose: CeremonySignIn})
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	v, err := s.verifyAssertion(ctx, at, cer, challenge, assertion)
	if err != nil {
		return nil, err
	}
	a := at.account
	switch {
	case a.Disabled():
		return nil, s.refuseDisabledPasskey(ctx, at)
	case a.LockedDownAt != nil:
		return nil, s.refusePasskeyAs(ctx, at, string(CodePasswordResetReq), passwordResetRequired())
	case s.cfg.RequireVerifiedEmail && !a.EmailVerified():
		return nil, s.refusePasskeyAs(ctx, at, string(CodeEmailNotVerified), emailNotVerified())
	}
	aal, amr := 1, passkeyAMR(at.passkey)
	if v.UserVerified {
		// The authenticator checked who holds it: two factors in one.
		aal, amr = 2, amr|AMRMultiFactor
	}
	var res *SignInResult
	err = s.store.InTx(ctx, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		// A disable or a lockdown that committed since the account was
		// read wins.
		if cur.Disabled() {
			return errDisabled
		}
		if cur.LockedDownAt != nil {
			return passwordResetRequired()
		}
		if err := s.passkeyUsed(ctx, q, at.passkey, v, now); err != nil {
			return err
		}
		res, err = s.openSession(ctx, q, sessionOpening{account: cur, aal: aal, amr: amr, client: c, now: now, method: audit.MethodPasskey,
			passkey: at.passkey, newDevice: !s.knownDevice(c.DeviceToken, a.ID, now)})
		return err
	})
	switch {
	case errors.Is(err, errPasskeyCounter):
		return nil, s.refusePasskey(ctx, at, err)
	case errors.Is(err, errDisabled):
		return nil, s.refuseDisabledPasskey(ctx, at)
	}
	return res, err
}

func (s *Service) passkeySecondStep(ctx context.Context, id string, response []byte, mfaToken string, c Client) (*SignInResult, error) {
	now := s.clock()
	ch, err := s.liveMFAChallenge(ctx, mfaToken, now)
	if err != nil {
		return nil, err
	}
	// Counted before the check, with the codes of this account's second
	// steps: one budget for every way through.
	tried, err := s.reserveAttempt(ctx, now, throttleCheck{secondFactorThrottleKey(ch.AccountID), s.cfg.SecondFactorRule})
	if err != nil {
		return nil, err
	}
	a, err := s.store.AccountByID(ctx, ch.AccountID)
	if err != nil {
		return nil, notFoundAs(err, mfaTokenExpired())
	}
	at := &passkeyAttempt{account: a, client: c, second: true, attempt: tried}
	assertion, err := passkey.ParseAssertion(response)
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	if at.passkey, err = s.accountPasskey(ctx, a.ID, assertion.CredentialID()); err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	cer, challenge, err := s.takeCeremony(ctx, id, ceremonyBinding{purpose: CeremonySecondStep, accountID: a.ID, mfaHash: ch.TokenHash})
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	v, err := s.verifyAssertion(ctx, at, cer, challenge, assertion)
	if err != nil {
		return nil, err
	}
	var res *SignInResult
	err = s.store.InTx(ctx, func(q Queries) error {
		cur, err := stillTwoFactor(ctx, q, a.ID)
		if err != nil {
			return err
		}
		// Checked after the answer passed, as a code's: a bad answer never
		// learns that the account is disabled. The counter and the
		// mfa_token roll back with it.
		if cur.Disabled() {
			return errDisabled
		}
		if err := s.passkeyUsed(ctx, q, at.passkey, v, now); err != nil {
			return err
		}
		if consumed, err := q.ConsumeMFAChallenge(ctx, ch.TokenHash); err != nil || !consumed {
			return orExpired(err)
		}
		if err := tried.passed(ctx, q); err != nil {
			return err
		}
		// A second factor passed: the count of wrong TOTP codes in a row
		// starts again, as after a code.
		if err := q.ClearSecondFactorFailures(ctx, a.ID); err != nil && !IsCode(err, CodeNotFound) {
			return err
		}
		res, err = s.openSession(ctx, q, sessionOpening{account: a, aal: 2, amr: AMRPassword | passkeyAMR(at.passkey) | AMRMultiFactor,
			client: c, now: now, method: audit.MethodPasskey,
			passkey: at.passkey, newDevice: !s.knownDevice(c.DeviceToken, a.ID, now)})
		return err
	})
	switch {
	case errors.Is(err, errPasskeyCounter):
		return nil, s.refusePasskey(ctx, at, err)
	case errors.Is(err, errDisabled):
		return nil, s.refuseDisabledPasskey(ctx, at)
	}
	return res, err
}

// refuseDisabledPasskey records a passkey sign-in refused because an admin
// disabled the account, once the answer passed: as a code's second step
// is (refuseDisabledStep), the counts of the attempt clear, and the answer
// is account_disabled.
func (s *Service) refuseDisabledPasskey(ctx context.Context, at *passkeyAttempt) error {
	err := s.store.InTx(ctx, func(q Queries) error {
		if err := at.passed(ctx, q); err != nil {
			return err
		}
		e := event(at.account.ID, audit.SigninFailed, at.client, "")
		e.Outcome, e.Reason, e.Time = audit.Failure, string(CodeAccountDisabled), at.now
		e.Details = map[string]string{audit.DetailMethod: audit.MethodPasskey, audit.DetailReason: string(CodeAccountDisabled),
			audit.DetailPasskey: at.passkey.Name, audit.DetailPasskeyID: at.passkey.ID}
		return s.record(ctx, q, e)
	})
	if err != nil {
		return notFoundAs(err, invalidCredential())
	}
	return accountDisabled()
}

// passkeyAMR is the method a passkey proves (RFC 8176): swk for a synced
// one, whose key lives in software that copies it between devices; hwk
// for one bound to its device or a security key.
func passkeyAMR(p *Passkey) AMR {
	if p.BackupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// accountPasskey returns the account's passkey with that credential id:
// one of another account is refused like one that does not exist.
func (s *Service) accountPasskey(ctx context.Context, accountID string, credentialID []byte) (*Passkey, error) {
	p, err := s.store.PasskeyByCredentialID(ctx, credentialID)
	if err != nil {
		return nil, err
	}
	if p.AccountID != accountID {
		return nil, errCeremony
	}
	return p, nil
}

// verifyAssertion checks the assertion against its ceremony for the
// attempt's account and passkey; a refusal is recorded.
func (s *Service) verifyAssertion(ctx context.Context, at *passkeyAttempt, cer *PasskeyChallenge, challenge []byte, assertion *passkey.Assertion) (*passkey.Verified, error) {
	u, _, err := s.passkeyUser(ctx, at.account)
	if err != nil {
		return nil, err
	}
	v, err := s.passkeys.FinishLogin(u, cer.State, challenge, assertion)
	if err != nil {
		return nil, s.refusePasskey(ctx, at, err)
	}
	if v.CounterWentBack {
		return nil, s.refusePasskey(ctx, at, errPasskeyCounter)
	}
	return v, nil
}

// passkeyUsed records the use in q: the counter moves to the assertion's
// only while it is still the one checked against, so that of two uses of
// one counter (a copied passkey, on two nodes at once) one loses.
func (s *Service) passkeyUsed(ctx context.Context, q Queries, p *Passkey, v *passkey.Verified, now time.Time) error {
	ok, err := q.UsePasskey(ctx, p.ID, p.SignCount, v.Credential.SignCount, v.Credential.BackupState, now)
	if err != nil {
		return err
	}
	if !ok {
		return errPasskeyCounter
	}
	return nil
}

// refusePasskey records a refused passkey sign-in and answers
// invalid_credential: the reason (a store's not-found, the library's
// refusal) goes to the log only. A store that fails is answered as such.
func (s *Service) refusePasskey(ctx context.Context, at *passkeyAttempt, cause error) error {
	var r *passkey.Refused
	switch {
	case errors.Is(cause, errPasskeyCounter):
		return s.refusePasskeyAs(ctx, at, audit.ReasonPasskeyCounter, invalidCredential())
	case errors.Is(cause, errCeremony), errors.As(cause, &r), IsCode(cause, CodeNotFound):
		s.log.InfoContext(ctx, "passkey sign-in refused", "request_id", RequestIDFrom(ctx), "why", cause.Error())
		return s.refusePasskeyAs(ctx, at, string(CodeInvalidCredential), invalidCredential())
	}
	return cause
}

// refusePasskeyAs records the refusal for reason and answers answer. In
// the account's log once it is known (else the system's): signin.failed,
// or at a second step signin.mfa_failed, but a counter that went back is
// always signin.failed. Details say passkey, the reason, and which one.
func (s *Service) refusePasskeyAs(ctx context.Context, at *passkeyAttempt, reason string, answer *Error) error {
	chain := audit.SystemChain
	if at.account != nil {
		chain = at.account.ID
	}
	kind, sessionID := audit.SigninFailed, ""
	switch {
	case reason == audit.ReasonPasskeyCounter:
	case at.second:
		kind = audit.SigninMFAFailed
	case at.sudo != nil:
		kind = at.sudo.action
	}
	if at.sudo != nil {
		sessionID = at.sudo.caller.ID
	}
	e := event(chain, kind, at.client, sessionID)
	e.Details = map[string]string{audit.DetailMethod: audit.MethodPasskey, audit.DetailReason: reason}
	if at.passkey != nil {
		e.Details[audit.DetailPasskey], e.Details[audit.DetailPasskeyID] = at.passkey.Name, at.passkey.ID
	}
	throttled := map[string]string{audit.DetailMethod: audit.MethodPasskey}
	if at.second || at.sudo != nil {
		throttled = map[string]string{audit.DetailMethod: "second_factor"}
	}
	if err := s.recordFailure(ctx, failure{attempt: at.attempt, event: e, reason: reason, throttled: throttled}); err != nil {
		return err
	}
	return answer
}

// BeginPasskeySudo begins confirming it is the person with one of the
// account's passkeys (sudo mode), for the caller's session only, and
// returns the request options and the ceremony's id. no_passkeys when the
// account has none.
func (s *Service) BeginPasskeySudo(ctx context.Context, caller *Session, c Client) (options []byte, id string, err error) {
	if s.passkeys == nil {
		return nil, "", passkeysUnavailable(s.passkeysOff)
	}
	begun := throttleCheck{passkeyOptionsThrottleKey(clientAddress(c.IP)), s.cfg.PasskeyOptionsThrottle}
	if _, err := s.reserveAttempt(ctx, s.clock(), begun); err != nil {
		return nil, "", err
	}
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, "", notFoundAs(err, unauthenticated())
	}
	return s.beginAccountAssertion(ctx, a, ceremonyBinding{purpose: CeremonySudo, accountID: a.ID, sessionID: caller.ID})
}

// passkeyProof is a passkey shown to confirm it is the person: the answer
// to a ceremony BeginPasskeySudo began for this very session.
type passkeyProof struct {
	challengeID string
	response    []byte
	at          *passkeyAttempt
	verified    *passkey.Verified
}

func (p *passkeyProof) method() string { return audit.MethodPasskey }

// check verifies the answer, counted in the account's second-factor
// throttle (one budget with codes). A refusal is recorded as a failed
// sudo.granted (a counter that went back, as signin.failed
// passkey_counter, as everywhere) and answered invalid_credential.
func (p *passkeyProof) check(ctx context.Context, s *Service, at *sudoAttempt) error {
	if s.passkeys == nil {
		return passkeysUnavailable(s.passkeysOff)
	}
	tried, err := s.reserveAttempt(ctx, at.now, throttleCheck{secondFactorThrottleKey(at.account.ID), s.cfg.SecondFactorRule})
	if err != nil {
		return err
	}
	p.at = &passkeyAttempt{account: at.account, client: at.client, attempt: tried, sudo: at}
	assertion, err := passkey.ParseAssertion(p.response)
	if err != nil {
		return s.refusePasskey(ctx, p.at, err)
	}
	if p.at.passkey, err = s.accountPasskey(ctx, at.account.ID, assertion.CredentialID()); err != nil {
		return s.refusePasskey(ctx, p.at, err)
	}
	cer, challenge, err := s.takeCeremony(ctx, p.challengeID, ceremonyBinding{purpose: CeremonySudo, accountID: at.account.ID, sessionID: at.caller.ID})
	if err != nil {
		return s.refusePasskey(ctx, p.at, err)
	}
	if p.verified, err = s.verifyAssertion(ctx, p.at, cer, challenge, assertion); err != nil {
		return err
	}
	// A key whose authenticator did not check who holds it proves
	// possession: enough beside what the session proved at its sign-in (a
	// password, a code, a verified passkey), not for a session opened with
	// such a key alone.
	if !p.verified.UserVerified && at.caller.AAL < 2 {
		return s.refusePasskeyAs(ctx, p.at, reasonUserNotVerified, Errorf(CodeInvalidCredential,
			"Your passkey did not check that it is you (no PIN, fingerprint or face), and this session was opened with it alone. Confirm with your password instead."))
	}
	return nil
}

// reasonUserNotVerified is the reason of a passkey refused because its
// authenticator did not verify its user where that was needed.
const reasonUserNotVerified = "user_not_verified"

// take moves the passkey's counter (a concurrent use of the same counter,
// or the passkey's removal, makes it errCodeRefused) under the account's
// lock, and clears the wrong guesses.
func (p *passkeyProof) take(ctx context.Context, s *Service, q Queries, at *sudoAttempt) error {
	cur, err := q.LockAccount(ctx, at.account.ID)
	if err != nil {
		return notFoundAs(err, unauthenticated())
	}
	if cur.LockedDownAt != nil {
		return passwordResetRequired()
	}
	if err := s.passkeyUsed(ctx, q, p.at.passkey, p.verified, at.now); err != nil {
		if errors.Is(err, errPasskeyCounter) {
			// A concurrent use of the counter, or the passkey's removal,
			// committed first: refused by refuse, as a code used first is.
			return errCodeRefused
		}
		return err
	}
	return p.at.attempt.passed(ctx, q)
}

// refuse records a counter that lost to a concurrent use (or a passkey
// removed meanwhile): invalid_credential, signin.failed passkey_counter.
func (p *passkeyProof) refuse(ctx context.Context, s *Service) error {
	return s.refusePasskey(ctx, p.at, errPasskeyCounter)
}
