package openid_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/openid"
	"github.com/keyward/keyward/web"
)

const (
	testEmail    = "ada@example.com"
	testPassword = "correct horse battery staple 42"
)

// node is one keyward serving the provider over HTTP.
type node struct {
	env    *keywardtest.Env
	srv    *httptest.Server
	issuer string
}

// startNode serves keyward (the web layer with the provider mounted) on a
// loopback port. Options may share a store and keys between nodes.
func startNode(t *testing.T, o keywardtest.Options) *node {
	t.Helper()
	// The relying party checks exp and iat on the wall clock: the service
	// runs on it too, unless a test brings a clock to move (one that starts
	// at the wall clock's now).
	o.RealTime = o.Clock == nil
	env := keywardtest.New(t, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	pub, _ := url.Parse(issuer)
	provider, err := openid.New(env.Svc, openid.Config{
		Issuer:    issuer,
		LoginPath: func(id string) string { return web.OIDCLoginPath("", id) },
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := web.New(env.Svc, web.Config{PublicURL: pub, OpenID: provider}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(w)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &node{env: env, srv: srv, issuer: issuer}
}

// relyingParty is an application that signs people in with keyward:
// go-oidc and x/oauth2, nothing of keyward's.
type relyingParty struct {
	cfg      oauth2.Config
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	redirect string
}

func newRelyingParty(t *testing.T, n *node, spec keyward.OIDCClientSpec) (*relyingParty, *keyward.OIDCClient) {
	t.Helper()
	ctx := t.Context()
	if spec.Name == "" {
		spec.Name = "PayDesk"
	}
	if len(spec.RedirectURIs) == 0 {
		spec.RedirectURIs = []string{"http://127.0.0.1:9/callback"}
	}
	c, secret, err := n.env.Svc.CreateOIDCClient(ctx, spec)
	if err != nil {
		t.Fatalf("CreateOIDCClient: %v", err)
	}
	p, err := gooidc.NewProvider(ctx, n.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp := &relyingParty{
		provider: p,
		verifier: p.Verifier(&gooidc.Config{ClientID: c.ID}),
		redirect: spec.RedirectURIs[0],
		cfg: oauth2.Config{
			ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: spec.RedirectURIs[0],
			Scopes: []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess},
		},
	}
	return rp, c
}

// browser is a cookie jar that stops at the relying party's redirect URI.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T, stopAt string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, client: &http.Client{Jar: jar}}
	b.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stopAt) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return b
}

func (b *browser) get(u string) *http.Response {
	b.t.Helper()
	res, err := b.client.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	return res
}

func (b *browser) post(u string, form url.Values) *http.Response {
	b.t.Helper()
	res, err := b.client.PostForm(u, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pkce is a code_verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = oauth2.GenerateVerifier()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs the browser part: the authorization request, keyward's
// sign-in page (a password), the consent page when one is shown, and the
// redirect back. It returns the redirect's query.
func authorize(t *testing.T, n *node, b *browser, rp *relyingParty, state, nonce, challenge string, extra ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(nonce), oauth2.S256ChallengeOption(challenge)}, extra...)
	// S256ChallengeOption computes the challenge from a verifier: pass
	// the challenge itself instead when one is given.
	if challenge != "" {
		opts = append([]oauth2.AuthCodeOption{gooidc.Nonce(nonce),
			oauth2.SetAuthURLParam("code_challenge", challenge),
			oauth2.SetAuthURLParam("code_challenge_method", "S256")}, extra...)
	}
	res := b.get(rp.cfg.AuthCodeURL(state, opts...))
	for range 6 {
		loc := res.Request.URL
		page := body(t, res)
		switch {
		case res.StatusCode == http.StatusFound && strings.HasPrefix(res.Header.Get("Location"), rp.redirect):
			u, err := url.Parse(res.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			return u.Query()
		case res.Header.Get("Refresh") != "":
			// keyward hands the browser back with a Refresh (a form's
			// redirects are held to its form-action).
			_, target, _ := strings.Cut(res.Header.Get("Refresh"), "url=")
			res = b.get(n.issuer + target)
		case loc.Path == "/signin":
			res = b.post(n.issuer+"/signin", url.Values{
				"email": {testEmail}, "password": {testPassword}, "next": {loc.Query().Get("next")},
			})
		case strings.Contains(page, `action="/authorize/consent"`):
			if !strings.Contains(page, "PayDesk") || !strings.Contains(page, "See your email address") {
				t.Errorf("the consent page names neither the client nor the scopes:\n%s", page)
			}
			id := between(page, `name="id" value="`, `"`)
			res = b.post(n.issuer+"/authorize/consent", url.Values{"id": {id}, "answer": {"allow"}})
		default:
			t.Fatalf("stuck at %s (%d):\n%s", loc, res.StatusCode, page)
		}
	}
	t.Fatal("too many steps")
	return nil
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

func signUp(t *testing.T, n *node) *keyward.Account {
	t.Helper()
	a, err := n.env.Svc.SignUp(t.Context(), testEmail, testPassword, keyward.Client{IP: "127.0.0.1"})
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	return a
}

// oauthErrorCode is the OAuth error code of a failed exchange.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return fmt.Sprint(err)
}

func TestCodeFlowWithGoOIDC(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	acct := signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	ctx := t.Context()

	// Discovery advertises what keyward supports, and nothing more.
	var disc struct {
		ResponseTypes []string `json:"response_types_supported"`
		Challenges    []string `json:"code_challenge_methods_supported"`
		RequestURI    *bool    `json:"request_uri_parameter_supported"`
		Grants        []string `json:"grant_types_supported"`
		EndSession    string   `json:"end_session_endpoint"`
		Revocation    string   `json:"revocation_endpoint"`
		Introspection string   `json:"introspection_endpoint"`
	}
	if err := rp.provider.Claims(&disc); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(disc.ResponseTypes) != "[code]" || fmt.Sprint(disc.Challenges) != "[S256]" ||
		disc.RequestURI == nil || *disc.RequestURI || fmt.Sprint(disc.Grants) != "[authorization_code refresh_token]" ||
		disc.EndSession == "" || disc.Revocation == "" || disc.Introspection == "" {
		t.Errorf("discovery: %+v", disc)
	}

	b := newBrowser(t, rp.redirect)
	verifier, challenge := pkce()
	q := authorize(t, n, b, rp, "state-1 «x»", "nonce-1", challenge)
	if got := q.Get("state"); got != "state-1 «x»" {
		t.Errorf("state: got %q", got)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code: %v", q)
	}

	tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified *bool    `json:"email_verified"`
		Nonce         string   `json:"nonce"`
		SID           string   `json:"sid"`
		ACR           string   `json:"acr"`
		AMR           []string `json:"amr"`
		AuthTime      int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if idt.Subject != acct.ID || claims.Email != testEmail || claims.Nonce != "nonce-1" || claims.SID == "" ||
		claims.ACR != "aal1" || fmt.Sprint(claims.AMR) != "[pwd]" || claims.AuthTime == 0 || claims.EmailVerified == nil {
		t.Errorf("ID token: sub %q, claims %+v", idt.Subject, claims)
	}
	if idt.Audience[0] != c.ID || idt.Issuer != n.issuer {
		t.Errorf("ID token: aud %v iss %q", idt.Audience, idt.Issuer)
	}

	// The Sessions page names the application the session signed in to.
	if page := body(t, b.get(n.issuer+"/settings/security/sessions")); !strings.Contains(page, "Signed in to PayDesk through keyward") {
		t.Errorf("the Sessions page does not name the application:\n%s", page)
	}

	// Userinfo with the access token.
	info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != acct.ID || info.Email != testEmail {
		t.Errorf("userinfo: %+v", info)
	}

	// The code works once; shown again it is refused, and the tokens its
	// first use got are revoked.
	if _, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("code used twice: got %v, want invalid_grant", err)
	}
	if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo still answers for a token of a code used twice")
	}

	// A new grant for the refresh tests.
	verifier, challenge = pkce()
	q = authorize(t, n, b, rp, "state-2", "nonce-2", challenge)
	tok, err = rp.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange 2: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	first := tok.RefreshToken
	next, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == first || next.AccessToken == "" {
		t.Fatalf("refresh did not rotate: %+v", next)
	}
	if raw, _ := next.Extra("id_token").(string); raw != "" {
		if _, err := rp.verifier.Verify(ctx, raw); err != nil {
			t.Errorf("refreshed ID token: %v", err)
		}
	}
	// The old refresh token again: refused, and the whole grant ends.
	if _, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first}).Token(); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("reused refresh token: got %v, want invalid_grant", err)
	}
	if _, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err == nil {
		t.Error("the rotated refresh token still works after a reuse")
	}
	if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err == nil {
		t.Error("the access token still works after a reuse")
	}

	// The account's audit log tells the story.
	events, err := n.env.Store.ListEvents(ctx, keyward.EventFilter{ChainID: acct.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	count := map[audit.Type]int{}
	reasons := map[string]int{}
	for _, e := range events {
		count[e.Type]++
		if e.Type == audit.OIDCGrantRevoked {
			reasons[e.Details[audit.DetailReason]]++
			if e.Details[audit.DetailClientName] != "PayDesk" {
				t.Errorf("grant_revoked details: %v", e.Details)
			}
		}
	}
	if count[audit.OIDCConsentGranted] != 1 || count[audit.OIDCTokenIssued] != 2 ||
		reasons["code_reused"] != 1 || reasons["refresh_token_reused"] != 1 {
		t.Errorf("audit events: %v, revocations %v", count, reasons)
	}
}

func base64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
