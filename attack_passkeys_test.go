package keyward_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

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
