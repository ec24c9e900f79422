// Package storetest is the conformance suite every keyward.Store passes, in
// the manner of testing/fstest.TestFS: an engine's own test calls Run with a
// constructor, and the same cases run against SQLite, PostgreSQL or anything
// else.
//
// The suite pins down, besides what store.go documents, the few choices the
// contract leaves open, so that every engine makes the same ones:
//
//   - Times come back in UTC, equal to what was stored at microsecond
//     precision (the service truncates to microseconds before storing; the
//     suite's inputs are truncated too).
//   - Something expires when its ExpiresAt is at or before now: a session or
//     an MFA challenge with ExpiresAt == now is expired. A session is idle
//     when LastSeenAt is strictly before idleBefore. A throttle counter is
//     forgotten when LastFailure is strictly before forgetBefore.
//   - Byte fields compare by content: nil and empty are the same.
//   - Event.Details is never nil on read (nil and empty are stored alike).
//   - An update of a row that does not exist (SetPasswordHash, TouchSession)
//     is CodeNotFound; a conditional update (AdvanceTOTPStep, the swap of
//     ResealSecrets) of one reports false (counts Changed) instead; deleting
//     something absent is not an error. Lists of nothing are empty (nil or zero length), not NotFound.
//   - PruneEvents removes the longest run at the start of the chain whose
//     events are all older than before, so the chain that remains never has
//     a gap, even when clocks of several nodes disagreed.
//   - Invalidation sequence numbers are never reused, not even after every
//     row was deleted.
//   - ListAccounts, AuditHeads and DeleteOtherSessions return their rows,
//     and ResealSecrets its seeds, in no particular order.
//   - LockAuditHead belongs to the q of InTx: a Store that has one of its
//     own fails it rather than read the head without holding it.
//
// Ids are shaped like the ones the service makes: a prefix ("acct_",
// "sess_", "ev_") and 26 characters of its base32 alphabet; event ids
// compare in byte order.
// Subtests do not run in parallel; newStore must return a store of its own
// at each call (the snapshot case holds two at once).
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Run runs the conformance suite. newStore returns a fresh, empty, migrated
// store for each call and arranges for it to be closed when the test ends
// (t.Cleanup); Run never closes a store itself.
func Run(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	areas := []struct {
		name string
		run  func(t *testing.T, newStore func(t testing.TB) keyward.Store)
	}{
		{"Ping", testPing},
		{"Accounts", testAccounts},
		{"Sessions", testSessions},
		{"TOTP", testTOTP},
		{"BackupCodes", testBackupCodes},
		{"MFAChallenges", testMFAChallenges},
		{"FactorChanges", testFactorChanges},
		{"Throttle", testThrottle},
		{"Audit", testAudit},
		{"InTx", testInTx},
		{"Invalidations", testInvalidations},
		{"Expiry", testExpiry},
		{"HeadLockOutsideTx", testHeadLockOutsideTx},
		{"Context", testContext},
		{"Snapshot", testSnapshot},
		{"MigrationStatus", testMigrationStatus},
		{"Outbox", testOutbox},
		{"WebhookOutbox", testWebhookOutbox},
		{"EmailTokens", testEmailTokens},
		{"AccountEmail", testAccountEmail},
		{"AccountLanguage", testAccountLanguage},
		{"Passkeys", testPasskeys},
		{"PasskeyChallenges", testPasskeyChallenges},
		{"TwoFactorWithPasskeys", testTwoFactorWithPasskeys},
		{"AdminTokens", testAdminTokens},
		{"AccountAdmin", testAccountAdmin},
		{"ClearThrottlePrefix", testClearThrottlePrefix},
		{"OIDC", testOIDC},
	}
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) { a.run(t, newStore) })
	}
}

// base is the suite's clock: a fixed instant with microseconds, in UTC.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// at returns base+d truncated to microseconds, as the service stores times.
func at(d time.Duration) time.Time { return base.Add(d).Truncate(time.Microsecond) }

// The prefixes of the ids the service makes (Service.newID).
const (
	accountPrefix = "acct_"
	sessionPrefix = "sess_"
	eventPrefix   = "ev_"
)

// idEncoding is the service's: base32 in an alphabet without i, l, o or u,
// in byte order, so ids compare as the bytes they encode.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random id shaped like the service's: prefix, then 128
// bits as 26 characters of its alphabet.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return idString(prefix, b)
}

func idString(prefix string, b [16]byte) string {
	return prefix + idEncoding.EncodeToString(b[:])
}

// randBytes returns n random bytes whose first byte is zero and which hold
// another zero in the middle, to catch engines that treat bytes as C strings.
func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	b[0] = 0
	if n > 2 {
		b[n/2] = 0
	}
	return b
}

// fakeHash stands in for the audit chain hash: any bytes will do here, the
// store keeps them faithfully.
func fakeHash(prev []byte, id string, seq int64) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write([]byte(id))
	_ = binary.Write(h, binary.BigEndian, seq)
	return h.Sum(nil)
}

// show renders v canonically for comparison: times with their location,
// bytes as hex (nil and empty alike), maps sorted (nil and empty alike),
// pointers by what they point to.
func show(v any) string {
	var b strings.Builder
	writeValue(&b, reflect.ValueOf(v))
	return b.String()
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

func writeValue(b *strings.Builder, v reflect.Value) {
	if !v.IsValid() {
		b.WriteString("<nil>")
		return
	}
	switch {
	case v.Type() == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			b.WriteString("zero-time")
			return
		}
		b.WriteString(tm.Format("2006-01-02T15:04:05.000000000Z07:00") + "@" + tm.Location().String())
		return
	case v.Type() == bytesType:
		b.WriteString("x'" + hex.EncodeToString(v.Bytes()) + "'")
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if v.Kind() == reflect.Pointer {
			b.WriteString("&")
		}
		writeValue(b, v.Elem())
	case reflect.Struct:
		b.WriteString("{")
		for i := 0; i < v.NumField(); i++ {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			writeValue(b, v.Field(i))
		}
		b.WriteString("}")
	case reflect.Slice, reflect.Array:
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteString(" ")
			}
			writeValue(b, v.Index(i))
		}
		b.WriteString("]")
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		b.WriteString("map[")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			writeValue(b, k)
			b.WriteString(":")
			writeValue(b, v.MapIndex(k))
		}
		b.WriteString("]")
	case reflect.String:
		b.WriteString(strconv.Quote(v.String()))
	default:
		fmt.Fprint(b, v.Interface())
	}
}

// check reports got and want when they differ, and whether they were equal.
func check(t testing.TB, what string, got, want any) bool {
	t.Helper()
	if g, w := show(got), show(want); g != w {
		t.Errorf("%s:\n got  %s\n want %s", what, g, w)
		return false
	}
	return true
}

// must stops the test on an unexpected error.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// leaky words must never appear in a client-safe message.
var leaky = []string{"sql", "constraint", "unique", "duplicate", "syntax", "select ", "insert ", "update ", "delete ", "pq:", "pgx", "relation"}

// wantCode checks that err is a *keyward.Error with code and a message that
// says nothing about the engine.
func wantCode(t testing.TB, what string, err error, code keyward.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want code %q", what, code)
		return
	}
	var e *keyward.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: got %T %v, want a *keyward.Error with code %q", what, err, err, code)
		return
	}
	if e.Code != code {
		t.Errorf("%s: got code %q (%v), want %q", what, e.Code, err, code)
	}
	msg := strings.ToLower(e.Message)
	if msg == "" {
		t.Errorf("%s: error %v has an empty Message", what, err)
	}
	for _, w := range leaky {
		if strings.Contains(msg, w) {
			t.Errorf("%s: Message %q leaks engine detail (%q)", what, e.Message, w)
		}
	}
}

// queryer is what a Store and the q of its InTx both have: every role of
// the contract (only q has LockAuditHead).
type queryer interface {
	keyward.Accounts
	keyward.Sessions
	keyward.Factors
	keyward.Throttles
	keyward.AuditLog
	keyward.Invalidations
	keyward.Expiry
	keyward.Outbox
	keyward.EmailTokens
	keyward.AdminTokens
}

// newAccount creates an account with a fresh id.
func newAccount(t testing.TB, s queryer, email string) *keyward.Account {
	t.Helper()
	a := &keyward.Account{ID: newID(accountPrefix), Email: email, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$" + email, CreatedAt: at(0)}
	must(t, s.CreateAccount(t.Context(), a), "CreateAccount "+email)
	return a
}

// race runs fn in n goroutines released at once and returns their results.
func race[T any](n int, fn func(i int) (T, error)) ([]T, []error) {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		res   = make([]T, n)
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i], errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return res, errs
}

// countTrue checks the errors of a race and counts the winners.
func countTrue(t testing.TB, what string, res []bool, errs []error) int {
	t.Helper()
	n := 0
	for i := range res {
		if errs[i] != nil {
			t.Errorf("%s: goroutine %d: %v", what, i, errs[i])
		}
		if res[i] {
			n++
		}
	}
	return n
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func testPing(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	must(t, s.Ping(t.Context()), "Ping")
}

func testContext(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	a := newAccount(t, s, "ctx@example.com")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cases := []struct {
		name string
		call func() error
	}{
		{"read", func() error { _, err := s.AccountByID(ctx, a.ID); return err }},
		{"write", func() error { return s.SetPasswordHash(ctx, a.ID, "new") }},
		{"list", func() error { _, err := s.ListEvents(ctx, keyward.EventFilter{}); return err }},
		{"InTx", func() error {
			return s.InTx(ctx, func(q keyward.Queries) error { return q.SetPasswordHash(ctx, a.ID, "new") })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); err == nil {
				t.Errorf("with a canceled context: got no error, want one")
			}
		})
	}
	got, err := s.AccountByID(t.Context(), a.ID)
	must(t, err, "AccountByID")
	check(t, "password hash after canceled writes", got.PasswordHash, a.PasswordHash)
}
