package audit

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	firefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
)

// mustJSON marshals v for a comparison.
func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}

func TestRecordJSON(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"every field",
			Event{ID: "ev1", ChainID: "acct_1", Seq: 3, Time: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC),
				Type: SigninFailed, Outcome: Failure, Reason: "invalid_password", IP: "203.0.113.7",
				UserAgent: chromeWindows, SessionID: "sess_1", Actor: ActorSelf,
				Details: map[string]string{"b": "2", "a": "1"}, PrevHash: []byte{1}, Hash: []byte{2}},
			`{"id":"ev1","time":"2026-01-02T03:04:05.678901Z","type":"signin.failed","outcome":"failure",` +
				`"reason":"invalid_password","ip":"203.0.113.7","user_agent":"` + chromeWindows + `",` +
				`"device":{"browser":"Chrome","os":"Windows","type":"desktop"},"session_id":"sess_1","actor":"self",` +
				`"details":{"a":"1","b":"2"}}`},
		{"no reason, session or details; whole second; other zone",
			Event{ID: "ev2", Time: time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)),
				Type: PasswordChanged, Outcome: Success, IP: "::1", UserAgent: "", Actor: ActorAdmin},
			`{"id":"ev2","time":"2026-01-02T03:04:05Z","type":"password.changed","outcome":"success",` +
				`"ip":"::1","user_agent":"","device":{"browser":"Unknown browser","os":"Unknown OS","type":"unknown"},` +
				`"session_id":null,"actor":"admin","details":{}}`},
		{"empty details map",
			Event{ID: "ev3", Time: time.Unix(0, 0), Type: Signout, Outcome: Success, Actor: ActorSystem, Details: map[string]string{}},
			`{"id":"ev3","time":"1970-01-01T00:00:00Z","type":"signout","outcome":"success","ip":"","user_agent":"",` +
				`"device":{"browser":"Unknown browser","os":"Unknown OS","type":"unknown"},"session_id":null,"actor":"system","details":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustJSON(t, RecordOf(&tt.e)); got != tt.want {
				t.Errorf("JSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestRecordFieldsMatchAPI guards the contract: API.md's Event object, plus
// the documented optional reason.
func TestRecordFieldsMatchAPI(t *testing.T) {
	e := sampleEvent(t)
	var m map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, RecordOf(e))), &m); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(m))
	want := []string{"actor", "details", "device", "id", "ip", "outcome", "reason", "session_id", "time", "type", "user_agent"}
	if !slices.Equal(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	dev, _ := m["device"].(map[string]any)
	if got := slices.Sorted(maps.Keys(dev)); !slices.Equal(got, []string{"browser", "os", "type"}) {
		t.Errorf("device fields = %v, want [browser os type]", got)
	}
}

func TestRecordOfCopiesDetails(t *testing.T) {
	e := sampleEvent(t)
	r := RecordOf(e)
	r.Details["method"] = "changed"
	if e.Details["method"] != "password" {
		t.Errorf("editing the Record changed the Event: details = %v", e.Details)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"account created", Event{Type: AccountCreated, Outcome: Success}, "Account created"},
		{"signed in", Event{Type: SigninSucceeded, Outcome: Success, UserAgent: chromeWindows}, "Signed in from Chrome on Windows"},
		{"signed in with totp", Event{Type: SigninSucceeded, Outcome: Success, UserAgent: firefoxLinux,
			Details: map[string]string{DetailMethod: MethodTOTP}}, "Signed in from Firefox on Linux with an authenticator code"},
		{"signed in with backup code", Event{Type: SigninSucceeded, Outcome: Success, UserAgent: chromeWindows,
			Details: map[string]string{DetailMethod: MethodBackupCode}}, "Signed in from Chrome on Windows with a backup code"},
		{"signed in, no user agent", Event{Type: SigninSucceeded, Outcome: Success}, "Signed in"},
		{"signed in, blank user agent", Event{Type: SigninSucceeded, Outcome: Success, UserAgent: " "}, "Signed in from an unknown device"},
		{"wrong password", Event{Type: SigninFailed, Outcome: Failure, Reason: "invalid_password"}, "Failed sign-in: wrong password"},
		{"unknown email", Event{Type: SigninFailed, Outcome: Failure, Reason: "unknown_email"}, "Failed sign-in: no account with that email"},
		{"failed, no reason", Event{Type: SigninFailed, Outcome: Failure}, "Failed sign-in"},
		{"failed, new reason", Event{Type: SigninFailed, Outcome: Failure, Reason: "moon_phase_wrong"}, "Failed sign-in: moon phase wrong"},
		{"account disabled", Event{Type: SigninFailed, Outcome: Failure, Reason: "account_disabled"}, "Failed sign-in: the account is disabled"},
		{"disabled by admin", Event{Type: AccountDisabled, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailRevokedSessions: "3", DetailAdminToken: "support"}}, "Account disabled: signing in is refused; 3 sessions signed out by an administrator"},
		{"disabled, no session", Event{Type: AccountDisabled, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailRevokedSessions: "0"}}, "Account disabled: signing in is refused by an administrator"},
		{"enabled by admin", Event{Type: AccountEnabled, Outcome: Success, Actor: ActorAdmin}, "Account enabled again by an administrator"},
		{"deleted by admin", Event{Type: AccountDeleted, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailAccountID: "acct_x", DetailAdminToken: "support"}}, "Account deleted (acct_x) by an administrator"},
		{"admin token created", Event{Type: AdminTokenCreated, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailAdminToken: "ci\nbot", DetailScopes: "audit:read"}}, "Admin token created (cibot) by an administrator"},
		{"admin token revoked", Event{Type: AdminTokenRevoked, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailAdminToken: "ci"}}, "Admin token revoked (ci) by an administrator"},
		{"wrong code", Event{Type: SigninMFAFailed, Outcome: Failure, Reason: "invalid_code"}, "Failed two-factor check: wrong code"},
		{"code replayed", Event{Type: SigninMFAFailed, Outcome: Failure, Reason: "code_reused"}, "Failed two-factor check: code already used"},
		{"throttled", Event{Type: SigninThrottled, Outcome: Failure}, "Sign-in paused after too many failed attempts"},
		{"throttled with delay", Event{Type: SigninThrottled, Outcome: Failure, Details: map[string]string{DetailRetryAfter: "30"}},
			"Sign-in paused for 30 seconds after too many failed attempts"},
		{"signed out", Event{Type: Signout, Outcome: Success, UserAgent: chromeWindows}, "Signed out (Chrome on Windows)"},
		{"session ended", Event{Type: SessionRevoked, Outcome: Success, UserAgent: chromeWindows,
			Details: map[string]string{DetailDevice: "Firefox on Linux"}}, "Session on Firefox on Linux ended"},
		{"session ended, device unknown", Event{Type: SessionRevoked, Outcome: Success}, "Session ended"},
		{"session ended by two-factor turned on", Event{Type: SessionRevoked, Outcome: Success,
			Details: map[string]string{DetailDevice: "Chrome on macOS", DetailIP: "203.0.113.9", DetailReason: "2fa_enabled"}},
			"Session on Chrome on macOS (203.0.113.9) ended: two-factor authentication turned on"},
		{"session ended with the others", Event{Type: SessionRevoked, Outcome: Success,
			Details: map[string]string{DetailDevice: "Firefox on Linux", DetailReason: "signed_out_others"}},
			"Session on Firefox on Linux ended: all other sessions ended"},
		{"session ended by admin", Event{Type: SessionRevoked, Outcome: Success, Actor: ActorAdmin,
			Details: map[string]string{DetailDevice: "Firefox on Linux"}}, "Session on Firefox on Linux ended by an administrator"},
		{"password changed", Event{Type: PasswordChanged, Outcome: Success}, "Password changed"},
		{"password changed, sessions ended", Event{Type: PasswordChanged, Outcome: Success,
			Details: map[string]string{DetailRevokedSessions: "2"}}, "Password changed; 2 other sessions signed out"},
		{"password changed, one session ended", Event{Type: PasswordChanged, Outcome: Success,
			Details: map[string]string{DetailRevokedSessions: "1"}}, "Password changed; 1 other session signed out"},
		{"password change failed", Event{Type: PasswordChanged, Outcome: Failure, Reason: "invalid_current_password"},
			"Password change failed: wrong current password"},
		{"password reset by admin", Event{Type: PasswordChanged, Outcome: Success, Actor: ActorAdmin}, "Password changed by an administrator"},
		{"2fa enabled", Event{Type: TwoFactorEnabled, Outcome: Success}, "Two-factor authentication enabled"},
		{"2fa setup failed", Event{Type: TwoFactorEnabled, Outcome: Failure, Reason: "invalid_code"}, "Two-factor authentication setup failed: wrong code"},
		{"2fa disabled", Event{Type: TwoFactorDisabled, Outcome: Success}, "Two-factor authentication disabled"},
		{"2fa disabled by admin", Event{Type: TwoFactorDisabled, Outcome: Success, Actor: ActorAdmin}, "Two-factor authentication disabled by an administrator"},
		{"codes regenerated", Event{Type: BackupCodesRegenerated, Outcome: Success}, "New backup codes generated"},
		{"backup code used", Event{Type: BackupCodeUsed, Outcome: Success, Details: map[string]string{DetailRemaining: "7"}}, "Backup code used (7 left)"},
		{"last backup code used", Event{Type: BackupCodeUsed, Outcome: Success, Details: map[string]string{DetailRemaining: "0"}}, "Backup code used (none left)"},
		{"backup code used, count unknown", Event{Type: BackupCodeUsed, Outcome: Success, Details: map[string]string{DetailRemaining: "many"}}, "Backup code used"},
		{"type from the future", Event{Type: "future.event", Outcome: Success}, "Security event future.event"},
		{"signed in with a passkey", Event{Type: SigninSucceeded, Outcome: Success, UserAgent: chromeWindows,
			Details: map[string]string{DetailMethod: MethodPasskey, DetailPasskey: "Work laptop"}}, "Signed in from Chrome on Windows with the passkey \u201cWork laptop\u201d"},
		{"passkey counter", Event{Type: SigninFailed, Outcome: Failure, Reason: ReasonPasskeyCounter},
			"Failed sign-in: the passkey's counter went back, so a copy of it may be in use"},
		{"passkey added", Event{Type: PasskeyAdded, Outcome: Success, Details: map[string]string{DetailPasskey: "Phone"}}, "The passkey \u201cPhone\u201d added"},
		{"passkey without a name added", Event{Type: PasskeyAdded, Outcome: Success}, "A passkey added"},
		{"last passkey removed", Event{Type: PasskeyRemoved, Outcome: Success, Details: map[string]string{DetailPasskey: "Key\r\n", DetailTwoFactor: "off"}},
			"The passkey \u201cKey\u201d removed; two-factor authentication is off"},
		{"passkey renamed", Event{Type: PasskeyRenamed, Outcome: Success, Details: map[string]string{DetailOldName: "Passkey", DetailPasskey: "Phone"}},
			"Passkey \u201cPasskey\u201d renamed to \u201cPhone\u201d"},
		{"2fa enabled with a passkey", Event{Type: TwoFactorEnabled, Outcome: Success, Details: map[string]string{DetailMethod: MethodPasskey, DetailPasskey: "Phone"}},
			"Two-factor authentication enabled with the passkey \u201cPhone\u201d"},
		{"authenticator app removed, passkeys stay", Event{Type: TwoFactorDisabled, Outcome: Success, Details: map[string]string{DetailMethod: MethodTOTP, DetailTwoFactor: "on"}},
			"Authenticator app removed; two-factor authentication stays on with passkeys"},
		{"sudo by password", Event{Type: SudoGranted, Outcome: Success, Details: map[string]string{DetailMethod: MethodPassword}},
			"Confirmed it was you with the password"},
		{"sudo by totp", Event{Type: SudoGranted, Outcome: Success, Details: map[string]string{DetailMethod: MethodTOTP}},
			"Confirmed it was you with an authenticator code"},
		{"sudo by backup code", Event{Type: SudoGranted, Outcome: Success, Details: map[string]string{DetailMethod: MethodBackupCode}},
			"Confirmed it was you with a backup code"},
		{"sudo by a method from the future", Event{Type: SudoGranted, Outcome: Success, Details: map[string]string{DetailMethod: "passkey"}},
			"Confirmed it was you"},
		{"sudo refused", Event{Type: SudoGranted, Outcome: Failure, Reason: "invalid_current_password"},
			"Failed to confirm it was you: wrong current password"},
		{"sudo refused, wrong code", Event{Type: SudoGranted, Outcome: Failure, Reason: "invalid_code",
			Details: map[string]string{DetailMethod: MethodTOTP}}, "Failed to confirm it was you: wrong code"},
		{"control characters dropped", Event{Type: SessionRevoked, Outcome: Success,
			Details: map[string]string{DetailDevice: "Evil\r\nSigned in from Home\u2028"}}, "Session on EvilSigned in from Home ended"},
		{"long values cut", Event{Type: SigninFailed, Outcome: Failure, Reason: strings.Repeat("x", 300)},
			"Failed sign-in: " + strings.Repeat("x", 100) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(&tt.e); got != tt.want {
				t.Errorf("Describe = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDescribeCoversVocabulary makes a new Type fail here until it has its
// own sentence.
func TestDescribeCoversVocabulary(t *testing.T) {
	for _, typ := range Types() {
		for _, o := range []Outcome{Success, Failure} {
			got := Describe(&Event{Type: typ, Outcome: o})
			if got == "" || strings.HasPrefix(got, "Security event") || strings.HasPrefix(got, "Failed security event") {
				t.Errorf("Describe(%s, %s) = %q: add the type to describe", typ, o, got)
			}
		}
	}
}

// TestInAccountLog: the types only the system chain holds are the
// deletion's and the admin tokens'; every other known type can be in an
// account's log, and an unknown one in none.
func TestInAccountLog(t *testing.T) {
	systemOnly := []Type{AccountDeleted, AdminTokenCreated, AdminTokenRevoked}
	for _, typ := range Types() {
		if got, want := InAccountLog(typ), !slices.Contains(systemOnly, typ); got != want {
			t.Errorf("InAccountLog(%s) = %v, want %v", typ, got, want)
		}
	}
	if InAccountLog("account.hacked") {
		t.Error("an unknown type is in an account's log")
	}
}
