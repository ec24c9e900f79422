// Package passkey is keyward as a WebAuthn relying party, on
// github.com/go-webauthn/webauthn: the options a browser is given to make
// or use a passkey, and the checks of what comes back.
//
// It holds no state and no rules: the caller makes the challenges, keeps
// each ceremony's State until it finishes (keyward keeps it in its store,
// so that any node can finish what another began), and decides what a
// verified credential or assertion is worth. Options are the bare WebAuthn
// Level 3 JSON objects (PublicKeyCredentialCreationOptionsJSON and
// PublicKeyCredentialRequestOptionsJSON: binary members as base64url), for
// PublicKeyCredential.parseCreationOptionsFromJSON and
// parseRequestOptionsFromJSON; responses are what credential.toJSON()
// gives.
package passkey

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Limits on what a client sends, checked before anything is decoded.
const (
	// MaxResponseBytes bounds a registration or assertion response. An
	// attestation with a certificate chain takes a few KiB.
	MaxResponseBytes = 64 << 10
	// MaxCredentialIDBytes is the WebAuthn limit (§5.8.3: 1023 bytes).
	MaxCredentialIDBytes = 1023
	// ChallengeBytes is the length of every challenge (WebAuthn asks at
	// least 16 random bytes).
	ChallengeBytes = 32
)

// RelyingParty is one origin's relying party: its host is the relying
// party id, and only responses made for that origin pass.
type RelyingParty struct {
	w      *webauthn.WebAuthn
	origin string
}

// New returns the relying party of origin (scheme://host[:port], http or
// https, as --public-url gives it; a path is ignored) named name for
// people. The host must be a domain name: WebAuthn takes no IP address as
// a relying party id (use localhost to try keyward on one machine).
func New(origin, name string) (*RelyingParty, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return nil, fmt.Errorf("passkey: %q is not an http or https origin", origin)
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return nil, fmt.Errorf("passkey: the relying party id must be a domain name, not the address %s (use localhost, or a name)", host)
	}
	canonical := u.Scheme + "://" + strings.ToLower(u.Host)
	if name == "" {
		name = host
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  host,
		RPDisplayName:         name,
		RPOrigins:             []string{canonical},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			// Preferred: a passkey that the authenticator can find by
			// itself signs in without a password; a security key without
			// room for one still serves as a second factor.
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RelyingParty{w: w, origin: canonical}, nil
}

// ID is the relying party id: the origin's host.
func (rp *RelyingParty) ID() string { return rp.w.Config.RPID }

// Origin is the one origin responses must come from.
func (rp *RelyingParty) Origin() string { return rp.origin }

// User is an account as its passkeys know it.
type User struct {
	Handle      []byte // random, never the email or the account's id
	Name        string // shown by the authenticator: the email
	Credentials []Credential
}

// Credential is a stored passkey, as the ceremonies need it.
type Credential struct {
	ID             []byte
	PublicKey      []byte // COSE_Key
	SignCount      uint32
	BackupEligible bool
	BackupState    bool
	UserVerified   bool // the user was verified when it was made
	AAGUID         []byte
	Transports     []string
}

// Ceremony is a ceremony begun: the options for the browser, and the
// State to keep until it finishes. State holds no challenge: the finish is
// given it back by whoever found the ceremony by it.
type Ceremony struct {
	Options []byte
	State   []byte
}

// webauthnUser adapts User to the library.
type webauthnUser struct{ u *User }

func (w webauthnUser) WebAuthnID() []byte          { return w.u.Handle }
func (w webauthnUser) WebAuthnName() string        { return w.u.Name }
func (w webauthnUser) WebAuthnDisplayName() string { return w.u.Name }
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(w.u.Credentials))
	for i, c := range w.u.Credentials {
		transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
		for j, t := range c.Transports {
			transports[j] = protocol.AuthenticatorTransport(t)
		}
		out[i] = webauthn.Credential{
			ID:        c.ID,
			PublicKey: c.PublicKey,
			Transport: transports,
			Flags: webauthn.CredentialFlags{
				UserPresent: true, UserVerified: c.UserVerified, BackupEligible: c.BackupEligible, BackupState: c.BackupState,
			},
			Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
		}
	}
	return out
}

// ErrChallenge is a challenge of the wrong length.
var ErrChallenge = errors.New("passkey: a challenge must be 32 bytes")

// BeginRegistration starts making a passkey for u with challenge. The
// user's existing credentials are excluded, so that an authenticator
// holding one says so instead of making a second.
func (rp *RelyingParty) BeginRegistration(u User, challenge []byte) (*Ceremony, error) {
	if len(challenge) != ChallengeBytes {
		return nil, ErrChallenge
	}
	user := webauthnUser{&u}
	creation, session, err := rp.w.BeginRegistration(user,
		webauthn.WithExclusions(webauthn.Credentials(user.WebAuthnCredentials()).CredentialDescriptors()),
		withChallenge(challenge))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return ceremony(creation.Response, session)
}

// withChallenge replaces the library's challenge with the caller's, whose
// randomness the caller chose. Options apply before the session records it.
func withChallenge(challenge []byte) webauthn.RegistrationOption {
	return func(o *protocol.PublicKeyCredentialCreationOptions) error {
		o.Challenge = protocol.URLEncodedBase64(bytes.Clone(challenge))
		return nil
	}
}

// BeginLogin starts an assertion with challenge. With no credentials it
// is a sign-in without a password: the browser offers whatever passkey it
// holds for this relying party (discoverable credentials), and the
// assertion names its user. With credentials (u's), only those are
// allowed, and the assertion must be u's.
func (rp *RelyingParty) BeginLogin(u *User, challenge []byte) (*Ceremony, error) {
	if len(challenge) != ChallengeBytes {
		return nil, ErrChallenge
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		err       error
	)
	if u == nil {
		assertion, session, err = rp.w.BeginDiscoverableLogin(webauthn.WithChallenge(bytes.Clone(challenge)))
	} else {
		assertion, session, err = rp.w.BeginLogin(webauthnUser{u}, webauthn.WithChallenge(bytes.Clone(challenge)))
	}
	if err != nil {
		return nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	return ceremony(assertion.Response, session)
}

// ceremony encodes the options and the state without its challenge.
func ceremony(options any, session *webauthn.SessionData) (*Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("passkey: encoding options: %w", err)
	}
	s := *session
	s.Challenge = ""
	state, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("passkey: encoding state: %w", err)
	}
	return &Ceremony{Options: opts, State: state}, nil
}

// restore decodes a ceremony's state and gives it its challenge back.
func restore(state, challenge []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil {
		// Not what ceremony wrote (an edit in the database): a
		// ceremony that cannot be finished, refused like a bad answer.
		return s, refused("the ceremony's state cannot be read: %v", err)
	}
	s.Challenge = base64.RawURLEncoding.EncodeToString(challenge)
	return s, nil
}

// Refused is a response that does not pass: malformed, made for another
// origin, relying party or challenge, badly signed, or not the user's. Its
// text is for the log only (it may quote the response).
type Refused struct{ Err error }

func (e *Refused) Error() string {
	var pe *protocol.Error
	if errors.As(e.Err, &pe) && pe.DevInfo != "" {
		return "passkey refused: " + e.Err.Error() + " (" + pe.DevInfo + ")"
	}
	return "passkey refused: " + e.Err.Error()
}

func (e *Refused) Unwrap() error { return e.Err }

func refused(format string, args ...any) error { return &Refused{Err: fmt.Errorf(format, args...)} }

// Registration is a registration response, parsed but not yet checked.
type Registration struct {
	p *protocol.ParsedCredentialCreationData
}

// ParseRegistration reads what credential.toJSON() gives after
// navigator.credentials.create(). Anything malformed is *Refused.
func ParseRegistration(data []byte) (*Registration, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	p, err := protocol.ParseCredentialCreationResponseBytes(data)
	if err != nil {
		return nil, &Refused{Err: err}
	}
	if n := len(p.Response.AttestationObject.AuthData.AttData.CredentialID); n == 0 || n > MaxCredentialIDBytes {
		return nil, refused("a credential id of %d bytes", n)
	}
	if p.Response.CollectedClientData.Type != protocol.CreateCeremony {
		return nil, refused("client data of type %q, not a creation", p.Response.CollectedClientData.Type)
	}
	return &Registration{p: p}, nil
}

// Challenge is the challenge the response says it answers (checked by
// FinishRegistration), or nil when it is not one of ours in shape.
func (r *Registration) Challenge() []byte {
	return challengeOf(r.p.Response.CollectedClientData.Challenge)
}

// Assertion is an assertion response, parsed but not yet checked.
type Assertion struct {
	p *protocol.ParsedCredentialAssertionData
}

// ParseAssertion reads what credential.toJSON() gives after
// navigator.credentials.get(). Anything malformed is *Refused.
func ParseAssertion(data []byte) (*Assertion, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	p, err := protocol.ParseCredentialRequestResponseBytes(data)
	if err != nil {
		return nil, &Refused{Err: err}
	}
	if n := len(p.RawID); n > MaxCredentialIDBytes {
		return nil, refused("a credential id of %d bytes", n)
	}
	if p.Response.CollectedClientData.Type != protocol.AssertCeremony {
		return nil, refused("client data of type %q, not an assertion", p.Response.CollectedClientData.Type)
	}
	return &Assertion{p: p}, nil
}

// CredentialID is the id of the passkey the assertion was made with.
func (a *Assertion) CredentialID() []byte { return a.p.RawID }

// UserHandle is the user handle the authenticator returned with a
// discoverable passkey (nil when it gave none).
func (a *Assertion) UserHandle() []byte { return a.p.Response.UserHandle }

// Challenge is the challenge the response says it answers, or nil when it
// is not one of ours in shape.
func (a *Assertion) Challenge() []byte {
	return challengeOf(a.p.Response.CollectedClientData.Challenge)
}

func challengeOf(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != ChallengeBytes {
		return nil
	}
	return b
}

// checkJSON refuses, before the library reads it leniently, a response
// that is too large or that one reader could take differently from
// another: duplicate member names, invalid UTF-8.
func checkJSON(data []byte) error {
	if len(data) > MaxResponseBytes {
		return refused("a response of %d bytes (at most %d)", len(data), MaxResponseBytes)
	}
	if !jsontext.Value(data).IsValid(jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false)) {
		return refused("a response that is not one valid JSON value")
	}
	return nil
}

// knownTransports are the transports WebAuthn defines; others are dropped.
var knownTransports = []string{"ble", "hybrid", "internal", "nfc", "smart-card", "usb"}

// FinishRegistration checks a registration response against its
// ceremony (state, challenge) for u: the challenge, the origin, the
// relying party id's hash, user presence, the algorithm, and that the
// passkey is none of u's. It returns the passkey to store.
func (rp *RelyingParty) FinishRegistration(u User, state, challenge []byte, r *Registration) (*Credential, error) {
	session, err := restore(state, challenge)
	if err != nil {
		return nil, err
	}
	c, err := rp.w.CreateCredential(webauthnUser{&u}, session, r.p)
	if err != nil {
		return nil, &Refused{Err: err}
	}
	for _, have := range u.Credentials {
		if bytes.Equal(have.ID, c.ID) {
			return nil, refused("the passkey is registered already")
		}
	}
	var transports []string
	for _, t := range c.Transport {
		if s := string(t); slices.Contains(knownTransports, s) && !slices.Contains(transports, s) {
			transports = append(transports, s)
		}
	}
	slices.Sort(transports)
	return &Credential{
		ID: c.ID, PublicKey: c.PublicKey, SignCount: c.Authenticator.SignCount,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState, UserVerified: c.Flags.UserVerified,
		AAGUID: c.Authenticator.AAGUID, Transports: transports,
	}, nil
}

// Verified is an assertion that passed.
type Verified struct {
	// Credential is the passkey used, with the counter and backup state
	// the assertion reported.
	Credential Credential
	// UserVerified says whether the authenticator verified its user this
	// time (PIN, biometrics): with it, the passkey is two factors.
	UserVerified bool
	// CounterWentBack is set when the passkey's counter did not move
	// forward (and is not zero both times): a sign that it was copied.
	// The assertion is otherwise valid; the caller refuses it.
	CounterWentBack bool
}

// FinishLogin checks an assertion against its ceremony (state, challenge)
// for u, the user the caller found (by the assertion's user handle, or
// the one the ceremony was begun for): the challenge, the origin, the
// relying party id's hash, user presence, the signature with the public
// key of the passkey named, which must be u's, and the backup flags.
func (rp *RelyingParty) FinishLogin(u User, state, challenge []byte, a *Assertion) (*Verified, error) {
	session, err := restore(state, challenge)
	if err != nil {
		return nil, err
	}
	user := webauthnUser{&u}
	var c *webauthn.Credential
	if len(session.UserID) == 0 {
		_, c, err = rp.w.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, u.Handle) {
				return nil, errors.New("the user handle is not the user's")
			}
			return user, nil
		}, session, a.p)
	} else {
		c, err = rp.w.ValidateLogin(user, session, a.p)
	}
	if err != nil {
		return nil, &Refused{Err: err}
	}
	flags := a.p.Response.AuthenticatorData.Flags
	v := &Verified{UserVerified: flags.UserVerified(), CounterWentBack: c.Authenticator.CloneWarning}
	for _, have := range u.Credentials {
		if bytes.Equal(have.ID, c.ID) {
			v.Credential = have
		}
	}
	v.Credential.SignCount = a.p.Response.AuthenticatorData.Counter
	v.Credential.BackupState = flags.HasBackupState()
	return v, nil
}
