package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
	"github.com/keyward/keyward/web"
)

// The API's passkey rows, over HTTP, with ceremonies recorded from
// Chromium (package passkeytest): the account gets the recorded user
// handle, the service the recorded challenge.

// apiRegister adds the recorded passkey to the token's account through the
// API and returns the reply to POST /api/v1/account/passkeys.
func (e *apiEnv) apiRegister(t testing.TB, token, ceremony string, credential any) reply {
	t.Helper()
	rec := passkeytest.Get(ceremony)
	cur := e.call(t, "GET", "/api/v1/sessions/current", token, nil)
	id := cur.json(t)["account"].(map[string]any)["id"].(string)
	if h, err := e.Store.EnsureUserHandle(context.Background(), id, rec.Handle()); err != nil || string(h) != string(rec.Handle()) {
		t.Fatalf("the account must take the recorded user handle (%v): begin no ceremony for it before", err)
	}
	e.Challenges.Push(rec.ChallengeBytes())
	opts := e.call(t, "POST", "/api/v1/account/passkeys/options", token, nil)
	wantStatus(t, opts, 200, "")
	if credential == nil {
		credential = json.RawMessage(rec.Response)
	}
	return e.call(t, "POST", "/api/v1/account/passkeys", token, map[string]any{"name": "Laptop", "credential": credential})
}

// apiPasskeyOptions begins a passkey sign-in with the recorded challenge
// and returns its challenge id.
func (e *apiEnv) apiPasskeyOptions(t testing.TB, ceremony string, body any) string {
	t.Helper()
	e.Challenges.Push(passkeytest.Get(ceremony).ChallengeBytes())
	r := e.call(t, "POST", "/api/v1/sessions/passkey/options", "", body)
	wantStatus(t, r, 200, "")
	return r.json(t)["challenge_id"].(string)
}

func TestAPIPasskeys(t *testing.T) {
	e := newAPI(t, keyward.Config{}, web.Config{})
	tok := e.signUpIn(t, "alice@example.com")
	bob := e.signUpIn(t, "bob@example.com")

	opts := e.call(t, "POST", "/api/v1/account/passkeys/options", bob, nil)
	wantStatus(t, opts, 200, "")
	o := opts.json(t)["options"].(map[string]any)
	if o["publicKey"] != nil || o["challenge"] == nil || o["rp"].(map[string]any)["id"] != "localhost" ||
		o["authenticatorSelection"].(map[string]any)["residentKey"] != "preferred" || o["attestation"] != "none" {
		t.Errorf("creation options: %s", opts.body)
	}
	// An empty object is no body at all.
	wantStatus(t, e.call(t, "POST", "/api/v1/account/passkeys/options", bob, "{}"), 200, "")

	added := e.apiRegister(t, tok, passkeytest.RegisterVerified, nil)
	wantStatus(t, added, 201, "")
	body := added.json(t)
	pk := body["passkey"].(map[string]any)
	if pk["name"] != "Laptop" || pk["last_used_at"] != nil || len(pk["aaguid"].(string)) != 36 || !strings.HasPrefix(pk["id"].(string), "pk_") {
		t.Errorf("passkey %v", pk)
	}
	if codes, _ := body["backup_codes"].([]any); len(codes) != 10 {
		t.Errorf("the first passkey came with %d backup codes, want 10", len(codes))
	}
	id := pk["id"].(string)

	list := e.call(t, "GET", "/api/v1/account/passkeys", tok, nil)
	wantStatus(t, list, 200, "")
	if got := list.json(t)["passkeys"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != id {
		t.Errorf("list %s", list.body)
	}
	st := e.call(t, "GET", "/api/v1/account/2fa", tok, nil).json(t)
	if st["enabled"] != true || st["totp"] != false || st["passkeys"] != 1.0 || st["backup_codes_remaining"] != 10.0 {
		t.Errorf("2fa status %v", st)
	}

	renamed := e.call(t, "PATCH", "/api/v1/account/passkeys/"+id, tok, map[string]string{"name": "Work laptop"})
	wantStatus(t, renamed, 200, "")
	if renamed.json(t)["passkey"].(map[string]any)["name"] != "Work laptop" {
		t.Errorf("renamed %s", renamed.body)
	}
	wantStatus(t, e.call(t, "PATCH", "/api/v1/account/passkeys/"+id, tok, map[string]string{}), 400, "invalid_request")
	wantStatus(t, e.call(t, "PATCH", "/api/v1/account/passkeys/"+id, tok, map[string]string{"name": strings.Repeat("x", 65)}), 400, "invalid_request")
	wantStatus(t, e.call(t, "PATCH", "/api/v1/account/passkeys/pk_nothere", tok, map[string]string{"name": "x"}), 404, "not_found")
	r := e.call(t, "PUT", "/api/v1/account/passkeys/"+id, tok, map[string]string{"name": "x"})
	wantStatus(t, r, 405, "method_not_allowed")
	if allow := r.header.Values("Allow"); !slices.Contains(allow, "PATCH") || !slices.Contains(allow, "DELETE") {
		t.Errorf("Allow %q", allow)
	}

	// The password alone asks for the second step, and lists the passkey.
	step := e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "alice@example.com", "password": apiPassword})
	wantStatus(t, step, 200, "")
	sb := step.json(t)
	if got := sb["methods"].([]any); len(got) != 2 || got[0] != "backup_code" || got[1] != "passkey" {
		t.Errorf("methods %v", got)
	}
	mfa := sb["mfa_token"].(string)
	cid := e.apiPasskeyOptions(t, passkeytest.SecondStepVerified, map[string]string{"mfa_token": mfa})
	second := e.call(t, "POST", "/api/v1/sessions/passkey", "", map[string]any{
		"challenge_id": cid, "mfa_token": mfa, "credential": json.RawMessage(passkeytest.Get(passkeytest.SecondStepVerified).Response)})
	wantStatus(t, second, 201, "")
	if s := second.json(t)["session"].(map[string]any); s["aal"] != 2.0 {
		t.Errorf("second step session %v", s)
	}

	// Without a password.
	cid = e.apiPasskeyOptions(t, passkeytest.SignInUnverified, nil)
	in := e.call(t, "POST", "/api/v1/sessions/passkey", "", map[string]any{
		"challenge_id": cid, "credential": json.RawMessage(passkeytest.Get(passkeytest.SignInUnverified).Response)})
	wantStatus(t, in, 201, "")
	weak := in.json(t)
	if weak["session"].(map[string]any)["aal"] != 1.0 || weak["token"] == "" {
		t.Errorf("a passkey whose user was not verified: %s", in.body)
	}
	// A one-factor session removes no passkey.
	wantStatus(t, e.call(t, "DELETE", "/api/v1/account/passkeys/"+id, weak["token"].(string), nil), 403, "reauthentication_required")

	// Another account's passkey is not found.
	other := e.signUpIn(t, "carol@example.com")
	wantStatus(t, e.call(t, "DELETE", "/api/v1/account/passkeys/"+id, other, nil), 404, "not_found")
	wantStatus(t, e.call(t, "PATCH", "/api/v1/account/passkeys/"+id, other, map[string]string{"name": "mine"}), 404, "not_found")

	wantStatus(t, e.call(t, "DELETE", "/api/v1/account/passkeys/"+id, tok, nil), 204, "")
	if got := e.call(t, "GET", "/api/v1/account/passkeys", tok, nil).json(t)["passkeys"].([]any); len(got) != 0 {
		t.Errorf("list after removal: %v", got)
	}
	if st := e.call(t, "GET", "/api/v1/account/2fa", tok, nil).json(t); st["enabled"] != false {
		t.Errorf("2fa after the last passkey went: %v", st)
	}
}

// TestAPIPasskeyBadInput: every bad body or response gets its 4xx and
// code, never a 500.
func TestAPIPasskeyBadInput(t *testing.T) {
	e := newAPI(t, keyward.Config{}, web.Config{})
	tok := e.signUpIn(t, "alice@example.com")
	wantStatus(t, e.apiRegister(t, tok, passkeytest.RegisterVerified, nil), 201, "")
	good := json.RawMessage(passkeytest.Get(passkeytest.SignInVerified1).Response)
	big := strings.Repeat("A", 100<<10)
	huge := strings.Repeat("A", 1<<20)
	tests := []struct {
		name   string
		path   string
		token  bool // the signed-in account's
		body   func(cid string) any
		status int
		code   string
	}{
		{"credential is a string", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": "eyJpZCI6MX0"}
		}, 400, "invalid_request"},
		{"credential is null", "/api/v1/sessions/passkey", false, func(cid string) any {
			return `{"challenge_id":"` + cid + `","credential":null}`
		}, 400, "invalid_request"},
		{"no credential", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid}
		}, 400, "invalid_request"},
		{"no challenge id", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"credential": good}
		}, 400, "invalid_request"},
		{"unknown field", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": good, "user": "alice"}
		}, 400, "invalid_request"},
		{"duplicate field", "/api/v1/sessions/passkey", false, func(cid string) any {
			return `{"challenge_id":"` + cid + `","challenge_id":"` + cid + `","credential":` + string(good) + `}`
		}, 400, "invalid_request"},
		{"garbage base64url", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": map[string]any{"id": "%%%", "rawId": "%%%", "type": "public-key",
				"response": map[string]any{"clientDataJSON": "***", "authenticatorData": "!!", "signature": "~~"}}}
		}, 401, "invalid_credential"},
		{"an empty object", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": map[string]any{}}
		}, 401, "invalid_credential"},
		{"oversized credential", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": map[string]any{"id": big}}
		}, 401, "invalid_credential"},
		{"oversized body", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": map[string]any{"id": huge}}
		}, 413, "request_too_large"},
		{"challenge id of no ceremony", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": "kwc_" + strings.Repeat("x", 43), "credential": good}
		}, 401, "invalid_credential"},
		{"challenge id with NUL", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": "kwc_\u0000", "credential": good}
		}, 401, "invalid_credential"},
		{"empty mfa_token", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": good, "mfa_token": ""}
		}, 401, "mfa_token_expired"},
		{"mfa_token of no sign-in", "/api/v1/sessions/passkey", false, func(cid string) any {
			return map[string]any{"challenge_id": cid, "credential": good, "mfa_token": "kwm_" + strings.Repeat("A", 43)}
		}, 401, "mfa_token_expired"},
		{"options with a garbage mfa_token", "/api/v1/sessions/passkey/options", false, func(string) any {
			return map[string]any{"mfa_token": "garbage"}
		}, 401, "mfa_token_expired"},
		{"options with an mfa_token of the wrong type", "/api/v1/sessions/passkey/options", false, func(string) any {
			return map[string]any{"mfa_token": 7}
		}, 400, "invalid_request"},
		{"registration with garbage", "/api/v1/account/passkeys", true, func(string) any {
			return map[string]any{"name": "x", "credential": map[string]any{"id": "AA", "rawId": "AA", "type": "public-key", "response": map[string]any{}}}
		}, 400, "invalid_credential"},
		{"registration with an assertion", "/api/v1/account/passkeys", true, func(string) any {
			return map[string]any{"name": "x", "credential": good}
		}, 400, "invalid_credential"},
		{"oversized attestation", "/api/v1/account/passkeys", true, func(string) any {
			var m map[string]any
			_ = json.Unmarshal(passkeytest.Get(passkeytest.RegisterVerified).Response, &m)
			m["response"].(map[string]any)["attestationObject"] = big
			return map[string]any{"name": "x", "credential": m}
		}, 400, "invalid_credential"},
		{"registration without a session", "/api/v1/account/passkeys", false, func(string) any {
			return map[string]any{"name": "x", "credential": good}
		}, 401, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A ceremony of its own (a random challenge): each case is
			// refused before its response could be checked against one.
			opts := e.call(t, "POST", "/api/v1/sessions/passkey/options", "", nil)
			wantStatus(t, opts, 200, "")
			cid := opts.json(t)["challenge_id"].(string)
			token := ""
			if tt.token {
				token = tok
			}
			r := e.call(t, "POST", tt.path, token, tt.body(cid))
			wantStatus(t, r, tt.status, tt.code)
		})
	}

	// A challenge is used once: the second finish of one is refused.
	cid := e.apiPasskeyOptions(t, passkeytest.SignInVerified1, nil)
	first := e.call(t, "POST", "/api/v1/sessions/passkey", "", map[string]any{"challenge_id": cid, "credential": good})
	wantStatus(t, first, 201, "")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions/passkey", "", map[string]any{"challenge_id": cid, "credential": good}), 401, "invalid_credential")
}

func TestAPIPasskeysOff(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "alice@example.com")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/passkeys/options", tok, nil), 501, "passkeys_unavailable")
	wantStatus(t, e.call(t, "POST", "/api/v1/sessions/passkey/options", "", nil), 501, "passkeys_unavailable")
	wantStatus(t, e.call(t, "GET", "/api/v1/account/passkeys", tok, nil), 200, "")
}

// FuzzPasskeySignIn posts anything as the credential of a passkey
// sign-in: 4xx, never a 500.
func FuzzPasskeySignIn(f *testing.F) {
	r, err := passkeytest.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range r.Ceremonies {
		f.Add(string(c.Response))
	}
	f.Add(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AA","userHandle":"AA"}}`)
	env := keywardtest.New(f, keywardtest.Options{})
	h, err := web.New(env.Svc, web.Config{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, credential string) {
		body := `{"challenge_id":"kwc_` + strings.Repeat("A", 43) + `","credential":` + credential + `}`
		req := httptest.NewRequest("POST", "/api/v1/sessions/passkey", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= http.StatusInternalServerError {
			t.Fatalf("credential %q: %d %s", credential, w.Code, w.Body)
		}
	})
}

func TestAPIPasskeySudo(t *testing.T) {
	e := newAPI(t, keyward.Config{}, web.Config{})
	tok := e.signUpIn(t, "alice@example.com")
	wantStatus(t, e.call(t, "POST", "/api/v1/account/sudo/options", tok, nil), 409, "no_passkeys")
	wantStatus(t, e.apiRegister(t, tok, passkeytest.RegisterVerified, nil), 201, "")

	rec := passkeytest.Get(passkeytest.SecondStepVerified)
	e.Challenges.Push(rec.ChallengeBytes())
	opts := e.call(t, "POST", "/api/v1/account/sudo/options", tok, nil)
	wantStatus(t, opts, 200, "")
	o := opts.json(t)
	cid := o["challenge_id"].(string)
	if allow := o["options"].(map[string]any)["allowCredentials"].([]any); len(allow) != 1 {
		t.Errorf("sudo options allow %v, want the account's passkey", allow)
	}
	cred := json.RawMessage(rec.Response)
	for _, bad := range []map[string]any{
		{"challenge_id": cid},
		{"credential": cred},
		{"password": apiPassword, "credential": cred, "challenge_id": cid},
		{"code": "123456", "challenge_id": cid},
		{"challenge_id": cid, "credential": "not an object"},
	} {
		wantStatus(t, e.call(t, "POST", "/api/v1/account/sudo", tok, bad), 400, "invalid_request")
	}
	r := e.call(t, "POST", "/api/v1/account/sudo", tok, map[string]any{"challenge_id": cid, "credential": cred})
	wantStatus(t, r, 200, "")
	if r.json(t)["sudo_until"] == nil {
		t.Errorf("sudo %s", r.body)
	}
	wantStatus(t, e.call(t, "POST", "/api/v1/account/sudo", tok, map[string]any{"challenge_id": cid, "credential": cred}), 401, "invalid_credential")
}
