package passkey_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/passkey"
	"github.com/keyward/keyward/passkey/passkeytest"
)

// The tests finish ceremonies that Chromium's virtual authenticators made
// (package passkeytest): each begins with the recorded challenge and user,
// as keyward would have, and checks what comes back.

func relyingParty(t testing.TB, origin string) *passkey.RelyingParty {
	t.Helper()
	rp, err := passkey.New(origin, "keyward")
	if err != nil {
		t.Fatalf("New(%q): %v", origin, err)
	}
	return rp
}

func userOf(c passkeytest.Ceremony, creds ...passkey.Credential) passkey.User {
	return passkey.User{Handle: c.Handle(), Name: c.UserName, Credentials: creds}
}

// register finishes a recorded registration and returns the credential.
func register(t testing.TB, rp *passkey.RelyingParty, name string) passkey.Credential {
	t.Helper()
	c := passkeytest.Get(name)
	begun, err := rp.BeginRegistration(userOf(c), c.ChallengeBytes())
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	r, err := passkey.ParseRegistration(c.Response)
	if err != nil {
		t.Fatalf("ParseRegistration(%s): %v", name, err)
	}
	if !bytes.Equal(r.Challenge(), c.ChallengeBytes()) {
		t.Fatalf("Challenge() = %x, want %x", r.Challenge(), c.ChallengeBytes())
	}
	cred, err := rp.FinishRegistration(userOf(c), begun.State, c.ChallengeBytes(), r)
	if err != nil {
		t.Fatalf("FinishRegistration(%s): %v", name, err)
	}
	return *cred
}

// login finishes a recorded assertion for the user with creds, begun as
// keyward begins it: discoverable, or allowing the user's credentials.
func login(t testing.TB, rp *passkey.RelyingParty, name string, discoverable bool, creds ...passkey.Credential) (*passkey.Verified, error) {
	t.Helper()
	c := passkeytest.Get(name)
	u := userOf(c, creds...)
	var begun *passkey.Ceremony
	var err error
	if discoverable {
		begun, err = rp.BeginLogin(nil, c.ChallengeBytes())
	} else {
		begun, err = rp.BeginLogin(&u, c.ChallengeBytes())
	}
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	a, err := passkey.ParseAssertion(c.Response)
	if err != nil {
		return nil, err
	}
	return rp.FinishLogin(u, begun.State, c.ChallengeBytes(), a)
}

func TestRecordedRegistrations(t *testing.T) {
	rp := relyingParty(t, passkeytest.Origin)
	cases := []struct {
		name       string
		ceremony   string
		be, bs, uv bool
		transports []string
	}{
		{"synced passkey that verifies its user", passkeytest.RegisterVerified, true, true, true, []string{"internal"}},
		{"security key with a PIN", passkeytest.RegisterSecurityKey, false, false, true, []string{"usb"}},
		{"authenticator without user verification", passkeytest.RegisterNoVerification, false, false, false, []string{"internal"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := register(t, rp, tc.ceremony)
			got := []bool{c.BackupEligible, c.BackupState, c.UserVerified}
			if want := []bool{tc.be, tc.bs, tc.uv}; !slices.Equal(got, want) {
				t.Errorf("BE, BS, UV = %v, want %v", got, want)
			}
			if !slices.Equal(c.Transports, tc.transports) {
				t.Errorf("transports %q, want %q", c.Transports, tc.transports)
			}
			if !bytes.Equal(c.ID, passkeytest.Get(tc.ceremony).CredentialID()) {
				t.Errorf("credential id %x, want the response's", c.ID)
			}
			if len(c.PublicKey) == 0 || len(c.AAGUID) != 16 {
				t.Errorf("public key of %d bytes, AAGUID of %d: want both", len(c.PublicKey), len(c.AAGUID))
			}
		})
	}
}

func TestRecordedAssertions(t *testing.T) {
	rp := relyingParty(t, passkeytest.Origin)
	a := register(t, rp, passkeytest.RegisterVerified)
	b := register(t, rp, passkeytest.RegisterSecurityKey)
	c := register(t, rp, passkeytest.RegisterNoVerification)
	cases := []struct {
		name         string
		ceremony     string
		discoverable bool
		cred         passkey.Credential
		wantUV       bool
		wantBS       bool
	}{
		{"sign-in with a synced passkey", passkeytest.SignInVerified1, true, a, true, true},
		{"second step with a synced passkey", passkeytest.SecondStepVerified, false, a, true, true},
		{"sign-in whose user was not verified", passkeytest.SignInUnverified, true, a, false, true},
		{"sign-in with a security key", passkeytest.SignInSecurityKey, true, b, true, false},
		{"second step without user verification", passkeytest.SecondStepNoVerification, false, c, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := login(t, rp, tc.ceremony, tc.discoverable, tc.cred)
			if err != nil {
				t.Fatalf("FinishLogin: %v", err)
			}
			if v.UserVerified != tc.wantUV || v.Credential.BackupState != tc.wantBS || v.CounterWentBack {
				t.Errorf("UV %v, BS %v, counter back %v; want UV %v, BS %v, counter forward", v.UserVerified, v.Credential.BackupState, v.CounterWentBack, tc.wantUV, tc.wantBS)
			}
			if !bytes.Equal(v.Credential.ID, tc.cred.ID) || v.Credential.SignCount <= tc.cred.SignCount {
				t.Errorf("credential %x counter %d; want %x with a counter past %d", v.Credential.ID, v.Credential.SignCount, tc.cred.ID, tc.cred.SignCount)
			}
		})
	}
}

func TestCounter(t *testing.T) {
	rp := relyingParty(t, passkeytest.Origin)
	a := register(t, rp, passkeytest.RegisterVerified)
	second, err := login(t, rp, passkeytest.SignInVerified2, true, a)
	if err != nil {
		t.Fatal(err)
	}
	// The first sign-in's counter is below the second's: coming after it,
	// it is a copy of the passkey at work.
	later := a
	later.SignCount = second.Credential.SignCount
	v, err := login(t, rp, passkeytest.SignInVerified1, true, later)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if !v.CounterWentBack {
		t.Errorf("counter %d after %d: CounterWentBack false", v.Credential.SignCount, later.SignCount)
	}
	// The same counter twice is no step forward either.
	v, err = login(t, rp, passkeytest.SignInVerified2, true, later)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if !v.CounterWentBack {
		t.Errorf("the same counter again: CounterWentBack false")
	}
}

// tamper decodes the response's JSON, lets edit change it, and encodes it
// again.
func tamper(t testing.TB, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(passkeytest.Get(name).Response, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// editClientData rewrites one member of the response's clientDataJSON.
func editClientData(key string, value any) func(m map[string]any) {
	return func(m map[string]any) {
		resp := m["response"].(map[string]any)
		raw, _ := base64.RawURLEncoding.DecodeString(resp["clientDataJSON"].(string))
		var cd map[string]any
		_ = json.Unmarshal(raw, &cd)
		cd[key] = value
		raw, _ = json.Marshal(cd)
		resp["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(raw)
	}
}

// editAuthData flips a bit of the response's authenticator data at i.
func editAuthData(field string, i int) func(m map[string]any) {
	return func(m map[string]any) {
		resp := m["response"].(map[string]any)
		raw, _ := base64.RawURLEncoding.DecodeString(resp[field].(string))
		raw[i] ^= 0x01
		resp[field] = base64.RawURLEncoding.EncodeToString(raw)
	}
}

func TestRefusedAssertions(t *testing.T) {
	rp := relyingParty(t, passkeytest.Origin)
	a := register(t, rp, passkeytest.RegisterVerified)
	b := register(t, rp, passkeytest.RegisterSecurityKey)
	good := passkeytest.SignInVerified1
	cases := []struct {
		name     string
		rp       *passkey.RelyingParty
		response []byte
		user     passkey.User
		parse    bool // refused already by ParseAssertion
	}{
		{"origin in the client data", rp, tamper(t, good, editClientData("origin", "https://evil.example")), passkey.User{}, false},
		{"challenge in the client data", rp, tamper(t, good, editClientData("challenge", base64.RawURLEncoding.EncodeToString(passkeytest.Challenge(999)))), passkey.User{}, false},
		{"client data of a creation", rp, tamper(t, good, editClientData("type", "webauthn.create")), passkey.User{}, true},
		{"cross-origin client data", rp, tamper(t, good, editClientData("crossOrigin", true)), passkey.User{}, false},
		{"relying party id hash", rp, tamper(t, good, editAuthData("authenticatorData", 0)), passkey.User{}, false},
		{"flags", rp, tamper(t, good, editAuthData("authenticatorData", 32)), passkey.User{}, false},
		{"signature", rp, tamper(t, good, editAuthData("signature", 20)), passkey.User{}, false},
		{"signature spoiled by the authenticator", rp, passkeytest.Get(passkeytest.SignInBadSignature).Response, passkey.User{}, false},
		{"no user presence", rp, passkeytest.Get(passkeytest.SignInNoPresence).Response, passkey.User{}, false},
		{"another relying party's origin", relyingParty(t, "http://localhost:9999"), passkeytest.Get(good).Response, passkey.User{}, false},
		{"another relying party id", relyingParty(t, "https://example.com"), passkeytest.Get(good).Response, passkey.User{}, false},
		{"user handle of another user", rp, tamper(t, good, func(m map[string]any) {
			m["response"].(map[string]any)["userHandle"] = base64.RawURLEncoding.EncodeToString(passkeytest.Handle("bob"))
		}), passkey.User{}, false},
		{"credential of another user", rp, passkeytest.Get(good).Response, userOf(passkeytest.Get(good), b), false},
		{"id that is not rawId", rp, tamper(t, good, func(m map[string]any) { m["id"] = base64.RawURLEncoding.EncodeToString([]byte("other")) }), passkey.User{}, true},
		{"garbage base64url", rp, tamper(t, good, func(m map[string]any) { m["response"].(map[string]any)["signature"] = "***not base64***" }), passkey.User{}, true},
		{"not JSON", rp, []byte("credential"), passkey.User{}, true},
		{"duplicate member", rp, append([]byte(`{"type":"public-key",`), passkeytest.Get(good).Response[1:]...), passkey.User{}, true},
		{"oversized", rp, tamper(t, good, func(m map[string]any) {
			m["clientExtensionResults"] = map[string]any{"x": strings.Repeat("a", passkey.MaxResponseBytes)}
		}), passkey.User{}, true},
		{"a registration", rp, passkeytest.Get(passkeytest.RegisterVerified).Response, passkey.User{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := passkeytest.Get(good)
			u := tc.user
			if u.Handle == nil {
				u = userOf(c, a)
			}
			parsed, err := passkey.ParseAssertion(tc.response)
			if tc.parse {
				var r *passkey.Refused
				if !errors.As(err, &r) {
					t.Fatalf("ParseAssertion: got %v, want *Refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAssertion: %v", err)
			}
			begun, err := tc.rp.BeginLogin(nil, c.ChallengeBytes())
			if err != nil {
				t.Fatal(err)
			}
			v, err := tc.rp.FinishLogin(u, begun.State, c.ChallengeBytes(), parsed)
			var r *passkey.Refused
			if !errors.As(err, &r) {
				t.Fatalf("FinishLogin: got %+v, %v; want *Refused", v, err)
			}
		})
	}
}

func TestRefusedRegistrations(t *testing.T) {
	rp := relyingParty(t, passkeytest.Origin)
	good := passkeytest.RegisterVerified
	c := passkeytest.Get(good)
	cases := []struct {
		name     string
		rp       *passkey.RelyingParty
		response []byte
		user     passkey.User
		parse    bool
	}{
		{"origin in the client data", rp, tamper(t, good, editClientData("origin", "http://localhost:8766")), userOf(c), false},
		{"challenge in the client data", rp, tamper(t, good, editClientData("challenge", base64.RawURLEncoding.EncodeToString(passkeytest.Challenge(999)))), userOf(c), false},
		{"client data of an assertion", rp, tamper(t, good, editClientData("type", "webauthn.get")), userOf(c), true},
		{"attestation object", rp, tamper(t, good, editAuthData("attestationObject", 40)), userOf(c), false},
		{"another relying party id", relyingParty(t, "https://example.com"), c.Response, userOf(c), false},
		{"another relying party's origin", relyingParty(t, "http://localhost:9999"), c.Response, userOf(c), false},
		{"begun for another user", rp, c.Response, passkey.User{Handle: passkeytest.Handle("bob"), Name: "bob@example.com"}, false},
		{"a passkey the user has", rp, c.Response, userOf(c, passkey.Credential{ID: c.CredentialID()}), false},
		{"garbage base64url", rp, tamper(t, good, func(m map[string]any) { m["response"].(map[string]any)["attestationObject"] = "%%%" }), userOf(c), true},
		{"oversized", rp, tamper(t, good, func(m map[string]any) {
			m["response"].(map[string]any)["transports"] = slices.Repeat([]string{"usb"}, passkey.MaxResponseBytes/6)
		}), userOf(c), true},
		{"an assertion", rp, passkeytest.Get(passkeytest.SignInVerified1).Response, userOf(c), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := passkey.ParseRegistration(tc.response)
			var r *passkey.Refused
			if tc.parse {
				if !errors.As(err, &r) {
					t.Fatalf("ParseRegistration: got %v, want *Refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRegistration: %v", err)
			}
			begun, err := tc.rp.BeginRegistration(tc.user, c.ChallengeBytes())
			if err != nil {
				t.Fatal(err)
			}
			finisher := tc.user
			if tc.name == "begun for another user" {
				// A response says nothing of its user: the state does.
				finisher = userOf(c)
			}
			cred, err := tc.rp.FinishRegistration(finisher, begun.State, c.ChallengeBytes(), parsed)
			if !errors.As(err, &r) {
				t.Fatalf("FinishRegistration: got %+v, %v; want *Refused", cred, err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	rp := relyingParty(t, "https://id.example.com:8443/auth")
	if rp.ID() != "id.example.com" || rp.Origin() != "https://id.example.com:8443" {
		t.Fatalf("ID %q, Origin %q", rp.ID(), rp.Origin())
	}
	challenge := passkeytest.Challenge(1)
	existing := passkey.Credential{ID: []byte{1, 2, 3}, Transports: []string{"usb"}}
	reg, err := rp.BeginRegistration(passkey.User{Handle: passkeytest.Handle("alice"), Name: "alice@example.com", Credentials: []passkey.Credential{existing}}, challenge)
	if err != nil {
		t.Fatal(err)
	}
	var creation struct {
		RP        struct{ ID, Name string }
		User      struct{ ID, Name, DisplayName string }
		Challenge string
		Exclude   []struct{ ID, Type string } `json:"excludeCredentials"`
		Selection struct {
			ResidentKey      string `json:"residentKey"`
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Attestation string
		PublicKey   json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(reg.Options, &creation); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	want := []string{"id.example.com", "keyward", b64(passkeytest.Handle("alice")), "alice@example.com", b64(challenge), "AQID", "preferred", "preferred", "none"}
	got := []string{creation.RP.ID, creation.RP.Name, creation.User.ID, creation.User.Name, creation.Challenge, "", creation.Selection.ResidentKey, creation.Selection.UserVerification, creation.Attestation}
	if len(creation.Exclude) == 1 {
		got[5] = creation.Exclude[0].ID
	}
	if !slices.Equal(got, want) {
		t.Errorf("creation options %s:\n got  %q\n want %q", reg.Options, got, want)
	}
	if creation.PublicKey != nil || bytes.Contains(reg.State, []byte(b64(challenge))) {
		t.Errorf("options wrapped in publicKey, or the state holds the challenge: %s / %s", reg.Options, reg.State)
	}

	get, err := rp.BeginLogin(nil, challenge)
	if err != nil {
		t.Fatal(err)
	}
	var request map[string]any
	if err := json.Unmarshal(get.Options, &request); err != nil {
		t.Fatal(err)
	}
	if request["rpId"] != "id.example.com" || request["challenge"] != b64(challenge) || request["userVerification"] != "preferred" || request["allowCredentials"] != nil {
		t.Errorf("request options %s", get.Options)
	}

	if _, err := rp.BeginLogin(nil, challenge[:16]); !errors.Is(err, passkey.ErrChallenge) {
		t.Errorf("a 16-byte challenge: %v, want ErrChallenge", err)
	}
	for _, bad := range []string{"", "localhost", "ftp://example.com", "http://127.0.0.1:8080", "https://[::1]", "https://user@example.com"} {
		if _, err := passkey.New(bad, "x"); err == nil {
			t.Errorf("New(%q): no error", bad)
		}
	}
}

// FuzzParse feeds the response parsers anything: they refuse or parse,
// never panic.
func FuzzParse(f *testing.F) {
	r, err := passkeytest.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range r.Ceremonies {
		f.Add([]byte(c.Response))
	}
	f.Add([]byte(`{"id":"","rawId":"","type":"public-key","response":{}}`))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if a, err := passkey.ParseAssertion(data); err == nil {
			_ = a.Challenge()
			_ = a.CredentialID()
		} else if !errors.As(err, new(*passkey.Refused)) {
			t.Fatalf("ParseAssertion: %T %v, want *Refused", err, err)
		}
		if reg, err := passkey.ParseRegistration(data); err == nil {
			_ = reg.Challenge()
		} else if !errors.As(err, new(*passkey.Refused)) {
			t.Fatalf("ParseRegistration: %T %v, want *Refused", err, err)
		}
	})
}

// BenchmarkFinishLogin is the check of one sign-in's answer: parsing and
// verifying a recorded assertion (ES256).
func BenchmarkFinishLogin(b *testing.B) {
	rp := relyingParty(b, passkeytest.Origin)
	cred := register(b, rp, passkeytest.RegisterVerified)
	c := passkeytest.Get(passkeytest.SignInVerified1)
	begun, err := rp.BeginLogin(nil, c.ChallengeBytes())
	if err != nil {
		b.Fatal(err)
	}
	u := userOf(c, cred)
	for b.Loop() {
		a, err := passkey.ParseAssertion(c.Response)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rp.FinishLogin(u, begun.State, c.ChallengeBytes(), a); err != nil {
			b.Fatal(err)
		}
	}
}
