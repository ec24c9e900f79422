package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// testSnapshot is the round trip `keyward copy` relies on: a store holding
// one of every kind of row is exported, imported into a fresh store, and
// exported again; the two snapshots must be equal record for record. A
// column that Export or Import forgets (say a new one a migration added)
// comes back zero and fails the comparison. Stores that are not
// Snapshotters skip it.
func testSnapshot(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	src := newStore(t)
	from, ok := src.(keyward.Snapshotter)
	if !ok {
		t.Skip("the store does not implement keyward.Snapshotter")
	}
	ctx := t.Context()
	fillEveryKind(t, src)
	first := exportAll(t, from)

	kinds := map[string]bool{}
	for _, r := range first {
		kind, _ := r.Kind()
		kinds[kind] = true
	}
	for _, kind := range keyward.RecordKinds() {
		if !kinds[kind] {
			t.Errorf("the filled store exported no %s: the round trip would not cover them", kind)
		}
	}

	dst := newStore(t)
	to := dst.(keyward.Snapshotter)
	must(t, to.Import(ctx, feed(first)), "Import")
	second := exportAll(t, to)
	check(t, "records after the round trip", len(second), len(first))
	for i := range min(len(first), len(second)) {
		kind, _ := first[i].Kind()
		check(t, "record "+kind, second[i], first[i])
	}

	// The imported store is a working store, not just a copy of rows.
	a, err := dst.AccountByEmail(ctx, "snap@example.com")
	must(t, err, "AccountByEmail in the copy")
	n, err := dst.BackupCodesRemaining(ctx, a.ID)
	must(t, err, "BackupCodesRemaining in the copy")
	check(t, "backup codes left in the copy", n, 1)

	// The provider's records are usable in the copy: the clients are
	// listed, the signing keys and consents read back, the grant and its
	// tokens still stand.
	clients, err := dst.ListOIDCClients(ctx)
	must(t, err, "ListOIDCClients in the copy")
	check(t, "clients in the copy", len(clients), 2)
	keys, err := dst.OIDCSigningKeys(ctx)
	must(t, err, "OIDCSigningKeys in the copy")
	check(t, "signing keys in the copy", len(keys), 2)
	if len(keys) == 2 {
		check(t, "the newest key is the active one", keys[0].RetiredAt == nil && keys[1].RetiredAt != nil, true)
	}
	if len(clients) > 0 {
		scopes, err := dst.OIDCConsent(ctx, a.ID, clients[0].ID)
		must(t, err, "OIDCConsent in the copy")
		check(t, "consent in the copy", scopes, []string{"openid", "email", "profile"})
	}
	grants, err := dst.ListOIDCGrants(ctx, a.ID)
	must(t, err, "ListOIDCGrants in the copy")
	check(t, "grants in the copy", len(grants), 1)

	wantCode(t, "Import into a store that holds something", to.Import(ctx, feed(first)), keyward.CodeConflict)
}

// fillEveryKind writes one row of every kind a snapshot holds.
func fillEveryKind(t *testing.T, s keyward.Store) {
	t.Helper()
	ctx := t.Context()
	a := newAccount(t, s, "snap@example.com")
	b := newAccount(t, s, "pending@example.com")
	// The email columns travel too.
	ok, err := s.MarkEmailVerified(ctx, b.ID, b.Email, at(time.Second))
	must(t, err, "MarkEmailVerified")
	check(t, "email verified", ok, true)
	must(t, s.SetLockedDown(ctx, b.ID, new(at(2*time.Second))), "SetLockedDown")
	must(t, s.SetNewDeviceMail(ctx, b.ID, false), "SetNewDeviceMail")
	must(t, s.SetAccountLanguage(ctx, b.ID, "uk"), "SetAccountLanguage")
	must(t, s.PutPendingTOTP(ctx, &keyward.PendingTOTP{AccountID: b.ID, SealedSecret: "k1:pending", CreatedAt: at(0), ExpiresAt: at(15 * time.Minute)}), "PutPendingTOTP")
	must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: a.ID, SealedSecret: "k1:seed", EnabledAt: at(time.Second), LastStep: 59_000_000}), "EnableTOTP")
	must(t, s.ReplaceBackupCodes(ctx, a.ID, randBytes(16), [][]byte{randBytes(32), randBytes(32)}), "ReplaceBackupCodes")
	codes := [][]byte{randBytes(32), randBytes(32)}
	must(t, s.ReplaceBackupCodes(ctx, a.ID, randBytes(16), codes), "ReplaceBackupCodes again")
	used, err := s.UseBackupCode(ctx, a.ID, codes[0], at(time.Minute))
	must(t, err, "UseBackupCode")
	check(t, "backup code used", used, true)
	_, err = s.EnsureUserHandle(ctx, a.ID, randBytes(32))
	must(t, err, "EnsureUserHandle")
	lastUse := at(3 * time.Minute)
	pk := newPasskey(a.ID, "Laptop", at(2*time.Minute))
	pk.LastUsedAt = &lastUse
	must(t, s.CreatePasskey(ctx, pk), "CreatePasskey")
	bare := newPasskey(a.ID, "Key", at(4*time.Minute))
	bare.AAGUID, bare.Transports, bare.SignCount = nil, nil, 0
	must(t, s.CreatePasskey(ctx, bare), "CreatePasskey without extras")
	sess := newSession(a.ID, at(0), at(time.Minute), at(12*time.Hour))
	sess.AAL = 2
	sess.AMR = keyward.AMRPassword | keyward.AMROTP | keyward.AMRMultiFactor
	must(t, s.CreateSession(ctx, sess), "CreateSession")
	must(t, s.CreateMFAChallenge(ctx, &keyward.MFAChallenge{TokenHash: randBytes(32), AccountID: a.ID, CreatedAt: at(0), ExpiresAt: at(5 * time.Minute), IP: "192.0.2.1", UserAgent: "curl/8"}), "CreateMFAChallenge")
	_, err = s.AddFailure(ctx, "signin:ip:192.0.2.1", at(time.Second), at(-time.Hour))
	must(t, err, "AddFailure")
	e1 := newEvent(a.ID, audit.AccountCreated, at(0), newID(eventPrefix))
	e2 := newEvent(a.ID, audit.SigninSucceeded, at(time.Second), newID(eventPrefix))
	e2.SessionID, e2.Details = sess.ID, map[string]string{audit.DetailMethod: audit.MethodTOTP}
	e3 := newEvent(audit.SystemChain, audit.SigninFailed, at(2*time.Second), newID(eventPrefix))
	e3.Outcome, e3.Reason = audit.Failure, "invalid_password"
	appendEvents(t, s, e1, e2, e3)
	must(t, s.AddInvalidation(ctx, a.ID, at(time.Minute)), "AddInvalidation")
	tok := newAdminToken("copied", keyward.ScopeAccountsRead, keyward.ScopeAuditRead)
	must(t, s.CreateAdminToken(ctx, tok), "CreateAdminToken")
	must(t, s.TouchAdminToken(ctx, tok.Name, at(time.Hour)), "TouchAdminToken")
	must(t, s.CreateAdminToken(ctx, newAdminToken("never-used", keyward.ScopeSessionsWrite)), "CreateAdminToken")
	fillOIDC(t, s, a, sess)
	// The disabled mark travels with the account.
	must(t, s.SetDisabled(ctx, a.ID, new(at(3*time.Second))), "SetDisabled")
}

// fillOIDC writes the provider's records: a confidential and a public
// client, an active and a retired signing key, a consent, an
// authorization request under way and one whose code was redeemed, the
// grant that made, and an access and a used refresh token of it.
func fillOIDC(t *testing.T, s keyward.Store, a *keyward.Account, sess *keyward.Session) {
	t.Helper()
	ctx := t.Context()
	conf := newOIDCClient("Wiki")
	must(t, s.CreateOIDCClient(ctx, conf), "CreateOIDCClient")
	public := newOIDCClient("Phone app")
	public.SecretHash, public.PostLogoutRedirectURIs, public.FirstParty, public.CreatedAt = nil, nil, true, at(time.Second)
	must(t, s.CreateOIDCClient(ctx, public), "CreateOIDCClient public")
	old := &keyward.OIDCSigningKey{ID: newID("key_"), Algorithm: "ES256", Sealed: "k1:old-private", Public: randBytes(91), CreatedAt: at(0)}
	must(t, s.CreateOIDCSigningKey(ctx, old), "CreateOIDCSigningKey old")
	cur := &keyward.OIDCSigningKey{ID: newID("key_"), Algorithm: "ES256", Sealed: "k1:new-private", Public: randBytes(91), CreatedAt: at(time.Hour)}
	must(t, s.CreateOIDCSigningKey(ctx, cur), "CreateOIDCSigningKey current")
	n, err := s.RetireOIDCSigningKeys(ctx, cur.ID, at(time.Hour))
	must(t, err, "RetireOIDCSigningKeys")
	check(t, "keys retired", n, 1)
	must(t, s.PutOIDCConsent(ctx, a.ID, conf.ID, []string{"openid", "email", "profile"}, at(time.Minute)), "PutOIDCConsent")

	waiting := &keyward.OIDCAuthRequest{ID: newID("ar_"), ClientID: public.ID, CreatedAt: at(0), ExpiresAt: at(10 * time.Minute),
		Params: keyward.OIDCRequestParams{RedirectURI: public.RedirectURIs[0], Scopes: []string{"openid"}, CodeChallenge: "challenge",
			Prompt: []string{"login"}, MaxAge: new(int64(300)), LoginHint: "snap@example.com"}}
	must(t, s.CreateOIDCAuthRequest(ctx, waiting), "CreateOIDCAuthRequest under way")
	done := &keyward.OIDCAuthRequest{ID: newID("ar_"), ClientID: conf.ID, CreatedAt: at(0), ExpiresAt: at(10 * time.Minute),
		Params: keyward.OIDCRequestParams{RedirectURI: conf.RedirectURIs[0], Scopes: []string{"openid", "email"}, State: "st", Nonce: "n",
			CodeChallenge: "challenge", ResponseMode: "query", ACRValues: []string{"2"}}}
	must(t, s.CreateOIDCAuthRequest(ctx, done), "CreateOIDCAuthRequest")
	done.AccountID, done.SessionID, done.AuthTime, done.AMR, done.AAL = a.ID, sess.ID, at(time.Second), keyward.AMRPassword|keyward.AMROTP, 2
	ok, err := s.AuthorizeOIDCRequest(ctx, done)
	must(t, err, "AuthorizeOIDCRequest")
	check(t, "request authorized", ok, true)
	code := randBytes(32)
	ok, err = s.SetOIDCCode(ctx, done.ID, code, at(time.Minute))
	must(t, err, "SetOIDCCode")
	check(t, "code set", ok, true)
	_, first, err := s.UseOIDCCode(ctx, code, at(2*time.Minute))
	must(t, err, "UseOIDCCode")
	check(t, "code used", first, true)

	g := newOIDCGrant(t, s, conf, sess)
	must(t, s.CreateOIDCToken(ctx, &keyward.OIDCToken{Hash: randBytes(32), GrantID: g.ID, CreatedAt: at(2 * time.Second), ExpiresAt: at(time.Hour)}), "CreateOIDCToken access")
	refresh := &keyward.OIDCToken{Hash: randBytes(32), GrantID: g.ID, Refresh: true, CreatedAt: at(2 * time.Second), ExpiresAt: at(30 * 24 * time.Hour)}
	must(t, s.CreateOIDCToken(ctx, refresh), "CreateOIDCToken refresh")
	ok, err = s.UseOIDCRefreshToken(ctx, refresh.Hash, at(time.Hour))
	must(t, err, "UseOIDCRefreshToken")
	check(t, "refresh token used", ok, true)
}

func exportAll(t *testing.T, s keyward.Snapshotter) []keyward.Record {
	t.Helper()
	var out []keyward.Record
	must(t, s.Export(t.Context(), func(r keyward.Record) error {
		out = append(out, r)
		return nil
	}), "Export")
	return out
}

// feed hands records to Import one by one.
func feed(records []keyward.Record) func() (keyward.Record, error) {
	i := 0
	return func() (keyward.Record, error) {
		if i == len(records) {
			return keyward.Record{}, io.EOF
		}
		i++
		return records[i-1], nil
	}
}

// migrationReporter is what `keyward migrate status` asks of a store.
type migrationReporter interface {
	MigrationStatus(ctx context.Context) ([]keyward.Migration, error)
}

// testMigrationStatus: a store from newStore is fully migrated, so every
// migration it knows is applied, numbered from 1 without a gap, and named.
func testMigrationStatus(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	m, ok := s.(migrationReporter)
	if !ok {
		t.Skip("the store reports no migrations")
	}
	status, err := m.MigrationStatus(t.Context())
	must(t, err, "MigrationStatus")
	if len(status) == 0 {
		t.Fatal("MigrationStatus lists no migration")
	}
	for i, mig := range status {
		if mig.Version != i+1 {
			t.Errorf("migration %d is numbered %d: want 1, 2, 3… without gaps", i, mig.Version)
		}
		if mig.Name == "" {
			t.Errorf("migration %d has no name", mig.Version)
		}
		if mig.AppliedAt == nil {
			t.Errorf("migration %04d_%s is pending in a store that newStore migrated", mig.Version, mig.Name)
		} else if mig.AppliedAt.Location() != time.UTC {
			t.Errorf("migration %d applied at %v: want UTC", mig.Version, mig.AppliedAt)
		}
	}
}
