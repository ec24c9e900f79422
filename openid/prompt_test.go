package openid_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// handedBack is where keyward sends the browser back to the client: a
// Refresh header's URL (keyward's pages answer so), or a redirect's.
func handedBack(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	target := res.Header.Get("Location")
	if _, u, ok := strings.Cut(res.Header.Get("Refresh"), "url="); ok {
		target = u
	}
	u, err := res.Request.URL.Parse(target)
	if err != nil || target == "" {
		t.Fatalf("not handed back: %d %v", res.StatusCode, res.Header)
	}
	return u
}

// TestPromptMaxAgeACR: prompt=none answers instead of showing a page,
// prompt=login and max_age ask a signed-in person to sign in again, and
// acr_values=aal2 is refused for an account without a second factor.
func TestPromptMaxAgeACR(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	b := newBrowser(t, rp.redirect)
	step := func(p url.Values) *http.Response {
		t.Helper()
		res := b.get(authorizeURL(n, p))
		res.Body.Close()
		return res
	}
	wantError := func(what string, res *http.Response, code string) {
		t.Helper()
		u := handedBack(t, res)
		if !strings.HasPrefix(u.String(), rp.redirect+"?") || u.Query().Get("error") != code || u.Query().Get("state") != "s1" {
			t.Errorf("%s: handed back to %s, want error %s with the state", what, u, code)
		}
	}

	p := goodParams(c)
	p.Set("prompt", "none")
	wantError("prompt=none signed out", step(p), "login_required")

	// Signed in (the first request runs the sign-in and consent).
	_, challenge := pkce()
	authorize(t, n, b, rp, "s0", "n0", challenge)

	p = goodParams(c)
	p.Set("scope", "openid email profile") // a scope not consented to yet
	p.Set("prompt", "none")
	wantError("prompt=none without consent", step(p), "consent_required")

	p = goodParams(c)
	p.Set("prompt", "none")
	if u := handedBack(t, step(p)); u.Host == "127.0.0.1:9" {
		if u.Query().Get("code") == "" {
			t.Errorf("prompt=none signed in and consented: %s", u)
		}
	} else {
		// The callback on keyward redirects to the client with the code.
		res := rawGet(t, b, u.String())
		if loc := res.Header.Get("Location"); !strings.Contains(loc, "code=") {
			t.Errorf("prompt=none signed in and consented: %d %q", res.StatusCode, loc)
		}
	}

	for _, tc := range []struct{ name, key, value string }{{"prompt=login", "prompt", "login"}, {"max_age=0", "max_age", "0"}} {
		p = goodParams(c)
		p.Set(tc.key, tc.value)
		res := step(p)
		if res.Request.URL.Path != "/signin" || res.Request.URL.Query().Get("again") != "1" ||
			res.Request.URL.Query().Get("email") != testEmail {
			t.Errorf("%s: at %s, want the sign-in page again with the email", tc.name, res.Request.URL)
		}
	}

	p = goodParams(c)
	p.Set("acr_values", "aal2")
	wantError("aal2 without a second factor", step(p), "access_denied")
}
