package keyward_test

import (
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestAttackSudoWindowBeyondWhatAGrantMakes: keyward only ever opens a
// window of Config.SudoWindow from now. A stored end far later than that
// (a direct database edit, a restored backup from another clock) cannot
// have come from a proof, so it opens nothing (fail closed: such a session
// stays outside its window; signing in again gives a new one).
func TestAttackSudoWindowBeyondWhatAGrantMakes(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	_, me, _, _ := newSudoAccount(t, e, false)
	window := keyward.DefaultConfig().SudoWindow
	for _, far := range []time.Duration{window + 2*time.Minute, 100 * 365 * 24 * time.Hour} {
		if err := e.Store.ExtendSessionSudo(ctx, me.Session.AccountID, me.Session.ID, e.Clock.Now().Add(far)); err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.RequireSudo(ctx, me.Session); !keyward.NeedsSudo(err) {
			t.Fatalf("a stored window of %v from now: RequireSudo = %v, want reauthentication_required", far, err)
		}
		if until, err := e.Svc.SudoUntil(ctx, me.Session); err != nil || !until.IsZero() {
			t.Fatalf("a stored window of %v from now: SudoUntil = %v, %v; want closed", far, until, err)
		}
	}
	// A node whose clock runs a little ahead is no forgery.
	me2 := signIn(t, e, "ada@example.com", laptop)
	if err := e.Store.ExtendSessionSudo(ctx, me2.Session.AccountID, me2.Session.ID, e.Clock.Now().Add(window+30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.RequireSudo(ctx, me2.Session); err != nil {
		t.Fatalf("a window 30 s past a full one (clock skew): %v", err)
	}
}
