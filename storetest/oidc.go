package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newOIDCClient returns a confidential client with a fresh id.
func newOIDCClient(name string) *keyward.OIDCClient {
	return &keyward.OIDCClient{
		ID: newID("cl_"), Name: name, SecretHash: randBytes(32),
		RedirectURIs:           []string{"https://app.example/callback", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/"},
		CreatedAt:              at(0),
	}
}

// newOIDCGrant makes an authorized request of client c for the session, and
// its grant, as the service does when a code is redeemed.
func newOIDCGrant(t testing.TB, s keyward.Store, c *keyward.OIDCClient, sess *keyward.Session) *keyward.OIDCGrant {
	t.Helper()
	g := &keyward.OIDCGrant{
		ID: newID("ar_"), AccountID: sess.AccountID, SessionID: sess.ID, ClientID: c.ID,
		Scopes: []string{"openid", "email"}, AuthTime: at(time.Second), AMR: keyward.AMRPassword | keyward.AMROTP, AAL: 2,
		CreatedAt: at(2 * time.Second),
	}
	must(t, s.CreateOIDCGrant(t.Context(), g), "CreateOIDCGrant")
	return g
}

func testOIDC(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("clients", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		c1 := newOIDCClient("PayDesk")
		c2 := newOIDCClient("Mobile")
		c2.SecretHash, c2.PostLogoutRedirectURIs, c2.FirstParty, c2.CreatedAt = nil, nil, true, at(time.Second)
		must(t, s.CreateOIDCClient(ctx, c1), "CreateOIDCClient 1")
		must(t, s.CreateOIDCClient(ctx, c2), "CreateOIDCClient 2")
		wantCode(t, "same id again", s.CreateOIDCClient(ctx, c1), keyward.CodeConflict)

		got, err := s.OIDCClient(ctx, c1.ID)
		must(t, err, "OIDCClient")
		check(t, "client read back", got, c1)
		got, err = s.OIDCClient(ctx, c2.ID)
		must(t, err, "OIDCClient public")
		check(t, "public client is public", got.Public(), true)
		check(t, "public client's lists", len(got.PostLogoutRedirectURIs), 0)
		_, err = s.OIDCClient(ctx, newID("cl_"))
		wantCode(t, "unknown client", err, keyward.CodeNotFound)

		all, err := s.ListOIDCClients(ctx)
		must(t, err, "ListOIDCClients")
		check(t, "clients, oldest first", len(all), 2)
		if len(all) == 2 {
			check(t, "first client", all[0].ID, c1.ID)
		}
		ok, err := s.DeleteOIDCClient(ctx, c1.ID)
		must(t, err, "DeleteOIDCClient")
		check(t, "deleted", ok, true)
		ok, err = s.DeleteOIDCClient(ctx, c1.ID)
		must(t, err, "DeleteOIDCClient again")
		check(t, "deleted twice", ok, false)
	})

	t.Run("authorization requests and codes", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		must(t, s.CreateSession(ctx, sess), "CreateSession")
		c := newOIDCClient("PayDesk")
		must(t, s.CreateOIDCClient(ctx, c), "CreateOIDCClient")
		maxAge := int64(300)
		r := &keyward.OIDCAuthRequest{
			ID: newID("ar_"), ClientID: c.ID, CreatedAt: at(0), ExpiresAt: at(30 * time.Minute),
			Params: keyward.OIDCRequestParams{
				RedirectURI: c.RedirectURIs[0], Scopes: []string{"openid", "profile"}, State: "st\x00ate «x»",
				Nonce: "n-1", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", MaxAge: &maxAge,
				Prompt: []string{"login"}, ACRValues: []string{"aal2"}, LoginHint: "a@example.com",
			},
		}
		must(t, s.CreateOIDCAuthRequest(ctx, r), "CreateOIDCAuthRequest")
		orphan := *r
		orphan.ID, orphan.ClientID = newID("ar_"), newID("cl_")
		wantCode(t, "request of an unknown client", s.CreateOIDCAuthRequest(ctx, &orphan), keyward.CodeNotFound)

		got, err := s.OIDCAuthRequest(ctx, r.ID)
		must(t, err, "OIDCAuthRequest")
		check(t, "request read back", got, r)

		code := randBytes(32)
		ok, err := s.SetOIDCCode(ctx, r.ID, code, at(time.Minute))
		must(t, err, "SetOIDCCode before sign-in")
		check(t, "no code before the request is authorized", ok, false)

		r.AccountID, r.SessionID, r.AuthTime, r.AMR, r.AAL = a.ID, sess.ID, at(time.Second), keyward.AMRPassword|keyward.AMROTP, 2
		ok, err = s.AuthorizeOIDCRequest(ctx, r)
		must(t, err, "AuthorizeOIDCRequest")
		check(t, "authorized", ok, true)
		ok, err = s.SetOIDCCode(ctx, r.ID, code, at(time.Minute))
		must(t, err, "SetOIDCCode")
		check(t, "code set", ok, true)
		ok, err = s.SetOIDCCode(ctx, r.ID, randBytes(32), at(time.Minute))
		must(t, err, "SetOIDCCode again")
		check(t, "a second code", ok, false)
		ok, err = s.AuthorizeOIDCRequest(ctx, r)
		must(t, err, "AuthorizeOIDCRequest after the code")
		check(t, "authorized after the code", ok, false)

		// Of concurrent redemptions exactly one is first.
		res, errs := race(8, func(int) (bool, error) {
			_, first, err := s.UseOIDCCode(ctx, code, at(2*time.Minute))
			return first, err
		})
		check(t, "first redemptions", countTrue(t, "UseOIDCCode", res, errs), 1)
		got, first, err := s.UseOIDCCode(ctx, code, at(3*time.Minute))
		must(t, err, "UseOIDCCode again")
		check(t, "used again is not first", first, false)
		used := at(2 * time.Minute)
		issued := at(time.Minute)
		r.CodeHash, r.CodeIssuedAt, r.CodeUsedAt = code, &issued, &used
		check(t, "request by its code", got, r)
		_, _, err = s.UseOIDCCode(ctx, randBytes(32), at(0))
		wantCode(t, "unknown code", err, keyward.CodeNotFound)

		n, err := s.DeleteExpiredOIDC(ctx, at(30*time.Minute-time.Microsecond))
		must(t, err, "DeleteExpiredOIDC early")
		check(t, "nothing expired yet", n, 0)
		n, err = s.DeleteExpiredOIDC(ctx, at(30*time.Minute))
		must(t, err, "DeleteExpiredOIDC")
		check(t, "expired requests", n, 1)
		_, err = s.OIDCAuthRequest(ctx, r.ID)
		wantCode(t, "expired request", err, keyward.CodeNotFound)
	})

	t.Run("consents", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		c := newOIDCClient("PayDesk")
		must(t, s.CreateOIDCClient(ctx, c), "CreateOIDCClient")
		got, err := s.OIDCConsent(ctx, a.ID, c.ID)
		must(t, err, "OIDCConsent none")
		check(t, "no consent", len(got), 0)
		must(t, s.PutOIDCConsent(ctx, a.ID, c.ID, []string{"openid"}, at(0)), "PutOIDCConsent")
		must(t, s.PutOIDCConsent(ctx, a.ID, c.ID, []string{"openid", "email"}, at(1)), "PutOIDCConsent again")
		got, err = s.OIDCConsent(ctx, a.ID, c.ID)
		must(t, err, "OIDCConsent")
		check(t, "consent replaced", got, []string{"openid", "email"})
	})

	t.Run("grants and tokens end with their session", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		s1 := newSession(a.ID, at(0), at(0), at(time.Hour))
		s2 := newSession(a.ID, at(0), at(0), at(time.Hour))
		createSessions(t, s, s1, s2)
		c := newOIDCClient("PayDesk")
		must(t, s.CreateOIDCClient(ctx, c), "CreateOIDCClient")
		g1 := newOIDCGrant(t, s, c, s1)
		g2 := newOIDCGrant(t, s, c, s2)

		got, err := s.OIDCGrant(ctx, g1.ID)
		must(t, err, "OIDCGrant")
		check(t, "grant read back", got, g1)
		gone := *g1
		gone.ID, gone.SessionID = newID("ar_"), newID(sessionPrefix)
		wantCode(t, "grant of a session that is gone", s.CreateOIDCGrant(ctx, &gone), keyward.CodeNotFound)

		refresh := &keyward.OIDCToken{Hash: randBytes(32), GrantID: g1.ID, Refresh: true, CreatedAt: at(0), ExpiresAt: at(time.Hour)}
		access := &keyward.OIDCToken{Hash: randBytes(32), GrantID: g1.ID, CreatedAt: at(0), ExpiresAt: at(time.Minute)}
		must(t, s.CreateOIDCToken(ctx, refresh), "CreateOIDCToken refresh")
		must(t, s.CreateOIDCToken(ctx, access), "CreateOIDCToken access")
		other := &keyward.OIDCToken{Hash: randBytes(32), GrantID: newID("ar_"), CreatedAt: at(0), ExpiresAt: at(time.Minute)}
		wantCode(t, "token of no grant", s.CreateOIDCToken(ctx, other), keyward.CodeNotFound)
		tok, err := s.OIDCToken(ctx, access.Hash)
		must(t, err, "OIDCToken")
		check(t, "token read back", tok, access)

		ok, err := s.UseOIDCRefreshToken(ctx, access.Hash, at(1))
		must(t, err, "UseOIDCRefreshToken on an access token")
		check(t, "an access token is no refresh token", ok, false)
		res, errs := race(8, func(int) (bool, error) { return s.UseOIDCRefreshToken(ctx, refresh.Hash, at(2)) })
		check(t, "refresh token uses", countTrue(t, "UseOIDCRefreshToken", res, errs), 1)
		tok, err = s.OIDCToken(ctx, refresh.Hash)
		must(t, err, "OIDCToken used")
		used := at(2)
		refresh.UsedAt = &used
		check(t, "used refresh token", tok, refresh)

		grants, err := s.ListOIDCGrants(ctx, a.ID)
		must(t, err, "ListOIDCGrants")
		check(t, "grants", len(grants), 2)

		// Ending the session ends its grant and the grant's tokens.
		ok, err = s.DeleteSession(ctx, a.ID, s1.ID)
		must(t, err, "DeleteSession")
		check(t, "session ended", ok, true)
		_, err = s.OIDCGrant(ctx, g1.ID)
		wantCode(t, "grant of the ended session", err, keyward.CodeNotFound)
		_, err = s.OIDCToken(ctx, refresh.Hash)
		wantCode(t, "token of the ended session", err, keyward.CodeNotFound)
		_, err = s.OIDCGrant(ctx, g2.ID)
		must(t, err, "the other session's grant stays")

		ok, err = s.DeleteOIDCGrant(ctx, g2.ID)
		must(t, err, "DeleteOIDCGrant")
		check(t, "grant deleted", ok, true)
		ok, err = s.DeleteOIDCGrant(ctx, g2.ID)
		must(t, err, "DeleteOIDCGrant again")
		check(t, "grant deleted twice", ok, false)
	})

	t.Run("signing keys", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		k1 := &keyward.OIDCSigningKey{ID: "sk1", Algorithm: "ES256", Sealed: "k1:abc", Public: randBytes(91), CreatedAt: at(0)}
		k2 := &keyward.OIDCSigningKey{ID: "sk2", Algorithm: "ES256", Sealed: "k1:def", Public: randBytes(91), CreatedAt: at(time.Hour)}
		must(t, s.CreateOIDCSigningKey(ctx, k1), "CreateOIDCSigningKey 1")
		must(t, s.CreateOIDCSigningKey(ctx, k2), "CreateOIDCSigningKey 2")
		n, err := s.RetireOIDCSigningKeys(ctx, k2.ID, at(2*time.Hour))
		must(t, err, "RetireOIDCSigningKeys")
		check(t, "retired", n, 1)
		n, err = s.RetireOIDCSigningKeys(ctx, k2.ID, at(3*time.Hour))
		must(t, err, "RetireOIDCSigningKeys again")
		check(t, "retired again", n, 0)
		keys, err := s.OIDCSigningKeys(ctx)
		must(t, err, "OIDCSigningKeys")
		retired := at(2 * time.Hour)
		k1.RetiredAt = &retired
		check(t, "keys, newest first", keys, []keyward.OIDCSigningKey{*k2, *k1})
		n, err = s.DeleteOIDCSigningKeys(ctx, at(2*time.Hour))
		must(t, err, "DeleteOIDCSigningKeys at the retirement")
		check(t, "deleted at the retirement", n, 0)
		n, err = s.DeleteOIDCSigningKeys(ctx, at(2*time.Hour+time.Microsecond))
		must(t, err, "DeleteOIDCSigningKeys")
		check(t, "deleted", n, 1)
	})

	t.Run("client deleted with its grants", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		sess := newSession(a.ID, at(0), at(0), at(time.Hour))
		createSessions(t, s, sess)
		c := newOIDCClient("PayDesk")
		must(t, s.CreateOIDCClient(ctx, c), "CreateOIDCClient")
		g := newOIDCGrant(t, s, c, sess)
		_, err := s.DeleteOIDCClient(ctx, c.ID)
		must(t, err, "DeleteOIDCClient")
		_, err = s.OIDCGrant(ctx, g.ID)
		wantCode(t, "grant of a deleted client", err, keyward.CodeNotFound)
		_, err = s.SessionByID(ctx, a.ID, sess.ID)
		must(t, err, "the session stays")
	})
}
