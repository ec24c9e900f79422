package keyward_test

import (
	"context"
	crand "crypto/rand"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/backupcode"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/totp"
)

const goodPassword = "correct horse battery staple"

// sudoWindow is how long a session may do sensitive actions after a proof.
var sudoWindow = keyward.DefaultConfig().SudoWindow

var (
	ctx    = context.Background()
	laptop = keyward.Client{IP: "203.0.113.5", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"}
	phone  = keyward.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}
)

func signUp(t testing.TB, e *keywardtest.Env, email string) *keyward.Account {
	t.Helper()
	a, err := e.Svc.SignUp(ctx, email, goodPassword, laptop)
	if err != nil {
		t.Fatalf("SignUp(%q): %v", email, err)
	}
	return a
}

func signIn(t testing.TB, e *keywardtest.Env, email string, c keyward.Client) *keyward.SignInResult {
	t.Helper()
	res, err := e.Svc.SignIn(ctx, email, goodPassword, c)
	if err != nil {
		t.Fatalf("SignIn(%q): %v", email, err)
	}
	return res
}

func wantCode(t testing.TB, err error, want keyward.Code) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func TestSignUpAndSignIn(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "Ada@Example.com")

	tests := []struct {
		name     string
		email    string
		password string
		want     keyward.Code
	}{
		{"right password, other case email", "ada@example.COM", goodPassword, ""},
		{"wrong password", "ada@example.com", "wrong horse battery staple", keyward.CodeInvalidCredentials},
		{"unknown email", "nobody@example.com", goodPassword, keyward.CodeInvalidCredentials},
		{"empty password", "ada@example.com", "", keyward.CodeInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Svc.SignIn(ctx, tt.email, tt.password, laptop)
			wantCode(t, err, tt.want)
			if tt.want != "" {
				if msg := keyward.ErrorMessage(err); msg != "The email or password is incorrect." {
					t.Fatalf("message = %q: unknown emails and wrong passwords must read the same", msg)
				}
				return
			}
			if res.Session.AccountID != a.ID || !strings.HasPrefix(res.Token, "kws_") || res.Session.AAL != 1 {
				t.Fatalf("got session %+v token %q", res.Session, res.Token)
			}
			got, sess, err := e.Svc.Authenticate(ctx, res.Token)
			if err != nil || got.ID != a.ID || sess.ID != res.Session.ID {
				t.Fatalf("Authenticate = %v, %v, %v", got, sess, err)
			}
		})
	}
}

// TestSignUpAndSignInAtOnce: the page's sign-up opens the first session in
// the account's own transaction; a refused sign-up opens nothing.
func TestSignUpAndSignInAtOnce(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	res, err := e.Svc.SignUpAndSignIn(ctx, "ada@example.com", goodPassword, laptop)
	if err != nil {
		t.Fatal(err)
	}
	if res.MFARequired() || res.Session.AAL != 1 || res.Account.Email != "ada@example.com" {
		t.Fatalf("result %+v", res)
	}
	if a, sess, err := e.Svc.Authenticate(ctx, res.Token); err != nil || a.ID != res.Account.ID || sess.ID != res.Session.ID {
		t.Fatalf("Authenticate = %v, %v, %v", a, sess, err)
	}
	page, err := e.Svc.Events(ctx, res.Account.ID, keyward.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range page.Events {
		got = append(got, string(ev.Type)+" "+ev.SessionID+" "+ev.Details[audit.DetailMethod])
	}
	want := []string{ // newest first
		string(audit.SigninSucceeded) + " " + res.Session.ID + " " + audit.MethodPassword,
		string(audit.AccountCreated) + "  ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	_, err = e.Svc.SignUpAndSignIn(ctx, "ADA@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeEmailTaken)
	if list, err := e.Svc.Sessions(ctx, res.Account.ID); err != nil || len(list) != 1 {
		t.Fatalf("after a refused sign-up: %d sessions (%v), want the first only", len(list), err)
	}
}

func TestSignUpErrors(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	tests := []struct {
		name, email, password string
		want                  keyward.Code
	}{
		{"taken, other case", "ADA@example.com", goodPassword, keyward.CodeEmailTaken},
		{"bad email", "ada.example.com", goodPassword, keyward.CodeInvalidEmail},
		{"short password", "bob@example.com", "abc12", keyward.CodePasswordTooShort},
		{"breached password", "bob@example.com", "password123", keyward.CodePasswordBreached},
		{"password from email", "bobby.tables@example.com", "bobby.tables@example.com!", keyward.CodePasswordHasEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Svc.SignUp(ctx, tt.email, tt.password, laptop)
			wantCode(t, err, tt.want)
		})
	}

	cfg := keyward.DefaultConfig()
	cfg.SignupEnabled = false
	closed := keywardtest.New(t, keywardtest.Options{Config: cfg})
	_, err := closed.Svc.SignUp(ctx, "carol@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeSignupDisabled)
	if _, err := closed.Svc.CreateAccount(ctx, "carol@example.com", goodPassword); err != nil {
		t.Fatalf("the operator's CreateAccount must work with sign-up off: %v", err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SessionIdleTimeout = 30 * time.Minute
	cfg.SessionLifetime = 2 * time.Hour
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	signUp(t, e, "ada@example.com")

	t.Run("idle", func(t *testing.T) {
		res := signIn(t, e, "ada@example.com", laptop)
		e.Clock.Advance(29 * time.Minute)
		if _, _, err := e.Svc.Authenticate(ctx, res.Token); err != nil {
			t.Fatalf("at 29 min idle: %v", err)
		}
		e.Clock.Advance(29 * time.Minute) // used at 29, so idle for 29 only
		if _, _, err := e.Svc.Authenticate(ctx, res.Token); err != nil {
			t.Fatalf("used 29 min ago: %v", err)
		}
		e.Clock.Advance(31 * time.Minute)
		_, _, err := e.Svc.Authenticate(ctx, res.Token)
		wantCode(t, err, keyward.CodeUnauthenticated)
	})
	t.Run("absolute", func(t *testing.T) {
		res := signIn(t, e, "ada@example.com", laptop)
		for range 8 { // 8 x 15 min = 2 h, never idle
			e.Clock.Advance(15 * time.Minute)
			_, _, err := e.Svc.Authenticate(ctx, res.Token)
			if e.Clock.Now().Sub(res.Session.CreatedAt) >= 2*time.Hour {
				wantCode(t, err, keyward.CodeUnauthenticated)
			} else if err != nil {
				t.Fatalf("at %v: %v", e.Clock.Now().Sub(res.Session.CreatedAt), err)
			}
		}
	})
}

func TestAuthenticateWritesLastSeenAtMostEveryMinute(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	res := signIn(t, e, "ada@example.com", laptop)
	stored := func() time.Time {
		s, err := e.Store.SessionByID(ctx, res.Session.AccountID, res.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s.LastSeenAt
	}
	start := stored()
	for range 5 {
		e.Clock.Advance(10 * time.Second)
		if _, _, err := e.Svc.Authenticate(ctx, res.Token); err != nil {
			t.Fatal(err)
		}
	}
	if got := stored(); !got.Equal(start) {
		t.Fatalf("last seen written after 50 s: %v, want still %v", got, start)
	}
	e.Clock.Advance(15 * time.Second)
	if _, _, err := e.Svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatal(err)
	}
	if got, want := stored(), start.Add(65*time.Second); !got.Equal(want) {
		t.Fatalf("last seen after 65 s = %v, want %v", got, want)
	}
}

func TestAuthenticateRefusesMalformedTokens(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	for _, tok := range []string{"", "kws_", "kws_short", "kwm_" + strings.Repeat("A", 43), "kws_" + strings.Repeat("!", 43), "Bearer x", strings.Repeat("A", 10000)} {
		_, _, err := e.Svc.Authenticate(ctx, tok)
		wantCode(t, err, keyward.CodeUnauthenticated)
	}
}

func TestSessionsListAndRevoke(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	signUp(t, e, "bob@example.com")
	one := signIn(t, e, "ada@example.com", laptop)
	e.Clock.Advance(time.Minute)
	two := signIn(t, e, "ada@example.com", phone)
	three := signIn(t, e, "ada@example.com", phone)
	bob := signIn(t, e, "bob@example.com", laptop)

	list, err := e.Svc.Sessions(ctx, one.Session.AccountID)
	if err != nil || len(list) != 3 {
		t.Fatalf("Sessions = %d, %v; want 3", len(list), err)
	}
	if list[2].ID != one.Session.ID || list[0].Device.OS != "iOS" {
		t.Fatalf("order or device wrong: %+v", list)
	}

	err = e.Svc.RevokeSession(ctx, one.Session, bob.Session.ID, laptop)
	wantCode(t, err, keyward.CodeNotFound)
	if _, _, err := e.Svc.Authenticate(ctx, bob.Token); err != nil {
		t.Fatalf("another account's session must survive: %v", err)
	}

	if err := e.Svc.RevokeSession(ctx, one.Session, two.Session.ID, laptop); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Svc.Authenticate(ctx, two.Token)
	wantCode(t, err, keyward.CodeUnauthenticated)

	n, err := e.Svc.RevokeOtherSessions(ctx, one.Session, laptop)
	if err != nil || n != 1 {
		t.Fatalf("RevokeOtherSessions = %d, %v; want 1", n, err)
	}
	_, _, err = e.Svc.Authenticate(ctx, three.Token)
	wantCode(t, err, keyward.CodeUnauthenticated)
	if _, _, err := e.Svc.Authenticate(ctx, one.Token); err != nil {
		t.Fatalf("the caller's own session must survive: %v", err)
	}
	if err := e.Svc.SignOut(ctx, one.Session, laptop); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Svc.Authenticate(ctx, one.Token)
	wantCode(t, err, keyward.CodeUnauthenticated)
}

func TestCacheFollowsRevocationsFromAnotherNode(t *testing.T) {
	a := keywardtest.New(t, keywardtest.Options{})
	b := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: a.Keys})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Svc.RunCacheWatcher(runCtx)
	go b.Svc.RunCacheWatcher(runCtx)

	signUp(t, a, "ada@example.com")
	res := signIn(t, a, "ada@example.com", laptop)
	// Warm node A's cache (and give its watcher time to switch the cache on).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := a.Svc.Authenticate(ctx, res.Token); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, sess, err := b.Svc.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Svc.SignOut(ctx, sess, laptop); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	for {
		_, _, err := a.Svc.Authenticate(ctx, res.Token)
		if keyward.IsCode(err, keyward.CodeUnauthenticated) {
			break
		}
		if time.Since(ended) > time.Second {
			t.Fatalf("node A still accepts the token %v after node B ended it", time.Since(ended))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("node A refused the ended session after %v", time.Since(ended))
}

func TestSignInThrottling(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	signUp(t, e, "bob@example.com")
	rule := keyward.DefaultConfig().SignInThrottle

	for i := range rule.Free + 1 {
		_, err := e.Svc.SignIn(ctx, "ada@example.com", "not the password", laptop)
		wantCode(t, err, keyward.CodeInvalidCredentials)
		_ = i
	}
	_, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	var ke *keyward.Error
	if !errors.As(err, &ke) || ke.RetryAfter != time.Second {
		t.Fatalf("RetryAfter = %v, want 1s after %d failures", ke.RetryAfter, rule.Free+1)
	}
	// Another account from the same address is not slowed.
	signIn(t, e, "bob@example.com", laptop)

	// Growing delays, capped.
	var delays []time.Duration
	for range 10 {
		e.Clock.Advance(rule.Max)
		_, err := e.Svc.SignIn(ctx, "ada@example.com", "still not it", laptop)
		wantCode(t, err, keyward.CodeInvalidCredentials)
		_, err = e.Svc.SignIn(ctx, "ada@example.com", "still not it", laptop)
		errors.As(err, &ke)
		delays = append(delays, ke.RetryAfter)
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] < delays[i-1] || delays[i] > rule.Max {
			t.Fatalf("delays %v must grow up to %v", delays, rule.Max)
		}
	}
	if delays[len(delays)-1] != rule.Max {
		t.Fatalf("delays %v never reach the cap %v", delays, rule.Max)
	}
	// Once the wait is over, the owner gets in, and success resets the count.
	e.Clock.Advance(rule.Max)
	signIn(t, e, "ada@example.com", laptop)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", "wrong again", laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)
	signIn(t, e, "ada@example.com", laptop)
}

func TestAddressThrottlingSparesOtherAddresses(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	attacker := keyward.Client{IP: "192.0.2.66", UserAgent: "flood"}
	rule := keyward.DefaultConfig().AddressThrottle
	throttled := false
	for i := range rule.Free + 2 {
		// A different email each time: only the address ties them together.
		_, err := e.Svc.SignIn(ctx, "victim"+strings.Repeat("x", i%7)+"@example.com", "guess", attacker)
		if keyward.IsCode(err, keyward.CodeTooManyAttempts) {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatalf("%d failures from one address were never throttled", rule.Free+2)
	}
	signIn(t, e, "ada@example.com", laptop)
}

func TestChangePassword(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	other := signIn(t, e, "ada@example.com", phone)
	const next = "violet lanterns drift over harbours"

	_, err := e.Svc.ChangePassword(ctx, me.Session, "wrong current", next, true, laptop)
	wantCode(t, err, keyward.CodeInvalidCurrentPass)
	_, err = e.Svc.ChangePassword(ctx, me.Session, goodPassword, "qwerty123", true, laptop)
	wantCode(t, err, keyward.CodePasswordBreached)

	n, err := e.Svc.ChangePassword(ctx, me.Session, goodPassword, next, true, laptop)
	if err != nil || n != 1 {
		t.Fatalf("ChangePassword = %d, %v; want 1 session ended", n, err)
	}
	if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
		t.Fatalf("the current session must keep working: %v", err)
	}
	_, _, err = e.Svc.Authenticate(ctx, other.Token)
	wantCode(t, err, keyward.CodeUnauthenticated)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)
	if _, err := e.Svc.SignIn(ctx, "ada@example.com", next, laptop); err != nil {
		t.Fatalf("new password: %v", err)
	}

	kept, err := e.Svc.SignIn(ctx, "ada@example.com", next, phone)
	if err != nil {
		t.Fatal(err)
	}
	n, err = e.Svc.ChangePassword(ctx, me.Session, next, goodPassword, false, laptop)
	if err != nil || n != 0 {
		t.Fatalf("ChangePassword without signing out = %d, %v", n, err)
	}
	if _, _, err := e.Svc.Authenticate(ctx, kept.Token); err != nil {
		t.Fatalf("unticked box must keep other sessions: %v", err)
	}
}

func TestRehashOnSignIn(t *testing.T) {
	weak := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, weak, "ada@example.com")
	before, _ := weak.Store.AccountByID(ctx, a.ID)

	stronger := keywardtest.FastParams()
	stronger.Time = 2
	e := keywardtest.New(t, keywardtest.Options{Store: weak.Store, Clock: weak.Clock, Keys: weak.Keys,
		Hasher: passwordHasher(stronger)})
	signIn(t, e, "ada@example.com", laptop)
	after, _ := e.Store.AccountByID(ctx, a.ID)
	if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, ",t=2,") {
		t.Fatalf("hash not upgraded: before %q after %q", before.PasswordHash, after.PasswordHash)
	}
	signIn(t, e, "ada@example.com", laptop)
}

// enableTOTP runs the setup and returns the secret and the backup codes.
func enableTOTP(t testing.TB, e *keywardtest.Env, res *keyward.SignInResult) (string, []string) {
	t.Helper()
	setup, err := e.Svc.BeginTOTPSetup(ctx, res.Session, goodPassword, laptop)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(setup.Secret, e.Clock.Now())
	codes, err := e.Svc.EnableTOTP(ctx, res.Session, code, laptop)
	if err != nil {
		t.Fatalf("EnableTOTP: %v", err)
	}
	// Enabling raised the caller's session to aal 2: read it back as a
	// request would.
	if _, res.Session, err = e.Svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatalf("the enabling session must survive: %v", err)
	}
	if res.Session.AAL != 2 {
		t.Fatalf("enabling session aal = %d, want 2", res.Session.AAL)
	}
	return setup.Secret, codes
}

func TestTwoFactorSignIn(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	secret, codes := enableTOTP(t, e, me)
	if len(codes) != 10 {
		t.Fatalf("got %d backup codes, want 10", len(codes))
	}
	enabledAt := e.Clock.Now()

	// The code that confirmed the setup is spent: not even sign-in takes it.
	first := signIn(t, e, "ada@example.com", laptop)
	if !first.MFARequired() || first.Session != nil {
		t.Fatalf("password step must ask for the second factor, got %+v", first)
	}
	confirm, _ := totp.Code(secret, enabledAt)
	_, err := e.Svc.CompleteSignIn(ctx, first.MFAToken, confirm, laptop)
	wantCode(t, err, keyward.CodeInvalidCode)

	e.Clock.Advance(totp.Period)
	tests := []struct {
		name  string
		shift time.Duration
		want  keyward.Code
	}{
		{"two steps early", -2 * totp.Period, keyward.CodeInvalidCode},
		{"two steps late", 2 * totp.Period, keyward.CodeInvalidCode},
		{"one step late", totp.Period, ""},
		{"replay of the same step", totp.Period, keyward.CodeInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := signIn(t, e, "ada@example.com", laptop)
			code, _ := totp.Code(secret, e.Clock.Now().Add(tt.shift))
			res, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
			wantCode(t, err, tt.want)
			if err == nil && res.Session.AAL != 2 {
				t.Fatalf("aal = %d, want 2", res.Session.AAL)
			}
		})
	}

	t.Run("mfa token works once", func(t *testing.T) {
		e.Clock.Advance(5 * totp.Period)
		step := signIn(t, e, "ada@example.com", laptop)
		code, _ := totp.Code(secret, e.Clock.Now())
		if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(totp.Period)
		code, _ = totp.Code(secret, e.Clock.Now())
		_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
		wantCode(t, err, keyward.CodeMFATokenExpired)
	})
	t.Run("mfa token expires", func(t *testing.T) {
		step := signIn(t, e, "ada@example.com", laptop)
		e.Clock.Advance(5*time.Minute + time.Second)
		code, _ := totp.Code(secret, e.Clock.Now())
		_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
		wantCode(t, err, keyward.CodeMFATokenExpired)
	})
	t.Run("mfa token is not a session", func(t *testing.T) {
		step := signIn(t, e, "ada@example.com", laptop)
		_, _, err := e.Svc.Authenticate(ctx, step.MFAToken)
		wantCode(t, err, keyward.CodeUnauthenticated)
	})
	t.Run("backup code once, typed loosely", func(t *testing.T) {
		step := signIn(t, e, "ada@example.com", laptop)
		loose := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
		res, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, loose, laptop)
		if err != nil {
			t.Fatal(err)
		}
		if !res.UsedBackupCode || res.BackupCodesRemaining != 9 || res.Session.AAL != 2 {
			t.Fatalf("got %+v, want a backup-code sign-in with 9 left", res)
		}
		step = signIn(t, e, "ada@example.com", laptop)
		_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], laptop)
		wantCode(t, err, keyward.CodeInvalidCode)
	})
}

// storeBackupCodes replaces an account's set with codes, stored the way the
// service stores a set: one salt, and the hash of each normalised code.
func storeBackupCodes(t testing.TB, e *keywardtest.Env, accountID string, codes []string) {
	t.Helper()
	salt, err := backupcode.NewSalt(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, c := range codes {
		norm, ok := backupcode.Normalize(c)
		if !ok {
			t.Fatalf("Normalize(%q) refused a code to store", c)
		}
		hashes = append(hashes, backupcode.Hash(norm, salt))
	}
	if err := e.Store.ReplaceBackupCodes(ctx, accountID, salt, hashes); err != nil {
		t.Fatalf("ReplaceBackupCodes: %v", err)
	}
}

// TestBackupCodeFormsSignIn: sets of 10-character codes, issued before
// codes had 13, still sign in, and every form a person may type of either
// length is tried as a backup code, never as a TOTP code, even when it is
// all digits.
func TestBackupCodeFormsSignIn(t *testing.T) {
	tests := []struct {
		name  string
		set   []string // as shown when issued
		typed []string // what is typed, one sign-in each, in order
		want  keyward.Code
	}{
		{
			name:  "legacy 10-character set",
			set:   []string{"abcde-fghjk", "mnpqr-stvwx", "01234-56789", "yz012-34567", "00111-bcdef"},
			typed: []string{"abcde-fghjk", "MNPQR STVWX", "0123456789", " yz012-34567\r\n", "OoIiL-bcdef"},
		},
		{
			name:  "legacy code used twice",
			set:   []string{"abcde-fghjk"},
			typed: []string{"abcde-fghjk", "abcde-fghjk"},
			want:  keyward.CodeInvalidCode,
		},
		{
			name:  "13-character set",
			set:   []string{"abcde-fghj-kmnp", "01234-5678-9012", "qrstv-wxyz-0123", "45678-9abc-defg"},
			typed: []string{"ABCDE-FGHJ-KMNP", "01234 5678 9012", "qrstvwxyz0123", "45678-9ABC DEFG"},
		},
		{
			name:  "new code cut to legacy length",
			set:   []string{"abcde-fghj-kmnp"},
			typed: []string{"abcde-fghjk"},
			want:  keyward.CodeInvalidCode,
		},
		{
			name:  "legacy code with more typed",
			set:   []string{"abcde-fghjk"},
			typed: []string{"abcde-fghjk-mnp"},
			want:  keyward.CodeInvalidCode,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a := signUp(t, e, "ada@example.com")
			enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
			storeBackupCodes(t, e, a.ID, tt.set)
			for i, typed := range tt.typed {
				step := signIn(t, e, "ada@example.com", phone)
				res, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, typed, phone)
				if i < len(tt.typed)-1 || tt.want == "" {
					if err != nil {
						t.Fatalf("CompleteSignIn(%q): %v", typed, err)
					}
					if left := len(tt.set) - 1 - i; !res.UsedBackupCode || res.BackupCodesRemaining != left || res.Session.AAL != 2 {
						t.Fatalf("CompleteSignIn(%q) = %+v, want a backup-code sign-in with %d left", typed, res, left)
					}
					continue
				}
				wantCode(t, err, tt.want)
			}
		})
	}
}

func TestBackupCodeRaceHasOneWinner(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	_, codes := enableTOTP(t, e, me)

	const racers = 20
	tokens := make([]string, racers)
	for i := range tokens {
		tokens[i] = signIn(t, e, "ada@example.com", laptop).MFAToken
	}
	var wg sync.WaitGroup
	results := make(chan error, racers)
	start := make(chan struct{})
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.Svc.CompleteSignIn(ctx, tok, codes[3], laptop)
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case keyward.IsCode(err, keyward.CodeInvalidCode), keyward.IsCode(err, keyward.CodeTooManyAttempts):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent sign-ins won with one backup code, want exactly 1", wins, racers)
	}
}

func TestSecondFactorThrottlingSpansTokens(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	secret, _ := enableTOTP(t, e, me)
	rule := keyward.DefaultConfig().SecondFactorRule
	for range rule.Free + 1 {
		step := signIn(t, e, "ada@example.com", laptop) // a fresh token each time
		_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, "000000", laptop)
		wantCode(t, err, keyward.CodeInvalidCode)
	}
	// Even the right code waits: the count is the account's, not the token's.
	step := signIn(t, e, "ada@example.com", laptop)
	code, _ := totp.Code(secret, e.Clock.Now().Add(totp.Period))
	_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	e.Clock.Advance(rule.Delay(rule.Free + 1))
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, laptop); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestTwoFactorManagement(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)

	_, err := e.Svc.EnableTOTP(ctx, me.Session, "123456", laptop)
	wantCode(t, err, keyward.CodeNoPendingSetup)
	_, err = e.Svc.RegenerateBackupCodes(ctx, me.Session, goodPassword, laptop)
	wantCode(t, err, keyward.CodeNotEnabled)
	err = e.Svc.DisableTOTP(ctx, me.Session, goodPassword, laptop)
	wantCode(t, err, keyward.CodeNotEnabled)

	setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
	if err != nil {
		t.Fatal(err)
	}
	if len(setup.Secret) != 32 || !strings.HasPrefix(setup.URL, "otpauth://totp/keyward:ada@example.com?") {
		t.Fatalf("setup = %q %q", setup.Secret, setup.URL)
	}
	_, err = e.Svc.EnableTOTP(ctx, me.Session, "000000", laptop)
	wantCode(t, err, keyward.CodeInvalidCode)
	e.Clock.Advance(16 * time.Minute)
	code, _ := totp.Code(setup.Secret, e.Clock.Now())
	_, err = e.Svc.EnableTOTP(ctx, me.Session, code, laptop)
	wantCode(t, err, keyward.CodeNoPendingSetup)

	// Signed in 16 minutes ago: changing factors asks for the password.
	_, err = e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
	wantCode(t, err, keyward.CodeReauthRequired)
	_, err = e.Svc.BeginTOTPSetup(ctx, me.Session, "not my password", laptop)
	wantCode(t, err, keyward.CodeInvalidCurrentPass)

	other := signIn(t, e, "ada@example.com", phone)
	secret, codes := enableTOTP(t, e, me)
	_, _, err = e.Svc.Authenticate(ctx, other.Token)
	wantCode(t, err, keyward.CodeUnauthenticated) // a factor changed: other sessions end
	_, err = e.Svc.BeginTOTPSetup(ctx, me.Session, goodPassword, laptop)
	wantCode(t, err, keyward.CodeAlreadyEnabled)

	_, err = e.Svc.RegenerateBackupCodes(ctx, me.Session, "wrong", laptop)
	wantCode(t, err, keyward.CodeInvalidCurrentPass)
	fresh, err := e.Svc.RegenerateBackupCodes(ctx, me.Session, goodPassword, laptop)
	if err != nil || len(fresh) != 10 {
		t.Fatalf("RegenerateBackupCodes = %d, %v", len(fresh), err)
	}
	step := signIn(t, e, "ada@example.com", laptop)
	_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], laptop)
	wantCode(t, err, keyward.CodeInvalidCode)
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, fresh[0], laptop); err != nil {
		t.Fatalf("a new code must work: %v", err)
	}

	err = e.Svc.DisableTOTP(ctx, me.Session, "wrong", laptop)
	wantCode(t, err, keyward.CodeInvalidCurrentPass)
	if err := e.Svc.DisableTOTP(ctx, me.Session, goodPassword, laptop); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.TOTPCredential(ctx, me.Account.ID); !keyward.IsCode(err, keyward.CodeNotFound) {
		t.Fatalf("seed must be deleted, got %v", err)
	}
	if res := signIn(t, e, "ada@example.com", laptop); res.MFARequired() {
		t.Fatal("2FA still asked for after disabling")
	}
	_ = secret
}

func TestOperatorResetTwoFactor(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	enableTOTP(t, e, me)
	if err := e.Svc.ResetTwoFactor(ctx, "ADA@example.com"); err != nil {
		t.Fatal(err)
	}
	page, err := e.Svc.Events(ctx, me.Account.ID, keyward.EventQuery{Types: []audit.Type{audit.TwoFactorDisabled}})
	if err != nil || len(page.Events) != 1 || page.Events[0].Actor != audit.ActorAdmin {
		t.Fatalf("events = %+v, %v; want one 2fa.disabled by admin", page.Events, err)
	}
	wantCode(t, e.Svc.ResetTwoFactor(ctx, "nobody@example.com"), keyward.CodeNotFound)
}

func passwordHasher(p password.Params) *password.Hasher {
	return password.NewHasher(p, 8, 5*time.Second)
}

func TestHashingFloodGetsUnavailableNotExhaustion(t *testing.T) {
	slow := keywardtest.FastParams()
	slow.Time = 400 // slow enough that eight requests overlap on one slot
	e := keywardtest.New(t, keywardtest.Options{Hasher: password.NewHasher(slow, 1, time.Millisecond)})
	if _, err := e.Svc.CreateAccount(ctx, "ada@example.com", goodPassword); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := keyward.Client{IP: "192.0.2." + strconv.Itoa(i+1)}
			_, err := e.Svc.SignIn(ctx, "nobody"+strconv.Itoa(i)+"@example.com", "whatever it is", c)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		var ke *keyward.Error
		switch {
		case keyward.IsCode(err, keyward.CodeUnavailable) && errors.As(err, &ke) && ke.RetryAfter > 0:
			busy++
		case keyward.IsCode(err, keyward.CodeInvalidCredentials):
		default:
			t.Fatalf("unexpected answer under a hashing flood: %v", err)
		}
	}
	if busy == 0 {
		t.Fatal("eight overlapping hashes on one slot: none was told to come back later")
	}
	t.Logf("%d of 8 answered 503 with Retry-After", busy)
}
