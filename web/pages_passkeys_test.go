package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
)

// newPasskeyPageEnv is a page env whose passkeys are made for the
// recordings' origin, with the service's challenges at hand.
func newPasskeyPageEnv(t *testing.T) (*pageEnv, *keywardtest.Env) {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{RealTime: true})
	srv, err := New(env.Svc, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &pageEnv{t: t, svc: env.Svc, ts: ts, srv: srv}
	e.c = e.newClient()
	return e, env
}

// registerOnPage begins a registration as the page's script does (the
// API, with the session cookie) and posts the recorded answer with the
// page's form.
func registerOnPage(t *testing.T, e *pageEnv, env *keywardtest.Env, ceremony, name string) page {
	t.Helper()
	rec := passkeytest.Get(ceremony)
	a, err := env.Store.AccountByEmail(t.Context(), testEmail)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.EnsureUserHandle(t.Context(), a.ID, rec.Handle()); err != nil {
		t.Fatal(err)
	}
	env.Challenges.Push(rec.ChallengeBytes())
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/account/passkeys/options", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	res, err := e.c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("options: %v %v", res.Status, err)
	}
	res.Body.Close()
	return e.post("/settings/security/two-factor/passkeys", url.Values{"name": {name}, "credential": {string(rec.Response)}})
}

// A first passkey turns two-factor on and signs out the other sessions:
// the page says so before.
func TestPasskeyPagesSayWhoIsSignedOut(t *testing.T) {
	e, _ := newPasskeyPageEnv(t)
	e.signUp()
	wantBody(t, "alone", e.get("/settings/security/two-factor"), "Adding one turns on two-factor authentication.")
	wantRedirect(t, "another device", e.do(e.newClient(), "POST", "/signin", url.Values{"email": {testEmail}, "password": {testPassword}}), "/settings/security")
	wantBody(t, "with another device", e.get("/settings/security/two-factor"), "Adding one turns on two-factor authentication and signs out your other session.")
}

func TestPasskeyPages(t *testing.T) {
	e, env := newPasskeyPageEnv(t)

	in := e.get("/signin")
	wantStatus(t, "sign-in", in, 200)
	wantBody(t, "sign-in", in, `autocomplete="username webauthn"`, `data-passkey-signin data-conditional data-options="/api/v1/sessions/passkey/options" hidden`,
		`<form method="post" action="/signin/passkey"`, `<script src="/static/passkey.js" defer></script>`)
	if got := in.header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("CSP %q, want the strict one", got)
	}

	e.signUp()
	tf := e.get("/settings/security/two-factor")
	wantBody(t, "2FA page", tf, `id="passkeys"`, "You have no passkeys yet.", `id="passkey-add" data-passkey-register`,
		"Adding a passkey needs JavaScript")

	// Without the script the form's post carries no credential.
	none := e.post("/settings/security/two-factor/passkeys", url.Values{"name": {"x"}})
	wantStatus(t, "no credential", none, 400)
	wantBody(t, "no credential", none, "Adding a passkey needs JavaScript")

	wantRedirect(t, "first passkey", registerOnPage(t, e, env, passkeytest.RegisterVerified, "Work laptop"), "/settings/security/two-factor")
	codes := e.get("/settings/security/two-factor")
	wantStatus(t, "first passkey", codes, 200)
	wantBody(t, "first passkey", codes, "Two-factor authentication is on", `id="backup-codes"`)
	wantRedirect(t, "saved", e.post("/settings/security/two-factor/backup-codes/saved", url.Values{}), "/settings/security/two-factor")
	list := e.get("/settings/security/two-factor")
	wantBody(t, "list", list, `class="passkey-name">Work laptop</strong>`, "Never used to sign in",
		"Two-factor authentication is on with your passkeys.", "This is your only second factor", `id="passkey-codes"`)
	ps, _ := e.svc.Passkeys(t.Context(), mustAccount(t, env).ID)
	id := ps[0].ID

	wantRedirect(t, "rename", e.post("/settings/security/two-factor/passkeys/"+id+"/rename", url.Values{"name": {"Old <b>laptop</b>"}}),
		"/settings/security/two-factor#passkeys")
	renamed := e.get("/settings/security/two-factor")
	wantBody(t, "renamed", renamed, "Passkey renamed to \u201cOld &lt;b&gt;laptop&lt;/b&gt;\u201d.")
	long := e.post("/settings/security/two-factor/passkeys/"+id+"/rename", url.Values{"name": {strings.Repeat("x", 65)}})
	wantStatus(t, "long name", long, 400)
	wantBody(t, "long name", long, "at most 64 characters", `id="rename-`+id+`" name="name" type="text" value="Old &lt;b&gt;laptop&lt;/b&gt;" maxlength="64" autocomplete="off" required aria-invalid="true"`)

	// The last factor's removal asks first.
	ask := e.post("/settings/security/two-factor/passkeys/"+id+"/remove", url.Values{})
	wantStatus(t, "remove, asked", ask, 200)
	wantBody(t, "remove, asked", ask, `id="confirm-remove"`, "turn off two-factor authentication?", `name="confirm" value="yes"`)
	if left, _ := e.svc.Passkeys(t.Context(), ps[0].AccountID); len(left) != 1 {
		t.Fatalf("the passkey went before it was confirmed")
	}
	wantStatus(t, "remove someone's", e.post("/settings/security/two-factor/passkeys/pk_nothere/remove", url.Values{"confirm": {"yes"}}), 404)
	wantRedirect(t, "remove, confirmed", e.post("/settings/security/two-factor/passkeys/"+id+"/remove", url.Values{"confirm": {"yes"}}),
		"/settings/security/two-factor#passkeys")
	off := e.get("/settings/security/two-factor")
	wantBody(t, "removed", off, "Two-factor authentication is off: signing in now needs only your password.", "You have no passkeys yet.")
}

func mustAccount(t *testing.T, env *keywardtest.Env) *keyward.Account {
	t.Helper()
	a, err := env.Store.AccountByEmail(t.Context(), testEmail)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPasskeySignInPages(t *testing.T) {
	e, env := newPasskeyPageEnv(t)
	e.signUp()
	wantRedirect(t, "first passkey", registerOnPage(t, e, env, passkeytest.RegisterVerified, "Phone"), "/settings/security/two-factor")

	// A refused answer shows the sign-in page again, with why.
	out := e.newClient()
	bad := e.do(out, "POST", "/signin/passkey", url.Values{"challenge_id": {"kwc_x"}, "credential": {"{}"}, "next": {"/settings/security"}})
	wantStatus(t, "bad passkey", bad, 401)
	wantBody(t, "bad passkey", bad, "The passkey was not accepted.", `<form method="post" action="/signin"`)

	// The second step's options need the page's mfa cookie.
	noCookie := e.do(out, "POST", "/signin/2fa/passkey/options", url.Values{})
	wantStatus(t, "options without a second step", noCookie, 401)
	if !strings.Contains(noCookie.body, `"code":"mfa_token_expired"`) {
		t.Errorf("options without a second step: %s", noCookie.body)
	}

	// The password leads to a second step offering the passkey and the
	// backup codes, not an app the account does not have.
	step := e.do(out, "POST", "/signin", url.Values{"email": {testEmail}, "password": {testPassword}})
	wantRedirect(t, "password", step, "/signin/2fa?next=%2Fsettings%2Fsecurity")
	second := e.do(out, "GET", "/signin/2fa?next=%2Fsettings%2Fsecurity", nil)
	wantBody(t, "second step", second, `data-passkey-signin data-options="/signin/2fa/passkey/options" hidden`, "Use a passkey", "Backup code")
	wantNoBody(t, "second step", second, "Use your authenticator app instead", "Verification code")

	env.Challenges.Push(passkeytest.Get(passkeytest.SecondStepVerified).ChallengeBytes())
	opts := e.do(out, "POST", "/signin/2fa/passkey/options", url.Values{})
	wantStatus(t, "options", opts, 200)
	cid := challengeIDOf(t, opts.body)
	done := e.do(out, "POST", "/signin/2fa/passkey", url.Values{"challenge_id": {cid}, "next": {"/settings/security"},
		"credential": {string(passkeytest.Get(passkeytest.SecondStepVerified).Response)}})
	wantRedirect(t, "second step with a passkey", done, "/settings/security")
}

// challengeIDOf is the challenge_id of an options answer.
func challengeIDOf(t *testing.T, s string) string {
	t.Helper()
	i := strings.Index(s, `"challenge_id":"`)
	if i < 0 {
		t.Fatalf("no challenge_id in %s", s)
	}
	rest := s[i+len(`"challenge_id":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}
