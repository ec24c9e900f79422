package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/openid"
	"github.com/keyward/keyward/web"
)

// TestBrowserSignInWithKeyward: "Sign in with keyward" in Chromium. A
// person with two-factor authentication (codes from oathtool) is sent by a
// third-party application (go-oidc and x/oauth2) to keyward, signs in with
// password and code, allows the application on the consent page, and comes
// back with a code the application redeems for an ID token at aal2.
func TestBrowserSignInWithKeyward(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	env := keywardtest.New(t, keywardtest.Options{RealTime: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	pub, _ := url.Parse(issuer)
	provider, err := openid.New(env.Svc, openid.Config{Issuer: issuer, LoginPath: func(id string) string { return web.OIDCLoginPath("", id) }})
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(env.Svc, web.Config{PublicURL: pub, OpenID: provider}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	site := &browserSite{env: env, url: issuer}

	// The application's redirect URI: it keeps what keyward sent back.
	var (
		mu       sync.Mutex
		callback url.Values
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		callback = r.URL.Query()
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>PayDesk</title><h1>Back at PayDesk</h1>"))
	}))
	t.Cleanup(app.Close)
	ctx := t.Context()
	c, secret, err := env.Svc.CreateOIDCClient(ctx, keyward.OIDCClientSpec{Name: "PayDesk", RedirectURIs: []string{app.URL + "/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: app.URL + "/callback",
		Scopes: []string{gooidc.ScopeOpenID, "email"}}

	b := startBrowser(t, site, "oidc")
	d := b.device("laptop")
	d.signUp(journeyEmail, journeyPassword)
	d.open("/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	key := strings.Join(strings.Fields(d.text("#manual-key")), "")
	confirmAt := time.Now()
	d.fill("#code", oathtoolCode(t, oathtool, key, confirmAt))
	d.press(`form[action="/settings/security/two-factor/enable"] button`)
	d.wantText("enable", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`) // else leaving the codes asks "Leave site?"
	d.press(`header form[action="/signout"] button`)

	// The application sends the browser to keyward, asking for aal2.
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state «1»", gooidc.Nonce("nonce-1"), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("acr_values", "aal2"), oauth2.SetAuthURLParam("login_hint", journeyEmail))
	act(d, "open the application's sign-in link", chromedp.NavigateResponse(authURL))
	if !strings.HasPrefix(d.path(), "/signin?") {
		d.fatalf("not at the sign-in page: %s", d.path())
	}
	if got := d.value("#email"); got != journeyEmail {
		d.fatalf("login_hint: the email field holds %q", got)
	}
	d.fill("#password", journeyPassword)
	d.press(`form[action="/signin"] button[type="submit"]`)
	if !strings.HasPrefix(d.path(), "/signin/2fa?") {
		d.fatalf("not at the second step: %s", d.path())
	}
	d.fill("#code", oathtoolCode(t, oathtool, key, time.Unix((confirmAt.Unix()/30+1)*30, 0)))
	d.press(`form[action="/signin/2fa"] button[type="submit"]`)

	// The consent page: the product, the application, the scopes in words.
	d.wantText("consent", "main h1", "Allow PayDesk to use your keyward account?")
	if scopes := d.texts("main li"); !slices.Contains(scopes, "See your email address") {
		d.fatalf("consent page scopes: %q", scopes)
	}
	d.screenshot("consent")
	d.press(`button[name="answer"][value="allow"]`)
	// keyward's page hands the browser on with a Refresh: wait for the
	// application to have been reached.
	var q url.Values
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		q = callback
		mu.Unlock()
		if q != nil {
			break
		}
	}
	// And for the browser to show the application's page, before it is
	// sent anywhere else.
	for deadline := time.Now().Add(stepTimeout); ; time.Sleep(50 * time.Millisecond) {
		loc := act(d, "location", chromedp.Location())
		ready := act(d, "ready", chromedp.Evaluate[string](`document.readyState`))
		if strings.HasPrefix(loc, app.URL) && ready == "complete" {
			break
		}
		if time.Now().After(deadline) {
			d.fatalf("the browser did not reach the application: at %s (%s)", loc, ready)
		}
	}
	if q.Get("state") != "state «1»" || q.Get("code") == "" {
		t.Fatalf("callback query: %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims struct {
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
		Nonce string   `json:"nonce"`
		Email string   `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.ACR != "aal2" || !slices.Contains(claims.AMR, "otp") || claims.Nonce != "nonce-1" || claims.Email != journeyEmail {
		t.Errorf("ID token claims: %+v", claims)
	}

	// The Sessions page names the application under this session.
	d.open("/settings/security/sessions")
	d.wantText("sessions page", "li.session-current .session-app", "Signed in to PayDesk through keyward")
}
