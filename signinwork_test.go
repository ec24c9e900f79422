package keyward_test

import (
	crand "crypto/rand"
	"path/filepath"
	"slices"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/password"
)

// TestSignInFailuresDoTheSameWork: an unknown email and a wrong password
// must not be told apart by time, so they must do the same work: the same
// store calls in the same order and transactions, and hashing of the same
// kind and cost. Compared by counting, not by timing.
func TestSignInFailuresDoTheSameWork(t *testing.T) {
	counted := newCountingStore(keywardtest.NewStore(t))
	keys, err := keyring.LoadFile(filepath.Join(t.TempDir(), "keys"), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hasher := keywardtest.FastHasher()
	clock := keywardtest.NewClock(keywardtest.Start)
	svc, err := keyward.New(keyward.DefaultConfig(), keyward.Deps{
		Store: counted, Hasher: hasher, Policy: keywardtest.Policy(), Keys: keys, Now: clock.Now, Rand: crand.Reader,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignUp(ctx, "ada@example.com", goodPassword, laptop); err != nil {
		t.Fatal(err)
	}
	known, err := svc.SignIn(ctx, "ada@example.com", goodPassword, laptop)
	if err != nil {
		t.Fatal(err)
	}

	type work struct {
		calls []string
		hash  password.Work
	}
	attempt := func(t *testing.T, email string, c keyward.Client) work {
		t.Helper()
		clock.Advance(time.Hour) // clear of throttling
		counted.log.take()
		before := hasher.Work()
		_, err := svc.SignIn(ctx, email, "not the password", c)
		wantCode(t, err, keyward.CodeInvalidCredentials)
		after := hasher.Work()
		return work{counted.log.take(), password.Work{
			Argon2: after.Argon2 - before.Argon2, Argon2Cost: after.Argon2Cost - before.Argon2Cost, Bcrypt: after.Bcrypt - before.Bcrypt}}
	}
	// Both chains exist before the compared attempts, as on a server in use.
	attempt(t, "ghost@example.com", laptop)

	withToken := laptop
	withToken.DeviceToken = known.DeviceToken
	tests := []struct {
		name           string
		unknown, wrong keyward.Client
	}{
		{"no device token", laptop, laptop},
		// An unknown email with a token is counted like one without: the
		// known account's untrusted path is the one to match.
		{"another account's device token", withToken, keyward.Client{IP: laptop.IP, UserAgent: laptop.UserAgent, DeviceToken: "kwd_" + known.DeviceToken[4:10]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unknown := attempt(t, "nobody@example.com", tt.unknown)
			wrong := attempt(t, "ada@example.com", tt.wrong)
			if !slices.Equal(unknown.calls, wrong.calls) {
				t.Errorf("store calls differ:\nunknown email:  %v\nwrong password: %v", unknown.calls, wrong.calls)
			}
			if unknown.hash != wrong.hash || unknown.hash.Argon2 == 0 {
				t.Errorf("hashing differs: unknown email %+v, wrong password %+v", unknown.hash, wrong.hash)
			}
		})
	}
}
