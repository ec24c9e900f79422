package keyward_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/postgres/pgtest"
	"github.com/keyward/keyward/totp"
)

// supportToken is the holder of an admin token with every scope, as the
// admin API's handlers pass it to the service.
var supportToken = keyward.Admin{TokenName: "support", Scopes: keyward.AdminScopes()}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   string
		want []keyward.AdminScope
	}{
		{"accounts:read", []keyward.AdminScope{keyward.ScopeAccountsRead}},
		{" audit:read , accounts:read", []keyward.AdminScope{keyward.ScopeAccountsRead, keyward.ScopeAuditRead}},
		{"sessions:write,sessions:write", []keyward.AdminScope{keyward.ScopeSessionsWrite}},
		{"accounts:read,accounts:write,sessions:write,audit:read,clients:write", keyward.AdminScopes()},
		{"", nil},
		{" , ", nil},
		{"accounts:admin", nil},
		{"ACCOUNTS:READ", nil},
		{"accounts:*", nil},
		{"accounts:read,audit", nil},
		{"clients:write", []keyward.AdminScope{keyward.ScopeClientsWrite}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := keyward.ParseScopes(tt.in)
			if tt.want == nil {
				wantCode(t, err, keyward.CodeInvalidRequest)
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseScopes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// systemEvents are the system chain's events, oldest first.
func systemEvents(t testing.TB, e *keywardtest.Env) []keyward.Event {
	t.Helper()
	evs, err := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: audit.SystemChain})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs)
	return evs
}

func TestAdminTokens(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	token, tok, err := e.Svc.CreateAdminToken(ctx, "ops-bot", []keyward.AdminScope{keyward.ScopeAccountsRead, keyward.ScopeAuditRead})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "kwa_") || len(token) != 4+43 {
		t.Fatalf("token %q: want kwa_ and 43 base64url characters", token)
	}
	if sum := sha256.Sum256([]byte(token)); !slices.Equal(tok.TokenHash, sum[:]) {
		t.Fatalf("stored hash %x is not the token's SHA-256", tok.TokenHash)
	}
	list, err := e.Svc.ListAdminTokens(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListAdminTokens = %v, %v", list, err)
	}
	if got := list[0]; got.Name != "ops-bot" || !slices.Equal(got.Scopes, tok.Scopes) || got.LastUsedAt != nil || !got.CreatedAt.Equal(e.Clock.Now()) {
		t.Fatalf("listed %+v", got)
	}
	if strings.Contains(fmt.Sprintf("%+v", list), token[4:]) {
		t.Fatal("the token itself is stored")
	}

	t.Run("bad names and scopes", func(t *testing.T) {
		for _, name := range []string{"", "has space", "tab\tname", "ünicode", "line\nbreak", strings.Repeat("n", 65), "semi;colon"} {
			_, _, err := e.Svc.CreateAdminToken(ctx, name, keyward.AdminScopes())
			wantCode(t, err, keyward.CodeInvalidRequest)
		}
		_, _, err := e.Svc.CreateAdminToken(ctx, "ok", nil)
		wantCode(t, err, keyward.CodeInvalidRequest)
		_, _, err = e.Svc.CreateAdminToken(ctx, "ok", []keyward.AdminScope{"accounts:delete"})
		wantCode(t, err, keyward.CodeInvalidRequest)
		_, _, err = e.Svc.CreateAdminToken(ctx, "ops-bot", keyward.AdminScopes())
		wantCode(t, err, keyward.CodeConflict)
		if _, _, err := e.Svc.CreateAdminToken(ctx, strings.Repeat("n", 64), keyward.AdminScopes()); err != nil {
			t.Fatalf("a 64-character name: %v", err)
		}
	})

	t.Run("authenticate, last used", func(t *testing.T) {
		by, err := e.Svc.AuthenticateAdmin(ctx, token, laptop)
		if err != nil || by.TokenName != "ops-bot" || !slices.Equal(by.Scopes, tok.Scopes) {
			t.Fatalf("AuthenticateAdmin = %+v, %v", by, err)
		}
		used := func() time.Time {
			list, err := e.Svc.ListAdminTokens(ctx)
			if err != nil || list[1].LastUsedAt == nil {
				t.Fatalf("ListAdminTokens = %+v, %v; want ops-bot used", list, err)
			}
			return *list[1].LastUsedAt
		}
		first := used()
		e.Clock.Advance(30 * time.Second)
		if _, err := e.Svc.AuthenticateAdmin(ctx, token, laptop); err != nil {
			t.Fatal(err)
		}
		if !used().Equal(first) {
			t.Fatal("last used written again within a minute")
		}
		e.Clock.Advance(31 * time.Second)
		if _, err := e.Svc.AuthenticateAdmin(ctx, token, laptop); err != nil {
			t.Fatal(err)
		}
		if !used().Equal(e.Clock.Now()) {
			t.Fatalf("last used %v, want %v", used(), e.Clock.Now())
		}
	})

	t.Run("revoke", func(t *testing.T) {
		if err := e.Svc.RevokeAdminToken(ctx, "ops-bot"); err != nil {
			t.Fatal(err)
		}
		_, err := e.Svc.AuthenticateAdmin(ctx, token, laptop)
		wantCode(t, err, keyward.CodeUnauthenticated)
		wantCode(t, e.Svc.RevokeAdminToken(ctx, "ops-bot"), keyward.CodeNotFound)
		wantCode(t, e.Svc.RevokeAdminToken(ctx, "no such\nname"), keyward.CodeNotFound)
	})

	t.Run("recorded in the system log", func(t *testing.T) {
		var got []string
		for _, ev := range systemEvents(t, e) {
			got = append(got, fmt.Sprintf("%s %s %v", ev.Type, ev.Actor, ev.Details))
		}
		want := []string{
			"admin.token_created admin map[admin_token:ops-bot scopes:accounts:read,audit:read]",
			"admin.token_created admin map[admin_token:" + strings.Repeat("n", 64) + " scopes:accounts:read,accounts:write,sessions:write,audit:read,clients:write]",
			"admin.token_revoked admin map[admin_token:ops-bot]",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("system log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		verifyIntact(t, e)
	})
}

// TestAuthenticateAdminRefuses: anything but a live admin token is 401,
// with one message.
func TestAuthenticateAdminRefuses(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	token, _, err := e.Svc.CreateAdminToken(ctx, "ci", keyward.AdminScopes())
	if err != nil {
		t.Fatal(err)
	}
	signUp(t, e, "ada@example.com")
	session := signIn(t, e, "ada@example.com", laptop)
	sum := sha256.Sum256([]byte(token))
	for _, tt := range []struct{ name, token string }{
		{"empty", ""},
		{"prefix only", "kwa_"},
		{"unknown", "kwa_" + strings.Repeat("A", 43)},
		{"one character changed", token[:len(token)-1] + map[bool]string{true: "B", false: "A"}[token[len(token)-1] == 'A']},
		{"cut short", token[:len(token)-1]},
		{"too long", token + "A"},
		{"trailing space", token + " "},
		{"other case", strings.ToUpper(token[:4]) + token[4:]},
		{"a session token", session.Token},
		{"the stored hash", fmt.Sprintf("%x", sum)},
		{"a NUL", token[:10] + "\x00" + token[11:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.Clock.Advance(time.Hour) // clear of the throttle
			_, err := e.Svc.AuthenticateAdmin(ctx, tt.token, phone)
			wantCode(t, err, keyward.CodeUnauthenticated)
		})
	}
	// A session token for an admin route is refused, and an admin token
	// opens no session.
	_, _, err = e.Svc.Authenticate(ctx, token)
	wantCode(t, err, keyward.CodeUnauthenticated)
}

// TestAdminTokenGuessesThrottled: refused tokens are counted per client
// address; past the free ones every attempt from that address waits, a
// live token's too, while other addresses go on.
func TestAdminTokenGuessesThrottled(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	token, _, err := e.Svc.CreateAdminToken(ctx, "ci", keyward.AdminScopes())
	if err != nil {
		t.Fatal(err)
	}
	free := keyward.DefaultConfig().AdminTokenThrottle.Free
	for i := range free + 1 {
		_, err := e.Svc.AuthenticateAdmin(ctx, fmt.Sprintf("kwa_guess%d", i), laptop)
		wantCode(t, err, keyward.CodeUnauthenticated)
	}
	_, err = e.Svc.AuthenticateAdmin(ctx, "kwa_guess", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	_, err = e.Svc.AuthenticateAdmin(ctx, token, laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	// The same /64 is the same client.
	_, err = e.Svc.AuthenticateAdmin(ctx, token, keyward.Client{IP: "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.AuthenticateAdmin(ctx, token, phone); err != nil {
		t.Fatalf("another address: %v", err)
	}
	e.Clock.Advance(2 * time.Second)
	if _, err := e.Svc.AuthenticateAdmin(ctx, token, laptop); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// TestAdminScopeRequired: every admin action needs its scope, checked
// before anything else (an unknown account is 403 too, not 404), and a
// refused one changes nothing.
func TestAdminScopeRequired(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	res := signIn(t, e, "ada@example.com", laptop)
	enableTOTP(t, e, res)
	unknown := "acct_" + strings.Repeat("0", 26)
	tests := []struct {
		name  string
		scope keyward.AdminScope
		call  func(by keyward.Admin, id string) error
	}{
		{"FindAccounts", keyward.ScopeAccountsRead, func(by keyward.Admin, id string) error {
			_, err := e.Svc.FindAccounts(ctx, by, keyward.AccountQuery{})
			return err
		}},
		{"AccountDetail", keyward.ScopeAccountsRead, func(by keyward.Admin, id string) error {
			_, err := e.Svc.AccountDetail(ctx, by, id)
			return err
		}},
		{"AdminCreateAccount", keyward.ScopeAccountsWrite, func(by keyward.Admin, id string) error {
			_, err := e.Svc.AdminCreateAccount(ctx, by, "bob@example.com", goodPassword, laptop)
			return err
		}},
		{"DisableAccount", keyward.ScopeAccountsWrite, func(by keyward.Admin, id string) error {
			_, _, err := e.Svc.DisableAccount(ctx, by, id, laptop)
			return err
		}},
		{"EnableAccount", keyward.ScopeAccountsWrite, func(by keyward.Admin, id string) error {
			_, err := e.Svc.EnableAccount(ctx, by, id, laptop)
			return err
		}},
		{"DeleteAccount", keyward.ScopeAccountsWrite, func(by keyward.Admin, id string) error {
			return e.Svc.DeleteAccount(ctx, by, id, laptop)
		}},
		{"AdminResetTwoFactor", keyward.ScopeAccountsWrite, func(by keyward.Admin, id string) error {
			return e.Svc.AdminResetTwoFactor(ctx, by, id, laptop)
		}},
		{"RevokeAccountSessions", keyward.ScopeSessionsWrite, func(by keyward.Admin, id string) error {
			_, err := e.Svc.RevokeAccountSessions(ctx, by, id, laptop)
			return err
		}},
		{"AdminEvents", keyward.ScopeAuditRead, func(by keyward.Admin, id string) error {
			_, err := e.Svc.AdminEvents(ctx, by, id, keyward.EventQuery{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			others := slices.DeleteFunc(keyward.AdminScopes(), func(s keyward.AdminScope) bool { return s == tt.scope })
			for _, by := range []keyward.Admin{{TokenName: "t", Scopes: others}, {}} {
				for _, id := range []string{a.ID, unknown, "not an id"} {
					wantCode(t, tt.call(by, id), keyward.CodeInsufficientScope)
				}
			}
		})
	}
	// Nothing was done by the refused calls.
	if _, _, err := e.Svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatalf("the session ended: %v", err)
	}
	if got, err := e.Store.AccountByID(ctx, a.ID); err != nil || got.Disabled() || !got.TwoFactorEnabled() {
		t.Fatalf("account after refused calls: %+v, %v", got, err)
	}
	if _, err := e.Store.AccountByEmail(ctx, "bob@example.com"); !keyward.IsCode(err, keyward.CodeNotFound) {
		t.Fatalf("bob created without the scope: %v", err)
	}
	// The scope alone is enough to get past the check.
	for _, tt := range tests {
		if err := tt.call(keyward.Admin{TokenName: "t", Scopes: []keyward.AdminScope{tt.scope}}, unknown); keyward.IsCode(err, keyward.CodeInsufficientScope) {
			t.Errorf("%s with the scope alone: %v", tt.name, err)
		}
	}
}

// adminEvent finds the account's newest event of type t.
func adminEvent(t testing.TB, e *keywardtest.Env, chain string, typ audit.Type) keyward.Event {
	t.Helper()
	evs, err := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: chain, Types: []audit.Type{typ}, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%s events of %s: %v, %v", typ, chain, evs, err)
	}
	return evs[0]
}

// TestDisabledAccount, on both engines: a disabled account has no session
// and cannot get one; sign-in says so only after a correct password (and a
// correct code), and a wrong password reads as for any account; no mailed
// link brings it back; enabling does.
func TestDisabledAccount(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store, Config: fastForgot()})
			ada := signUp(t, e, "ada@example.com")
			signUp(t, e, "carol@example.com")
			me, other := signIn(t, e, "ada@example.com", laptop), signIn(t, e, "ada@example.com", phone)
			resetToken := resetLink(t, e, "ada@example.com")
			if err := e.Svc.RequestEmailChange(ctx, me.Session, "ada.new@example.com", goodPassword, laptop); err != nil {
				t.Fatal(err)
			}
			change := only(deliver(t, e), keyward.MailConfirmChange, "")

			got, n, err := e.Svc.DisableAccount(ctx, supportToken, ada.ID, laptop)
			if err != nil || n != 2 || !got.Disabled() || got.PasswordHash != "" || got.ID != ada.ID {
				t.Fatalf("DisableAccount = %d, %v; want 2 sessions ended", n, err)
			}
			for _, tok := range []string{me.Token, other.Token} {
				_, _, err := e.Svc.Authenticate(ctx, tok)
				wantCode(t, err, keyward.CodeUnauthenticated)
			}
			_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
			wantCode(t, err, keyward.CodeAccountDisabled)
			_, wrong := e.Svc.SignIn(ctx, "ada@example.com", "not the password", laptop)
			_, carolWrong := e.Svc.SignIn(ctx, "carol@example.com", "not the password", laptop)
			_, unknown := e.Svc.SignIn(ctx, "nobody@example.com", "not the password", laptop)
			for _, err := range []error{wrong, carolWrong, unknown} {
				wantCode(t, err, keyward.CodeInvalidCredentials)
				if keyward.ErrorMessage(err) != keyward.ErrorMessage(carolWrong) {
					t.Fatalf("a wrong password reads %q, for an enabled account %q", keyward.ErrorMessage(err), keyward.ErrorMessage(carolWrong))
				}
			}
			if _, err := e.Svc.SignUpAndSignIn(ctx, "ADA@example.com", goodPassword, laptop); !keyward.IsCode(err, keyward.CodeEmailTaken) {
				t.Fatalf("sign-up with a disabled account's email: %v", err)
			}

			// No link brings it back, none is mailed while it is disabled.
			_, err = e.Svc.ResetPassword(ctx, resetToken, "a brand new passphrase here", "", laptop)
			wantCode(t, err, keyward.CodeInvalidToken)
			_, err = e.Svc.VerifyEmail(ctx, change[0].Token, laptop)
			wantCode(t, err, keyward.CodeInvalidToken)
			if err := e.Svc.ForgotPassword(ctx, "ada@example.com", laptop); err != nil {
				t.Fatalf("forgot password answers as for any email: %v", err)
			}
			if mails := only(deliver(t, e), keyward.MailPasswordReset, ""); len(mails) != 0 {
				t.Fatalf("a reset link was mailed to a disabled account: %+v", mails)
			}
			if got := adminEvent(t, e, ada.ID, audit.PasswordResetRequested); got.Outcome != audit.Failure || got.Reason != "account_disabled" {
				t.Fatalf("forgot password recorded as %+v", got)
			}

			// Disabling again changes nothing.
			if got, n, err := e.Svc.DisableAccount(ctx, supportToken, ada.ID, laptop); err != nil || n != 0 || !got.Disabled() {
				t.Fatalf("DisableAccount again = %d, %v", n, err)
			}
			disabled := adminEvent(t, e, ada.ID, audit.AccountDisabled)
			if disabled.Actor != audit.ActorAdmin || !maps.Equal(disabled.Details, map[string]string{"admin_token": "support", "revoked_sessions": "2"}) || disabled.IP != laptop.IP {
				t.Fatalf("account.disabled = %+v", disabled)
			}
			revoked := adminEvent(t, e, ada.ID, audit.SessionRevoked)
			if revoked.Actor != audit.ActorAdmin || revoked.Details["admin_token"] != "support" || revoked.Details["reason"] != "account_disabled" {
				t.Fatalf("session.revoked = %+v", revoked)
			}
			if failed := adminEvent(t, e, ada.ID, audit.SigninFailed); failed.Reason != "account_disabled" {
				// The newest failure is the wrong password's.
				if failed.Reason != "invalid_password" {
					t.Fatalf("signin.failed = %+v", failed)
				}
			}
			if got, err := e.Svc.Events(ctx, ada.ID, keyward.EventQuery{Types: []audit.Type{audit.AccountDisabled}}); err != nil || len(got.Events) != 1 {
				t.Fatalf("account.disabled events: %d, %v; want one", len(got.Events), err)
			}

			if got, err := e.Svc.EnableAccount(ctx, supportToken, ada.ID, laptop); err != nil || got.Disabled() || got.PasswordHash != "" {
				t.Fatalf("EnableAccount = %+v, %v", got, err)
			}
			if _, err := e.Svc.EnableAccount(ctx, supportToken, ada.ID, laptop); err != nil {
				t.Fatalf("enabling again: %v", err)
			}
			if got, err := e.Svc.Events(ctx, ada.ID, keyward.EventQuery{Types: []audit.Type{audit.AccountEnabled}}); err != nil || len(got.Events) != 1 || got.Events[0].Actor != audit.ActorAdmin {
				t.Fatalf("account.enabled events: %+v, %v; want one by an admin", got.Events, err)
			}
			signIn(t, e, "ada@example.com", laptop)
			resetLink(t, e, "ada@example.com")
			verifyIntact(t, e)
		})
	}
}

// TestDisabledSecondStep: an account with 2FA is told it is disabled after
// the password, before any code; one disabled between the two steps is
// told after a correct code, and a wrong code reads as any wrong code.
// Enabling drops the second steps started before.
func TestDisabledSecondStep(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			ada := signUp(t, e, "ada@example.com")
			secret, codes := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
			e.Clock.Advance(totp.Period)

			step := signIn(t, e, "ada@example.com", phone)
			if !step.MFARequired() {
				t.Fatal("no second step")
			}
			if _, _, err := e.Svc.DisableAccount(ctx, supportToken, ada.ID, laptop); err != nil {
				t.Fatal(err)
			}
			_, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, "000000", phone)
			wantCode(t, err, keyward.CodeInvalidCode)
			_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, "not-a-backup-code", phone)
			wantCode(t, err, keyward.CodeInvalidCode)
			code, _ := totp.Code(secret, e.Clock.Now())
			_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone)
			wantCode(t, err, keyward.CodeAccountDisabled)
			_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], phone)
			wantCode(t, err, keyward.CodeAccountDisabled)
			failed := adminEvent(t, e, ada.ID, audit.SigninFailed)
			if failed.Reason != "account_disabled" || failed.Details[audit.DetailMethod] != audit.MethodBackupCode {
				t.Fatalf("signin.failed = %+v", failed)
			}
			if n, err := e.Store.BackupCodesRemaining(ctx, ada.ID); err != nil || n != 10 {
				t.Fatalf("backup codes left: %d, %v; the refused step must not use one", n, err)
			}
			// The password step says so before asking for a code.
			_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, phone)
			wantCode(t, err, keyward.CodeAccountDisabled)

			if _, err := e.Svc.EnableAccount(ctx, supportToken, ada.ID, laptop); err != nil {
				t.Fatal(err)
			}
			e.Clock.Advance(totp.Period)
			code, _ = totp.Code(secret, e.Clock.Now())
			_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone)
			wantCode(t, err, keyward.CodeMFATokenExpired)
			again := signIn(t, e, "ada@example.com", phone)
			if _, err := e.Svc.CompleteSignIn(ctx, again.MFAToken, code, phone); err != nil {
				t.Fatalf("after enabling: %v", err)
			}
			verifyIntact(t, e)
		})
	}
}

// TestDisabledWrongPasswordDoesTheSameWork: a wrong password to a disabled
// account does what a wrong password to any account does (the answer is
// checked in TestDisabledAccount): nothing tells a guesser the account is
// disabled before he has its password.
func TestDisabledWrongPasswordDoesTheSameWork(t *testing.T) {
	counted := newCountingStore(keywardtest.NewStore(t))
	e := keywardtest.New(t, keywardtest.Options{Store: counted})
	signUp(t, e, "ada@example.com")
	bob := signUp(t, e, "bob@example.com")
	if _, _, err := e.Svc.DisableAccount(ctx, supportToken, bob.ID, laptop); err != nil {
		t.Fatal(err)
	}
	attempt := func(email string) []string {
		e.Clock.Advance(time.Hour)
		counted.log.take()
		_, err := e.Svc.SignIn(ctx, email, "not the password", laptop)
		wantCode(t, err, keyward.CodeInvalidCredentials)
		return counted.log.take()
	}
	attempt("ada@example.com")
	attempt("bob@example.com")
	enabled, disabled := attempt("ada@example.com"), attempt("bob@example.com")
	if !slices.Equal(enabled, disabled) {
		t.Fatalf("store calls differ:\nenabled:  %v\ndisabled: %v", enabled, disabled)
	}
}

// TestDeleteAccountLeavesNothing, on both engines: after the deletion no
// row of any table names the account or its email, but the system log's
// account.deleted (the id and the token's name, nothing of the person) and
// the invalidation rows that tell other nodes (the id alone, swept within
// the hour); audit verify finds everything as expected.
func TestDeleteAccountLeavesNothing(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, dump := keywardtest.NewStoreWithDump(t, engine)
			cfg := fastForgot()
			// Webhooks on: each event also waits in the webhook outbox.
			every, selErr := audit.ParseSelector("")
			if selErr != nil {
				t.Fatal(selErr)
			}
			cfg.WebhookEvents = &every
			e := keywardtest.New(t, keywardtest.Options{Store: store, Config: cfg})
			ada := signUp(t, e, "Ada.Lovelace@example.com")
			dan := signUp(t, e, "dan@example.com")
			bob := signUp(t, e, "bob@example.com")
			me := signIn(t, e, "ada.lovelace@example.com", laptop)
			secret, _ := enableTOTP(t, e, me)
			e.Clock.Advance(totp.Period)
			// A waiting second step, a wrong code, a wrong password: an mfa
			// challenge and throttle counts by account and by email.
			step := signIn(t, e, "ada.lovelace@example.com", phone)
			if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, "000000", phone); !keyward.IsCode(err, keyward.CodeInvalidCode) {
				t.Fatal(err)
			}
			code, _ := totp.Code(secret, e.Clock.Now())
			if _, err := e.Svc.CompleteSignIn(ctx, signIn(t, e, "ada.lovelace@example.com", phone).MFAToken, code, phone); err != nil {
				t.Fatal(err)
			}
			signIn(t, e, "ada.lovelace@example.com", laptop) // a challenge left waiting
			if _, err := e.Svc.SignIn(ctx, "ada.lovelace@example.com", "not the password", laptop); !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
				t.Fatal(err)
			}
			// Mails waiting and sent, a reset link, an email change.
			if err := e.Svc.ForgotPassword(ctx, "ada.lovelace@example.com", laptop); err != nil {
				t.Fatal(err)
			}
			deliver(t, e)
			if err := e.Svc.RequestEmailChange(ctx, me.Session, "ada.new@example.com", goodPassword, laptop); err != nil {
				t.Fatal(err)
			}
			// dan: a pending setup.
			danIn := signIn(t, e, "dan@example.com", laptop)
			if _, err := e.Svc.BeginTOTPSetup(ctx, danIn.Session, goodPassword, laptop); err != nil {
				t.Fatal(err)
			}
			bobIn := signIn(t, e, "bob@example.com", laptop)

			mentions := func(tables map[string][]string, needles ...string) map[string][]string {
				out := map[string][]string{}
				for table, rows := range tables {
					for _, row := range rows {
						for _, n := range needles {
							if strings.Contains(strings.ToLower(row), strings.ToLower(n)) {
								out[table] = append(out[table], row)
								break
							}
						}
					}
				}
				return out
			}
			before := mentions(dump(t), ada.ID, "ada.lovelace@example.com", "ada.new@example.com")
			for _, table := range []string{"accounts", "sessions", "totp_credentials", "backup_codes", "backup_code_sets", "mfa_challenges",
				"email_tokens", "outbox", "webhook_outbox", "audit_events", "audit_heads", "throttles"} {
				if len(before[table]) == 0 {
					t.Fatalf("before the deletion, no row of %s names ada: the test would prove nothing", table)
				}
			}
			if len(mentions(dump(t), dan.ID)["pending_totp"]) != 1 {
				t.Fatal("dan has no pending setup")
			}

			for _, id := range []string{ada.ID, dan.ID} {
				if err := e.Svc.DeleteAccount(ctx, supportToken, id, laptop); err != nil {
					t.Fatalf("DeleteAccount: %v", err)
				}
			}
			wantCode(t, e.Svc.DeleteAccount(ctx, supportToken, ada.ID, laptop), keyward.CodeNotFound)

			left := mentions(dump(t), ada.ID, dan.ID, "ada.lovelace@example.com", "ada.new@example.com", "dan@example.com")
			for table, rows := range left {
				for _, row := range rows {
					switch {
					case table == "invalidations":
					case table == "throttles" && strings.HasPrefix(row, "forgot:email:ada.new@example.com |"):
						// The count of mails to an address the person asked
						// to move to is the address's, not the account's (any
						// account may ask for it): forgotten by the clean-up.
					case table == "audit_events" && strings.Contains(row, string(audit.AccountDeleted)) &&
						(strings.HasPrefix(row, "system | ") || strings.Contains(row, " | system | ")):
					case table == "webhook_outbox" && strings.Contains(row, string(audit.AccountDeleted)) &&
						(strings.HasPrefix(row, "system | ") || strings.Contains(row, " | system | ")):
						// The receiver is told of the deletion, from the
						// system log.
					default:
						t.Errorf("left in %s: %s", table, row)
					}
				}
			}
			var deleted []string
			for _, ev := range systemEvents(t, e) {
				if ev.Type == audit.AccountDeleted {
					deleted = append(deleted, fmt.Sprintf("%s %s %v", ev.Actor, ev.IP, ev.Details))
				}
			}
			want := []string{
				"admin " + laptop.IP + " map[account_id:" + ada.ID + " admin_token:support]",
				"admin " + laptop.IP + " map[account_id:" + dan.ID + " admin_token:support]",
			}
			if !slices.Equal(deleted, want) {
				t.Fatalf("account.deleted events:\n%s\nwant\n%s", strings.Join(deleted, "\n"), strings.Join(want, "\n"))
			}

			// Nothing of ada works; bob is untouched; the email is free.
			for _, tok := range []string{me.Token, danIn.Token} {
				_, _, err := e.Svc.Authenticate(ctx, tok)
				wantCode(t, err, keyward.CodeUnauthenticated)
			}
			_, err := e.Svc.SignIn(ctx, "ada.lovelace@example.com", goodPassword, laptop)
			wantCode(t, err, keyward.CodeInvalidCredentials)
			if _, _, err := e.Svc.Authenticate(ctx, bobIn.Token); err != nil {
				t.Fatalf("bob's session: %v", err)
			}
			reports, err := e.Svc.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reports {
				if r.Problem != nil {
					t.Fatalf("audit verify after the deletion: %v", r.Problem)
				}
				if r.ChainID == ada.ID || r.ChainID == dan.ID {
					t.Fatalf("a deleted account's chain is verified: %+v", r)
				}
			}
			again := signUp(t, e, "ada.lovelace@example.com")
			if again.ID == ada.ID {
				t.Fatal("the new account has the deleted one's id")
			}
			if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone); !keyward.IsCode(err, keyward.CodeMFATokenExpired) {
				t.Fatalf("a second step of the deleted account: %v", err)
			}
			verifyIntact(t, e)
			_ = bob
		})
	}
}

// TestDeleteWhileSigningIn, on both engines: sign-ins racing the deletion
// (right and wrong passwords, mid-hash when the account goes) answer as
// for any email, leave no session, and start no orphan chain: audit
// verify stays clean.
func TestDeleteWhileSigningIn(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			for round := range 4 {
				email := fmt.Sprintf("r%d@example.com", round)
				a := signUp(t, e, email)
				var mu sync.Mutex
				var tokens []string
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make(chan error, 16)
				for i := range 6 {
					wg.Go(func() {
						<-start
						pw := goodPassword
						if i%2 == 1 {
							pw = "not the password"
						}
						c := keyward.Client{IP: fmt.Sprintf("192.0.2.%d", 10*round+i+1)}
						res, err := e.Svc.SignIn(ctx, email, pw, c)
						if err == nil {
							mu.Lock()
							tokens = append(tokens, res.Token)
							mu.Unlock()
						}
						errs <- err
					})
				}
				wg.Go(func() {
					<-start
					if err := e.Svc.DeleteAccount(ctx, supportToken, a.ID, laptop); err != nil {
						errs <- fmt.Errorf("DeleteAccount: %w", err)
					}
				})
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil && !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
						t.Errorf("round %d: %v", round, err)
					}
				}
				for _, tok := range tokens {
					if _, _, err := e.Svc.Authenticate(ctx, tok); !keyward.IsCode(err, keyward.CodeUnauthenticated) {
						t.Errorf("round %d: a session outlived the deletion: %v", round, err)
					}
				}
				t.Logf("round %d: %d sign-ins opened a session before the deletion", round, len(tokens))
			}
			reports, err := e.Svc.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reports {
				if r.Problem != nil {
					t.Errorf("audit verify: %v", r.Problem)
				}
				if r.ChainID != audit.SystemChain {
					t.Errorf("chain %s left after its account was deleted", r.ChainID)
				}
			}
		})
	}
}

// TestDisableDuringSecondStep, on both engines: a correct second step
// racing a disable either opens a session the disable then ends, or is
// answered account_disabled: never a session that outlives the disable.
func TestDisableDuringSecondStep(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			ada := signUp(t, e, "ada@example.com")
			secret, _ := enableTOTP(t, e, signIn(t, e, "ada@example.com", laptop))
			outcomes := map[string]int{}
			for round := range 10 {
				e.Clock.Advance(totp.Period)
				step := signIn(t, e, "ada@example.com", phone)
				code, _ := totp.Code(secret, e.Clock.Now())
				var res *keyward.SignInResult
				var stepErr, disableErr error
				var wg sync.WaitGroup
				start := make(chan struct{})
				wg.Go(func() { <-start; res, stepErr = e.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone) })
				wg.Go(func() {
					<-start
					// Later and later into the second step, so that both
					// orders happen.
					time.Sleep(time.Duration(round) * time.Duration(round) * 200 * time.Microsecond)
					_, _, disableErr = e.Svc.DisableAccount(ctx, supportToken, ada.ID, laptop)
				})
				close(start)
				wg.Wait()
				if disableErr != nil {
					t.Fatalf("round %d: DisableAccount: %v", round, disableErr)
				}
				switch {
				case stepErr == nil:
					outcomes["signed in, then ended"]++
					if _, _, err := e.Svc.Authenticate(ctx, res.Token); !keyward.IsCode(err, keyward.CodeUnauthenticated) {
						t.Fatalf("round %d: the session outlived the disable: %v", round, err)
					}
				case keyward.IsCode(stepErr, keyward.CodeAccountDisabled):
					outcomes["account_disabled"]++
				default:
					t.Fatalf("round %d: second step: %v", round, stepErr)
				}
				if _, err := e.Svc.EnableAccount(ctx, supportToken, ada.ID, laptop); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("outcomes: %v", outcomes)
			verifyIntact(t, e)
		})
	}
}

func TestFindAccounts(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	var ids []string
	for i, email := range []string{"ann@example.com", "Ann.Other@Example.org", "bob@example.com", "b_b@example.com", "carl%x@example.com", "dora@example.com", "eve@example.net"} {
		e.Clock.Advance(time.Millisecond * time.Duration(i+1))
		ids = append(ids, signUp(t, e, email).ID)
	}
	newest := slices.Clone(ids)
	slices.Reverse(newest)
	pageIDs := func(p keyward.AccountPage) []string {
		var out []string
		for _, a := range p.Accounts {
			out = append(out, a.ID)
			if a.PasswordHash != "" {
				t.Fatal("a password hash left the service")
			}
		}
		return out
	}
	t.Run("pages", func(t *testing.T) {
		var got []string
		q := keyward.AccountQuery{Limit: 3}
		for pages := 0; ; pages++ {
			p, err := e.Svc.FindAccounts(ctx, supportToken, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, pageIDs(p)...)
			if p.NextCursor == "" {
				if pages != 2 {
					t.Fatalf("%d pages of 3 for 7 accounts", pages+1)
				}
				break
			}
			q.Cursor = p.NextCursor
		}
		if !slices.Equal(got, newest) {
			t.Fatalf("paged through %v, want %v", got, newest)
		}
	})
	tests := []struct {
		name string
		q    keyward.AccountQuery
		want []string
		code keyward.Code
	}{
		{"default limit", keyward.AccountQuery{}, newest, ""},
		{"q in any case", keyward.AccountQuery{Q: "ANN"}, []string{ids[1], ids[0]}, ""},
		{"q part of the domain", keyward.AccountQuery{Q: "example.org"}, []string{ids[1]}, ""},
		{"underscore taken literally", keyward.AccountQuery{Q: "b_b"}, []string{ids[3]}, ""},
		{"underscore is no wildcard", keyward.AccountQuery{Q: "o_"}, nil, ""},
		{"percent taken literally", keyward.AccountQuery{Q: "%"}, []string{ids[4]}, ""},
		{"star is no wildcard", keyward.AccountQuery{Q: "*"}, nil, ""},
		{"too long to be in an email", keyward.AccountQuery{Q: strings.Repeat("a", 300)}, nil, ""},
		{"invalid UTF-8", keyward.AccountQuery{Q: "ann\xff"}, nil, ""},
		{"a NUL", keyward.AccountQuery{Q: "ann\x00"}, nil, ""},
		{"limit 1", keyward.AccountQuery{Limit: 1}, newest[:1], ""},
		{"limit 200", keyward.AccountQuery{Limit: 200}, newest, ""},
		{"limit 201", keyward.AccountQuery{Limit: 201}, nil, keyward.CodeInvalidRequest},
		{"limit -1", keyward.AccountQuery{Limit: -1}, nil, keyward.CodeInvalidRequest},
		{"a made-up cursor", keyward.AccountQuery{Cursor: "AQAAAAAAAAAA"}, nil, keyward.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.Svc.FindAccounts(ctx, supportToken, tt.q)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := pageIDs(p); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("an audit cursor is no accounts cursor", func(t *testing.T) {
		p, err := e.Svc.AdminEvents(ctx, supportToken, "", keyward.EventQuery{Limit: 1})
		if err != nil || p.NextCursor == "" {
			t.Fatalf("AdminEvents = %v, %v", p, err)
		}
		_, err = e.Svc.FindAccounts(ctx, supportToken, keyward.AccountQuery{Cursor: p.NextCursor})
		wantCode(t, err, keyward.CodeInvalidRequest)
	})
}

func TestAccountDetail(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	e.Clock.Advance(time.Second)
	other := signIn(t, e, "ada@example.com", phone)
	d, err := e.Svc.AccountDetail(ctx, supportToken, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Account.ID != a.ID || d.Account.PasswordHash != "" || d.Account.Disabled() || d.Passkeys != 0 {
		t.Fatalf("detail %+v", d)
	}
	var sessions []string
	for _, s := range d.Sessions {
		sessions = append(sessions, s.ID)
	}
	if want := []string{other.Session.ID, me.Session.ID}; !slices.Equal(sessions, want) {
		t.Fatalf("sessions %v, want %v (newest activity first)", sessions, want)
	}
	if _, _, err := e.Svc.DisableAccount(ctx, supportToken, a.ID, laptop); err != nil {
		t.Fatal(err)
	}
	if d, err = e.Svc.AccountDetail(ctx, supportToken, a.ID); err != nil || !d.Account.Disabled() || len(d.Sessions) != 0 {
		t.Fatalf("after disabling: %+v, %v", d, err)
	}
	for _, id := range []string{"acct_" + strings.Repeat("0", 26), "acct_x", "", "sess_" + a.ID[5:], a.ID + "\x00"} {
		_, err := e.Svc.AccountDetail(ctx, supportToken, id)
		wantCode(t, err, keyward.CodeNotFound)
	}
}

func TestAdminEvents(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	if _, _, err := e.Svc.CreateAdminToken(ctx, "ci", keyward.AdminScopes()); err != nil {
		t.Fatal(err)
	}
	ada := signUp(t, e, "ada@example.com")
	bob := signUp(t, e, "bob@example.com")
	for range 3 {
		e.Clock.Advance(time.Second)
		signIn(t, e, "ada@example.com", laptop)
	}
	types := func(p keyward.EventPage) []string {
		var out []string
		for _, ev := range p.Events {
			out = append(out, ev.ChainID+" "+string(ev.Type))
		}
		return out
	}
	tests := []struct {
		name      string
		accountID string
		q         keyward.EventQuery
		want      []string
		code      keyward.Code
	}{
		{"one account", ada.ID, keyward.EventQuery{}, []string{
			ada.ID + " signin.succeeded", ada.ID + " signin.succeeded", ada.ID + " signin.succeeded", ada.ID + " account.created"}, ""},
		{"one account, by type", ada.ID, keyward.EventQuery{Types: []audit.Type{audit.AccountCreated}}, []string{ada.ID + " account.created"}, ""},
		{"the system log", "system", keyward.EventQuery{}, []string{"system admin.token_created"}, ""},
		{"every chain, by type", "", keyward.EventQuery{Types: []audit.Type{audit.AccountCreated, audit.AdminTokenCreated}}, []string{
			bob.ID + " account.created", ada.ID + " account.created", "system admin.token_created"}, ""},
		{"an unknown account", "acct_" + strings.Repeat("0", 26), keyward.EventQuery{}, nil, ""},
		{"not an account id", "bob@example.com", keyward.EventQuery{}, nil, keyward.CodeInvalidRequest},
		{"an unknown type", "", keyward.EventQuery{Types: []audit.Type{"account.hacked"}}, nil, keyward.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.Svc.AdminEvents(ctx, supportToken, tt.accountID, tt.q)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := types(p); !slices.Equal(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	t.Run("cursors", func(t *testing.T) {
		var all []string
		q := keyward.EventQuery{Limit: 2}
		for {
			p, err := e.Svc.AdminEvents(ctx, supportToken, "", q)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, types(p)...)
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
		if len(all) != 6 {
			t.Fatalf("paged through %d events, want 6: %v", len(all), all)
		}
		// A cursor works only for the list it came from: not for another
		// account, nor for the account's owner's own log.
		p, err := e.Svc.AdminEvents(ctx, supportToken, ada.ID, keyward.EventQuery{Limit: 1})
		if err != nil || p.NextCursor == "" {
			t.Fatal(err)
		}
		_, err = e.Svc.AdminEvents(ctx, supportToken, bob.ID, keyward.EventQuery{Cursor: p.NextCursor})
		wantCode(t, err, keyward.CodeInvalidRequest)
		_, err = e.Svc.AdminEvents(ctx, supportToken, "", keyward.EventQuery{Cursor: p.NextCursor})
		wantCode(t, err, keyward.CodeInvalidRequest)
		_, err = e.Svc.Events(ctx, ada.ID, keyward.EventQuery{Cursor: p.NextCursor})
		wantCode(t, err, keyward.CodeInvalidRequest)
		own, err := e.Svc.Events(ctx, ada.ID, keyward.EventQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.AdminEvents(ctx, supportToken, ada.ID, keyward.EventQuery{Cursor: own.NextCursor})
		wantCode(t, err, keyward.CodeInvalidRequest)
	})
}

// TestAdminActionsRecorded: accounts made, sessions ended and 2FA reset
// through the admin API are recorded with actor admin and the token's
// name; the command line's with actor admin and no name.
func TestAdminActionsRecorded(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SignupEnabled = false
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	ada, err := e.Svc.AdminCreateAccount(ctx, supportToken, "ada@example.com", goodPassword, laptop)
	if err != nil {
		t.Fatalf("creating an account with sign-up off: %v", err)
	}
	_, err = e.Svc.AdminCreateAccount(ctx, supportToken, "ADA@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeEmailTaken)
	_, err = e.Svc.AdminCreateAccount(ctx, supportToken, "bob@example.com", "password", laptop)
	wantCode(t, err, keyward.CodePasswordBreached)
	_, err = e.Svc.AdminCreateAccount(ctx, supportToken, "not an email", goodPassword, laptop)
	wantCode(t, err, keyward.CodeInvalidEmail)
	cli, err := e.Svc.CreateAccount(ctx, "carol@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}

	me := signIn(t, e, "ada@example.com", laptop)
	_, codes := enableTOTP(t, e, me)
	e.Clock.Advance(totp.Period)
	signIn(t, e, "ada@example.com", phone) // a second step left waiting
	n, err := e.Svc.RevokeAccountSessions(ctx, supportToken, ada.ID, phone)
	if err != nil || n != 1 {
		t.Fatalf("RevokeAccountSessions = %d, %v; want 1", n, err)
	}
	if n, err := e.Svc.RevokeAccountSessions(ctx, supportToken, ada.ID, phone); err != nil || n != 0 {
		t.Fatalf("RevokeAccountSessions again = %d, %v; want 0", n, err)
	}
	if _, err := e.Svc.RevokeAccountSessions(ctx, supportToken, "acct_"+strings.Repeat("0", 26), phone); !keyward.IsCode(err, keyward.CodeNotFound) {
		t.Fatalf("an unknown account: %v", err)
	}
	if _, err := e.Svc.CompleteSignIn(ctx, signIn(t, e, "ada@example.com", laptop).MFAToken, codes[0], laptop); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.AdminResetTwoFactor(ctx, supportToken, ada.ID, phone); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.Svc.AdminResetTwoFactor(ctx, supportToken, ada.ID, phone), keyward.CodeNotEnabled)
	wantCode(t, e.Svc.AdminResetTwoFactor(ctx, supportToken, "acct_"+strings.Repeat("0", 26), phone), keyward.CodeNotFound)

	var got []string
	for _, chain := range []string{ada.ID, cli.ID} {
		evs, err := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: chain})
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(evs)
		for _, ev := range evs {
			if ev.Actor == audit.ActorAdmin {
				got = append(got, fmt.Sprintf("%s %s %s", ev.Type, ev.IP, ev.Details))
			}
		}
	}
	want := []string{
		"account.created " + laptop.IP + " map[admin_token:support]",
		"session.revoked " + phone.IP + " map[admin_token:support device:Chrome on Windows ip:" + laptop.IP + " reason:admin_revoked session:" + me.Session.ID + "]",
		"2fa.disabled " + phone.IP + " map[admin_token:support reason:operator_reset]",
	}
	if len(got) != 5 || !slices.Equal(got[:2], want[:2]) || got[2] != want[2] || !strings.HasPrefix(got[3], "session.revoked "+phone.IP+" map[admin_token:support device:Chrome on Windows ip:"+laptop.IP+" reason:2fa_disabled session:") ||
		got[4] != "account.created  map[]" {
		t.Fatalf("admin events:\n%s\nwant\n%s\nsession.revoked … 2fa_disabled …\naccount.created  map[] (the command line's)", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, m := range only(deliver(t, e), keyward.MailNotice, string(audit.TwoFactorDisabled)) {
		if m.To == "ada@example.com" {
			return // the owner is told, as for the command line's reset
		}
	}
	t.Fatal("no notice of the reset was mailed")
}

// TestDisableReachesAnotherNode: two nodes on one PostgreSQL database, each
// with its own connections and its cache on (following the invalidation
// log by LISTEN/NOTIFY). A session cached on node B ends there at once
// when node A disables the account, and so do those of an account A
// deletes.
func TestDisableReachesAnotherNode(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open := func() keyward.Store {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := keywardtest.New(t, keywardtest.Options{Store: open()})
	b := keywardtest.New(t, keywardtest.Options{Store: open(), Clock: a.Clock, Keys: a.Keys})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Svc.RunCacheWatcher(runCtx)
	go b.Svc.RunCacheWatcher(runCtx)
	waitForCache(t, a)
	waitForCache(t, b)

	for _, tt := range []struct {
		name   string
		email  string
		change func(id string) error
	}{
		{"disable", "ada@example.com", func(id string) error {
			_, _, err := a.Svc.DisableAccount(ctx, supportToken, id, laptop)
			return err
		}},
		{"delete", "bob@example.com", func(id string) error { return a.Svc.DeleteAccount(ctx, supportToken, id, laptop) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			acct := signUp(t, a, tt.email)
			res := signIn(t, a, tt.email, laptop)
			if _, _, err := b.Svc.Authenticate(ctx, res.Token); err != nil { // now cached on B
				t.Fatal(err)
			}
			if !b.Svc.CacheEnabled() {
				t.Fatal("node B's cache is off: the test would prove nothing")
			}
			if err := tt.change(acct.ID); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			for {
				_, _, err := b.Svc.Authenticate(ctx, res.Token)
				if keyward.IsCode(err, keyward.CodeUnauthenticated) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if time.Since(changed) > time.Second {
					t.Fatalf("node B still accepts the session %v after node A's %s", time.Since(changed), tt.name)
				}
				time.Sleep(2 * time.Millisecond)
			}
			t.Logf("node B refused the session %v after node A's %s", time.Since(changed), tt.name)
		})
	}
}

// FuzzParseScopes: the scope parser gives an error, or at least one known
// scope, in AdminScopes order without repeats, which it reads back the same.
func FuzzParseScopes(f *testing.F) {
	for _, seed := range []string{"accounts:read", "audit:read,accounts:read", " , ", "accounts:read,,x", "clients:write", "ACCOUNTS:READ", "accounts:read\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := keyward.ParseScopes(s)
		if err != nil {
			if !keyward.IsCode(err, keyward.CodeInvalidRequest) {
				t.Fatalf("ParseScopes(%q): %v", s, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseScopes(%q) = no scope, no error", s)
		}
		all := keyward.AdminScopes()
		last := -1
		var names []string
		for _, sc := range got {
			i := slices.Index(all, sc)
			if i <= last {
				t.Fatalf("ParseScopes(%q) = %v: unknown, repeated or out of order", s, got)
			}
			last = i
			names = append(names, string(sc))
		}
		again, err := keyward.ParseScopes(strings.Join(names, ","))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseScopes of its own %v = %v, %v", got, again, err)
		}
	})
}

// FuzzFindAccounts: whatever q is, the list answers (q is taken literally)
// with accounts whose email contains it, in any case.
func FuzzFindAccounts(f *testing.F) {
	e := keywardtest.New(f, keywardtest.Options{})
	for _, email := range []string{"ann@example.com", "b_b%x@example.org", "dora@exämple.net"} {
		if _, err := e.Svc.CreateAccount(ctx, email, goodPassword); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{"", "ann", "%", "_", "b_b%", "*", "ÄM", "\x00", "\xff", strings.Repeat("a", 300), "'; DROP TABLE accounts; --", `\`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		page, err := e.Svc.FindAccounts(ctx, supportToken, keyward.AccountQuery{Q: q})
		if err != nil {
			t.Fatalf("FindAccounts(%q): %v", q, err)
		}
		for _, a := range page.Accounts {
			if !strings.Contains(keyward.EmailKey(a.Email), keyward.EmailKey(q)) {
				t.Fatalf("FindAccounts(%q) found %s", q, a.Email)
			}
		}
		if keyward.EmailKey(q) == "" && len(page.Accounts) != 3 {
			t.Fatalf("FindAccounts(%q) found %d of 3", q, len(page.Accounts))
		}
	})
}

// TestDisableWhileSigningIn, on both engines: password sign-ins racing a
// disable either open a session the disable then ends, or are refused
// (account_disabled after a right password, invalid_credentials after a
// wrong one): no session outlives the disable.
func TestDisableWhileSigningIn(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, _ := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			outcomes := map[keyward.Code]int{}
			for round := range 4 {
				email := fmt.Sprintf("r%d@example.com", round)
				a := signUp(t, e, email)
				var mu sync.Mutex
				var tokens []string
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range 6 {
					wg.Go(func() {
						<-start
						pw := goodPassword
						if i%3 == 2 {
							pw = "not the password"
						}
						res, err := e.Svc.SignIn(ctx, email, pw, keyward.Client{IP: fmt.Sprintf("192.0.2.%d", 10*round+i+1)})
						mu.Lock()
						defer mu.Unlock()
						outcomes[keyward.ErrorCode(err)]++
						switch {
						case err == nil:
							tokens = append(tokens, res.Token)
						case keyward.IsCode(err, keyward.CodeAccountDisabled) && pw == goodPassword,
							keyward.IsCode(err, keyward.CodeInvalidCredentials) && pw != goodPassword:
						default:
							t.Errorf("round %d: %s: %v", round, pw, err)
						}
					})
				}
				wg.Go(func() {
					<-start
					time.Sleep(time.Duration(round) * time.Millisecond)
					if _, _, err := e.Svc.DisableAccount(ctx, supportToken, a.ID, laptop); err != nil {
						t.Errorf("DisableAccount: %v", err)
					}
				})
				close(start)
				wg.Wait()
				for _, tok := range tokens {
					if _, _, err := e.Svc.Authenticate(ctx, tok); !keyward.IsCode(err, keyward.CodeUnauthenticated) {
						t.Errorf("round %d: a session outlived the disable: %v", round, err)
					}
				}
			}
			t.Logf("outcomes: %v", outcomes)
			verifyIntact(t, e)
		})
	}
}

// staleHeads is a store whose first AuditHeads answers what the heads were
// earlier: what verification sees when accounts are made or deleted while
// it runs (it reads the heads first, then the accounts, then each chain).
type staleHeads struct {
	keyward.Store
	mu    sync.Mutex
	stale []audit.Head
}

func (s *staleHeads) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale != nil {
		h := s.stale
		s.stale = nil
		return h, nil
	}
	return s.Store.AuditHeads(ctx)
}

// TestVerifyWhileAccountsComeAndGo: an account deleted, or one made, while
// audit verify runs is not reported as tampering; an account chain erased
// by hand while its account stays still is.
func TestVerifyWhileAccountsComeAndGo(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, sql := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			ada := signUp(t, e, "ada@example.com")
			signIn(t, e, "ada@example.com", laptop)
			bob := signUp(t, e, "bob@example.com")
			stale := &staleHeads{Store: store}
			verifier := keywardtest.New(t, keywardtest.Options{Store: stale, Keys: e.Keys, Clock: e.Clock})

			heads, err := store.AuditHeads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Svc.DeleteAccount(ctx, supportToken, ada.ID, laptop); err != nil {
				t.Fatal(err)
			}
			signUp(t, e, "carol@example.com")
			stale.stale = heads
			if got := problems(t, verifier); len(got) != 0 {
				t.Fatalf("verify during a deletion and a sign-up found %v", got)
			}

			// The same stale view, but bob's chain erased by hand: reported.
			heads, err = store.AuditHeads(ctx)
			if err != nil {
				t.Fatal(err)
			}
			keywardtest.Unprotect(t, engine, sql)
			sql(t, `DELETE FROM audit_events WHERE chain_id = $1`, bob.ID)
			sql(t, `DELETE FROM audit_heads WHERE chain_id = $1`, bob.ID)
			stale.stale = heads
			got := problems(t, verifier)
			if len(got) != 1 || got[0].ChainID != bob.ID {
				t.Fatalf("verify found %v, want bob's chain erased", got)
			}
		})
	}
}
