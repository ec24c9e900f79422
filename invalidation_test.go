package keyward_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/passkey/passkeytest"
	"github.com/keyward/keyward/totp"
)

// sessionChanges are the service methods that end sessions or change what
// a cached session or account says (a factor, the assurance level): each
// must tell every node's session cache. TestChangesReachEveryNode has a
// case for each.
var sessionChanges = []string{
	"SignOut", "RevokeSession", "RevokeOtherSessions", "ChangePassword",
	"EnableTOTP", "DisableTOTP", "ResetTwoFactor", "ResetPassword", "VerifyEmail", "Lockdown",
	"FinishPasskeyRegistration", "RemovePasskey",
	"DisableAccount", "DeleteAccount", "RevokeAccountSessions", "AdminResetTwoFactor",
}

// cacheNeutral are the other methods: none ends a session or changes what
// Authenticate returns for one (a session that expires is refused by its
// times, cached or not).
var cacheNeutral = []string{
	// reads
	"Authenticate", "AuthenticateShared", "Sessions", "TwoFactor", "PendingSetup", "Events", "ExportEvents",
	"OperatorEvents", "UnknownEmailEvents", "VerifyAudit", "SeedsUnderOlderKeys",
	"PasswordStrength", "SudoUntil", "RequireSudo", "Config", "Store", "Now", "CacheEnabled", "Metrics", "CheckKeys", "KeysReady",
	// new accounts and new sessions: nothing of them is cached yet
	"SignUp", "SignUpAndSignIn", "CreateAccount", "SignIn", "CompleteSignIn",
	// no state that a cache holds
	"BeginTOTPSetup", "RegenerateBackupCodes", "RotateKeys",
	// the sudo window lives on the session's row and is never cached
	"GrantSudo", "SealAudit", "PruneAudit",
	"CleanUp", "RunCacheWatcher",
	// the outbox: mails, not sessions
	"RunMailWorker", "SendDueMails", "MailsWaiting", "ForgotPassword", "ResetNeedsCode", "ResetLink", "SessionEnded",
	"ResendVerification", "RequestEmailChange", "Notifications",
	// the webhook outbox: deliveries of events, not sessions
	"RunWebhookWorker", "DeliverDueWebhooks", "WebhooksWaiting",
	// settings a cached account holds, through changeAccount all the same
	"SetNotifications", "SetLanguage",
	// passkeys: reads, ceremonies begun, a name, and new sessions
	"Passkeys", "PasskeysOff", "PasskeyRelyingPartyID", "PasskeyRemovalEffect", "SecondStepMethods",
	"BeginPasskeyRegistration", "BeginPasskeySignIn", "BeginPasskeySudo", "RenamePasskey", "FinishPasskeySignIn",
	// the admin API's reads and its tokens, which no session cache holds
	"FindAccounts", "AccountDetail", "AdminEvents", "AuthenticateAdmin",
	"CreateAdminToken", "ListAdminTokens", "RevokeAdminToken",
	// a new account; and an enabled one, which has no session to cache
	// (through changeAccount all the same)
	"AdminCreateAccount", "EnableAccount",
	// the OpenID Connect provider: clients, requests, grants and tokens,
	// which no session cache holds (a grant ends with its session by the
	// store's foreign key; nothing of it is cached)
	"AccountForOIDC", "AdminCreateOIDCClient", "AdminDeleteOIDCClient", "AdminOIDCClients", "AuthenticateOIDCClient", "AuthorizeOIDCRequest", "CheckOIDCCode", "CreateOIDCAuthRequest", "CreateOIDCClient", "DeleteOIDCClient", "NewOIDCAccessToken", "NewOIDCRefreshToken", "OIDCAccessGrant", "OIDCApplications", "OIDCAuthRequest", "OIDCClient", "OIDCClients", "OIDCConsentNeeded", "OIDCGrant", "OIDCGrants", "OIDCPublicKeys", "OIDCRefreshGrant", "OIDCSigningKey", "OpenOIDC", "RedeemOIDCCode", "RevokeOIDCAccessToken", "RevokeOIDCRefreshToken", "RotateOIDCSigningKey", "SaveOIDCCode", "SealOIDC", "UseOIDCRefreshToken",
	// for tests (export_test.go)
	"PasswordChecksInFlight", "HoldStrengthSlots", "HoldStrengthAddress",
	"DeviceTokenIssuedAt", "FollowInvalidations", "EnqueueMailThen",
}

// TestEveryServiceMethodIsClassified: a new method that ends sessions or
// changes factors must not slip past TestChangesReachEveryNode. Each
// exported method is listed as a change (with a case there) or as neutral.
func TestEveryServiceMethodIsClassified(t *testing.T) {
	typ := reflect.TypeFor[*keyward.Service]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if !slices.Contains(sessionChanges, name) && !slices.Contains(cacheNeutral, name) {
			t.Errorf("Service.%s is not classified: if it ends sessions or changes a factor, "+
				"it must go through changeAccount and be in sessionChanges with a case in "+
				"TestChangesReachEveryNode; otherwise add it to cacheNeutral", name)
		}
	}
}

// TestChangesReachEveryNode: two nodes share a store, their session caches
// warm with both of an account's sessions. After a change on node B, and
// one poll of the invalidation log on node A (what its watcher does next),
// each node must answer each token as the store does: an ended session is
// refused at once, a changed factor or assurance level shows at once. A
// change that forgot the invalidation row leaves node A serving a stale
// copy; one that forgot to evict leaves node B serving one.
func TestChangesReachEveryNode(t *testing.T) {
	const email = "ada@example.com"
	type sessions struct{ me, other *keyward.SignInResult }
	tests := []struct {
		method    string
		name      string
		twoFactor bool     // 2FA on, both sessions at aal 2, before the change
		ended     []string // "me", "other": the sessions the change ends
		change    func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error
	}{
		{method: "SignOut", name: "sign out", ended: []string{"me"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.SignOut(ctx, me, laptop)
			}},
		{method: "RevokeSession", name: "end another session", ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.RevokeSession(ctx, me, s.other.Session.ID, laptop)
			}},
		{method: "RevokeOtherSessions", name: "end every other session", ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := b.Svc.RevokeOtherSessions(ctx, me, laptop)
				return err
			}},
		{method: "ChangePassword", name: "change password, ending the others", ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := b.Svc.ChangePassword(ctx, me, goodPassword, "a brand new passphrase here", true, laptop)
				return err
			}},
		{method: "ChangePassword", name: "change password, keeping the others",
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := b.Svc.ChangePassword(ctx, me, goodPassword, "a brand new passphrase here", false, laptop)
				return err
			}},
		{method: "EnableTOTP", name: "enable 2FA", ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				setup, err := b.Svc.BeginTOTPSetup(ctx, me, goodPassword, laptop)
				if err != nil {
					t.Fatal(err)
				}
				code, _ := totp.Code(setup.Secret, b.Clock.Now())
				_, err = b.Svc.EnableTOTP(ctx, me, code, laptop)
				return err
			}},
		{method: "DisableTOTP", name: "disable 2FA", twoFactor: true, ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.DisableTOTP(ctx, me, goodPassword, laptop)
			}},
		{method: "ResetPassword", name: "reset the password by mail", ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				token := resetLink(t, b, email)
				_, err := b.Svc.ResetPassword(ctx, token, "a brand new passphrase here", "", laptop)
				return err
			}},
		{method: "VerifyEmail", name: "confirm the email address",
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				verify := only(deliver(t, b), keyward.MailVerifyEmail, "")
				_, err := b.Svc.VerifyEmail(ctx, verify[len(verify)-1].Token, laptop)
				return err
			}},
		{method: "VerifyEmail", name: "confirm a new email address",
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				if err := b.Svc.RequestEmailChange(ctx, me, "ada.new@example.com", goodPassword, laptop); err != nil {
					t.Fatal(err)
				}
				change := only(deliver(t, b), keyward.MailConfirmChange, "")
				_, err := b.Svc.VerifyEmail(ctx, change[0].Token, laptop)
				return err
			}},
		{method: "Lockdown", name: "this wasn't me", twoFactor: true, ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				notices := only(deliver(t, b), keyward.MailNotice, "")
				_, err := b.Svc.Lockdown(ctx, notices[len(notices)-1].LockdownToken, laptop)
				return err
			}},
		{method: "FinishPasskeyRegistration", name: "a first passkey turns 2FA on", ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := addPasskey(t, b, me, passkeytest.RegisterVerified)
				return err
			}},
		{method: "FinishPasskeyRegistration", name: "a passkey beside TOTP", twoFactor: true,
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := addPasskey(t, b, me, passkeytest.RegisterVerified)
				return err
			}},
		{method: "RemovePasskey", name: "remove a passkey beside TOTP", twoFactor: true, ended: []string{"other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				p, err := addPasskey(t, b, me, passkeytest.RegisterVerified)
				if err != nil {
					t.Fatal(err)
				}
				_, err = b.Svc.RemovePasskey(ctx, me, p.Passkey.ID, laptop)
				return err
			}},
		{method: "ResetTwoFactor", name: "operator resets 2FA", twoFactor: true, ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.ResetTwoFactor(ctx, email)
			}},
		{method: "AdminResetTwoFactor", name: "admin API resets 2FA", twoFactor: true, ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.AdminResetTwoFactor(ctx, supportToken, me.AccountID, laptop)
			}},
		{method: "DisableAccount", name: "admin disables the account", ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, _, err := b.Svc.DisableAccount(ctx, supportToken, me.AccountID, laptop)
				return err
			}},
		{method: "DeleteAccount", name: "admin deletes the account", twoFactor: true, ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				return b.Svc.DeleteAccount(ctx, supportToken, me.AccountID, laptop)
			}},
		{method: "RevokeAccountSessions", name: "admin ends the sessions", ended: []string{"me", "other"},
			change: func(t *testing.T, b *keywardtest.Env, me *keyward.Session, s sessions) error {
				_, err := b.Svc.RevokeAccountSessions(ctx, supportToken, me.AccountID, laptop)
				return err
			}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.method] = true
		t.Run(tt.name, func(t *testing.T) {
			a := keywardtest.New(t, keywardtest.Options{})
			b := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: a.Keys})
			// The store's own answer: a node whose cache never switches on.
			store := keywardtest.New(t, keywardtest.Options{Store: a.Store, Clock: a.Clock, Keys: a.Keys})

			signUp(t, b, email)
			s := sessions{me: signIn(t, b, email, laptop)}
			if tt.twoFactor {
				secret, _ := enableTOTP(t, b, s.me)
				b.Clock.Advance(totp.Period) // past the step the setup used
				step := signIn(t, b, email, phone)
				code, _ := totp.Code(secret, b.Clock.Now())
				var err error
				if s.other, err = b.Svc.CompleteSignIn(ctx, step.MFAToken, code, phone); err != nil {
					t.Fatal(err)
				}
			} else {
				s.other = signIn(t, b, email, phone)
			}

			pollA, err := a.Svc.FollowInvalidations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Svc.FollowInvalidations(ctx); err != nil { // B is never polled: it must evict
				t.Fatal(err)
			}
			tokens := map[string]string{"me": s.me.Token, "other": s.other.Token}
			for _, node := range []*keywardtest.Env{a, b} {
				for _, name := range []string{"me", "other"} {
					if _, _, err := node.Svc.Authenticate(ctx, tokens[name]); err != nil { // now cached
						t.Fatalf("before the change, %s: %v", name, err)
					}
				}
			}
			_, me, err := b.Svc.Authenticate(ctx, s.me.Token)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(t, b, me, s); err != nil {
				t.Fatalf("%s: %v", tt.method, err)
			}
			if changed, err := pollA(); err != nil || !changed {
				t.Errorf("node A's poll after %s: new invalidation rows = %v (%v), want true", tt.method, changed, err)
			}

			for _, name := range []string{"me", "other"} {
				want := answer(store, tokens[name])
				if ended := slices.Contains(tt.ended, name); ended != (want == "refused") {
					t.Fatalf("the store says %s is %q after %s, want ended = %v", name, want, tt.method, ended)
				}
				for node, e := range map[string]*keywardtest.Env{"A": a, "B": b} {
					if got := answer(e, tokens[name]); got != want {
						t.Errorf("node %s, session %s: got %q, want %q (the store's)", node, name, got, want)
					}
				}
			}
		})
	}
	for _, m := range sessionChanges {
		if !covered[m] {
			t.Errorf("Service.%s ends sessions or changes factors but has no case here", m)
		}
	}
}

// answer is what a node says about a token, in the terms a cache could get
// wrong: refused, or the session's assurance level and the account's 2FA.
func answer(e *keywardtest.Env, token string) string {
	a, s, err := e.Svc.Authenticate(ctx, token)
	if keyward.IsCode(err, keyward.CodeUnauthenticated) {
		return "refused"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("session %s aal %d, 2fa %v, email %s verified %v", s.ID, s.AAL, a.TwoFactorEnabled(), a.Email, a.EmailVerified())
}
