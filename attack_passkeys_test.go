package keyward_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
)

// Attacks on passkeys, as an outsider would try them. Each test failed
// before the fix it names (see docs/security.md).

// TestPasskeyAloneOpensNoSudo: someone holding only the owner's security
// key (one without a PIN, or a passkey whose authenticator did not check
// who holds it) signs in with it, at aal 1. Sign-ins open the sudo window,
// so that session could move the account to the thief's address at once,
// and confirm "it is you" with the same key later. A sign-in that proved
// possession alone opens no window, and such a key confirms nothing for a
// session that proved no more.
func TestPasskeyAloneOpensNoSudo(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)

	thief := signInWithPasskey(t, e, passkeytest.SignInUnverified)
	if thief.Session.AAL != 1 {
		t.Fatalf("aal %d, want 1", thief.Session.AAL)
	}
	err := e.Svc.RequestEmailChange(ctx, thief.Session, "thief@example.com", "", phone)
	if !keyward.NeedsSudo(err) {
		t.Fatalf("an email change from a key-only session: %v, want the sudo page", err)
	}
	rec := passkeytest.Get(passkeytest.SecondStepUnverified)
	e.Challenges.Push(rec.ChallengeBytes())
	_, id, err := e.Svc.BeginPasskeySudo(ctx, thief.Session, phone)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.GrantSudo(ctx, thief.Session, keyward.SudoProof{ChallengeID: id, Credential: rec.Response}, phone)
	wantCode(t, err, keyward.CodeInvalidCredential)
	wantEvents(t, lastEvents(t, e, a.ID, 1),
		"sudo.granted failure user_not_verified method=passkey passkey=register-verified passkey_id=… reason=user_not_verified")

	// The password is a second factor: with it, the same session may.
	if _, err := e.Svc.GrantSudo(ctx, thief.Session, keyward.SudoProof{Password: goodPassword}, phone); err != nil {
		t.Fatalf("the password: %v", err)
	}
}

// TestPasskeyOfAnotherAccountByUserHandle: an assertion of alice's passkey
// whose user handle is changed to carol's (the handle is not signed) is
// not a sign-in to carol's account.
func TestPasskeyOfAnotherAccountByUserHandle(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "alice@example.com")
	carol := signUp(t, e, "carol@example.com")
	mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
	mustAddPasskey(t, e, signIn(t, e, "carol@example.com", laptop), passkeytest.RegisterNoVerification)
	var m map[string]any
	if err := json.Unmarshal(passkeytest.Get(passkeytest.SignInVerified1).Response, &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)["userHandle"] = base64.RawURLEncoding.EncodeToString(passkeytest.Handle("carol"))
	forged, _ := json.Marshal(m)
	err := finishWith(t, e, "", passkeytest.SignInVerified1, forged)
	wantCode(t, err, keyward.CodeInvalidCredential)
	sessions, _ := e.Svc.Sessions(ctx, carol.ID)
	if len(sessions) != 1 {
		t.Errorf("carol has %d sessions, want only her own", len(sessions))
	}
}

// TestPasskeyRegisteredTwice: a credential registered to one account is
// no one else's: another account's registration of the same answer is
// refused (a credential id names one account, or a sign-in without a
// password could not tell whose it is), and so is the same answer again.
func TestPasskeyRegisteredTwice(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "alice@example.com")
	signUp(t, e, "mallory@example.com")
	alice := signIn(t, e, "alice@example.com", laptop)
	mustAddPasskey(t, e, alice, passkeytest.RegisterVerified)
	_, err := addPasskey(t, e, alice.Session, passkeytest.RegisterVerified)
	wantCode(t, err, keyward.CodeInvalidCredential)
	mallory := signIn(t, e, "mallory@example.com", phone)
	if _, err := e.Store.EnsureUserHandle(ctx, mallory.Account.ID, passkeytest.Handle("mallory")); err != nil {
		t.Fatal(err)
	}
	rec := passkeytest.Get(passkeytest.RegisterVerified)
	e.Challenges.Push(rec.ChallengeBytes())
	if _, err := e.Svc.BeginPasskeyRegistration(ctx, mallory.Session, phone); err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.FinishPasskeyRegistration(ctx, mallory.Session, "alice's", rec.Response, phone)
	wantCode(t, err, keyward.CodeInvalidCredential)
	if list, _ := e.Svc.Passkeys(ctx, mallory.Account.ID); len(list) != 0 {
		t.Errorf("mallory has %d passkeys", len(list))
	}
}

// TestPasskeyRespectsVerifiedEmail: under --require-verified-email a
// passkey does not open a session for an unconfirmed address either.
func TestPasskeyRespectsVerifiedEmail(t *testing.T) {
	cfg := withOrigin(passkeytest.Origin)
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	signUp(t, e, "alice@example.com")
	mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
	strict := cfg
	strict.RequireVerifiedEmail = true
	node := keywardtest.New(t, keywardtest.Options{Store: e.Store, Clock: e.Clock, Keys: e.Keys, Config: strict})
	_, err := passkeySignIn(t, node, "", passkeytest.SignInVerified1, phone)
	wantCode(t, err, keyward.CodeEmailNotVerified)
}

// TestOperatorResetRemovesPasskeys: the operator's reset of two-factor
// (for someone who lost his devices) removes the passkeys too: a thief's
// copy of one signs in no more.
func TestOperatorResetRemovesPasskeys(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
	if err := e.Svc.ResetTwoFactor(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.Svc.Passkeys(ctx, a.ID); len(list) != 0 {
		t.Fatalf("%d passkeys after the reset", len(list))
	}
	_, err := passkeySignIn(t, e, "", passkeytest.SignInVerified1, phone)
	wantCode(t, err, keyward.CodeInvalidCredential)
}

// TestPasskeyOfDisabledAccount: an account an admin disabled signs in
// with no passkey either, without a password or as the second step; a
// bad answer learns nothing of the state (it is refused as any bad one).
func TestPasskeyOfDisabledAccount(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
	step := signIn(t, e, "alice@example.com", phone)
	if _, _, err := e.Svc.DisableAccount(ctx, keyward.CommandLineAdmin(), a.ID, laptop); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Second)
	err := finishWith(t, e, "", passkeytest.SignInBadSignature, nil)
	wantCode(t, err, keyward.CodeInvalidCredential)
	_, err = passkeySignIn(t, e, "", passkeytest.SignInVerified1, phone)
	wantCode(t, err, keyward.CodeAccountDisabled)
	wantEvents(t, lastEvents(t, e, a.ID, 1), "signin.failed failure account_disabled method=passkey passkey=register-verified passkey_id=… reason=account_disabled")
	if sessions, _ := e.Svc.Sessions(ctx, a.ID); len(sessions) != 0 {
		t.Errorf("%d sessions of a disabled account", len(sessions))
	}
	// The second step begun before the disable: the disable ended it.
	_, _, err = e.Svc.BeginPasskeySignIn(ctx, step.MFAToken, phone)
	if err == nil {
		rec := passkeytest.Get(passkeytest.SecondStepVerified)
		e.Challenges.Push(rec.ChallengeBytes())
		_, id, berr := e.Svc.BeginPasskeySignIn(ctx, step.MFAToken, phone)
		if berr != nil {
			t.Fatal(berr)
		}
		_, err = e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, step.MFAToken, phone)
		wantCode(t, err, keyward.CodeAccountDisabled)
	}
}
