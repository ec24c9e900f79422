package keyward_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
)

// The ceremonies here are the ones Chromium's virtual authenticators made
// (package passkeytest): a test gives the account the recorded user
// handle, makes the service begin with the recorded challenge, and
// finishes with the recorded response, as the browser would have.

// givePasskeyUser makes the recorded ceremony's user handle the account's.
func givePasskeyUser(t testing.TB, e *keywardtest.Env, accountID, ceremony string) {
	t.Helper()
	h, err := e.Store.EnsureUserHandle(ctx, accountID, passkeytest.Get(ceremony).Handle())
	if err != nil {
		t.Fatalf("EnsureUserHandle: %v", err)
	}
	if string(h) != string(passkeytest.Get(ceremony).Handle()) {
		t.Fatalf("the account has another user handle already")
	}
}

// addPasskey registers the recorded passkey for the caller's account,
// named after the ceremony.
func addPasskey(t testing.TB, e *keywardtest.Env, caller *keyward.Session, ceremony string) (*keyward.PasskeyAdded, error) {
	t.Helper()
	c := passkeytest.Get(ceremony)
	if _, err := e.Store.EnsureUserHandle(ctx, caller.AccountID, c.Handle()); err != nil {
		t.Fatalf("EnsureUserHandle: %v", err)
	}
	e.Challenges.Push(c.ChallengeBytes())
	if _, err := e.Svc.BeginPasskeyRegistration(ctx, caller, laptop); err != nil {
		return nil, err
	}
	return e.Svc.FinishPasskeyRegistration(ctx, caller, ceremony, c.Response, laptop)
}

// mustAddPasskey is addPasskey that must succeed; it returns the caller's
// session as it is now.
func mustAddPasskey(t testing.TB, e *keywardtest.Env, res *keyward.SignInResult, ceremony string) *keyward.PasskeyAdded {
	t.Helper()
	added, err := addPasskey(t, e, res.Session, ceremony)
	if err != nil {
		t.Fatalf("adding %s: %v", ceremony, err)
	}
	if _, res.Session, err = e.Svc.Authenticate(ctx, res.Token); err != nil {
		t.Fatalf("the adding session must survive: %v", err)
	}
	return added
}

// passkeySignIn signs in with the recorded assertion: without a password
// when mfaToken is "", else as the second step.
func passkeySignIn(t testing.TB, e *keywardtest.Env, mfaToken, ceremony string, c keyward.Client) (*keyward.SignInResult, error) {
	t.Helper()
	rec := passkeytest.Get(ceremony)
	e.Challenges.Push(rec.ChallengeBytes())
	_, id, err := e.Svc.BeginPasskeySignIn(ctx, mfaToken, c)
	if err != nil {
		t.Fatalf("BeginPasskeySignIn: %v", err)
	}
	return e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, mfaToken, c)
}

// lastEvents returns the newest n events of the chain, oldest first, as
// "type outcome reason key=value…".
func lastEvents(t testing.TB, e *keywardtest.Env, chain string, n int) []string {
	t.Helper()
	evs, err := e.Store.ListEvents(ctx, keyward.EventFilter{ChainID: chain, Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		s := string(ev.Type) + " " + string(ev.Outcome)
		if ev.Reason != "" {
			s += " " + ev.Reason
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range ev.Details {
				if !yield(k) {
					return
				}
			}
		}) {
			v := ev.Details[k]
			if k == audit.DetailPasskeyID || k == "session" {
				v = "…"
			}
			s += " " + k + "=" + v
		}
		out = append(out, s)
	}
	return out
}

func wantEvents(t testing.TB, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got  %q\n want %q", got, want)
	}
}

func TestPasskeyTurnsTwoFactorOn(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	other := signIn(t, e, "alice@example.com", phone)
	deliver(t, e)

	added := mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
	if len(added.BackupCodes) != 10 || added.RevokedSessions != 1 {
		t.Fatalf("a first passkey: %d backup codes, %d sessions ended; want 10 and 1", len(added.BackupCodes), added.RevokedSessions)
	}
	p := added.Passkey
	if p.Name != passkeytest.RegisterVerified || !p.BackupEligible || !p.BackupState || !p.UserVerified ||
		!slices.Equal(p.Transports, []string{"internal"}) || len(p.AAGUID) != 16 || p.LastUsedAt != nil {
		t.Errorf("passkey %+v", p)
	}
	if me.Session.AAL != 2 || me.Session.AMR.String() != "pwd swk mfa" {
		t.Errorf("the adding session: aal %d, amr %q; want 2 and pwd swk mfa: it showed the passkey", me.Session.AAL, me.Session.AMR)
	}
	if _, _, err := e.Svc.Authenticate(ctx, other.Token); !keyward.IsCode(err, keyward.CodeUnauthenticated) {
		t.Errorf("the other session, opened with the password alone: %v, want it ended", err)
	}
	st, err := e.Svc.TwoFactor(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.TOTP || st.Passkeys != 1 || st.BackupCodesRemaining != 10 {
		t.Errorf("two-factor status %+v", st)
	}
	wantEvents(t, lastEvents(t, e, a.ID, 3),
		"2fa.enabled success method=passkey passkey=register-verified two_factor=on",
		"session.revoked success device=Safari on iOS ip=198.51.100.7 reason=2fa_enabled session=…",
		"passkey.added success passkey=register-verified passkey_id=… two_factor=on")
	if got := only(deliver(t, e), keyward.MailNotice, "passkey.added"); len(got) != 1 {
		t.Errorf("passkey.added notices: %d, want 1", len(got))
	}

	// The password alone no longer signs in: the second step lists the
	// passkey and the backup codes, not the app it does not have.
	step := signIn(t, e, "alice@example.com", phone)
	if !step.MFARequired() || !slices.Equal(step.Methods, []string{"backup_code", "passkey"}) {
		t.Fatalf("sign-in with the password: mfa %v, methods %q", step.MFARequired(), step.Methods)
	}
	_, err = e.Svc.CompleteSignIn(ctx, step.MFAToken, "123456", phone)
	wantCode(t, err, keyward.CodeInvalidCode)
	res, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, added.BackupCodes[0], phone)
	if err != nil {
		t.Fatalf("a backup code of a passkey-only account: %v", err)
	}
	if res.Session.AAL != 2 || res.BackupCodesRemaining != 9 {
		t.Errorf("aal %d, %d codes left", res.Session.AAL, res.BackupCodesRemaining)
	}

	// The user handle is random and the account's own: neither its id nor
	// its email.
	handle := passkeytest.Get(passkeytest.RegisterVerified).Handle()
	if strings.Contains(string(handle), "alice") || strings.Contains(string(handle), a.ID) {
		t.Errorf("user handle %q", handle)
	}
}

func TestPasskeyRegistrationOptions(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	opts, err := e.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		RP   struct{ ID string }
		User struct{ ID, Name string }
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	handle, err := base64.RawURLEncoding.DecodeString(o.User.ID)
	if err != nil || len(handle) != 32 || strings.Contains(o.User.ID, "ada") {
		t.Errorf("user id %q (%v): want 32 random bytes", o.User.ID, err)
	}
	if o.RP.ID != "localhost" || o.User.Name != "ada@example.com" {
		t.Errorf("options %s", opts)
	}
	again, err := e.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(again), o.User.ID) {
		t.Errorf("a second ceremony has another user handle: %s", again)
	}

	// A session signed in long ago must prove itself again first.
	e.Clock.Advance(e.Svc.Config().SudoWindow + time.Second)
	if _, _, err := e.Svc.Authenticate(ctx, me.Token); err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop)
	wantCode(t, err, keyward.CodeReauthRequired)
}

func TestPasskeySignIn(t *testing.T) {
	tests := []struct {
		name      string
		register  string
		user      string
		signIn    string
		second    bool // after the password
		wantAAL   int
		wantAMR   string
		wantEvent string
	}{
		{"without a password, user verified", passkeytest.RegisterVerified, "alice@example.com", passkeytest.SignInVerified1, false, 2, "swk mfa",
			"signin.succeeded success method=passkey passkey=register-verified passkey_id=…"},
		{"without a password, user not verified", passkeytest.RegisterVerified, "alice@example.com", passkeytest.SignInUnverified, false, 1, "swk",
			"signin.succeeded success method=passkey passkey=register-verified passkey_id=…"},
		{"with a security key", passkeytest.RegisterSecurityKey, "bob@example.com", passkeytest.SignInSecurityKey, false, 2, "hwk mfa",
			"signin.succeeded success method=passkey passkey=register-security-key passkey_id=…"},
		{"second step, user verified", passkeytest.RegisterVerified, "alice@example.com", passkeytest.SecondStepVerified, true, 2, "pwd swk mfa",
			"signin.succeeded success method=passkey passkey=register-verified passkey_id=…"},
		{"second step, user not verified: the password came first", passkeytest.RegisterNoVerification, "carol@example.com",
			passkeytest.SecondStepNoVerification, true, 2, "pwd hwk mfa",
			"signin.succeeded success method=passkey passkey=register-no-verification passkey_id=…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			a := signUp(t, e, tt.user)
			me := signIn(t, e, tt.user, laptop)
			mustAddPasskey(t, e, me, tt.register)
			mfa := ""
			if tt.second {
				step := signIn(t, e, tt.user, phone)
				if !slices.Contains(step.Methods, "passkey") {
					t.Fatalf("methods %q: want passkey", step.Methods)
				}
				mfa = step.MFAToken
			}
			res, err := passkeySignIn(t, e, mfa, tt.signIn, phone)
			if err != nil {
				t.Fatalf("FinishPasskeySignIn: %v", err)
			}
			if res.Session.AAL != tt.wantAAL || res.Account.ID != a.ID || res.Token == "" {
				t.Errorf("session aal %d of %s, want aal %d of %s", res.Session.AAL, res.Account.ID, tt.wantAAL, a.ID)
			}
			if _, stored, err := e.Svc.Authenticate(ctx, res.Token); err != nil || stored.AMR.String() != tt.wantAMR {
				t.Errorf("amr %q (%v), want %q", stored.AMR, err, tt.wantAMR)
			}
			wantEvents(t, lastEvents(t, e, a.ID, 1), tt.wantEvent)
			list, err := e.Svc.Passkeys(ctx, a.ID)
			if err != nil || len(list) != 1 || list[0].LastUsedAt == nil || list[0].SignCount == 0 {
				t.Errorf("passkey after use: %+v, %v", list, err)
			}
			if tt.second {
				// The mfa_token worked once.
				_, err := e.Svc.CompleteSignIn(ctx, mfa, "123456", phone)
				wantCode(t, err, keyward.CodeMFATokenExpired)
			}
		})
	}
}

// TestPasskeyRefused is the bad-input table: each response is refused with
// invalid_credential (never a 500), recorded, and consumes nothing it
// should not.
func TestPasskeyRefused(t *testing.T) {
	type setup struct {
		e     *keywardtest.Env
		alice *keyward.SignInResult // alice@ with passkey A
		carol *keyward.SignInResult // carol@ with passkey C
	}
	newSetup := func(t *testing.T) *setup {
		e := keywardtest.New(t, keywardtest.Options{})
		st := &setup{e: e}
		signUp(t, e, "alice@example.com")
		signUp(t, e, "carol@example.com")
		st.alice = signIn(t, e, "alice@example.com", laptop)
		mustAddPasskey(t, e, st.alice, passkeytest.RegisterVerified)
		st.carol = signIn(t, e, "carol@example.com", laptop)
		mustAddPasskey(t, e, st.carol, passkeytest.RegisterNoVerification)
		// Events of this setup and of the attempt never share a
		// millisecond: their order in the log is their time's.
		e.Clock.Advance(time.Second)
		return st
	}
	tampered := func(name string, edit func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(passkeytest.Get(name).Response, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, _ := json.Marshal(m)
		return b
	}
	clientData := func(name, key string, value any) []byte {
		return tampered(name, func(m map[string]any) {
			r := m["response"].(map[string]any)
			raw, _ := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
			var cd map[string]any
			_ = json.Unmarshal(raw, &cd)
			cd[key] = value
			raw, _ = json.Marshal(cd)
			r["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(raw)
		})
	}
	flipAuthData := func(name string, i int) []byte {
		return tampered(name, func(m map[string]any) {
			r := m["response"].(map[string]any)
			raw, _ := base64.RawURLEncoding.DecodeString(r["authenticatorData"].(string))
			raw[i] ^= 1
			r["authenticatorData"] = base64.RawURLEncoding.EncodeToString(raw)
		})
	}
	signInFailed := "signin.failed failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential"
	tests := []struct {
		name string
		// try makes the refused attempt on st (a passwordless sign-in
		// unless it says otherwise) and returns its error.
		try func(t *testing.T, st *setup) error
		// chain ("alice" or "system") and events are what that log ends
		// with; no events: nothing is checked (the contract records none).
		chain  string
		events []string
	}{
		{name: "tampered clientDataJSON", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, clientData(passkeytest.SignInVerified1, "keyward", "tampered"))
		}, chain: "alice", events: []string{signInFailed}},
		{name: "clientDataJSON of another ceremony type", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, clientData(passkeytest.SignInVerified1, "type", "webauthn.create"))
		}, chain: "system", events: []string{"signin.failed failure invalid_credential method=passkey reason=invalid_credential"}},
		{name: "wrong origin", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, clientData(passkeytest.SignInVerified1, "origin", "http://localhost:8766"))
		}, chain: "alice", events: []string{signInFailed}},
		{name: "made for another origin", try: func(t *testing.T, st *setup) error {
			// A node of another public URL, on the same store.
			other := keywardtest.New(t, keywardtest.Options{Store: st.e.Store, Clock: st.e.Clock, Keys: st.e.Keys, Config: withOrigin("http://localhost:9999")})
			return finishWith(t, other, "", passkeytest.SignInVerified1, nil)
		}, chain: "alice", events: []string{signInFailed}},
		{name: "made for another relying party", try: func(t *testing.T, st *setup) error {
			other := keywardtest.New(t, keywardtest.Options{Store: st.e.Store, Clock: st.e.Clock, Keys: st.e.Keys, Config: withOrigin("http://keyward.localhost:8765")})
			return finishWith(t, other, "", passkeytest.SignInVerified1, nil)
		}, chain: "alice", events: []string{signInFailed}},
		{name: "wrong RP id hash", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, flipAuthData(passkeytest.SignInVerified1, 3))
		}, chain: "alice", events: []string{signInFailed}},
		{name: "bad signature", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInBadSignature, nil)
		}, chain: "alice", events: []string{signInFailed}},
		{name: "no user presence", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInNoPresence, nil)
		}, chain: "alice", events: []string{signInFailed}},
		{name: "replayed challenge", try: func(t *testing.T, st *setup) error {
			rec := passkeytest.Get(passkeytest.SignInVerified1)
			st.e.Challenges.Push(rec.ChallengeBytes())
			_, id, err := st.e.Svc.BeginPasskeySignIn(ctx, "", phone)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone); err != nil {
				t.Fatalf("the first use: %v", err)
			}
			_, err = st.e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone)
			return err
		}, chain: "alice", events: []string{signInFailed}},
		{name: "counter backwards", try: func(t *testing.T, st *setup) error {
			if _, err := passkeySignIn(t, st.e, "", passkeytest.SignInVerified2, phone); err != nil {
				t.Fatal(err)
			}
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, nil)
		}, chain: "alice", events: []string{"signin.failed failure passkey_counter method=passkey passkey=register-verified passkey_id=… reason=passkey_counter"}},
		{name: "counter backwards at the second step", try: func(t *testing.T, st *setup) error {
			if _, err := passkeySignIn(t, st.e, "", passkeytest.SignInUnverified, phone); err != nil {
				t.Fatal(err)
			}
			step := signIn(t, st.e, "alice@example.com", phone)
			return finishWith(t, st.e, step.MFAToken, passkeytest.SecondStepVerified, nil)
		}, chain: "alice", events: []string{"signin.failed failure passkey_counter method=passkey passkey=register-verified passkey_id=… reason=passkey_counter"}},
		{name: "challenge of another account", try: func(t *testing.T, st *setup) error {
			// Carol's second step is begun; alice's passkey answers it.
			step := signIn(t, st.e, "carol@example.com", phone)
			rec := passkeytest.Get(passkeytest.SignInVerified1)
			st.e.Challenges.Push(rec.ChallengeBytes())
			_, id, err := st.e.Svc.BeginPasskeySignIn(ctx, step.MFAToken, phone)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone)
			return err
		}, chain: "alice", events: []string{signInFailed}},
		{name: "second step of another sign-in", try: func(t *testing.T, st *setup) error {
			// Begun for one mfa_token, finished with another of the account.
			first := signIn(t, st.e, "alice@example.com", phone)
			second := signIn(t, st.e, "alice@example.com", phone)
			rec := passkeytest.Get(passkeytest.SecondStepVerified)
			st.e.Challenges.Push(rec.ChallengeBytes())
			_, id, err := st.e.Svc.BeginPasskeySignIn(ctx, first.MFAToken, phone)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, second.MFAToken, phone)
			return err
		}, chain: "alice", events: []string{"signin.mfa_failed failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential"}},
		{name: "credential id of another account", try: func(t *testing.T, st *setup) error {
			// Alice's second step, answered with carol's passkey.
			step := signIn(t, st.e, "alice@example.com", phone)
			return finishWith(t, st.e, step.MFAToken, passkeytest.SecondStepNoVerification, nil)
		}, chain: "alice", events: []string{"signin.mfa_failed failure invalid_credential method=passkey reason=invalid_credential"}},
		{name: "registration of another session", try: func(t *testing.T, st *setup) error {
			// Alice's laptop begins; a second session of hers finishes.
			e := st.e
			other := signIn(t, e, "alice@example.com", phone)
			other, err := passkeySignIn(t, e, other.MFAToken, passkeytest.SecondStepVerified, phone)
			if err != nil {
				t.Fatalf("a second session: %v", err)
			}
			if _, err := e.Store.DeletePasskeys(ctx, st.alice.Account.ID); err != nil {
				t.Fatal(err)
			}
			rec := passkeytest.Get(passkeytest.RegisterVerified)
			e.Challenges.Push(rec.ChallengeBytes())
			if _, err := e.Svc.BeginPasskeyRegistration(ctx, st.alice.Session, laptop); err != nil {
				t.Fatal(err)
			}
			_, err = e.Svc.FinishPasskeyRegistration(ctx, other.Session, "stolen", rec.Response, phone)
			return err
		}, chain: "alice"},
		{name: "garbage base64url", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, tampered(passkeytest.SignInVerified1, func(m map[string]any) {
				m["response"].(map[string]any)["signature"] = "!!not base64url!!"
			}))
		}, chain: "system", events: []string{"signin.failed failure invalid_credential method=passkey reason=invalid_credential"}},
		{name: "oversized", try: func(t *testing.T, st *setup) error {
			return finishWith(t, st.e, "", passkeytest.SignInVerified1, tampered(passkeytest.SignInVerified1, func(m map[string]any) {
				m["clientExtensionResults"] = map[string]any{"pad": strings.Repeat("x", 70<<10)}
			}))
		}, chain: "system", events: []string{"signin.failed failure invalid_credential method=passkey reason=invalid_credential"}},
		{name: "oversized attestation", try: func(t *testing.T, st *setup) error {
			rec := passkeytest.Get(passkeytest.RegisterVerified)
			big := tampered(passkeytest.RegisterVerified, func(m map[string]any) {
				r := m["response"].(map[string]any)
				r["attestationObject"] = r["attestationObject"].(string) + strings.Repeat("A", 70<<10)
			})
			if _, err := st.e.Store.DeletePasskeys(ctx, st.alice.Account.ID); err != nil {
				t.Fatal(err)
			}
			st.e.Challenges.Push(rec.ChallengeBytes())
			if _, err := st.e.Svc.BeginPasskeyRegistration(ctx, st.alice.Session, laptop); err != nil {
				t.Fatal(err)
			}
			_, err := st.e.Svc.FinishPasskeyRegistration(ctx, st.alice.Session, "big", big, laptop)
			return err
		}, chain: "alice"},
		{name: "unknown challenge id", try: func(t *testing.T, st *setup) error {
			_, err := st.e.Svc.FinishPasskeySignIn(ctx, "kwc_"+strings.Repeat("A", 43), passkeytest.Get(passkeytest.SignInVerified1).Response, "", phone)
			return err
		}, chain: "alice", events: []string{signInFailed}},
		{name: "challenge id of the wrong shape", try: func(t *testing.T, st *setup) error {
			_, err := st.e.Svc.FinishPasskeySignIn(ctx, "kwc_\x00'", passkeytest.Get(passkeytest.SignInVerified1).Response, "", phone)
			return err
		}, chain: "alice", events: []string{signInFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSetup(t)
			chain := audit.SystemChain
			if tt.chain == "alice" {
				chain = st.alice.Account.ID
			}
			before := len(eventTypes(t, st.e, chain))
			err := tt.try(t, st)
			wantCode(t, err, keyward.CodeInvalidCredential)
			after := eventTypes(t, st.e, chain)
			if tt.events == nil {
				return
			}
			if len(after) <= before {
				t.Fatalf("nothing recorded")
			}
			wantEvents(t, lastEvents(t, st.e, chain, len(tt.events)), tt.events...)
		})
	}
}

// finishWith begins a passkey sign-in with the recorded ceremony's
// challenge and finishes it with response (the recorded one when nil).
func finishWith(t testing.TB, e *keywardtest.Env, mfaToken, ceremony string, response []byte) error {
	t.Helper()
	rec := passkeytest.Get(ceremony)
	if response == nil {
		response = rec.Response
	}
	e.Challenges.Push(rec.ChallengeBytes())
	_, id, err := e.Svc.BeginPasskeySignIn(ctx, mfaToken, phone)
	if err != nil {
		t.Fatalf("BeginPasskeySignIn: %v", err)
	}
	_, err = e.Svc.FinishPasskeySignIn(ctx, id, response, mfaToken, phone)
	return err
}

// withOrigin is the default configuration for passkeys of origin.
func withOrigin(origin string) keyward.Config {
	cfg := keyward.DefaultConfig()
	cfg.PasskeyOrigin = origin
	return cfg
}

func TestRemovePasskey(t *testing.T) {
	t.Run("the last second factor turns two-factor off", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		a := signUp(t, e, "alice@example.com")
		me := signIn(t, e, "alice@example.com", laptop)
		added := mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
		other := signInWithPasskey(t, e, passkeytest.SignInVerified1)
		effect, err := e.Svc.PasskeyRemovalEffect(ctx, a.ID, added.Passkey.ID)
		if err != nil || !effect.TwoFactorOff {
			t.Fatalf("removal effect %+v, %v: want two-factor off", effect, err)
		}
		deliver(t, e)
		e.Clock.Advance(time.Second)
		removed, err := e.Svc.RemovePasskey(ctx, me.Session, added.Passkey.ID, laptop)
		if err != nil {
			t.Fatal(err)
		}
		if !removed.TwoFactorOff || removed.RevokedSessions != 1 {
			t.Errorf("removal %+v: want two-factor off and the other session ended", removed)
		}
		if _, _, err := e.Svc.Authenticate(ctx, other.Token); !keyward.IsCode(err, keyward.CodeUnauthenticated) {
			t.Errorf("the session opened with the removed passkey: %v, want ended", err)
		}
		st, err := e.Svc.TwoFactor(ctx, a)
		if err != nil || st.Enabled || st.Passkeys != 0 || st.BackupCodesRemaining != 0 {
			t.Errorf("status %+v, %v: want off, no passkeys, no codes", st, err)
		}
		wantEvents(t, lastEvents(t, e, a.ID, 3),
			"2fa.disabled success method=passkey passkey=register-verified two_factor=off",
			"passkey.removed success passkey=register-verified passkey_id=… two_factor=off",
			"session.revoked success device=Safari on iOS ip=198.51.100.7 reason=passkey_removed session=…")
		if got := only(deliver(t, e), keyward.MailNotice, "2fa.disabled"); len(got) != 1 {
			t.Errorf("2fa.disabled notices: %d, want 1", len(got))
		}
		// The password alone signs in again.
		if res := signIn(t, e, "alice@example.com", phone); res.MFARequired() {
			t.Errorf("sign-in after the last factor went: second step still asked")
		}
	})

	t.Run("beside TOTP two-factor stays on", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		a := signUp(t, e, "alice@example.com")
		me := signIn(t, e, "alice@example.com", laptop)
		_, codes := enableTOTP(t, e, me)
		added := mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
		if added.BackupCodes != nil {
			t.Errorf("a passkey beside TOTP made new backup codes")
		}
		removed, err := e.Svc.RemovePasskey(ctx, me.Session, added.Passkey.ID, laptop)
		if err != nil || removed.TwoFactorOff {
			t.Fatalf("removal %+v, %v", removed, err)
		}
		st, _ := e.Svc.TwoFactor(ctx, a)
		if !st.Enabled || !st.TOTP || st.BackupCodesRemaining != len(codes) {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("refused", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		signUp(t, e, "alice@example.com")
		signUp(t, e, "carol@example.com")
		alice := signIn(t, e, "alice@example.com", laptop)
		carol := signIn(t, e, "carol@example.com", laptop)
		pa := mustAddPasskey(t, e, alice, passkeytest.RegisterVerified).Passkey
		mustAddPasskey(t, e, carol, passkeytest.RegisterNoVerification)

		_, err := e.Svc.RemovePasskey(ctx, carol.Session, pa.ID, laptop)
		wantCode(t, err, keyward.CodeNotFound)
		for _, id := range []string{"", "pk_", "pk_00000000000000000000000000", "sess_" + pa.ID[3:], pa.ID + "0", "pk_\x00\xff"} {
			_, err := e.Svc.RemovePasskey(ctx, alice.Session, id, laptop)
			wantCode(t, err, keyward.CodeNotFound)
		}
		// A session without a verified second factor removes none.
		weak := signInWithPasskey(t, e, passkeytest.SignInUnverified)
		if weak.Session.AAL != 1 {
			t.Fatalf("aal %d", weak.Session.AAL)
		}
		_, err = e.Svc.RemovePasskey(ctx, weak.Session, pa.ID, laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
		_, err = e.Svc.BeginPasskeyRegistration(ctx, weak.Session, laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
		_, err = e.Svc.BeginTOTPSetup(ctx, weak.Session, goodPassword, laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
		_, err = e.Svc.RegenerateBackupCodes(ctx, weak.Session, goodPassword, laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
		// A session signed in long ago proves itself again.
		e.Clock.Advance(e.Svc.Config().SudoWindow + time.Second)
		if _, alice.Session, err = e.Svc.Authenticate(ctx, alice.Token); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.RemovePasskey(ctx, alice.Session, pa.ID, laptop)
		wantCode(t, err, keyward.CodeReauthRequired)
	})
}

// signInWithPasskey signs in without a password with the recorded
// assertion.
func signInWithPasskey(t testing.TB, e *keywardtest.Env, ceremony string) *keyward.SignInResult {
	t.Helper()
	res, err := passkeySignIn(t, e, "", ceremony, phone)
	if err != nil {
		t.Fatalf("signing in with %s: %v", ceremony, err)
	}
	return res
}

func TestRenamePasskey(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	signUp(t, e, "carol@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	carol := signIn(t, e, "carol@example.com", laptop)
	p := mustAddPasskey(t, e, me, passkeytest.RegisterVerified).Passkey
	tests := []struct {
		name, in, want string
		code           keyward.Code
	}{
		{"a name", "  Work laptop ", "Work laptop", ""},
		{"control characters go", "Phone\r\n\x00", "Phone", ""},
		{"empty becomes Passkey", "   ", "Passkey", ""},
		{"64 characters", strings.Repeat("é", 64), strings.Repeat("é", 64), ""},
		{"65 characters", strings.Repeat("é", 65), "", keyward.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Svc.RenamePasskey(ctx, me.Session, p.ID, tt.in, laptop)
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil || got.Name != tt.want {
				t.Fatalf("renamed to %q (%v), want %q", got.Name, err, tt.want)
			}
			list, _ := e.Svc.Passkeys(ctx, a.ID)
			if list[0].Name != tt.want {
				t.Errorf("stored name %q", list[0].Name)
			}
		})
	}
	wantEvents(t, lastEvents(t, e, a.ID, 1), "passkey.renamed success old_name=Passkey passkey="+strings.Repeat("é", 64)+" passkey_id=…")
	_, err := e.Svc.RenamePasskey(ctx, carol.Session, p.ID, "mine", laptop)
	wantCode(t, err, keyward.CodeNotFound)
}

func TestTooManyPasskeys(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	for i := range keyward.MaxPasskeys {
		p := &keyward.Passkey{ID: "pk_" + strings.Repeat("0", 25) + string(rune('a'+i%20)), AccountID: a.ID,
			CredentialID: []byte{byte(i), 1}, PublicKey: []byte{1}, Name: "old", CreatedAt: e.Clock.Now()}
		if err := e.Store.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop)
	wantCode(t, err, keyward.CodeTooManyPasskeys)
}

func TestDisableTOTPKeepsPasskeys(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	_, codes := enableTOTP(t, e, me)
	mustAddPasskey(t, e, me, passkeytest.RegisterVerified)
	deliver(t, e)
	if err := e.Svc.DisableTOTP(ctx, me.Session, goodPassword, laptop); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Svc.TwoFactor(ctx, a)
	if !st.Enabled || st.TOTP || st.Passkeys != 1 || st.BackupCodesRemaining != len(codes) {
		t.Errorf("status %+v: want two-factor on with the passkey and the codes", st)
	}
	if got := lastEvents(t, e, a.ID, 1); !slices.Contains(got, "2fa.disabled success method=totp two_factor=on") &&
		!slices.Contains(lastEvents(t, e, a.ID, 3), "2fa.disabled success method=totp two_factor=on") {
		t.Errorf("events %q", lastEvents(t, e, a.ID, 3))
	}
	if got := only(deliver(t, e), keyward.MailNotice, keyward.NoticeTOTPRemoved); len(got) != 1 {
		t.Errorf("notices of the app removed: %d, want 1", len(got))
	}
	step := signIn(t, e, "alice@example.com", phone)
	if !slices.Equal(step.Methods, []string{"backup_code", "passkey"}) {
		t.Errorf("methods %q", step.Methods)
	}
	// The app can come back; its codes replace the set.
	setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, goodPassword, laptop)
	if err != nil {
		t.Fatalf("TOTP beside a passkey: %v", err)
	}
	_ = setup
}

func TestPasskeyAccountRecovery(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{Config: func() keyward.Config {
		c := fastForgot()
		c.PasskeyOrigin = passkeytest.Origin
		return c
	}()})
	signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	codes := mustAddPasskey(t, e, me, passkeytest.RegisterVerified).BackupCodes
	deliver(t, e)
	token := resetLink(t, e, "alice@example.com")
	_, err := e.Svc.ResetPassword(ctx, token, "a brand new passphrase here", "", laptop)
	wantCode(t, err, keyward.CodeMFARequired)
	_, err = e.Svc.ResetPassword(ctx, token, "a brand new passphrase here", "123456", laptop)
	wantCode(t, err, keyward.CodeInvalidCode)
	if _, err := e.Svc.ResetPassword(ctx, token, "a brand new passphrase here", codes[3], laptop); err != nil {
		t.Fatalf("a reset with a backup code of a passkey-only account: %v", err)
	}

	// A lockdown stops the passkey too, until the reset.
	notices := only(deliver(t, e), keyward.MailNotice, "")
	if _, err := e.Svc.Lockdown(ctx, notices[len(notices)-1].LockdownToken, laptop); err != nil {
		t.Fatal(err)
	}
	_, err = passkeySignIn(t, e, "", passkeytest.SignInVerified1, phone)
	wantCode(t, err, keyward.CodePasswordResetReq)
	a, _ := e.Store.AccountByEmail(ctx, "alice@example.com")
	wantEvents(t, lastEvents(t, e, a.ID, 1), "signin.failed failure password_reset_required method=passkey passkey=register-verified passkey_id=… reason=password_reset_required")
}

func TestPasskeyCeremonyRules(t *testing.T) {
	t.Run("a challenge works once, of concurrent finishers one wins", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		signUp(t, e, "alice@example.com")
		mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
		rec := passkeytest.Get(passkeytest.SignInVerified1)
		e.Challenges.Push(rec.ChallengeBytes())
		_, id, err := e.Svc.BeginPasskeySignIn(ctx, "", phone)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !keyward.IsCode(err, keyward.CodeInvalidCredential):
				t.Errorf("a loser got %v, want invalid_credential", err)
			}
		}
		if won != 1 {
			t.Errorf("%d finishers won, want 1", won)
		}
	})

	t.Run("begun on one node, finished on another", func(t *testing.T) {
		a := keywardtest.New(t, keywardtest.Options{})
		b := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: a.Keys})
		signUp(t, a, "alice@example.com")
		me := signIn(t, a, "alice@example.com", laptop)
		rec := passkeytest.Get(passkeytest.RegisterVerified)
		givePasskeyUser(t, a, me.Account.ID, passkeytest.RegisterVerified)
		a.Challenges.Push(rec.ChallengeBytes())
		if _, err := a.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Svc.FinishPasskeyRegistration(ctx, me.Session, "Phone", rec.Response, laptop); err != nil {
			t.Fatalf("registration finished on the other node: %v", err)
		}
		in := passkeytest.Get(passkeytest.SignInVerified1)
		b.Challenges.Push(in.ChallengeBytes())
		_, id, err := b.Svc.BeginPasskeySignIn(ctx, "", phone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Svc.FinishPasskeySignIn(ctx, id, in.Response, "", phone); err != nil {
			t.Fatalf("sign-in finished on the other node: %v", err)
		}
	})

	t.Run("a ceremony is short-lived and cleaned up", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		signUp(t, e, "alice@example.com")
		mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
		rec := passkeytest.Get(passkeytest.SignInVerified1)
		e.Challenges.Push(rec.ChallengeBytes())
		_, id, err := e.Svc.BeginPasskeySignIn(ctx, "", phone)
		if err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(e.Svc.Config().PasskeyChallengeTTL)
		_, err = e.Svc.FinishPasskeySignIn(ctx, id, rec.Response, "", phone)
		wantCode(t, err, keyward.CodeInvalidCredential)
		n, err := e.Store.DeleteExpired(ctx, keyward.Cutoffs{Now: e.Clock.Now()})
		if err != nil || n.PasskeyChallenges != 1 {
			t.Errorf("expired challenges deleted: %d (%v), want 1", n.PasskeyChallenges, err)
		}
	})

	t.Run("an mfa_token opens only its own second step", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{})
		signUp(t, e, "alice@example.com")
		mustAddPasskey(t, e, signIn(t, e, "alice@example.com", laptop), passkeytest.RegisterVerified)
		_, _, err := e.Svc.BeginPasskeySignIn(ctx, "kwm_notatoken", phone)
		wantCode(t, err, keyward.CodeMFATokenExpired)
		signUp(t, e, "bare@example.com")
		_, err = e.Svc.SecondStepMethods(ctx, "kwm_x")
		wantCode(t, err, keyward.CodeMFATokenExpired)
	})

	t.Run("passkeys off without an origin", func(t *testing.T) {
		e := keywardtest.New(t, keywardtest.Options{Config: keyward.DefaultConfig()})
		signUp(t, e, "alice@example.com")
		me := signIn(t, e, "alice@example.com", laptop)
		_, err := e.Svc.BeginPasskeyRegistration(ctx, me.Session, laptop)
		wantCode(t, err, keyward.CodePasskeysOff)
		_, _, err = e.Svc.BeginPasskeySignIn(ctx, "", phone)
		wantCode(t, err, keyward.CodePasskeysOff)
		if e.Svc.PasskeysOff() == "" {
			t.Error("PasskeysOff says nothing")
		}
		ip := keywardtest.New(t, keywardtest.Options{Config: withOrigin("http://127.0.0.1:8080")})
		if ip.Svc.PasskeysOff() == "" {
			t.Error("an IP address as relying party id: passkeys on")
		}
	})
}

func TestPasskeyThrottles(t *testing.T) {
	cfg := withOrigin(passkeytest.Origin)
	cfg.PasskeyOptionsThrottle = keyward.ThrottleRule{Free: 3, Base: time.Minute, Max: time.Hour, Forget: time.Hour}
	cfg.PasskeyThrottle = keyward.ThrottleRule{Free: 2, Base: time.Minute, Max: time.Hour, Forget: time.Hour}
	e := keywardtest.New(t, keywardtest.Options{Config: cfg})
	// Free ones, and one more: the one after it waits.
	for i := range 4 {
		if _, _, err := e.Svc.BeginPasskeySignIn(ctx, "", phone); err != nil {
			t.Fatalf("ceremony %d: %v", i, err)
		}
	}
	_, _, err := e.Svc.BeginPasskeySignIn(ctx, "", phone)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	if _, _, err := e.Svc.BeginPasskeySignIn(ctx, "", laptop); err != nil {
		t.Errorf("another address: %v", err)
	}

	// Registrations begun count against the address too.
	signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	_, err = e.Svc.BeginPasskeyRegistration(ctx, me.Session, phone)
	wantCode(t, err, keyward.CodeTooManyAttempts)

	garbage := []byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`)
	for range 3 {
		_, err = e.Svc.FinishPasskeySignIn(ctx, "kwc_x", garbage, "", laptop)
		wantCode(t, err, keyward.CodeInvalidCredential)
	}
	_, err = e.Svc.FinishPasskeySignIn(ctx, "kwc_x", garbage, "", laptop)
	wantCode(t, err, keyward.CodeTooManyAttempts)
	if got := lastEvents(t, e, audit.SystemChain, 1); !strings.HasPrefix(got[0], "signin.throttled failure too_many_failures method=passkey") {
		t.Errorf("events %q", got)
	}
}

func TestPasskeySudo(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	a := signUp(t, e, "alice@example.com")
	me := signIn(t, e, "alice@example.com", laptop)
	p := mustAddPasskey(t, e, me, passkeytest.RegisterVerified).Passkey
	other := signInWithPasskey(t, e, passkeytest.SignInVerified1)
	e.Clock.Advance(e.Svc.Config().SudoWindow + time.Second)

	_, err := e.Svc.RemovePasskey(ctx, me.Session, p.ID, laptop)
	if !keyward.NeedsSudo(err) {
		t.Fatalf("outside the window: %v, want the sudo page", err)
	}
	rec := passkeytest.Get(passkeytest.SecondStepVerified)

	// A ceremony of another session does not confirm this one.
	e.Challenges.Push(rec.ChallengeBytes())
	_, id, err := e.Svc.BeginPasskeySudo(ctx, other.Session, laptop)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{ChallengeID: id, Credential: rec.Response}, laptop)
	wantCode(t, err, keyward.CodeInvalidCredential)
	wantEvents(t, lastEvents(t, e, a.ID, 1), "sudo.granted failure invalid_credential method=passkey passkey=register-verified passkey_id=… reason=invalid_credential")
	// Nor does one for a sign-in.
	first := signIn(t, e, "alice@example.com", phone)
	_, err = e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{ChallengeID: "kwc_" + strings.Repeat("A", 43), Credential: rec.Response}, laptop)
	wantCode(t, err, keyward.CodeInvalidCredential)
	_ = first

	_, err = e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{Password: goodPassword, ChallengeID: id, Credential: rec.Response}, laptop)
	wantCode(t, err, keyward.CodeInvalidRequest)

	// The other session's ceremony is still its own to finish: drop it,
	// to begin this one with the recorded challenge.
	h := sha256.Sum256([]byte(id))
	if ok, err := e.Store.ConsumePasskeyChallenge(ctx, h[:]); err != nil || !ok {
		t.Fatalf("the other session's ceremony: %v %v, want it left for that session", ok, err)
	}
	e.Challenges.Push(rec.ChallengeBytes())
	if _, id, err = e.Svc.BeginPasskeySudo(ctx, me.Session, laptop); err != nil {
		t.Fatal(err)
	}
	until, err := e.Svc.GrantSudo(ctx, me.Session, keyward.SudoProof{ChallengeID: id, Credential: rec.Response}, laptop)
	if err != nil {
		t.Fatalf("sudo with a passkey: %v", err)
	}
	if !until.Equal(e.Clock.Now().Add(e.Svc.Config().SudoWindow)) {
		t.Errorf("sudo until %v", until)
	}
	wantEvents(t, lastEvents(t, e, a.ID, 1), "sudo.granted success method=passkey")
	if _, err := e.Svc.RemovePasskey(ctx, me.Session, p.ID, laptop); err != nil {
		t.Fatalf("in the window: %v", err)
	}

	// An account without passkeys has no passkey ceremony to confirm with.
	_, _, err = e.Svc.BeginPasskeySudo(ctx, me.Session, laptop)
	wantCode(t, err, keyward.CodeNoPasskeys)
}
