package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
)

// TestAttackSudoUntilInfinity: PostgreSQL timestamps hold 'infinity' and
// '-infinity', which no Go time can; a session whose sudo_until was set to
// one by hand must read as a closed window, never fail every sensitive
// action with 500 internal.
func TestAttackSudoUntilInfinity(t *testing.T) {
	url := pgtest.NewDatabase(t)
	store, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := keywardtest.New(t, keywardtest.Options{Store: store})
	me := keyward.Client{IP: "203.0.113.5", UserAgent: "test"}
	if _, err := e.Svc.SignUp(t.Context(), "ada@example.com", "correct horse battery staple", me); err != nil {
		t.Fatal(err)
	}
	in, err := e.Svc.SignIn(t.Context(), "ada@example.com", "correct horse battery staple", me)
	if err != nil || in.Session == nil {
		t.Fatalf("sign in: %v", err)
	}
	db, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(t.Context()) })
	for _, v := range []string{"infinity", "-infinity"} {
		if _, err := db.Exec(t.Context(), `UPDATE sessions SET sudo_until = $1::timestamptz`, v); err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.RequireSudo(t.Context(), in.Session); !keyward.NeedsSudo(err) {
			t.Fatalf("sudo_until %s: RequireSudo = %v, want reauthentication_required", v, err)
		}
		if until, err := e.Svc.SudoUntil(t.Context(), in.Session); err != nil || !until.IsZero() {
			t.Fatalf("sudo_until %s: SudoUntil = %v, %v; want closed", v, until, err)
		}
	}
}
