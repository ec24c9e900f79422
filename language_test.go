package keyward_test

import (
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestMailsFollowTheAccountsLanguage: an account is made in the language
// of its sign-up, its mails carry it, and the language its owner chooses
// later is the one of the mails after.
func TestMailsFollowTheAccountsLanguage(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	inUkrainian := laptop
	inUkrainian.Language = "uk"
	a, err := e.Svc.SignUp(ctx, "olena@example.com", goodPassword, inUkrainian)
	if err != nil {
		t.Fatal(err)
	}
	if a.Language != "uk" {
		t.Errorf("account's language %q, want uk", a.Language)
	}
	verify := only(deliver(t, e), keyward.MailVerifyEmail, "")
	if len(verify) != 1 || verify[0].Language != "uk" {
		t.Fatalf("verification mails: %+v", verify)
	}
	// A request in another language does not change the account's.
	if err := e.Svc.ForgotPassword(ctx, "olena@example.com", laptop); err != nil {
		t.Fatal(err)
	}
	reset := only(deliver(t, e), keyward.MailPasswordReset, "")
	if len(reset) != 1 || reset[0].Language != "uk" {
		t.Fatalf("reset mails: %+v", reset)
	}

	res := signIn(t, e, "olena@example.com", laptop)
	deliver(t, e)
	if err := e.Svc.SetLanguage(ctx, res.Session, "en"); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.ForgotPassword(ctx, "olena@example.com", laptop); err != nil {
		t.Fatal(err)
	}
	reset = only(deliver(t, e), keyward.MailPasswordReset, "")
	if len(reset) != 1 || reset[0].Language != "en" {
		t.Fatalf("reset mails after choosing English: %+v", reset)
	}

	for _, bad := range []string{"", "uk\r\n", "<script>", "a-very-long-language-code"} {
		wantCode(t, e.Svc.SetLanguage(ctx, res.Session, bad), keyward.CodeInvalidRequest)
	}
	if err := e.Svc.SignOut(ctx, res.Session, laptop); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.Svc.SetLanguage(ctx, res.Session, "uk"), keyward.CodeUnauthenticated)

	// A sign-up whose language is not a language code keeps none.
	odd := laptop
	odd.Language = "uk; DROP TABLE"
	b, err := e.Svc.SignUp(ctx, "bob@example.com", goodPassword, odd)
	if err != nil {
		t.Fatal(err)
	}
	if b.Language != "" {
		t.Errorf("account's language %q, want none", b.Language)
	}
}
