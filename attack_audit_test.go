package keyward_test

import "testing"

// TestAttackAuditTampering: tampering beyond the cases of
// TestAuditVerifyCatchesSQLTampering, each done with plain SQL by someone
// without the key; verify must report a problem in ada's chain for each.
// An account's whole log erased, with its head left (or put back) at seq 0,
// looked like a chain never appended to on SQLite, whose AuditHeads lists
// such heads (PostgreSQL's does not, so there it read as a missing chain).
// On both engines, the next event appended to such an erased account (a
// failed sign-in anyone can cause) started a new chain at seq 1 with a
// genuine MAC, and verify found the log intact: an account's whole history
// could be erased without a trace.
func TestAttackAuditTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, sc *sealScene)
	}{
		{"every event deleted and the head reset to an empty chain", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `UPDATE audit_heads SET seq = 0, hash = NULL, seal = '' WHERE chain_id = $1`, sc.ada.ID)
		}},
		{"every event deleted and the head row deleted and re-inserted empty", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `DELETE FROM audit_heads WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `INSERT INTO audit_heads (chain_id, seq) VALUES ($1, 0)`, sc.ada.ID)
		}},
		{"every event and the head deleted, then a failed sign-in from outside restarts the chain", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `DELETE FROM audit_heads WHERE chain_id = $1`, sc.ada.ID)
			if _, err := sc.e.Svc.SignIn(ctx, "ada@example.com", "anything at all", phone); err == nil {
				t.Fatal("signed in")
			}
		}},
		{"every event deleted, the head reset, then the owner signs in", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, sc.ada.ID)
			sc.sql(t, `UPDATE audit_heads SET seq = 0, hash = NULL, seal = '' WHERE chain_id = $1`, sc.ada.ID)
			signIn(t, sc.e, "ada@example.com", laptop)
		}},
		{"an event's time moved", func(t *testing.T, sc *sealScene) {
			tc := sc.timeCol()
			if sc.engine == "sqlite" {
				sc.sql(t, `UPDATE audit_events SET `+tc+` = `+tc+` - 86400000000 WHERE chain_id = $1 AND seq = 5`, sc.ada.ID)
			} else {
				sc.sql(t, `UPDATE audit_events SET `+tc+` = `+tc+` - interval '1 day' WHERE chain_id = $1 AND seq = 5`, sc.ada.ID)
			}
		}},
		{"the head's seal replaced by an event's MAC", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `UPDATE audit_heads SET seal = (SELECT mac FROM audit_events WHERE chain_id = $1 AND seq = 13) WHERE chain_id = $1`, sc.ada.ID)
		}},
		{"a MAC's key id changed", func(t *testing.T, sc *sealScene) {
			// The key id this environment's (random) key has, for one no key has.
			sc.sql(t, `UPDATE audit_events SET mac = replace(mac, '`+sc.e.Keys.CurrentID()+`:', 'k9:') WHERE chain_id = $1 AND seq = 7`, sc.ada.ID)
		}},
		{"two events' MACs swapped", func(t *testing.T, sc *sealScene) {
			sc.sql(t, `UPDATE audit_events SET mac = CASE seq WHEN 3 THEN (SELECT mac FROM audit_events WHERE chain_id = $1 AND seq = 4)
				ELSE (SELECT mac FROM audit_events WHERE chain_id = $1 AND seq = 3) END WHERE chain_id = $1 AND seq IN (3, 4)`, sc.ada.ID)
		}},
		{"bob's account.created moved into ada's chain", func(t *testing.T, sc *sealScene) {
			bob, err := sc.e.Store.AccountByEmail(ctx, "bob@example.com")
			if err != nil {
				t.Fatal(err)
			}
			sc.sql(t, `DELETE FROM audit_events WHERE chain_id = $1 AND seq = 1`, sc.ada.ID)
			sc.sql(t, `UPDATE audit_events SET chain_id = $1 WHERE chain_id = $2 AND seq = 1`, sc.ada.ID, bob.ID)
		}},
	}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					sc := newSealScene(t, engine)
					sc.unprotect(t)
					tt.tamper(t, sc)
					got := problems(t, sc.e)
					found := false
					for _, p := range got {
						found = found || p.ChainID == sc.ada.ID
					}
					if !found {
						t.Fatalf("verify found %v\nwant a problem in ada's chain", got)
					}
					t.Logf("verify said: %s", got[0])
				})
			}
		})
	}
}
