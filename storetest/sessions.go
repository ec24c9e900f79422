package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/device"
)

// newSession returns a session of account that was created at created, last
// seen at lastSeen and ends at expires.
func newSession(accountID string, created, lastSeen, expires time.Time) *keyward.Session {
	return &keyward.Session{
		ID:         newID(sessionPrefix),
		AccountID:  accountID,
		TokenHash:  randBytes(32),
		CreatedAt:  created,
		LastSeenAt: lastSeen,
		ExpiresAt:  expires,
		IP:         "2001:db8::1",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0 «test»",
		Device:     device.Device{Browser: "Firefox", OS: "Linux", Type: "desktop"},
		AAL:        1,
		AMR:        keyward.AMRPassword,
	}
}

func createSessions(t testing.TB, s queryer, ss ...*keyward.Session) {
	t.Helper()
	for _, x := range ss {
		must(t, s.CreateSession(t.Context(), x), "CreateSession")
	}
}

func sessionIDs(ss []keyward.Session) []string {
	ids := []string{}
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return ids
}

func testSessions(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("read", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		sa := newSession(a.ID, at(0), at(time.Minute), at(24*time.Hour))
		sa.AAL = 2
		sa.AMR = keyward.AMRPassword | keyward.AMROTP | keyward.AMRMultiFactor
		sa.IP = "203.0.113.7"
		sa.Device = device.Device{Browser: "Safari", OS: "iOS", Type: "mobile"}
		sb := newSession(b.ID, at(1), at(2), at(3))
		sb.UserAgent, sb.IP, sb.Device = "", "", device.Device{}
		createSessions(t, s, sa, sb)

		cases := []struct {
			name string
			get  func() (*keyward.Session, error)
			want *keyward.Session
			code keyward.Code
		}{
			{"by token hash", func() (*keyward.Session, error) { return s.SessionByTokenHash(ctx, sa.TokenHash) }, sa, ""},
			{"by token hash, empty fields", func() (*keyward.Session, error) { return s.SessionByTokenHash(ctx, sb.TokenHash) }, sb, ""},
			{"by id", func() (*keyward.Session, error) { return s.SessionByID(ctx, a.ID, sa.ID) }, sa, ""},
			{"by id of another account", func() (*keyward.Session, error) { return s.SessionByID(ctx, b.ID, sa.ID) }, nil, keyward.CodeNotFound},
			{"by unknown id", func() (*keyward.Session, error) { return s.SessionByID(ctx, a.ID, newID(sessionPrefix)) }, nil, keyward.CodeNotFound},
			{"by unknown token hash", func() (*keyward.Session, error) { return s.SessionByTokenHash(ctx, randBytes(32)) }, nil, keyward.CodeNotFound},
			{"by token hash prefix", func() (*keyward.Session, error) { return s.SessionByTokenHash(ctx, sa.TokenHash[:31]) }, nil, keyward.CodeNotFound},
			{"by empty token hash", func() (*keyward.Session, error) { return s.SessionByTokenHash(ctx, nil) }, nil, keyward.CodeNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := c.get()
				if c.code != "" {
					wantCode(t, "lookup", err, c.code)
					return
				}
				must(t, err, "lookup")
				check(t, "session", got, c.want)
			})
		}
		t.Run("unknown account", func(t *testing.T) {
			if err := s.CreateSession(ctx, newSession(newID(accountPrefix), at(0), at(0), at(time.Hour))); err == nil {
				t.Errorf("CreateSession for an account that does not exist: got no error, want one")
			}
		})
	})

	t.Run("list", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		now := at(10 * time.Hour)
		older := newSession(a.ID, at(0), at(3*time.Hour), now.Add(time.Hour))
		newer := newSession(a.ID, at(time.Hour), at(5*time.Hour), now.Add(time.Microsecond))
		oldest := newSession(a.ID, at(2*time.Hour), at(2*time.Hour), now.Add(48*time.Hour))
		expired := newSession(a.ID, at(0), at(9*time.Hour), now.Add(-time.Second))
		endsNow := newSession(a.ID, at(0), at(8*time.Hour), now)
		other := newSession(b.ID, at(0), at(6*time.Hour), now.Add(time.Hour))
		createSessions(t, s, older, newer, oldest, expired, endsNow, other)

		cases := []struct {
			name    string
			account string
			now     time.Time
			want    []string
		}{
			{"live ones, newest activity first", a.ID, now, []string{newer.ID, older.ID, oldest.ID}},
			{"earlier, expired ones are live again", a.ID, now.Add(-2 * time.Second), []string{expired.ID, endsNow.ID, newer.ID, older.ID, oldest.ID}},
			{"later, fewer", a.ID, now.Add(2 * time.Hour), []string{oldest.ID}},
			{"other account", b.ID, now, []string{other.ID}},
			{"unknown account", newID(accountPrefix), now, []string{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.ListSessions(ctx, c.account, c.now)
				must(t, err, "ListSessions")
				check(t, "ids", sessionIDs(got), c.want)
				if len(got) > 0 && got[0].ID == newer.ID {
					check(t, "first session", got[0], *newer)
				}
			})
		}
	})

	t.Run("touch", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		s1 := newSession(a.ID, at(0), at(time.Minute), at(24*time.Hour))
		s2 := newSession(a.ID, at(0), at(2*time.Minute), at(24*time.Hour))
		createSessions(t, s, s1, s2)
		seen := at(time.Hour + 3*time.Microsecond)
		must(t, s.TouchSession(ctx, s1.ID, seen), "TouchSession")
		got, err := s.SessionByTokenHash(ctx, s1.TokenHash)
		must(t, err, "SessionByTokenHash")
		want := *s1
		want.LastSeenAt = seen
		check(t, "touched session", got, &want)
		list, err := s.ListSessions(ctx, a.ID, at(0))
		must(t, err, "ListSessions")
		check(t, "order after touch", sessionIDs(list), []string{s1.ID, s2.ID})
		wantCode(t, "TouchSession unknown", s.TouchSession(ctx, newID(sessionPrefix), seen), keyward.CodeNotFound)
	})

	t.Run("amr", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		for _, amr := range []keyward.AMR{
			0,
			keyward.AMRPassword,
			keyward.AMRPassword | keyward.AMROTP | keyward.AMRMultiFactor,
			keyward.AMRHardwareKey,
			keyward.AMRSoftwareKey | keyward.AMRMultiFactor,
			keyward.AMRPassword | keyward.AMROTP | keyward.AMRHardwareKey | keyward.AMRSoftwareKey | keyward.AMRMultiFactor,
		} {
			t.Run(amr.String(), func(t *testing.T) {
				x := newSession(a.ID, at(0), at(0), at(time.Hour))
				x.AMR = amr
				createSessions(t, s, x)
				got, err := s.SessionByTokenHash(ctx, x.TokenHash)
				must(t, err, "SessionByTokenHash")
				check(t, "amr", got.AMR, amr)
			})
		}
	})

	t.Run("sudo window", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		sa := newSession(a.ID, at(0), at(0), at(time.Hour))
		other := newSession(a.ID, at(0), at(0), at(time.Hour))
		sb := newSession(b.ID, at(0), at(0), at(time.Hour))
		createSessions(t, s, sa, other, sb)
		until := func(x *keyward.Session) time.Time {
			t.Helper()
			got, err := s.SessionSudoUntil(ctx, x.AccountID, x.ID)
			must(t, err, "SessionSudoUntil")
			return got
		}
		check(t, "never opened", until(sa), time.Time{})

		steps := []struct {
			name    string
			account string
			id      string
			until   time.Time
			code    keyward.Code
			want    time.Time // sa's window after the step
		}{
			{"opened", a.ID, sa.ID, at(10*time.Minute + 7*time.Microsecond), "", at(10*time.Minute + 7*time.Microsecond)},
			{"moved later", a.ID, sa.ID, at(20 * time.Minute), "", at(20 * time.Minute)},
			{"never moved earlier", a.ID, sa.ID, at(15 * time.Minute), "", at(20 * time.Minute)},
			{"the same end again", a.ID, sa.ID, at(20 * time.Minute), "", at(20 * time.Minute)},
			{"by another account", b.ID, sa.ID, at(time.Hour), keyward.CodeNotFound, at(20 * time.Minute)},
			{"unknown session", a.ID, newID(sessionPrefix), at(time.Hour), keyward.CodeNotFound, at(20 * time.Minute)},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				err := s.ExtendSessionSudo(ctx, st.account, st.id, st.until)
				if st.code != "" {
					wantCode(t, "ExtendSessionSudo", err, st.code)
				} else {
					must(t, err, "ExtendSessionSudo")
				}
				check(t, "window", until(sa), st.want)
			})
		}
		// One session's window is its own: not the account's, not read
		// through another account.
		check(t, "other session of the account", until(other), time.Time{})
		check(t, "other account's session", until(sb), time.Time{})
		_, err := s.SessionSudoUntil(ctx, b.ID, sa.ID)
		wantCode(t, "SessionSudoUntil through another account", err, keyward.CodeNotFound)
		// The session itself reads back unchanged: the window is no part
		// of what the session check reads and caches.
		got, err := s.SessionByTokenHash(ctx, sa.TokenHash)
		must(t, err, "SessionByTokenHash")
		check(t, "session", got, sa)

		t.Run("ended session", func(t *testing.T) {
			_, err := s.DeleteSession(ctx, a.ID, sa.ID)
			must(t, err, "DeleteSession")
			_, err = s.SessionSudoUntil(ctx, a.ID, sa.ID)
			wantCode(t, "SessionSudoUntil", err, keyward.CodeNotFound)
			wantCode(t, "ExtendSessionSudo", s.ExtendSessionSudo(ctx, a.ID, sa.ID, at(time.Hour)), keyward.CodeNotFound)
		})

		t.Run("concurrent grants keep the latest", func(t *testing.T) {
			x := newSession(a.ID, at(0), at(0), at(time.Hour))
			createSessions(t, s, x)
			_, errs := race(8, func(i int) (struct{}, error) {
				return struct{}{}, s.ExtendSessionSudo(ctx, a.ID, x.ID, at(time.Duration(i+1)*time.Minute))
			})
			for i, err := range errs {
				must(t, err, fmt.Sprintf("ExtendSessionSudo %d", i))
			}
			check(t, "window", until(x), at(8*time.Minute))
		})

		t.Run("in a transaction", func(t *testing.T) {
			x := newSession(a.ID, at(0), at(0), at(time.Hour))
			createSessions(t, s, x)
			err := s.InTx(ctx, func(q keyward.Queries) error {
				must(t, q.ExtendSessionSudo(ctx, a.ID, x.ID, at(time.Minute)), "ExtendSessionSudo in tx")
				got, err := q.SessionSudoUntil(ctx, a.ID, x.ID)
				must(t, err, "SessionSudoUntil in tx")
				check(t, "window inside", got, at(time.Minute))
				return errors.New("roll back")
			})
			if err == nil {
				t.Fatal("InTx: want the rollback's error")
			}
			check(t, "window after a rollback", until(x), time.Time{})
		})
	})

	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		sa := newSession(a.ID, at(0), at(0), at(time.Hour))
		sb := newSession(b.ID, at(0), at(0), at(time.Hour))
		createSessions(t, s, sa, sb)
		cases := []struct {
			name        string
			account, id string
			want        bool
		}{
			{"another account's session", b.ID, sa.ID, false},
			{"unknown id", a.ID, newID(sessionPrefix), false},
			{"own session", a.ID, sa.ID, true},
			{"again", a.ID, sa.ID, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.DeleteSession(ctx, c.account, c.id)
				must(t, err, "DeleteSession")
				check(t, "deleted", got, c.want)
			})
		}
		_, err := s.SessionByTokenHash(ctx, sa.TokenHash)
		wantCode(t, "deleted session by token hash", err, keyward.CodeNotFound)
		_, err = s.SessionByTokenHash(ctx, sb.TokenHash)
		must(t, err, "other account's session survives")
	})

	t.Run("delete others", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		a1 := newSession(a.ID, at(0), at(1), at(time.Hour))
		a2 := newSession(a.ID, at(0), at(2), at(time.Hour))
		a3 := newSession(a.ID, at(0), at(3), at(time.Hour))
		b1 := newSession(b.ID, at(0), at(4), at(time.Hour))
		createSessions(t, s, a1, a2, a3, b1)
		cases := []struct {
			name    string
			account string
			keep    string
			ended   []string
			left    []string
		}{
			{"keep one", a.ID, a2.ID, []string{a1.ID, a3.ID}, []string{a2.ID}},
			{"nothing more to end", a.ID, a2.ID, []string{}, []string{a2.ID}},
			{"keep another account's session", a.ID, b1.ID, []string{a2.ID}, []string{}},
			{"end all", b.ID, "", []string{b1.ID}, []string{}},
			{"none left", b.ID, "", []string{}, []string{}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ended, err := s.DeleteOtherSessions(ctx, c.account, c.keep)
				must(t, err, "DeleteOtherSessions")
				check(t, "ended", sortedStrings(ended), sortedStrings(c.ended))
				left, err := s.ListSessions(ctx, c.account, at(0))
				must(t, err, "ListSessions")
				check(t, "left", sortedStrings(sessionIDs(left)), sortedStrings(c.left))
			})
		}
	})

	t.Run("delete expired", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		now := at(10 * time.Hour)
		idleBefore := now.Add(-30 * time.Minute)
		live := newSession(a.ID, at(0), now.Add(-time.Minute), now.Add(time.Hour))
		idleEdge := newSession(a.ID, at(0), idleBefore, now.Add(time.Hour))
		idle := newSession(a.ID, at(0), idleBefore.Add(-time.Microsecond), now.Add(time.Hour))
		ended := newSession(a.ID, at(0), now.Add(-time.Minute), now.Add(-time.Second))
		endsNow := newSession(a.ID, at(0), now.Add(-time.Minute), now)
		createSessions(t, s, live, idleEdge, idle, ended, endsNow)
		n, err := s.DeleteExpired(ctx, keyward.Cutoffs{Now: now, SessionIdleBefore: idleBefore})
		must(t, err, "DeleteExpired")
		check(t, "deleted", n, keyward.Expired{Sessions: 3})
		left, err := s.ListSessions(ctx, a.ID, at(0))
		must(t, err, "ListSessions")
		check(t, "left", sortedStrings(sessionIDs(left)), sortedStrings([]string{live.ID, idleEdge.ID}))
		n, err = s.DeleteExpired(ctx, keyward.Cutoffs{Now: now, SessionIdleBefore: idleBefore})
		must(t, err, "DeleteExpired again")
		check(t, "deleted again", n, keyward.Expired{})
	})
}
