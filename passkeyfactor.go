package keyward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/passkey"
)

// Passkeys as a factor: making one, listing, renaming and removing them.
// An account with a passkey is two-factor: the first passkey (or TOTP)
// turns two-factor authentication on and comes with the backup codes,
// which belong to the account's two-factor authentication, not to one
// factor; removing the last factor turns it off.

// MaxPasskeys bounds the passkeys of one account: every one is listed in
// the options of a second step.
const MaxPasskeys = 20

// maxPasskeyName bounds a passkey's name, in characters.
const maxPasskeyName = 64

// challengeIDPrefix starts every passkey challenge id: "kwc_" and the
// ceremony's challenge in base64url, so that the id a client sends back
// and the challenge the authenticator signed are one value.
const challengeIDPrefix = "kwc_"

// relyingParty is the passkey relying party cfg asks for, or nil and why
// passkeys are off.
func relyingParty(cfg Config, log *slog.Logger) (*passkey.RelyingParty, string) {
	if cfg.PasskeyOrigin == "" {
		return nil, "Passkeys are not available here: they need the site's public address, which the operator has not set (--public-url)."
	}
	rp, err := passkey.New(cfg.PasskeyOrigin, cfg.ProductName)
	if err != nil {
		log.Warn("passkeys are off", "err", err)
		return nil, "Passkeys are not available here: they need the site's public address to be a domain name, not an IP address."
	}
	return rp, ""
}

// PasskeysOff says why passkeys are off, for the pages; "" when they are on.
func (s *Service) PasskeysOff() string { return s.passkeysOff }

// PasskeyRelyingPartyID is the relying party id passkeys are made for ("" when off).
func (s *Service) PasskeyRelyingPartyID() string {
	if s.passkeys == nil {
		return ""
	}
	return s.passkeys.ID()
}

func passkeysUnavailable(why string) *Error {
	return Errorf(CodePasskeysOff, "%s", why)
}

func invalidCredential() *Error {
	return Errorf(CodeInvalidCredential, "The passkey was not accepted. Try again, or use another way to sign in.")
}

func noPasskeys() *Error {
	return Errorf(CodeNoPasskeys, "This account has no passkey.")
}

func (s *Service) newChallenge() ([]byte, error) {
	b := make([]byte, passkey.ChallengeBytes)
	if _, err := io.ReadFull(s.challengeRand, b); err != nil {
		return nil, Internal(fmt.Errorf("reading randomness: %w", err))
	}
	return b, nil
}

// challengeID is the id of the ceremony whose challenge is c.
func challengeID(c []byte) string { return challengeIDPrefix + tokenEncoding.EncodeToString(c) }

// ceremonyBinding is who may finish a ceremony: its purpose, and the
// account, session or second step it was begun for.
type ceremonyBinding struct {
	purpose   CeremonyPurpose
	accountID string
	sessionID string
	mfaHash   []byte
}

// beginCeremony makes a challenge, lets begin make the options for it, and
// stores the ceremony. It returns the options and the challenge id.
func (s *Service) beginCeremony(ctx context.Context, b ceremonyBinding, begin func(challenge []byte) (*passkey.Ceremony, error)) ([]byte, string, error) {
	challenge, err := s.newChallenge()
	if err != nil {
		return nil, "", err
	}
	c, err := begin(challenge)
	if err != nil {
		return nil, "", Internal(err)
	}
	id := challengeID(challenge)
	h := hashToken(id)
	now := s.clock()
	err = s.store.CreatePasskeyChallenge(ctx, &PasskeyChallenge{
		IDHash: h[:], Purpose: b.purpose, AccountID: b.accountID, SessionID: b.sessionID, MFAHash: b.mfaHash,
		State: c.State, CreatedAt: now, ExpiresAt: now.Add(s.cfg.PasskeyChallengeTTL),
	})
	if err != nil {
		return nil, "", err
	}
	return c.Options, id, nil
}

// errCeremony is a ceremony that cannot be finished by this caller:
// unknown, expired, used, begun for another purpose, account, session or
// second step. The caller refuses the response as it refuses a bad one.
var errCeremony = errors.New("no such passkey ceremony for this caller")

// takeCeremony finds the ceremony whose challenge id is id, checks that it
// is b's, and consumes it: of concurrent finishers exactly one gets it. A
// ceremony that is not b's is left for its own finisher.
func (s *Service) takeCeremony(ctx context.Context, id string, b ceremonyBinding) (*PasskeyChallenge, []byte, error) {
	h, ok := parseToken(challengeIDPrefix, id)
	if !ok {
		return nil, nil, errCeremony
	}
	c, err := s.store.PasskeyChallenge(ctx, h[:])
	switch {
	case IsCode(err, CodeNotFound):
		return nil, nil, errCeremony
	case err != nil:
		return nil, nil, err
	}
	if !s.clock().Before(c.ExpiresAt) || c.Purpose != b.purpose || c.AccountID != b.accountID ||
		c.SessionID != b.sessionID || !bytes.Equal(c.MFAHash, b.mfaHash) {
		return nil, nil, errCeremony
	}
	switch taken, err := s.store.ConsumePasskeyChallenge(ctx, h[:]); {
	case err != nil:
		return nil, nil, err
	case !taken:
		return nil, nil, errCeremony
	}
	challenge, _ := tokenEncoding.DecodeString(strings.TrimPrefix(id, challengeIDPrefix))
	return c, challenge, nil
}

// userHandle returns the account's user handle, giving it one (random,
// never derived from the account) the first time.
func (s *Service) userHandle(ctx context.Context, accountID string) ([]byte, error) {
	candidate := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, candidate); err != nil {
		return nil, Internal(fmt.Errorf("reading randomness: %w", err))
	}
	return s.store.EnsureUserHandle(ctx, accountID, candidate)
}

// passkeyUser is the account as its passkeys know it, with its passkeys.
func (s *Service) passkeyUser(ctx context.Context, a *Account) (passkey.User, []Passkey, error) {
	handle, err := s.userHandle(ctx, a.ID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	list, err := s.store.ListPasskeys(ctx, a.ID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	u := passkey.User{Handle: handle, Name: a.Email}
	for _, p := range list {
		u.Credentials = append(u.Credentials, credentialOf(p))
	}
	return u, list, nil
}

func credentialOf(p Passkey) passkey.Credential {
	return passkey.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, SignCount: p.SignCount, BackupEligible: p.BackupEligible,
		BackupState: p.BackupState, UserVerified: p.UserVerified, AAGUID: p.AAGUID, Transports: p.Transports,
	}
}

// Passkeys lists the account's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, accountID string) ([]Passkey, error) {
	return s.store.ListPasskeys(ctx, accountID)
}

// passkeyChangeAllowed is what adding or removing a passkey needs: the
// caller's sudo window open (checked again inside the change's
// transaction), and, on a two-factor account, a session that proved the
// second factor: one signed in with a passkey whose authenticator did not
// verify its user adds and removes no factor.
func (s *Service) passkeyChangeAllowed(ctx context.Context, a *Account, caller *Session) error {
	if a.TwoFactorEnabled() && caller.AAL < 2 {
		return secondFactorRequired()
	}
	return s.requireSudo(ctx, s.store, caller)
}

// BeginPasskeyRegistration starts adding a passkey to the caller's
// account and returns the creation options for the browser. It needs the
// caller's sudo window open; the ceremony belongs to the caller's session.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, caller *Session, c Client) ([]byte, error) {
	if s.passkeys == nil {
		return nil, passkeysUnavailable(s.passkeysOff)
	}
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	if err := s.passkeyChangeAllowed(ctx, a, caller); err != nil {
		return nil, err
	}
	// Each writes a ceremony to the store: counted per client address, as
	// sign-ins' are, so that no session can fill the table.
	begun := throttleCheck{passkeyOptionsThrottleKey(clientAddress(c.IP)), s.cfg.PasskeyOptionsThrottle}
	if _, err := s.reserveAttempt(ctx, s.clock(), begun); err != nil {
		return nil, err
	}
	u, list, err := s.passkeyUser(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(list) >= MaxPasskeys {
		return nil, tooManyPasskeys()
	}
	options, _, err := s.beginCeremony(ctx, ceremonyBinding{purpose: CeremonyRegister, accountID: a.ID, sessionID: caller.ID},
		func(challenge []byte) (*passkey.Ceremony, error) { return s.passkeys.BeginRegistration(u, challenge) })
	return options, err
}

func tooManyPasskeys() *Error {
	return Errorf(CodeTooManyPasskeys, "An account can have at most %d passkeys. Remove one you no longer use first.", MaxPasskeys)
}

// PasskeyName checks and cleans a passkey's name: control characters go,
// and so do the ones that turn text around (a name must read on the
// security page, in the audit log and in notices as it was typed, not as
// another), spaces around go, and an empty name becomes "Passkey".
func PasskeyName(name string) (string, error) {
	name = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, cleanText(name, 4*maxPasskeyName))
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxPasskeyName {
		return "", Errorf(CodeInvalidRequest, "A passkey's name can be at most %d characters.", maxPasskeyName)
	}
	if name == "" {
		name = "Passkey"
	}
	return name, nil
}

// PasskeyAdded is what adding a passkey did.
type PasskeyAdded struct {
	Passkey *Passkey
	// BackupCodes are set when the passkey turned two-factor
	// authentication on: shown this once, like TOTP's.
	BackupCodes []string
	// RevokedSessions counts the other sessions it ended (when it turned
	// two-factor authentication on).
	RevokedSessions int
}

// FinishPasskeyRegistration checks the browser's response to the caller's
// own registration ceremony and stores the passkey under name, while the
// caller's sudo window is open. The first
// second factor of an account turns two-factor authentication on: the
// backup codes come with it, every other session ends, and the caller's,
// which has just shown the passkey, counts as two-factor.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, caller *Session, name string, response []byte, c Client) (*PasskeyAdded, error) {
	if s.passkeys == nil {
		return nil, passkeysUnavailable(s.passkeysOff)
	}
	name, err := PasskeyName(name)
	if err != nil {
		return nil, err
	}
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	if a.TwoFactorEnabled() && caller.AAL < 2 {
		return nil, secondFactorRequired()
	}
	reg, err := passkey.ParseRegistration(response)
	if err != nil {
		return nil, s.credentialRefused(ctx, err)
	}
	// A registration is found by the challenge its client data names (the
	// contract's body has no challenge id); a malformed one finds nothing.
	challenge := reg.Challenge()
	cer, _, err := s.takeCeremony(ctx, challengeID(challenge), ceremonyBinding{purpose: CeremonyRegister, accountID: a.ID, sessionID: caller.ID})
	if err != nil {
		return nil, s.credentialRefused(ctx, err)
	}
	u, _, err := s.passkeyUser(ctx, a)
	if err != nil {
		return nil, err
	}
	cred, err := s.passkeys.FinishRegistration(u, cer.State, challenge, reg)
	if err != nil {
		return nil, s.credentialRefused(ctx, err)
	}
	now := s.clock()
	p := &Passkey{
		ID: s.newID("pk_"), AccountID: a.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.SignCount,
		BackupEligible: cred.BackupEligible, BackupState: cred.BackupState, UserVerified: cred.UserVerified,
		AAGUID: cred.AAGUID, Transports: cred.Transports, Name: name, CreatedAt: now,
	}
	codes, salt, hashes, err := s.newBackupCodes()
	if err != nil {
		return nil, err
	}
	out := &PasskeyAdded{Passkey: p}
	err = s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		// Signed out, or the window closed, since the ceremony began:
		// nothing is added.
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		have, err := q.ListPasskeys(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(have) >= MaxPasskeys {
			return tooManyPasskeys()
		}
		if err := q.CreatePasskey(ctx, p); err != nil {
			if IsCode(err, CodeConflict) {
				return Errorf(CodeInvalidCredential, "This passkey is registered already.")
			}
			return err
		}
		details := map[string]string{audit.DetailPasskey: p.Name, audit.DetailPasskeyID: p.ID, audit.DetailTwoFactor: "on"}
		if !cur.TwoFactorEnabled() {
			if err := s.turnOnWithPasskey(ctx, q, caller, p, salt, hashes, c, now, &out.RevokedSessions); err != nil {
				return err
			}
			out.BackupCodes = codes
		}
		e := event(a.ID, audit.PasskeyAdded, c, caller.ID)
		e.Time, e.Details = now, details
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		return s.notify(ctx, q, cur, notice{event: string(audit.PasskeyAdded), client: c, now: now})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// turnOnWithPasskey turns two-factor authentication on with its first
// factor, the passkey p: the backup codes, the event, the other sessions
// ended (opened with the password alone), the caller's made two-factor.
func (s *Service) turnOnWithPasskey(ctx context.Context, q Queries, caller *Session, p *Passkey, salt []byte, hashes [][]byte, c Client, now time.Time, revoked *int) error {
	if _, err := q.TurnOnTwoFactor(ctx, caller.AccountID, now); err != nil {
		return err
	}
	if err := q.ReplaceBackupCodes(ctx, caller.AccountID, salt, hashes); err != nil {
		return err
	}
	e := event(caller.AccountID, audit.TwoFactorEnabled, c, caller.ID)
	e.Time = now
	e.Details = map[string]string{audit.DetailMethod: audit.MethodPasskey, audit.DetailPasskey: p.Name, audit.DetailTwoFactor: "on"}
	if err := s.record(ctx, q, e); err != nil {
		return err
	}
	n, err := s.endOtherSessions(ctx, q, sessionsEnding{accountID: caller.AccountID, keepID: caller.ID, client: c, reason: "2fa_enabled"})
	if err != nil {
		return err
	}
	*revoked = n
	// The caller has just shown the passkey: its session is two-factor.
	return q.SetSessionAAL(ctx, caller.ID, 2, caller.AMR|passkeyAMR(p)|AMRMultiFactor)
}

// credentialRefused logs why a passkey response was refused (the client
// hears only invalid_credential) and answers it.
func (s *Service) credentialRefused(ctx context.Context, err error) error {
	var r *passkey.Refused
	if errors.Is(err, errCeremony) || errors.As(err, &r) {
		s.log.InfoContext(ctx, "passkey response refused", "request_id", RequestIDFrom(ctx), "why", err.Error())
		return invalidCredential()
	}
	return err
}

// RenamePasskey names one of the caller's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, caller *Session, id, name string, c Client) (*Passkey, error) {
	name, err := PasskeyName(name)
	if err != nil {
		return nil, err
	}
	p, err := s.ownPasskey(ctx, caller.AccountID, id)
	if err != nil {
		return nil, err
	}
	if p.Name == name {
		return p, nil
	}
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := callerStillSignedIn(ctx, q, caller); err != nil {
			return err
		}
		if err := q.RenamePasskey(ctx, caller.AccountID, p.ID, name); err != nil {
			return notFoundAs(err, noSuchPasskey())
		}
		e := event(caller.AccountID, audit.PasskeyRenamed, c, caller.ID)
		e.Details = map[string]string{audit.DetailPasskeyID: p.ID, audit.DetailOldName: p.Name, audit.DetailPasskey: name}
		return s.record(ctx, q, e)
	})
	if err != nil {
		return nil, err
	}
	p.Name = name
	return p, nil
}

func noSuchPasskey() *Error { return Errorf(CodeNotFound, "No such passkey.") }

// ownPasskey returns the account's passkey id; another account's, or an
// id of the wrong shape, is not found like one that does not exist.
func (s *Service) ownPasskey(ctx context.Context, accountID, id string) (*Passkey, error) {
	if !validID("pk_", id) {
		return nil, noSuchPasskey()
	}
	list, err := s.store.ListPasskeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], nil
		}
	}
	return nil, noSuchPasskey()
}

// PasskeyRemoval tells what removing a passkey would do, or did.
type PasskeyRemoval struct {
	// TwoFactorOff: it is the account's last second factor, so two-factor
	// authentication goes off with it, and the backup codes.
	TwoFactorOff bool
	// RevokedSessions counts the other sessions ended.
	RevokedSessions int
}

// PasskeyRemovalEffect says, before the person confirms, what removing
// the caller's passkey id would turn off.
func (s *Service) PasskeyRemovalEffect(ctx context.Context, accountID, id string) (PasskeyRemoval, error) {
	if _, err := s.ownPasskey(ctx, accountID, id); err != nil {
		return PasskeyRemoval{}, err
	}
	last, err := s.lastFactor(ctx, s.store, accountID)
	return PasskeyRemoval{TwoFactorOff: last}, err
}

// lastFactor reports whether the account's only second factor is one
// passkey.
func (s *Service) lastFactor(ctx context.Context, q Factors, accountID string) (bool, error) {
	list, err := q.ListPasskeys(ctx, accountID)
	if err != nil || len(list) > 1 {
		return false, err
	}
	_, err = q.TOTPCredential(ctx, accountID)
	if IsCode(err, CodeNotFound) {
		return true, nil
	}
	return false, err
}

// RemovePasskey removes one of the caller's passkeys. A factor changed:
// every other session ends. When it was the account's last second factor,
// two-factor authentication goes off with it (and the backup codes, and
// any waiting second step).
func (s *Service) RemovePasskey(ctx context.Context, caller *Session, id string, c Client) (*PasskeyRemoval, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return nil, err
	}
	p, err := s.ownPasskey(ctx, a.ID, id)
	if err != nil {
		return nil, err
	}
	if err := s.passkeyChangeAllowed(ctx, a, caller); err != nil {
		return nil, err
	}
	out := &PasskeyRemoval{}
	now := s.clock()
	err = s.changeAccount(ctx, a.ID, func(q Queries) error {
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		if err := s.requireSudo(ctx, q, caller); err != nil {
			return err
		}
		last, err := s.lastFactor(ctx, q, a.ID)
		if err != nil {
			return err
		}
		switch gone, err := q.DeletePasskey(ctx, a.ID, p.ID); {
		case err != nil:
			return err
		case !gone:
			return noSuchPasskey()
		}
		details := map[string]string{audit.DetailPasskey: p.Name, audit.DetailPasskeyID: p.ID, audit.DetailTwoFactor: "on"}
		if last {
			out.TwoFactorOff = true
			details[audit.DetailTwoFactor] = "off"
			if err := q.DisableTOTP(ctx, a.ID); err != nil {
				return err
			}
			if _, err := q.DeleteMFAChallenges(ctx, a.ID); err != nil {
				return err
			}
			off := event(a.ID, audit.TwoFactorDisabled, c, caller.ID)
			off.Time = now
			off.Details = map[string]string{audit.DetailMethod: audit.MethodPasskey, audit.DetailPasskey: p.Name, audit.DetailTwoFactor: "off"}
			if err := s.record(ctx, q, off); err != nil {
				return err
			}
		}
		e := event(a.ID, audit.PasskeyRemoved, c, caller.ID)
		e.Time, e.Details = now, details
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if out.RevokedSessions, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, keepID: caller.ID, client: c, reason: "passkey_removed"}); err != nil {
			return err
		}
		what := string(audit.PasskeyRemoved)
		if last {
			what = string(audit.TwoFactorDisabled)
		}
		return s.notify(ctx, q, cur, notice{event: what, client: c, now: now})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
