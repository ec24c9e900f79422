package keyward_test

import (
	"fmt"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
)

// Edits made straight in the database to passkeys and their ceremonies, as
// an attacker with access to it (or a bad restore) makes them: keyward
// refuses and records, never answers internal.

// TestAttackPasskeyCounterOutOfRange: a sign_count no authenticator can
// report (negative, or past 32 bits) made listing an account's passkeys
// and every sign-in with them fail as internal on SQLite (the scan into a
// uint32 refused it), and was silently cut to 32 bits on PostgreSQL. Such
// a counter is now read as the highest there is: the passkey is listed,
// and every use of it is refused as a counter that went back, recorded.
func TestAttackPasskeyCounterOutOfRange(t *testing.T) {
	for _, engine := range engines {
		for _, count := range []int64{-1, 1 << 32, 1<<32 + 1} {
			t.Run(fmt.Sprintf("%s %d", engine, count), func(t *testing.T) {
				store, run := keywardtest.NewStoreWithSQL(t, engine)
				e := keywardtest.New(t, keywardtest.Options{Store: store})
				a := signUp(t, e, "alice@example.com")
				me := signIn(t, e, "alice@example.com", laptop)
				mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
				run(t, `UPDATE passkeys SET sign_count = $1`, count)

				list, err := e.Svc.Passkeys(ctx, a.ID)
				if err != nil || len(list) != 1 {
					t.Fatalf("Passkeys with sign_count %d: %d, %v", count, len(list), err)
				}
				if list[0].SignCount != ^uint32(0) {
					t.Errorf("sign_count %d read as %d, want the highest counter", count, list[0].SignCount)
				}
				_, err = passkeySignIn(t, e, "", passkeytest.SignInVerified1, phone)
				wantCode(t, err, keyward.CodeInvalidCredential)
				wantEvents(t, lastEvents(t, e, a.ID, 1),
					"signin.failed failure passkey_counter method=passkey passkey=register-verified passkey_id=… reason=passkey_counter")
			})
		}
	}
}

// TestAttackPasskeyCeremonyStateEdited: a ceremony whose stored state was
// overwritten (not the JSON package passkey wrote) made the finish answer
// internal. It is a ceremony that cannot be finished: invalid_credential,
// recorded, for a sign-in, a second step, sudo and a registration alike.
func TestAttackPasskeyCeremonyStateEdited(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			store, run := keywardtest.NewStoreWithSQL(t, engine)
			e := keywardtest.New(t, keywardtest.Options{Store: store})
			a := signUp(t, e, "alice@example.com")
			me := signIn(t, e, "alice@example.com", laptop)
			mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
			spoil := func() { run(t, `UPDATE passkey_challenges SET state = $1`, []byte("not json")) }

			// A sign-in without a password.
			rec := passkeytest.Get(passkeytest.SignInVerified1)
			e.Challenges.Push(rec.ChallengeBytes())
			_, id, err := e.Svc.BeginPasskeySignIn(ctx, "", phone)
			if err != nil {
				t.Fatal(err)
			}
			spoil()
			_, err = e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone)
			wantCode(t, err, keyward.CodeInvalidCredential)
			wantEvents(t, lastEvents(t, e, a.ID, 1),
				"signin.failed failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential")

			// The second step.
			step := signIn(t, e, "alice@example.com", phone)
			rec = passkeytest.Get(passkeytest.SecondStepVerified)
			e.Challenges.Push(rec.ChallengeBytes())
			if _, id, err = e.Svc.BeginPasskeySignIn(ctx, step.MFAToken, phone); err != nil {
				t.Fatal(err)
			}
			spoil()
			_, err = e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, step.MFAToken, phone)
			wantCode(t, err, keyward.CodeInvalidCredential)
			wantEvents(t, lastEvents(t, e, a.ID, 1),
				"signin.mfa_failed failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential")

			// Sudo.
			e.Challenges.Push(rec.ChallengeBytes())
			if _, id, err = e.Svc.BeginPasskeySudo(ctx, me.Session, laptop); err != nil {
				t.Fatal(err)
			}
			spoil()
			_, err = e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{ChallengeID: id, Credential: rec.Response}, laptop)
			wantCode(t, err, keyward.CodeInvalidCredential)
			if got := lastEvents(t, e, a.ID, 1); got[0] != "sudo.granted failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential" {
				t.Errorf("events %q", got)
			}

			// A registration (bob's, whose recorded key is new here).
			bob := signUp(t, e, "bob@example.com")
			bobs := signIn(t, e, "bob@example.com", laptop)
			reg := passkeytest.Get(passkeytest.RegisterSecurityKey)
			givePasskeyUser(t, e, bob.ID, passkeytest.RegisterSecurityKey)
			e.Challenges.Push(reg.ChallengeBytes())
			if _, err := e.Svc.BeginPasskeyRegistration(ctx, bobs.Session, laptop); err != nil {
				t.Fatal(err)
			}
			spoil()
			_, err = e.Svc.FinishPasskeyRegistration(ctx, bobs.Session, "key", reg.Response, laptop)
			wantCode(t, err, keyward.CodeInvalidCredential)
			if n := len(mustList(t, e, bob.ID)); n != 0 {
				t.Errorf("%d passkeys, want none", n)
			}
		})
	}
}

func mustList(t testing.TB, e *keywardtest.Env, accountID string) []keyward.Passkey {
	t.Helper()
	list, err := e.Svc.Passkeys(ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestAttackPasskeyNameBidi: a passkey's name kept the characters that
// turn text around or hide it (U+202E RIGHT-TO-LEFT OVERRIDE, the isolates,
// the marks): a name shown on the security page, in the audit log and in
// the notices could read as another ("\u202eyek-ytiruces" shows as
// "security-key" backwards, spoofing what a list says). They go, as control
// characters do; a name made of them alone is "Passkey".
func TestAttackPasskeyNameBidi(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"\u202eyek\u202c", "yek"},
		{"work \u2066laptop\u2069\u200f", "work laptop"},
		{"\u061c\u200e\u200f\u202a\u202b\u202d", "Passkey"},
		{"a\x00b\nc\u0085", "abc"},
		{"👩\u200d💻 laptop", "👩\u200d💻 laptop"}, // a joiner in an emoji stays
	} {
		got, err := keyward.PasskeyName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("PasskeyName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{strings.Repeat("x", 10_000), strings.Repeat("é", 65)} {
		_, err := keyward.PasskeyName(in)
		wantCode(t, err, keyward.CodeInvalidRequest)
	}
}
