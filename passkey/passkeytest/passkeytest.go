// Package passkeytest holds WebAuthn ceremonies recorded from Chromium's
// virtual authenticators (by tools/passkey-record), for tests: real
// attestations and assertions, not a fake of the protocol. Each answers
// options made by package passkey with a challenge known in advance, for
// the relying party of Origin, so a test that begins a ceremony with the
// same challenge and user can finish it with the recorded response.
package passkeytest

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
)

// Origin is the origin every ceremony was made for: localhost, which
// browsers treat as a secure context, on a fixed port. Its host,
// "localhost", is the relying party id.
const Origin = "http://localhost:8765"

// The recorded ceremonies, by authenticator, in the order they were made
// (each authenticator's counter counts up from its registration).
//
// A is a synced passkey that verifies its user (backup eligible and backed
// up, transport internal), registered for "alice". B is a security key
// with a PIN, bound to itself (transport usb), registered for "bob". C
// cannot verify its user at all (transport internal), registered for
// "carol"; Chromium offers no discoverable passkey of such a platform
// authenticator, so C serves second steps only, and A, saying once that it
// did not verify its user, stands for a sign-in without verification.
const (
	RegisterVerified         = "register-verified"           // A made for alice
	SignInVerified1          = "signin-verified-1"           // A, discoverable
	SignInVerified2          = "signin-verified-2"           // A, discoverable
	SecondStepVerified       = "second-step-verified"        // A, only A's credential allowed, alice's handle in the options
	SignInBadSignature       = "signin-bad-signature"        // A, its signature spoiled by the authenticator
	SignInNoPresence         = "signin-no-presence"          // A, without the user-present flag
	SignInUnverified         = "signin-unverified"           // A, discoverable, without the user-verified flag
	SecondStepUnverified     = "second-step-unverified"      // A, as SecondStepVerified, without the user-verified flag
	RegisterSecurityKey      = "register-security-key"       // B made for bob
	SignInSecurityKey        = "signin-security-key"         // B, discoverable
	RegisterNoVerification   = "register-no-verification"    // C made for carol
	SecondStepNoVerification = "second-step-no-verification" // C, only C's credential allowed, carol's handle in the options
)

// Recording is the file tools/passkey-record writes.
type Recording struct {
	Origin     string              `json:"origin"`
	Ceremonies map[string]Ceremony `json:"ceremonies"`
}

// Ceremony is one recorded ceremony.
type Ceremony struct {
	Challenge  string          `json:"challenge"`   // base64url: Challenge(n) of the recorder's order
	UserHandle string          `json:"user_handle"` // base64url: Handle(user)
	UserName   string          `json:"user_name"`
	Response   json.RawMessage `json:"response"` // what credential.toJSON() gave
}

// Challenge is the recorder's n-th challenge: 32 bytes anyone can make
// again.
func Challenge(n int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "keyward recorded ceremony challenge %d", n))
	return h[:]
}

// Handle is the user handle of a recorded user ("alice", "bob").
func Handle(user string) []byte {
	h := sha256.Sum256([]byte("keyward recorded user handle " + user))
	return h[:]
}

//go:embed ceremonies.json
var recorded []byte

var (
	loadOnce sync.Once
	loaded   Recording
	loadErr  error
)

// Load returns the recordings.
func Load() (*Recording, error) {
	loadOnce.Do(func() { loadErr = json.Unmarshal(recorded, &loaded) })
	return &loaded, loadErr
}

// Get returns the ceremony called name; it panics on a name that was not
// recorded (a test's mistake).
func Get(name string) Ceremony {
	r, err := Load()
	if err != nil {
		panic("passkeytest: " + err.Error())
	}
	c, ok := r.Ceremonies[name]
	if !ok {
		panic("passkeytest: no ceremony " + name)
	}
	return c
}

// ChallengeBytes is the ceremony's challenge.
func (c Ceremony) ChallengeBytes() []byte { return mustDecode(c.Challenge) }

// Handle is the user handle the ceremony was made for.
func (c Ceremony) Handle() []byte { return mustDecode(c.UserHandle) }

// CredentialID is the id of the credential the ceremony made or used.
func (c Ceremony) CredentialID() []byte {
	var r struct {
		RawID string `json:"rawId"`
	}
	if err := json.Unmarshal(c.Response, &r); err != nil {
		panic("passkeytest: " + err.Error())
	}
	return mustDecode(r.RawID)
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic("passkeytest: " + err.Error())
	}
	return b
}
