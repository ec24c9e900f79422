package main

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

// listen returns a loopback listener and its http:// URL.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

func serve(t *testing.T, ln net.Listener, h http.Handler) {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// TestSignInWithKeyward runs the example against a real keyward: the
// browser goes from the app to keyward's sign-in page, back with a code,
// and the app shows who signed in; signing out of the app signs out of
// keyward too and comes back to the app.
func TestSignInWithKeyward(t *testing.T) {
	ctx := t.Context()
	kwLn, issuer := listen(t)
	pub, _ := url.Parse(issuer)
	kw, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Config: web.Config{PublicURL: pub}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kw.Close() })
	serve(t, kwLn, kw)

	appLn, base := listen(t)
	const email, password = "ada@example.com", "correct horse battery staple 42"
	if _, err := kw.Service().SignUp(ctx, email, password, keyward.Client{}); err != nil {
		t.Fatal(err)
	}
	c, secret, err := kw.Service().CreateOIDCClient(ctx, keyward.OIDCClientSpec{
		Name: "Oidcapp", FirstParty: true, RedirectURIs: []string{base + "/callback"}, PostLogoutRedirectURIs: []string{base + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	app, err := newApp(ctx, issuer, c.ID, secret, base)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, appLn, app)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	var read func(res *http.Response, err error) (string, *url.URL)
	read = func(res *http.Response, err error) (string, *url.URL) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		// keyward hands a browser back to the application with a Refresh
		// header (after a form, a redirect to another origin would be held
		// to the form page's form-action): follow it, as a browser does.
		if _, target, ok := strings.Cut(res.Header.Get("Refresh"), "url="); ok {
			next, err := res.Request.URL.Parse(target)
			if err != nil {
				t.Fatal(err)
			}
			return read(browser.Get(next.String()))
		}
		return string(b), res.Request.URL
	}
	page, at := read(browser.Get(base + "/login"))
	if at.Path != "/signin" {
		t.Fatalf("not at keyward's sign-in page but %s:\n%s", at, page)
	}
	page, at = read(browser.PostForm(issuer+"/signin", url.Values{"email": {email}, "password": {password}, "next": {at.Query().Get("next")}}))
	if !strings.HasPrefix(at.String(), base) || !strings.Contains(page, "Signed in as "+email) {
		t.Fatalf("after sign-in at %s:\n%s", at, page)
	}
	page, at = read(browser.PostForm(base+"/logout", nil))
	if at.String() != base+"/" || !strings.Contains(page, "Sign in with keyward") {
		t.Fatalf("after sign-out at %s:\n%s", at, page)
	}
	// keyward's session ended too: its settings ask for a sign-in.
	if _, at = read(browser.Get(issuer + "/settings/security")); at.Path != "/signin" {
		t.Errorf("still signed in to keyward after logging out of the app: at %s", at)
	}
}
