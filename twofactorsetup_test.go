package keyward_test

import (
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// SetupNeedsPassword is what the pages show (a password field or not), so
// it must say exactly what BeginTOTPSetup does with no password: refuse
// with reauthentication_required after RecentSignIn, start the setup before.
func TestSetupNeedsPasswordAgreesWithBeginTOTPSetup(t *testing.T) {
	cases := []struct {
		name string
		age  time.Duration // since the session signed in
		want bool
	}{
		{"just signed in", 0, false},
		{"a second before RecentSignIn", keyward.RecentSignIn - time.Second, false},
		{"at RecentSignIn", keyward.RecentSignIn, false},
		{"a second after RecentSignIn", keyward.RecentSignIn + time.Second, true},
		{"an hour after", time.Hour, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := keywardtest.New(t, keywardtest.Options{})
			signUp(t, e, "ada@example.com")
			me := signIn(t, e, "ada@example.com", laptop)
			e.Clock.Advance(c.age)

			if got := e.Svc.SetupNeedsPassword(me.Session); got != c.want {
				t.Errorf("SetupNeedsPassword = %v, want %v", got, c.want)
			}
			_, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
			if got := keyward.IsCode(err, keyward.CodeReauthRequired); got != c.want {
				t.Errorf("BeginTOTPSetup without a password: reauthentication required = %v (%v), want %v", got, err, c.want)
			}
		})
	}
}
