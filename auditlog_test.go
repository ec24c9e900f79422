package keyward_test

import (
	crand "crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/totp"
)

// TestAuditStory: the whole story of an account is in its log, in order,
// with where each step came from, and the chain verifies.
func TestAuditStory(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	step := func() { e.Clock.Advance(time.Second) }

	step()
	if _, err := e.Svc.SignIn(ctx, "ada@example.com", "wrong password here", phone); err == nil {
		t.Fatal("wrong password accepted")
	}
	step()
	me := signIn(t, e, "ada@example.com", laptop)
	step()
	other := signIn(t, e, "ada@example.com", phone)
	step()
	if err := e.Svc.RevokeSession(ctx, me.Session, other.Session.ID, laptop); err != nil {
		t.Fatal(err)
	}
	step()
	const next = "violet lanterns drift over harbours"
	if _, err := e.Svc.ChangePassword(ctx, me.Session, goodPassword, next, true, laptop); err != nil {
		t.Fatal(err)
	}
	step()
	setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(setup.Secret, e.Clock.Now())
	codes, err := e.Svc.EnableTOTP(ctx, me.Session, code, laptop)
	if err != nil {
		t.Fatal(err)
	}
	step()
	pw, err := e.Svc.SignIn(ctx, "ada@example.com", next, phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.CompleteSignIn(ctx, pw.MFAToken, "000000", phone); err == nil {
		t.Fatal("wrong code accepted")
	}
	step()
	if _, err := e.Svc.CompleteSignIn(ctx, pw.MFAToken, codes[0], phone); err != nil {
		t.Fatal(err)
	}
	step()
	_, mine, err := e.Svc.Authenticate(ctx, me.Token) // now at aal 2
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.RegenerateBackupCodes(ctx, mine, next, laptop); err != nil {
		t.Fatal(err)
	}
	step()
	if err := e.Svc.DisableTOTP(ctx, mine, next, laptop); err != nil {
		t.Fatal(err)
	}

	var got []audit.Type
	err = e.Store.EachChainEvent(ctx, a.ID, func(ev *keyward.Event) error {
		got = append(got, ev.Type)
		if ev.IP == "" || ev.UserAgent == "" || ev.Time.IsZero() {
			t.Errorf("event %s lacks where or when: %+v", ev.Type, ev)
		}
		for _, secret := range append([]string{goodPassword, next, setup.Secret, me.Token, codes[0]}, codes...) {
			for k, v := range ev.Details {
				if strings.Contains(v, secret) || strings.Contains(k, secret) {
					t.Errorf("event %s details hold a secret: %v", ev.Type, ev.Details)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.Type{
		audit.AccountCreated, audit.SigninFailed, audit.SigninSucceeded, audit.SigninSucceeded,
		audit.SessionRevoked, audit.PasswordChanged, audit.TwoFactorEnabled, audit.SigninMFAFailed,
		audit.SigninSucceeded, audit.BackupCodeUsed,
		audit.SudoGranted, audit.BackupCodesRegenerated, // the password sent with each opens the window
		audit.SudoGranted, audit.TwoFactorDisabled,
		audit.SessionRevoked, // turning a factor off ends the phone's session
	}
	if !slices.Equal(got, want) {
		t.Fatalf("story =\n %v\nwant\n %v", got, want)
	}
	// Newest first through the reader's API is the same story backwards.
	page, err := e.Svc.Events(ctx, a.ID, keyward.EventQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var newest []audit.Type
	for _, ev := range page.Events {
		newest = append(newest, ev.Type)
	}
	slices.Reverse(newest)
	if !slices.Equal(newest, want) {
		t.Fatalf("newest-first order =\n %v\nwant reversed\n %v", newest, want)
	}
	verifyIntact(t, e)
}

func verifyIntact(t testing.TB, e *keywardtest.Env) {
	t.Helper()
	reports, err := e.Svc.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if r.Problem != nil {
			t.Fatalf("chain %s broken: %v", r.ChainID, r.Problem)
		}
	}
}

// TestUnknownEmailFailuresGoToTheSystemLog: a failure for an unknown email
// is recorded in the system log under a keyed digest of the email, never
// its text (a password typed into the email field must not be kept), and
// the operator still finds the attempts by the email, across a rotation.
func TestUnknownEmailFailuresGoToTheSystemLog(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	const typedPassword = "Tr0ub4dor&3-typed-as-email"
	for _, email := range []string{"ghost@example.com", typedPassword} {
		if _, err := e.Svc.SignIn(ctx, email, "whatever it is", laptop); err == nil {
			t.Fatalf("unknown email %q signed in", email)
		}
	}
	page, err := e.Svc.Events(ctx, a.ID, keyward.EventQuery{Types: []audit.Type{audit.SigninFailed}})
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("ada's log has %d failures, want 0 (%v)", len(page.Events), err)
	}
	// Every stored event, read back from the store itself, in every field.
	var all []keyward.Event
	err = e.Store.EachEvent(ctx, keyward.EventFilter{}, func(ev *keyward.Event) error {
		all = append(all, *ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range all {
		dump := fmt.Sprintf("%+v", ev)
		for _, secret := range []string{"ghost", typedPassword, "Tr0ub4dor"} {
			if strings.Contains(strings.ToLower(dump), strings.ToLower(secret)) {
				t.Errorf("stored event holds %q: %s", secret, dump)
			}
		}
	}

	find := func(t *testing.T, email string) []keyward.Event {
		t.Helper()
		var got []keyward.Event
		err := e.Svc.UnknownEmailEvents(ctx, email, keyward.EventQuery{}, func(ev *keyward.Event) error {
			got = append(got, *ev)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if _, err := e.Keys.Rotate(crand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.SignIn(ctx, "ghost@example.com", "again", phone); err == nil {
		t.Fatal("unknown email signed in")
	}
	tests := []struct {
		name  string
		email string
		want  int
	}{
		{"the email, before and after a rotation", "ghost@example.com", 2},
		{"in other case", "GHOST@example.com", 2},
		{"the password typed as email", typedPassword, 1},
		{"an email never typed", "nobody@example.com", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(t, tt.email)
			if len(got) != tt.want {
				t.Fatalf("found %d events, want %d: %+v", len(got), tt.want, got)
			}
			for _, ev := range got {
				if ev.ChainID != audit.SystemChain || ev.Type != audit.SigninFailed || ev.Outcome != audit.Failure {
					t.Errorf("found %+v, want a failed sign-in in the system log", ev)
				}
			}
		})
	}
}

func TestPaginationUnderConcurrentInserts(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	for range 30 {
		e.Clock.Advance(time.Second)
		signIn(t, e, "ada@example.com", laptop)
	}
	before, err := e.Svc.Events(ctx, a.ID, keyward.EventQuery{Limit: 200})
	if err != nil || len(before.Events) != 31 {
		t.Fatalf("%d events before the walk, %v", len(before.Events), err)
	}
	// Walk the log two events at a time while new events keep arriving.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				signIn(t, e, "ada@example.com", phone)
			}
		}
	}()
	seen := map[string]bool{}
	var last *keyward.Event
	q := keyward.EventQuery{Limit: 2}
	for {
		page, err := e.Svc.Events(ctx, a.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page.Events {
			ev := &page.Events[i]
			if seen[ev.ID] {
				t.Fatalf("event %s seen twice", ev.ID)
			}
			if last != nil && (ev.Time.After(last.Time) || ev.Time.Equal(last.Time) && ev.ID > last.ID) {
				t.Fatalf("event %s out of order after %s", ev.ID, last.ID)
			}
			seen[ev.ID] = true
			last = ev
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	close(stop)
	wg.Wait()
	// Events that arrived after the walk began may or may not be on it (they
	// are newer than its first page only if they came before it); every
	// event that existed before it must be, once.
	for _, ev := range before.Events {
		if !seen[ev.ID] {
			t.Fatalf("event %s (%s) existed before the walk but was skipped", ev.ID, ev.Type)
		}
	}
}

func TestAuditRetentionKeepsTheChainVerifiable(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.AuditRetention = 24 * time.Hour
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	a := signUp(t, e, "ada@example.com")
	for range 5 {
		signIn(t, e, "ada@example.com", laptop)
	}
	e.Clock.Advance(25 * time.Hour)
	for range 3 {
		signIn(t, e, "ada@example.com", laptop)
	}
	n, err := e.Svc.PruneAudit(ctx)
	if err != nil || n != 6 {
		t.Fatalf("PruneAudit = %d, %v; want the 6 old events", n, err)
	}
	page, _ := e.Svc.Events(ctx, a.ID, keyward.EventQuery{})
	if len(page.Events) != 3 {
		t.Fatalf("%d events left, want 3", len(page.Events))
	}
	verifyIntact(t, e)
}
