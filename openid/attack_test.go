package openid_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// rawGet sends a request without following redirects.
func rawGet(t *testing.T, b *browser, u string) *http.Response {
	t.Helper()
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	res.Body.Close()
	return res
}

// authorizeURL is an authorization request with every parameter given.
func authorizeURL(n *node, p url.Values) string {
	return n.issuer + "/oauth/authorize?" + p.Encode()
}

func goodParams(c *keyward.OIDCClient) url.Values {
	_, challenge := pkce()
	return url.Values{
		"client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"s1"}, "nonce": {"n1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// TestAuthorizeBadInput: what RFC 6749 §10, RFC 6819 and the Security BCP
// ask of the authorization endpoint. Never a redirect to a URI that is not
// registered, never a 500.
func TestAuthorizeBadInput(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	b := newBrowser(t, rp.redirect)
	registered := c.RedirectURIs[0] // http://127.0.0.1:9/callback

	// Each refused without a redirect: the redirect URI cannot be trusted.
	noRedirect := []struct {
		name string
		edit func(url.Values)
		want int
	}{
		{"unregistered redirect_uri", func(p url.Values) { p.Set("redirect_uri", "https://evil.example/callback") }, 400},
		{"trailing slash", func(p url.Values) { p.Set("redirect_uri", registered+"/") }, 400},
		{"extra query", func(p url.Values) { p.Set("redirect_uri", registered+"?next=https://evil.example") }, 400},
		{"other case", func(p url.Values) { p.Set("redirect_uri", strings.Replace(registered, "callback", "Callback", 1)) }, 400},
		{"other port", func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:10/callback") }, 400},
		{"localhost for 127.0.0.1", func(p url.Values) { p.Set("redirect_uri", "http://localhost:9/callback") }, 400},
		{"fragment", func(p url.Values) { p.Set("redirect_uri", registered+"#x") }, 400},
		{"userinfo", func(p url.Values) { p.Set("redirect_uri", "http://evil.example@127.0.0.1:9/callback") }, 400},
		{"no redirect_uri", func(p url.Values) { p.Del("redirect_uri") }, 400},
		{"unknown client", func(p url.Values) { p.Set("client_id", "cl_00000000000000000000000000") }, 400},
		{"client id not text", func(p url.Values) { p.Set("client_id", "cl_\x00\xff") }, 400},
		{"no client", func(p url.Values) { p.Del("client_id") }, 400},
		{"request_uri", func(p url.Values) { p.Set("request_uri", "https://evil.example/request.jwt") }, 400},
		// The library refuses a response type other than code for a
		// redirect URI over http before it would redirect.
		{"implicit flow", func(p url.Values) { p.Set("response_type", "token") }, 400},
		{"hybrid flow", func(p url.Values) { p.Set("response_type", "code id_token") }, 400},
		{"oversized state", func(p url.Values) { p.Set("state", strings.Repeat("s", 20000)) }, 414},
	}
	for _, tc := range noRedirect {
		t.Run(tc.name, func(t *testing.T) {
			p := goodParams(c)
			tc.edit(p)
			res := rawGet(t, b, authorizeURL(n, p))
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("redirected to %q", loc)
			}
		})
	}

	// The refusal is keyward's error page, saying why.
	p := goodParams(c)
	p.Set("redirect_uri", "https://evil.example/callback")
	res := b.get(authorizeURL(n, p))
	if page := body(t, res); res.StatusCode != 400 || !strings.Contains(page, "<html") || !strings.Contains(page, "redirect_uri") ||
		!strings.Contains(res.Header.Get("Content-Type"), "text/html") || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("error page: %d %v\n%s", res.StatusCode, res.Header, page)
	}

	// Refused back to the registered redirect URI, with the state as sent.
	toClient := []struct {
		name, want string
		edit       func(url.Values)
	}{
		{"no PKCE", "invalid_request", func(p url.Values) { p.Del("code_challenge"); p.Del("code_challenge_method") }},
		{"plain PKCE", "invalid_request", func(p url.Values) { p.Set("code_challenge_method", "plain") }},
		{"PKCE without method", "invalid_request", func(p url.Values) { p.Del("code_challenge_method") }},
		{"short challenge", "invalid_request", func(p url.Values) { p.Set("code_challenge", "abc") }},
		{"request object", "request_not_supported", func(p url.Values) { p.Set("request", "eyJhbGciOiJub25lIn0.e30.") }},
		{"no openid scope", "invalid_scope", func(p url.Values) { p.Set("scope", "email") }},
		{"long state", "invalid_request", func(p url.Values) { p.Set("state", strings.Repeat("s", 2000)) }},
		{"unknown acr", "invalid_request", func(p url.Values) { p.Set("acr_values", "urn:evil") }},
		{"fragment response mode", "invalid_request", func(p url.Values) { p.Set("response_mode", "fragment") }},
	}
	for _, tc := range toClient {
		t.Run(tc.name, func(t *testing.T) {
			p := goodParams(c)
			tc.edit(p)
			res := rawGet(t, b, authorizeURL(n, p))
			loc, err := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusFound || err != nil ||
				!strings.HasPrefix(loc.String(), registered+"?") && !strings.HasPrefix(loc.String(), registered+"#") {
				t.Fatalf("status %d, Location %q: want a redirect to %s", res.StatusCode, res.Header.Get("Location"), registered)
			}
			if loc.Fragment != "" {
				loc.RawQuery = loc.Fragment // response_mode=fragment answers in the fragment
			}
			if got := loc.Query().Get("error"); got != tc.want {
				t.Errorf("error %q (%s), want %q", got, loc.Query().Get("error_description"), tc.want)
			}
			if state := loc.Query().Get("state"); state != p.Get("state") && len(p.Get("state")) < 1000 {
				t.Errorf("state %q, want %q", state, p.Get("state"))
			}
		})
	}

	// An unknown request id on keyward's own pages is a page, not a 500.
	for _, path := range []string{"/authorize/continue?id=ar_x", "/authorize/continue", "/oauth/authorize/callback?id=nope",
		"/authorize/continue?id=ar_" + strings.Repeat("A", 43)} {
		res := rawGet(t, b, n.issuer+path)
		if res.StatusCode >= 500 || res.StatusCode < 400 {
			t.Errorf("%s: status %d", path, res.StatusCode)
		}
	}
}

// TestTokenBadInput: the token endpoint's refusals.
func TestTokenBadInput(t *testing.T) {
	clock := keywardtest.NewClock(time.Now())
	n := startNode(t, keywardtest.Options{Clock: clock})
	signUp(t, n)
	rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	other, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{Name: "Other", RedirectURIs: []string{rp.redirect}})
	ctx := t.Context()
	b := newBrowser(t, rp.redirect)

	codeFor := func(t *testing.T) (code, verifier string) {
		t.Helper()
		verifier, challenge := pkce()
		q := authorize(t, n, b, rp, "st", "nn", challenge)
		return q.Get("code"), verifier
	}
	exchange := func(rp *relyingParty, code string, opts ...oauth2.AuthCodeOption) error {
		_, err := rp.cfg.Exchange(ctx, code, opts...)
		return err
	}

	t.Run("code redeemed by another client", func(t *testing.T) {
		code, verifier := codeFor(t)
		if got := oauthErrorCode(exchange(other, code, oauth2.VerifierOption(verifier))); got != "invalid_grant" {
			t.Errorf("got %s, want invalid_grant", got)
		}
		// Another client's failure does not spend the code.
		if err := exchange(rp, code, oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("the code's own client after another tried it: %v", err)
		}
	})
	t.Run("missing code_verifier", func(t *testing.T) {
		code, _ := codeFor(t)
		if got := oauthErrorCode(exchange(rp, code)); got != "invalid_request" && got != "invalid_grant" {
			t.Errorf("got %s, want invalid_grant or invalid_request", got)
		}
	})
	t.Run("wrong code_verifier", func(t *testing.T) {
		code, _ := codeFor(t)
		if got := oauthErrorCode(exchange(rp, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))); got != "invalid_grant" {
			t.Errorf("got %s, want invalid_grant", got)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		code, verifier := codeFor(t)
		bad := *rp
		bad.cfg.ClientSecret = "kwc_" + strings.Repeat("A", 43)
		if got := oauthErrorCode(exchange(&bad, code, oauth2.VerifierOption(verifier))); got != "invalid_client" {
			t.Errorf("got %s, want invalid_client", got)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code, verifier := codeFor(t)
		clock.Advance(61 * time.Second)
		if got := oauthErrorCode(exchange(rp, code, oauth2.VerifierOption(verifier))); got != "invalid_grant" {
			t.Errorf("got %s, want invalid_grant", got)
		}
	})
	t.Run("code within 60 s", func(t *testing.T) {
		code, verifier := codeFor(t)
		clock.Advance(59 * time.Second)
		if err := exchange(rp, code, oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("exchange at 59 s: %v", err)
		}
	})
	t.Run("made-up codes and tokens", func(t *testing.T) {
		for _, code := range []string{"x", "k1.AAAA", strings.Repeat("k", 5000), "\x00", "k1:" + strings.Repeat("A", 60)} {
			if got := oauthErrorCode(exchange(rp, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))); got != "invalid_grant" {
				t.Errorf("code %.20q: got %s, want invalid_grant", code, got)
			}
		}
		for _, rt := range []string{"kwr_x", "kwr_" + strings.Repeat("A", 43), "nope"} {
			_, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
			if got := oauthErrorCode(err); got != "invalid_grant" {
				t.Errorf("refresh token %q: got %s, want invalid_grant", rt, got)
			}
		}
	})
}

// TestRevocationIntrospectionLogout: RFC 7009 revocation, RFC 7662
// introspection, RP-initiated logout, and grants ending with their session.
func TestRevocationIntrospectionLogout(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	acct := signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{PostLogoutRedirectURIs: []string{"http://127.0.0.1:9/bye"}})
	ctx := t.Context()
	b := newBrowser(t, rp.redirect)
	grant := func(t *testing.T) *oauth2.Token {
		t.Helper()
		verifier, challenge := pkce()
		q := authorize(t, n, b, rp, "st", "nn", challenge)
		tok, err := rp.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		return tok
	}
	post := func(t *testing.T, path string, form url.Values, secret bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if secret {
			req.SetBasicAuth(url.QueryEscape(rp.cfg.ClientID), url.QueryEscape(rp.cfg.ClientSecret))
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body(t, res)
	}
	works := func(tok *oauth2.Token) bool {
		_, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		return err == nil
	}

	t.Run("introspection", func(t *testing.T) {
		tok := grant(t)
		st, got := post(t, "/oauth/introspect", url.Values{"token": {tok.AccessToken}}, true)
		if st != 200 || !strings.Contains(got, `"active":true`) || !strings.Contains(got, acct.ID) {
			t.Errorf("introspection: %d %s", st, got)
		}
		st, got = post(t, "/oauth/introspect", url.Values{"token": {"made-up"}}, true)
		if st != 200 || !strings.Contains(got, `"active":false`) {
			t.Errorf("introspection of a made-up token: %d %s", st, got)
		}
		st, _ = post(t, "/oauth/introspect", url.Values{"token": {tok.AccessToken}}, false)
		if st != http.StatusUnauthorized && st != http.StatusBadRequest {
			t.Errorf("introspection without client credentials: %d", st)
		}
	})
	t.Run("revoke access token", func(t *testing.T) {
		tok := grant(t)
		if st, got := post(t, "/oauth/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, true); st != 200 {
			t.Fatalf("revoke: %d %s", st, got)
		}
		if works(tok) {
			t.Error("a revoked access token still works")
		}
		if _, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Errorf("the grant's refresh token stopped working with the access token: %v", err)
		}
	})
	t.Run("revoke refresh token ends the grant", func(t *testing.T) {
		tok := grant(t)
		if st, got := post(t, "/oauth/revoke", url.Values{"token": {tok.RefreshToken}}, true); st != 200 {
			t.Fatalf("revoke: %d %s", st, got)
		}
		if works(tok) {
			t.Error("the grant's access token still works")
		}
		if _, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Error("a revoked refresh token still works")
		}
		if st, _ := post(t, "/oauth/revoke", url.Values{"token": {"kwr_unknown"}}, true); st != 200 {
			t.Errorf("revoking an unknown token: %d, want 200 (RFC 7009 §2.2)", st)
		}
	})
	t.Run("ending the session ends its grants", func(t *testing.T) {
		tok := grant(t)
		sessions, err := n.env.Svc.Sessions(ctx, acct.ID)
		if err != nil || len(sessions) == 0 {
			t.Fatalf("sessions: %v %d", err, len(sessions))
		}
		for _, s := range sessions {
			if err := n.env.Svc.SignOut(ctx, &s, keyward.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		if works(tok) {
			t.Error("the access token works after its session ended")
		}
		if _, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Error("the refresh token works after its session ended")
		}
	})
	t.Run("end_session", func(t *testing.T) {
		tok := grant(t)
		idToken, _ := tok.Extra("id_token").(string)
		// A post_logout_redirect_uri that is not registered: never followed.
		evil := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}, "client_id": {c.ID}}
		res := rawGet(t, b, n.issuer+"/oauth/end_session?"+evil.Encode())
		if loc := res.Header.Get("Location"); strings.Contains(loc, "evil.example") || res.StatusCode >= 500 {
			t.Errorf("end_session with an unregistered URI: %d, Location %q", res.StatusCode, loc)
		}
		if !works(tok) {
			t.Error("a refused end_session signed out")
		}
		good := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"bye-1"}}
		res = rawGet(t, b, n.issuer+"/oauth/end_session?"+good.Encode())
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || loc != "http://127.0.0.1:9/bye?state=bye-1" {
			t.Errorf("end_session: %d, Location %q", res.StatusCode, loc)
		}
		if works(tok) {
			t.Error("the access token works after end_session")
		}
		if res := rawGet(t, b, n.issuer+"/settings/security"); res.StatusCode != http.StatusSeeOther {
			t.Errorf("the browser is still signed in after end_session: %d", res.StatusCode)
		}
	})
}

// TestSigningKeyRotation: an ID token signed before a rotation still
// verifies after it; new ones are signed with the new key.
func TestSigningKeyRotation(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	ctx := t.Context()
	b := newBrowser(t, rp.redirect)
	idToken := func() string {
		verifier, challenge := pkce()
		q := authorize(t, n, b, rp, "st", "nn", challenge)
		tok, err := rp.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		return raw
	}
	old := idToken()
	if _, err := n.env.Svc.RotateOIDCSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	// A relying party that fetches the keys after the rotation.
	p, err := gooidc.NewProvider(ctx, n.issuer)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&gooidc.Config{ClientID: c.ID})
	if _, err := v.Verify(ctx, old); err != nil {
		t.Errorf("a token signed before the rotation: %v", err)
	}
	fresh := idToken()
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Errorf("a token signed after the rotation: %v", err)
	}
	if kid(old) == kid(fresh) {
		t.Errorf("both tokens were signed by key %s", kid(old))
	}
}

// kid reads the key id from a JWT's header.
func kid(jwt string) string {
	h, _, _ := strings.Cut(jwt, ".")
	b, _ := base64Decode(h)
	return between(string(b), `"kid":"`, `"`)
}
