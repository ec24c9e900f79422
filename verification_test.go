package keyward_test

import (
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
)

func TestVerifyEmailAtSignUp(t *testing.T) {
	cfg := fastForgot()
	cfg.RequireVerifiedEmail = true
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	a := signUp(t, e, "ada@example.com")
	if a.EmailVerified() {
		t.Fatal("a new account is verified")
	}
	first := only(deliver(t, e), keyward.MailVerifyEmail, "")
	if len(first) != 1 || first[0].To != "ada@example.com" {
		t.Fatalf("verification mails: %+v", first)
	}

	// A wrong password is invalid_credentials as ever; a right one learns
	// the address is not verified, and a new link goes out.
	_, err := e.Svc.SignIn(ctx, "ada@example.com", "wrong password here", laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeEmailNotVerified)
	again := only(deliver(t, e), keyward.MailVerifyEmail, "")
	if len(again) != 1 {
		t.Fatalf("mails after an unverified sign-in: %+v", again)
	}
	// The new link replaced the first.
	_, err = e.Svc.VerifyEmail(ctx, first[0].Token, laptop)
	wantCode(t, err, keyward.CodeInvalidToken)
	got, err := e.Svc.VerifyEmail(ctx, again[0].Token, laptop)
	if err != nil || !got.EmailVerified() {
		t.Fatalf("VerifyEmail: %+v, %v", got, err)
	}
	_, err = e.Svc.VerifyEmail(ctx, again[0].Token, laptop)
	wantCode(t, err, keyward.CodeInvalidToken)
	res := signIn(t, e, "ada@example.com", laptop)
	wantCode(t, e.Svc.ResendVerification(ctx, res.Session, laptop), keyward.CodeAlreadyVerified)
	types := eventTypes(t, e, a.ID)
	if count(types, audit.EmailVerified) != 1 {
		t.Errorf("log: %v", types)
	}
}

func TestResendVerification(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	signUp(t, e, "ada@example.com")
	res := signIn(t, e, "ada@example.com", laptop)
	deliver(t, e)
	for range 4 {
		if err := e.Svc.ResendVerification(ctx, res.Session, laptop); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, e.Svc.ResendVerification(ctx, res.Session, laptop), keyward.CodeTooManyAttempts)
	mails := only(deliver(t, e), keyward.MailVerifyEmail, "")
	if len(mails) != 4 {
		t.Fatalf("%d verification mails, want 4", len(mails))
	}
	e.Clock.Advance(72 * time.Hour)
	_, err := e.Svc.VerifyEmail(ctx, mails[3].Token, laptop)
	wantCode(t, err, keyward.CodeInvalidToken)
}

func TestEmailChange(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: fastForgot()})
	a := signUp(t, e, "ada@example.com")
	signUp(t, e, "taken@example.com")
	res := signIn(t, e, "ada@example.com", laptop)
	deliver(t, e)

	wantCode(t, e.Svc.RequestEmailChange(ctx, res.Session, "new@example.com", "wrong password", laptop), keyward.CodeInvalidCurrentPass)
	wantCode(t, e.Svc.RequestEmailChange(ctx, res.Session, "TAKEN@example.com", goodPassword, laptop), keyward.CodeEmailTaken)
	wantCode(t, e.Svc.RequestEmailChange(ctx, res.Session, "not an email", goodPassword, laptop), keyward.CodeInvalidEmail)
	if err := e.Svc.RequestEmailChange(ctx, res.Session, "ada.new@example.com", goodPassword, laptop); err != nil {
		t.Fatal(err)
	}
	mails := deliver(t, e)
	confirm := only(mails, keyward.MailConfirmChange, "")
	notice := only(mails, keyward.MailNotice, keyward.NoticeEmailChangeRequested)
	if len(confirm) != 1 || confirm[0].To != "ada.new@example.com" || len(notice) != 1 || notice[0].To != "ada@example.com" || notice[0].NewEmail != "ada.new@example.com" {
		t.Fatalf("mails: %+v", mails)
	}
	// Nothing changed yet.
	if got, _ := e.Store.AccountByID(ctx, a.ID); got.Email != "ada@example.com" {
		t.Fatalf("email changed before confirmation: %s", got.Email)
	}
	got, err := e.Svc.VerifyEmail(ctx, confirm[0].Token, phone)
	if err != nil || got.Email != "ada.new@example.com" || !got.EmailVerified() {
		t.Fatalf("confirm: %+v, %v", got, err)
	}
	old := only(deliver(t, e), keyward.MailNotice, "email.changed")
	if len(old) != 1 || old[0].To != "ada@example.com" || old[0].LockdownToken == "" {
		t.Fatalf("notice to the old address: %+v", old)
	}
	signIn(t, e, "ada.new@example.com", laptop)
	_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	wantCode(t, err, keyward.CodeInvalidCredentials)

	t.Run("taken at confirm time", func(t *testing.T) {
		res := signIn(t, e, "ada.new@example.com", laptop)
		if err := e.Svc.RequestEmailChange(ctx, res.Session, "late@example.com", goodPassword, laptop); err != nil {
			t.Fatal(err)
		}
		confirm := only(deliver(t, e), keyward.MailConfirmChange, "")
		signUp(t, e, "late@example.com")
		_, err := e.Svc.VerifyEmail(ctx, confirm[0].Token, laptop)
		wantCode(t, err, keyward.CodeEmailTaken)
		if got, _ := e.Store.AccountByID(ctx, a.ID); got.Email != "ada.new@example.com" {
			t.Errorf("email is %s", got.Email)
		}
	})
}
