package keyward_test

import (
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
)

func notices(t testing.TB, e *keywardtest.Env) []string {
	t.Helper()
	var out []string
	for _, m := range only(deliver(t, e), keyward.MailNotice, "") {
		if m.LockdownToken == "" || m.Time.IsZero() || m.To == "" {
			t.Errorf("notice %s lacks a lockdown link, a time or an address: %+v", m.Event, m)
		}
		out = append(out, m.Event)
	}
	return out
}

func TestNotifications(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	deliver(t, e)

	// A first sign-in from a device: a notice; again with its device token: none.
	res := signIn(t, e, "ada@example.com", laptop)
	got := only(deliver(t, e), keyward.MailNotice, keyward.NoticeNewDevice)
	if len(got) != 1 || got[0].Device != "Chrome on Windows" || got[0].IP != laptop.IP {
		t.Fatalf("new-device notices: %+v", got)
	}
	known := laptop
	known.DeviceToken = res.DeviceToken
	signIn(t, e, "ada@example.com", known)
	if n := notices(t, e); len(n) != 0 {
		t.Errorf("notices for a known device: %v", n)
	}

	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"change password", func() {
			if _, err := e.Svc.ChangePassword(ctx, res.Session, goodPassword, goodPassword+" again", false, laptop); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Svc.ChangePassword(ctx, res.Session, goodPassword+" again", goodPassword, false, laptop); err != nil {
				t.Fatal(err)
			}
		}, []string{"password.changed", "password.changed"}},
		{"enable 2FA", func() { enableTOTP(t, e, res) }, []string{"2fa.enabled"}},
		{"new backup codes", func() {
			if _, err := e.Svc.RegenerateBackupCodes(ctx, res.Session, goodPassword, laptop); err != nil {
				t.Fatal(err)
			}
		}, []string{"2fa.backup_codes.regenerated"}},
		{"turn off the new-device mail", func() {
			if err := e.Svc.SetNotifications(ctx, res.Session, keyward.Notifications{NewDeviceSignIn: false}, laptop); err != nil {
				t.Fatal(err)
			}
			step := signIn(t, e, "ada@example.com", phone)
			codes, err := e.Svc.RegenerateBackupCodes(ctx, res.Session, goodPassword, laptop)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], phone); err != nil {
				t.Fatal(err)
			}
		}, []string{"2fa.backup_codes.regenerated", "2fa.backup_code.used"}},
		{"turn off 2FA", func() {
			if err := e.Svc.DisableTOTP(ctx, res.Session, goodPassword, laptop); err != nil {
				t.Fatal(err)
			}
		}, []string{"2fa.disabled"}},
		{"a new device while the mail is off", func() { signIn(t, e, "ada@example.com", phone) }, nil},
		{"turn it on again", func() {
			if err := e.Svc.SetNotifications(ctx, res.Session, keyward.Notifications{NewDeviceSignIn: true}, laptop); err != nil {
				t.Fatal(err)
			}
			signIn(t, e, "ada@example.com", phone)
		}, []string{keyward.NoticeNewDevice}},
	}
	for _, st := range steps {
		st.do()
		if got := notices(t, e); !slicesEqual(got, st.want) {
			t.Errorf("%s: notices %v, want %v", st.name, got, st.want)
		}
	}
	n, err := e.Svc.Notifications(ctx, res.Session)
	if err != nil || !n.NewDeviceSignIn {
		t.Errorf("Notifications = %+v, %v", n, err)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackupCodeNoticeSaysWhatIsLeft(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	res := signIn(t, e, "ada@example.com", laptop)
	_, codes := enableTOTP(t, e, res)
	deliver(t, e)
	step := signIn(t, e, "ada@example.com", phone)
	if _, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[3], phone); err != nil {
		t.Fatal(err)
	}
	mails := deliver(t, e)
	used := only(mails, keyward.MailNotice, "2fa.backup_code.used")
	if len(used) != 1 || used[0].Remaining == nil || *used[0].Remaining != 9 {
		t.Fatalf("backup code notices: %+v", used)
	}
	if n := len(only(mails, keyward.MailNotice, keyward.NoticeNewDevice)); n != 1 {
		t.Errorf("%d new-device notices for the phone, want 1", n)
	}
}

func TestLockdown(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	mine := signIn(t, e, "ada@example.com", laptop)
	deliver(t, e)
	theirs := signIn(t, e, "ada@example.com", phone) // someone else, with the password
	if _, err := e.Svc.BeginTOTPSetup(ctx, theirs.Session, "", phone); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.RequestEmailChange(ctx, theirs.Session, "thief@example.net", goodPassword, phone); err != nil {
		t.Fatal(err)
	}
	mails := deliver(t, e)
	stolen := only(mails, keyward.MailConfirmChange, "")
	alert := only(mails, keyward.MailNotice, keyward.NoticeNewDevice)
	if len(alert) != 1 || alert[0].IP != phone.IP {
		t.Fatalf("new-device notices: %+v", alert)
	}

	revoked, err := e.Svc.Lockdown(ctx, alert[0].LockdownToken, laptop)
	if err != nil || revoked != 2 {
		t.Fatalf("Lockdown = %d, %v; want 2 sessions ended", revoked, err)
	}
	for _, s := range []*keyward.SignInResult{mine, theirs} {
		if _, _, err := e.Svc.Authenticate(ctx, s.Token); err == nil {
			t.Error("a session survived the lockdown")
		}
	}
	_, err = e.Svc.Lockdown(ctx, alert[0].LockdownToken, laptop)
	wantCode(t, err, keyward.CodeInvalidToken)
	if _, err := e.Store.PendingTOTP(ctx, a.ID); !keyward.IsCode(err, keyward.CodeNotFound) {
		t.Errorf("the pending 2FA setup survived: %v", err)
	}
	_, err = e.Svc.VerifyEmail(ctx, stolen[0].Token, phone)
	wantCode(t, err, keyward.CodeInvalidToken)

	_, err = e.Svc.SignIn(ctx, "ada@example.com", "not the password", laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodePasswordResetReq)

	token := resetLink(t, e, "ada@example.com")
	if _, err := e.Svc.ResetPassword(ctx, token, "a completely new passphrase 42", "", laptop); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.SignIn(ctx, "ada@example.com", "a completely new passphrase 42", laptop); err != nil {
		t.Fatalf("sign-in after the reset: %v", err)
	}
	types := eventTypes(t, e, a.ID)
	if count(types, audit.AccountLockedDown) != 1 {
		t.Errorf("log: %v", types)
	}

	t.Run("link of 7 days", func(t *testing.T) {
		if _, err := e.Svc.SignIn(ctx, "ada@example.com", "a completely new passphrase 42", phone); err != nil {
			t.Fatal(err)
		}
		n := only(deliver(t, e), keyward.MailNotice, keyward.NoticeNewDevice)
		e.Clock.Advance(7 * 24 * time.Hour)
		_, err := e.Svc.Lockdown(ctx, n[0].LockdownToken, laptop)
		wantCode(t, err, keyward.CodeInvalidToken)
	})
}

// Turning the new-device mail off is what someone holding a stolen session
// would do first: it is recorded for the owner to see, and a session that
// has ended cannot do it.
func TestNotificationsChangeIsRecorded(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	mine := signIn(t, e, "ada@example.com", laptop)
	theirs := signIn(t, e, "ada@example.com", phone)

	if err := e.Svc.SetNotifications(ctx, theirs.Session, keyward.Notifications{NewDeviceSignIn: false}, phone); err != nil {
		t.Fatal(err)
	}
	page, err := e.Svc.Events(ctx, a.ID, keyward.EventQuery{Types: []audit.Type{audit.NotificationsChanged}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].IP != phone.IP || page.Events[0].SessionID != theirs.Session.ID ||
		page.Events[0].Details[audit.DetailNewDeviceMail] != "off" {
		t.Fatalf("notifications.changed events: %+v", page.Events)
	}
	if got := audit.Describe(&page.Events[0]); !strings.Contains(got, "turned off") {
		t.Errorf("described as %q", got)
	}

	// The owner ends that session; it can change nothing more.
	if err := e.Svc.RevokeSession(ctx, mine.Session, theirs.Session.ID, laptop); err != nil {
		t.Fatal(err)
	}
	err = e.Svc.SetNotifications(ctx, theirs.Session, keyward.Notifications{NewDeviceSignIn: true}, phone)
	if !keyward.IsCode(err, keyward.CodeUnauthenticated) {
		t.Fatalf("an ended session changing notifications: %v, want unauthenticated", err)
	}
}
