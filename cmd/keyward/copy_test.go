package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres/pgtest"
)

// TestCopyCarriesOIDCClients: a client registered on SQLite, and the token
// signing keys (one retired by a rotation), are there after `keyward copy`
// to PostgreSQL: the client is listed and its secret still authenticates
// it, the provider signs with the same key, and the retired key is still
// published so ID tokens signed before the move keep verifying.
func TestCopyCarriesOIDCClients(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	dir := t.TempDir()

	code, out := runCmd(t, dir, "", "client", "create", "--name", "PayDesk",
		"--redirect-uri", "https://pay.example/callback", "--post-logout-redirect-uri", "https://pay.example/")
	if code != 0 || !strings.Contains(out, "client_secret: kwc_") {
		t.Fatalf("client create = %d %q", code, out)
	}
	id := strings.Fields(strings.SplitN(out, "\n", 2)[0])[1]
	secret := strings.Fields(strings.SplitN(out, "\n", 3)[1])[1]
	for range 2 {
		if code, out := runCmd(t, dir, "", "keys", "rotate"); code != 0 {
			t.Fatalf("keys rotate = %d %q", code, out)
		}
	}
	keyText, err := os.ReadFile(filepath.Join(dir, "secret.keys"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		signer    *keyward.OIDCSigner
		published []string
	)
	func() {
		src := testApp(t, dir, "", "")
		liveOIDC(t, src, id)
		if signer, err = src.Service.OIDCSigningKey(ctx); err != nil {
			t.Fatal(err)
		}
		keys, err := src.Service.OIDCPublicKeys(ctx)
		if err != nil || len(keys) < 2 {
			t.Fatalf("published keys on SQLite: %d, %v", len(keys), err)
		}
		for _, k := range keys {
			published = append(published, k.ID)
		}
	}()

	// No TOTP seed here: the signing keys alone make a wrong key refused.
	code, out = runWithKey(t, newSecretKey(t), "copy", "--from", dir, "--to", pgtest.NewDatabase(t))
	if code != 1 || !strings.Contains(out, "signing key does not open") || !strings.Contains(out, "nothing was copied") {
		t.Fatalf("copy with the wrong key = %d %q", code, out)
	}

	code, out = runWithKey(t, "", "copy", "--from", dir, "--to", dbURL)
	t.Logf("keyward copy said:\n%s", out)
	if code != 0 {
		t.Fatalf("copy = %d", code)
	}
	for _, want := range []string{"OIDC clients           1", "OIDC signing keys      2", "OIDC consents          1", "OIDC auth requests     2",
		"OIDC grants            1", "OIDC tokens            2", "OIDC signing keys (2)"} {
		if !strings.Contains(out, want) {
			t.Errorf("copy output lacks %q", want)
		}
	}

	code, out = runWithKey(t, string(keyText), "client", "list", "--database-url", dbURL, "--data-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "PayDesk") || strings.Contains(out, secret) {
		t.Fatalf("client list on PostgreSQL = %d %q", code, out)
	}
	pg := testApp(t, t.TempDir(), dbURL, string(keyText))
	if c, err := pg.Service.AuthenticateOIDCClient(ctx, id, secret); err != nil || c.ID != id ||
		!slices.Equal(c.RedirectURIs, []string{"https://pay.example/callback"}) {
		t.Fatalf("the client's secret on PostgreSQL: %v %+v", err, c)
	}
	if _, err := pg.Service.AuthenticateOIDCClient(ctx, id, "kwc_"+strings.Repeat("A", 43)); err == nil {
		t.Fatal("a wrong secret authenticates the copied client")
	}
	got, err := pg.Service.OIDCSigningKey(ctx)
	if err != nil || got.ID != signer.ID || !got.Key.Equal(signer.Key) {
		t.Fatalf("signing key on PostgreSQL: %v, want the one SQLite signed with (%s)", err, signer.ID)
	}
	// Field by field, in both directions.
	sameSnapshots(t, "PostgreSQL after copy", snapshot(t, testApp(t, dir, "", "").Store), snapshot(t, pg.Store))
	back := t.TempDir()
	if code, out := runWithKey(t, string(keyText), "copy", "--from", dbURL, "--to", back); code != 0 {
		t.Fatalf("copy back to SQLite = %d %q", code, out)
	}
	sameSnapshots(t, "SQLite after copy back", snapshot(t, pg.Store), snapshot(t, testApp(t, back, "", string(keyText)).Store))
	grants, err := pg.Service.OIDCGrants(ctx, grantAccount(t, pg))
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants on PostgreSQL: %d, %v", len(grants), err)
	}

	keys, err := pg.Service.OIDCPublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, published) {
		t.Fatalf("published keys on PostgreSQL %v, want %v", ids, published)
	}
}

// liveOIDC gives ada a session, a consent to the client, a redeemed
// authorization request and one under way, and a grant with an access and
// a refresh token: the records tied to sessions that a copy carries too.
func liveOIDC(t *testing.T, a *app, clientID string) {
	t.Helper()
	ctx := context.Background()
	client := keyward.Client{IP: "192.0.2.10", UserAgent: "copy-test"}
	res, err := a.Service.SignUpAndSignIn(ctx, "ada@example.com", testPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	s, sess, now := a.Store, res.Session, time.Now().UTC().Truncate(time.Microsecond)
	scopes := []string{"openid", "email"}
	if err := s.PutOIDCConsent(ctx, sess.AccountID, clientID, scopes, now); err != nil {
		t.Fatal(err)
	}
	params := keyward.OIDCRequestParams{RedirectURI: "https://pay.example/callback", Scopes: scopes, State: "s", Nonce: "n", CodeChallenge: "c"}
	for _, id := range []string{"ar_waiting", "ar_done"} {
		r := &keyward.OIDCAuthRequest{ID: id, ClientID: clientID, Params: params, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
		if err := s.CreateOIDCAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r := &keyward.OIDCAuthRequest{ID: "ar_done", AccountID: sess.AccountID, SessionID: sess.ID, AuthTime: now, AMR: sess.AMR, AAL: sess.AAL}
	if ok, err := s.AuthorizeOIDCRequest(ctx, r); err != nil || !ok {
		t.Fatalf("authorize: %v %v", ok, err)
	}
	if ok, err := s.SetOIDCCode(ctx, "ar_done", []byte("code hash"), now); err != nil || !ok {
		t.Fatalf("code: %v %v", ok, err)
	}
	g := &keyward.OIDCGrant{ID: "ar_done", AccountID: sess.AccountID, SessionID: sess.ID, ClientID: clientID, Scopes: scopes,
		AuthTime: now, AMR: sess.AMR, AAL: sess.AAL, CreatedAt: now}
	if err := s.CreateOIDCGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	for i, refresh := range []bool{false, true} {
		tok := &keyward.OIDCToken{Hash: []byte{byte(i), 1, 2, 3}, GrantID: g.ID, Refresh: refresh, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateOIDCToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
}

func grantAccount(t *testing.T, a *app) string {
	t.Helper()
	acct, err := a.Store.AccountByEmail(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return acct.ID
}
