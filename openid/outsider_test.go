package openid_test

// Attacks on the provider as an outsider and a malicious client would make
// them, each a case that failed before its fix.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestOutsiderFreshSignInEnds: prompt=login and max_age=0 ask for a sign-in
// made for this request. Once the person has signed in again, the request
// must go on to the application, not send the browser back to the sign-in
// page forever (which left both parameters unusable).
func TestOutsiderFreshSignInEnds(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
	b := newBrowser(t, rp.redirect)
	_, challenge := pkce()
	if q := authorize(t, n, b, rp, "s0", "n0", challenge); q.Get("code") == "" {
		t.Fatalf("first sign-in: %v", q)
	}
	for _, tc := range []struct {
		name string
		opt  oauth2.AuthCodeOption
	}{
		{"prompt=login", oauth2.SetAuthURLParam("prompt", "login")},
		{"max_age=0", oauth2.SetAuthURLParam("max_age", "0")},
		{"max_age=1", oauth2.SetAuthURLParam("max_age", "1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, challenge := pkce()
			if q := authorize(t, n, b, rp, "s1", "n1", challenge, tc.opt); q.Get("code") == "" {
				t.Errorf("no code after a fresh sign-in: %v", q)
			}
		})
	}
}

// slowCodeStore widens the window between a code's use and the grant it
// starts, as a busy database or a slow node would.
type slowCodeStore struct {
	keyward.Store
	delay time.Duration
}

func (s slowCodeStore) UseOIDCCode(ctx context.Context, h []byte, at time.Time) (*keyward.OIDCAuthRequest, bool, error) {
	r, first, err := s.Store.UseOIDCCode(ctx, h, at)
	if first {
		time.Sleep(s.delay)
	}
	return r, first, err
}

// TestOutsiderParallelCodeReuse: a stolen code replayed while its client
// redeems it (RFC 6749 §4.1.2, RFC 9700 §4.5): whichever request wins, the
// reuse must end the grant, so no token of that code outlives it.
func TestOutsiderParallelCodeReuse(t *testing.T) {
	n := startNode(t, keywardtest.Options{Store: slowCodeStore{Store: keywardtest.NewStore(t), delay: 300 * time.Millisecond}})
	acct := signUp(t, n)
	rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
	ctx := t.Context()
	b := newBrowser(t, rp.redirect)
	verifier, challenge := pkce()
	code := authorize(t, n, b, rp, "st", "nn", challenge).Get("code")

	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, 2)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			toks[i], _ = rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		}()
	}
	wg.Wait()
	grants, err := n.env.Svc.OIDCGrants(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 0 {
		t.Errorf("a code redeemed twice left %d grant(s) standing", len(grants))
	}
	for i, tok := range toks {
		if tok == nil {
			continue
		}
		if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Errorf("exchange %d: its access token still answers at userinfo after the code's reuse", i)
		}
	}
}

// TestOutsiderExpiredRequestsGo: anyone who knows a client id makes a row
// per /oauth/authorize; expired requests and tokens must be deleted by the
// housekeeping, or a flood fills the disk.
func TestOutsiderExpiredRequestsGo(t *testing.T) {
	clock := keywardtest.NewClock(time.Now())
	n := startNode(t, keywardtest.Options{Clock: clock})
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	b := newBrowser(t, rp.redirect)
	var ids []string
	for range 3 {
		res := rawGet(t, b, authorizeURL(n, goodParams(c)))
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || loc.Query().Get("id") == "" {
			t.Fatalf("authorize: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		ids = append(ids, loc.Query().Get("id"))
	}
	clock.Advance(keyward.OIDCRequestTTL + time.Minute)
	if err := n.env.Svc.CleanUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := n.env.Store.OIDCAuthRequest(t.Context(), id); !keyward.IsCode(err, keyward.CodeNotFound) {
			t.Errorf("request %s expired %v ago and is still stored (err %v)", id[:8], time.Minute, err)
		}
	}
}

// tamperedKeysStore answers the signing keys as a database edited by an
// attacker would: the public half of every key replaced by the attacker's.
type tamperedKeysStore struct {
	keyward.Store
	public *atomic.Pointer[[]byte]
}

func (s tamperedKeysStore) OIDCSigningKeys(ctx context.Context) ([]keyward.OIDCSigningKey, error) {
	keys, err := s.Store.OIDCSigningKeys(ctx)
	if p := s.public.Load(); p != nil {
		for i := range keys {
			keys[i].Public = *p
		}
	}
	return keys, err
}

// TestOutsiderSwappedPublicKey: the private signing key is sealed with a
// key outside the database, but the public key sits in the clear beside
// it. Someone who can write the database (and not read the key file)
// must not be able to publish a key of their own in JWKS and so sign ID
// tokens every relying party believes.
func TestOutsiderSwappedPublicKey(t *testing.T) {
	var public atomic.Pointer[[]byte]
	n := startNode(t, keywardtest.Options{Store: tamperedKeysStore{Store: keywardtest.NewStore(t), public: &public}})
	acct := signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
	ctx := t.Context()
	signer, err := n.env.Svc.OIDCSigningKey(ctx) // the current key, made now
	if err != nil {
		t.Fatal(err)
	}

	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&attacker.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	public.Store(&der)

	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: attacker},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", signer.ID))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": n.issuer, "sub": acct.ID, "aud": c.ID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": testEmail, "acr": "aal2", "amr": []string{"pwd", "otp"},
	})
	jws, err := sig.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.verifier.Verify(ctx, forged); err == nil {
		t.Error("a relying party accepts an ID token signed with a key written into the database")
	}
	res, err := http.Get(n.issuer + "/oauth/keys")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, res); res.StatusCode != http.StatusOK || !strings.Contains(page, signer.ID) {
		t.Errorf("JWKS no longer publishes the real key: %d %s", res.StatusCode, page)
	}
}

// movedGrantStore answers grants as a database edited to give them to
// another account would.
type movedGrantStore struct {
	keyward.Store
	to *atomic.Pointer[string]
}

func (s movedGrantStore) OIDCGrant(ctx context.Context, id string) (*keyward.OIDCGrant, error) {
	g, err := s.Store.OIDCGrant(ctx, id)
	if p := s.to.Load(); err == nil && p != nil {
		g.AccountID = *p
	}
	return g, err
}

// TestOutsiderGrantOutlivesSession: a grant is its session's. Once the
// session has ended by its idle timeout or its absolute lifetime, the
// client gets no new tokens, even before the housekeeping deletes the
// session's row; and a grant edited in the database to name another
// account speaks for nobody.
func TestOutsiderGrantOutlivesSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		advance time.Duration
	}{
		{"idle timeout", 31 * time.Minute},
		{"absolute lifetime", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := keywardtest.NewClock(time.Now())
			n := startNode(t, keywardtest.Options{Clock: clock})
			signUp(t, n)
			rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
			ctx := t.Context()
			b := newBrowser(t, rp.redirect)
			verifier, challenge := pkce()
			code := authorize(t, n, b, rp, "st", "nn", challenge).Get("code")
			tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if tc.advance == 0 {
				// Keep the session in use (seen every 20 minutes) past its
				// absolute lifetime.
				for range int(n.env.Svc.Config().SessionLifetime/(20*time.Minute)) + 1 {
					clock.Advance(20 * time.Minute)
					b.get(n.issuer + "/")
				}
			} else {
				clock.Advance(tc.advance)
			}
			_, err = rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if got := oauthErrorCode(err); got != "invalid_grant" {
				t.Errorf("refresh after the session ended: got %q, want invalid_grant", got)
			}
		})
	}
	t.Run("grant moved to another account", func(t *testing.T) {
		var to atomic.Pointer[string]
		n := startNode(t, keywardtest.Options{Store: movedGrantStore{Store: keywardtest.NewStore(t), to: &to}})
		signUp(t, n)
		other, err := n.env.Svc.SignUp(t.Context(), "bob@example.com", "violet stapler orbit 9931 xq", keyward.Client{IP: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
		ctx := t.Context()
		b := newBrowser(t, rp.redirect)
		verifier, challenge := pkce()
		code := authorize(t, n, b, rp, "st", "nn", challenge).Get("code")
		tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		to.Store(&other.ID)
		if info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Errorf("userinfo answers for %s through a grant moved to that account", info.Email)
		}
		_, err = rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if got := oauthErrorCode(err); got != "invalid_grant" {
			t.Errorf("refresh of a moved grant: got %q, want invalid_grant", got)
		}
	})
}

// TestOutsiderLogoutNeedsThisSessionsHint: RP-initiated logout ends the
// browser's session only for an id_token_hint issued for that very session
// (OpenID Connect RP-Initiated Logout 1.0 §2: without one the OP must ask
// the person). Otherwise any page could sign the person out by sending the
// browser to end_session (logout CSRF), and any application holding an old
// ID token of theirs could, too.
func TestOutsiderLogoutNeedsThisSessionsHint(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{FirstParty: true})
	ctx := t.Context()
	idToken := func(b *browser) string {
		t.Helper()
		verifier, challenge := pkce()
		code := authorize(t, n, b, rp, "st", "nn", challenge).Get("code")
		tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		return raw
	}
	signedIn := func(b *browser) bool {
		t.Helper()
		res := rawGet(t, b, n.issuer+"/settings/security/sessions")
		return res.StatusCode == http.StatusOK
	}
	victim := newBrowser(t, rp.redirect)
	idToken(victim)
	if !signedIn(victim) {
		t.Fatal("the browser is not signed in")
	}
	// Another session of the same person (another device) lends its ID token.
	other := idToken(newBrowser(t, rp.redirect))

	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"no id_token_hint", url.Values{}},
		{"client_id alone", url.Values{"client_id": {c.ID}}},
		{"another session's id_token_hint", url.Values{"id_token_hint": {other}}},
	} {
		rawGet(t, victim, n.issuer+"/oauth/end_session?"+tc.q.Encode())
		if !signedIn(victim) {
			t.Fatalf("%s: end_session signed the browser out", tc.name)
		}
	}
	// Its own session's hint still signs out.
	mine := idToken(victim)
	rawGet(t, victim, n.issuer+"/oauth/end_session?"+url.Values{"id_token_hint": {mine}}.Encode())
	if signedIn(victim) {
		t.Error("end_session with this session's id_token_hint left the browser signed in")
	}
}

// TestOutsiderHeld: attacks that keyward already withstood, kept as tests
// so that they stay withstood.
func TestOutsiderHeld(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, c := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	pub, pc := newRelyingParty(t, n, keyward.OIDCClientSpec{Name: "Pub", Public: true, FirstParty: true, RedirectURIs: []string{"http://127.0.0.1:9/pub"}})
	ctx := t.Context()
	tokens := func(t *testing.T, rp *relyingParty) *oauth2.Token {
		t.Helper()
		verifier, challenge := pkce()
		code := authorize(t, n, newBrowser(t, rp.redirect), rp, "st", "nn", challenge).Get("code")
		tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("scope escalation at refresh", func(t *testing.T) {
		tok := tokens(t, rp)
		res, err := http.PostForm(rp.cfg.Endpoint.TokenURL, url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid email profile offline_access"},
			"client_id": {rp.cfg.ClientID}, "client_secret": {rp.cfg.ClientSecret},
		})
		if err != nil {
			t.Fatal(err)
		}
		if page := body(t, res); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, "invalid_scope") {
			t.Errorf("a refresh asking for a scope never granted: %d %s", res.StatusCode, page)
		}
	})
	t.Run("a public client at introspection", func(t *testing.T) {
		tok := tokens(t, pub)
		res, err := http.PostForm(n.issuer+"/oauth/introspect", url.Values{"client_id": {pc.ID}, "token": {tok.AccessToken}})
		if err != nil {
			t.Fatal(err)
		}
		if page := body(t, res); res.StatusCode != http.StatusUnauthorized || strings.Contains(page, `"active":true`) {
			t.Errorf("introspection without a secret: %d %s", res.StatusCode, page)
		}
	})
	t.Run("a public client's refresh token at a confidential client", func(t *testing.T) {
		tok := tokens(t, pub)
		_, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if got := oauthErrorCode(err); got != "invalid_grant" && got != "invalid_client" {
			t.Errorf("another client's refresh token: got %q", got)
		}
	})
	t.Run("tokens of a deleted client", func(t *testing.T) {
		tok := tokens(t, rp)
		if err := n.env.Svc.DeleteOIDCClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo answers a deleted client's access token")
		}
		_, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if got := oauthErrorCode(err); got != "invalid_client" && got != "invalid_grant" {
			t.Errorf("a deleted client's refresh: got %q", got)
		}
	})
}

// TestOutsiderPromptConsentAsks: prompt=consent asks a third-party
// client's person again, even after an earlier consent (OpenID Connect
// Core §3.1.2.1); a first-party client has no consent page to show.
func TestOutsiderPromptConsentAsks(t *testing.T) {
	n := startNode(t, keywardtest.Options{})
	signUp(t, n)
	rp, _ := newRelyingParty(t, n, keyward.OIDCClientSpec{})
	b := newBrowser(t, rp.redirect)
	_, challenge := pkce()
	if q := authorize(t, n, b, rp, "s0", "n0", challenge); q.Get("code") == "" {
		t.Fatalf("first sign-in: %v", q)
	}
	_, challenge = pkce()
	res := b.get(rp.cfg.AuthCodeURL("s1", oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256")))
	if page := body(t, res); !strings.Contains(page, `action="/authorize/consent"`) {
		t.Errorf("prompt=consent after an earlier consent: no consent page (%d, Refresh %q)", res.StatusCode, res.Header.Get("Refresh"))
	}
}
