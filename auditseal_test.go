package keyward_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
)

// engines are the stores the tampering tests run on, whatever
// KEYWARD_TEST_ENGINE says: an attack is plain SQL, and each engine has its
// own (PostgreSQL is skipped when no test server is set).
var engines = []string{"sqlite", "postgres"}

// sealScene is a service on a store an attacker can also reach with SQL:
// ada's chain has account.created and 12 sign-ins (seqs 1..13), bob's one
// event, and the system chain one.
type sealScene struct {
	engine string
	e      *keywardtest.Env
	sql    keywardtest.SQL
	ada    *keyward.Account
}

func newSealScene(t *testing.T, engine string) *sealScene {
	t.Helper()
	store, sql := keywardtest.NewStoreWithSQL(t, engine)
	e := keywardtest.New(t, keywardtest.Options{Store: store})
	sc := &sealScene{engine: engine, e: e, sql: sql, ada: signUp(t, e, "ada@example.com")}
	signUp(t, e, "bob@example.com")
	for range 12 {
		e.Clock.Advance(time.Minute)
		signIn(t, e, "ada@example.com", laptop)
	}
	if _, err := e.Svc.SignIn(ctx, "nobody@example.com", "not a password at all", phone); err == nil {
		t.Fatal("unknown email signed in")
	}
	verifyIntact(t, e)
	return sc
}

// unprotect does what an attacker with the database owner's rights does
// first: turn off the append-only trigger.
func (sc *sealScene) unprotect(t testing.TB) {
	t.Helper()
	keywardtest.Unprotect(t, sc.engine, sc.sql)
}

// timeCol names an engine's column of event times (and base_ + it, the
// checkpoint's).
func (sc *sealScene) timeCol() string {
	if sc.engine == "sqlite" {
		return "time_us"
	}
	return "time"
}

// problems returns the chains VerifyAudit finds broken.
func problems(t testing.TB, e *keywardtest.Env) []*audit.Problem {
	t.Helper()
	reports, err := e.Svc.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*audit.Problem
	for _, r := range reports {
		if r.Problem != nil {
			out = append(out, r.Problem)
		}
	}
	return out
}

// TestAuditVerifyCatchesSQLTampering: what someone with plain SQL access
// (but not the key file) can do to the audit log, verify names.
func TestAuditVerifyCatchesSQLTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, sc *sealScene)
		kind   string
		says   string // part of the sentence verify prints
	}{
		{"an event edited", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `UPDATE audit_events SET ip = '10.9.9.9' WHERE chain_id = $1 AND seq = 2`, sc.ada.ID)
		}, audit.KindEdited, "was edited"},
		{"(a) a chain's events and head deleted", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `DELETE FROM audit_heads WHERE chain_id = $1`, sc.ada.ID)
		}, audit.KindMissingChain, "has no audit chain"},
		{"(b) the newest event deleted and the head moved back", func(t *testing.T, sc *sealScene) {
			truncate(t, sc)
		}, audit.KindHeadMismatch, "newer events were deleted and the head moved back"},
		{"(b) and an event appended since", func(t *testing.T, sc *sealScene) {
			truncate(t, sc)
			signIn(t, sc.e, "ada@example.com", phone)
		}, audit.KindForged, "events after seq 12 were deleted and the head moved back"},
		{"(c) events 1-10 deleted and a checkpoint made up", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `UPDATE audit_heads SET base_seq = 10,
				base_hash = (SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = 10) WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq <= 10`, sc.ada.ID)
		}, audit.KindForged, "the checkpoint was made up"},
		{"(c) with the MAC and time of event 10 copied", func(t *testing.T, sc *sealScene) {
			tc := sc.timeCol()
			sc.sql(t, `UPDATE audit_heads SET base_seq = 10,
				base_hash = (SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = 10),
				base_mac = (SELECT mac FROM audit_events WHERE chain_id = $1 AND seq = 10),
				base_`+tc+` = (SELECT `+tc+` FROM audit_events WHERE chain_id = $1 AND seq = 10) WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq <= 10`, sc.ada.ID)
		}, audit.KindYoungCheckpoint, "younger than the retention period (400 days)"},
		{"(d) the chain rehashed with every IP changed", func(t *testing.T, sc *sealScene) {
			rehash(t, sc, false)
		}, audit.KindForged, "rewritten and re-hashed by someone without the key"},
		{"(d) and its MACs and seal removed", func(t *testing.T, sc *sealScene) {
			rehash(t, sc, true)
			// A restart does not seal it again: other heads are sealed.
			if n, err := sc.e.Svc.SealAudit(ctx); err != nil || n != 0 {
				t.Fatalf("SealAudit = %d, %v; want 0: the log was sealed before", n, err)
			}
		}, audit.KindUnsealed, "the chain's head has no seal"},
		{"the account deleted", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM accounts WHERE id = $1`, sc.ada.ID)
		}, audit.KindOrphanChain, "belongs to no account"},
	}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					sc := newSealScene(t, engine)
					sc.unprotect(t)
					tt.tamper(t, sc)
					got := problems(t, sc.e)
					if len(got) != 1 || got[0].ChainID != sc.ada.ID || got[0].Kind != tt.kind || !strings.Contains(got[0].Error(), tt.says) {
						t.Fatalf("verify found %v\nwant one %s problem in ada's chain saying %q", got, tt.kind, tt.says)
					}
					t.Logf("verify said: %s", got[0])
				})
			}
		})
	}
}

// truncate deletes ada's newest event (seq 13) and moves the head back to
// seq 12, as it was before that event.
func truncate(t *testing.T, sc *sealScene) {
	t.Helper()
	sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq = 13`, sc.ada.ID)
	sc.sql(t, `UPDATE audit_heads SET seq = 12,
		hash = (SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = 12) WHERE chain_id = $1`, sc.ada.ID)
}

// rehash rewrites every IP of ada's chain and re-hashes it, the head too,
// with the published algorithm (audit.Link); unseal also blanks every MAC
// and the head's seal, as if the chain predated sealing.
func rehash(t *testing.T, sc *sealScene, unseal bool) {
	t.Helper()
	var evs []keyward.Event
	if err := sc.e.Store.EachChainEvent(ctx, sc.ada.ID, func(e *keyward.Event) error {
		evs = append(evs, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	head := audit.Head{ChainID: sc.ada.ID}
	for _, e := range evs {
		e.IP = "10.6.6.6"
		audit.Link(head, &e)
		head.Seq, head.Hash = e.Seq, e.Hash
		sc.sql(t, `UPDATE audit_events SET ip = $1, prev_hash = $2, hash = $3 WHERE chain_id = $4 AND seq = $5`,
			e.IP, e.PrevHash, e.Hash, e.ChainID, e.Seq)
	}
	sc.sql(t, `UPDATE audit_heads SET hash = $1 WHERE chain_id = $2`, head.Hash, sc.ada.ID)
	if unseal {
		sc.sql(t, `UPDATE audit_events SET mac = '' WHERE chain_id = $1`, sc.ada.ID)
		sc.sql(t, `UPDATE audit_heads SET seal = '' WHERE chain_id = $1`, sc.ada.ID)
	}
}

// TestAuditSealSurvivesKeyRotation: events sealed before `keys rotate` keep
// verifying, under the key their MAC names, beside those sealed after.
func TestAuditSealSurvivesKeyRotation(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			a := signUp(t, e, "ada@example.com")
			old := e.Keys.CurrentID()
			if _, err := e.Keys.Rotate(rand.Reader); err != nil {
				t.Fatal(err)
			}
			e.Clock.Advance(time.Minute)
			signIn(t, e, "ada@example.com", laptop)
			var keys []string
			if err := e.Store.EachChainEvent(ctx, a.ID, func(ev *keyward.Event) error {
				keys = append(keys, strings.SplitN(ev.MAC, ":", 2)[0])
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := []string{old, e.Keys.CurrentID()}; strings.Join(keys, ",") != strings.Join(want, ",") {
				t.Fatalf("events sealed with keys %v, want %v", keys, want)
			}
			verifyIntact(t, e)
		})
	}
}

// TestSealAuditSealsALogFromBeforeSealing: a log written before sealing
// existed (no MAC, no seal anywhere) is reported until the service starts,
// seals each head once, and then verifies; after that a head that loses its
// seal is reported and never sealed again.
func TestSealAuditSealsALogFromBeforeSealing(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			sc := newSealScene(t, engine)
			sc.unprotect(t)
			sc.sql(t, `UPDATE audit_events SET mac = ''`)
			sc.sql(t, `UPDATE audit_heads SET seal = ''`)
			if got := problems(t, sc.e); len(got) != 3 || got[0].Kind != audit.KindUnsealed {
				t.Fatalf("before sealing, verify found %v; want the 3 heads unsealed", got)
			}
			n, err := sc.e.Svc.SealAudit(ctx)
			if err != nil || n != 3 {
				t.Fatalf("SealAudit = %d, %v; want the 3 chains sealed", n, err)
			}
			verifyIntact(t, sc.e)
			signIn(t, sc.e, "ada@example.com", phone) // sealed over the old head
			verifyIntact(t, sc.e)

			sc.sql(t, `UPDATE audit_heads SET seal = '' WHERE chain_id = $1`, sc.ada.ID)
			if n, err := sc.e.Svc.SealAudit(ctx); err != nil || n != 0 {
				t.Fatalf("SealAudit on a sealed log = %d, %v; want 0", n, err)
			}
			if got := problems(t, sc.e); len(got) != 1 || got[0].Kind != audit.KindUnsealed {
				t.Fatalf("verify found %v, want ada's head unsealed", got)
			}
		})
	}
}
