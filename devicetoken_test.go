package keyward_test

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/keywardtest"
)

// distributedAttack replays a guesser spread over many addresses: each call
// is one second; he tries a wrong password from a new address whenever the
// last Retry-After allows.
type distributedAttack struct {
	t        testing.TB
	e        *keywardtest.Env
	email    string
	n        int       // attempts made, one address each
	next     time.Time // when he may try again
	failures int       // wrong passwords counted (401)
	last     time.Time // time of the last counted failure
}

func (a *distributedAttack) tick() {
	a.t.Helper()
	now := a.e.Clock.Now()
	if now.Before(a.next) {
		return
	}
	a.n++
	c := keyward.Client{IP: fmt.Sprintf("192.0.%d.%d", 2+a.n/250, 1+a.n%250), UserAgent: "guesser"}
	_, err := a.e.Svc.SignIn(ctx, a.email, fmt.Sprintf("guess %d", a.n), c)
	var ke *keyward.Error
	switch {
	case keyward.IsCode(err, keyward.CodeInvalidCredentials):
		a.failures++
		a.last = now
	case errors.As(err, &ke) && ke.Code == keyward.CodeTooManyAttempts:
		a.next = now.Add(ke.RetryAfter)
	default:
		a.t.Fatalf("attacker's attempt %d: %v", a.n, err)
	}
}

// TestDeviceTokenKeepsTheOwnerIn replays a distributed attack: 34 wrong
// passwords from changing addresses, then one each time Retry-After
// allows. From a device that signed in before, the owner signs in at his
// first try every time; from a new device he is kept out while the attack
// goes on, and gets in once the per-email wait (at most its Max) after the
// attacker's last failure has passed.
func TestDeviceTokenKeepsTheOwnerIn(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	known := signIn(t, e, "ada@example.com", laptop).DeviceToken
	if known == "" {
		t.Fatal("a complete sign-in gave no device token")
	}
	attack := &distributedAttack{t: t, e: e, email: "ada@example.com"}
	for attack.failures < 34 {
		attack.tick()
		e.Clock.Advance(time.Second)
	}
	fromKnown := keyward.Client{IP: "203.0.113.77", UserAgent: laptop.UserAgent}
	newDevice := keyward.Client{IP: "198.51.100.99", UserAgent: phone.UserAgent}
	var knownOK, newRefused, newTries int
	for i := range 150 {
		attack.tick()
		if i%5 == 0 {
			fromKnown.DeviceToken = known
			res, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, fromKnown)
			if err != nil {
				t.Fatalf("at %ds of the attack, the owner's known device: %v", i, err)
			}
			knownOK++
			known = res.DeviceToken // as a browser keeps the newest cookie
			newTries++
			_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, newDevice)
			if keyward.IsCode(err, keyward.CodeTooManyAttempts) {
				newRefused++
			} else if err != nil {
				t.Fatalf("new device: %v", err)
			}
		}
		e.Clock.Advance(time.Second)
	}
	if knownOK != 30 {
		t.Fatalf("known device signed in %d times of 30", knownOK)
	}
	if newRefused != newTries {
		t.Fatalf("new device got in %d times of %d during the attack; the stated bound is that it is kept out", newTries-newRefused, newTries)
	}
	// The attack stops: the new device gets in once the per-email wait
	// after the last failure is over, never later than its Max.
	bound := attack.last.Add(keyward.DefaultConfig().AccountThrottle.Max)
	for {
		_, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, newDevice)
		if err == nil {
			break
		}
		wantCode(t, err, keyward.CodeTooManyAttempts)
		if e.Clock.Now().After(bound) {
			t.Fatalf("new device still refused at %v, past the bound %v", e.Clock.Now(), bound)
		}
		e.Clock.Advance(5 * time.Second)
	}
}

// holdEmail makes the per-email rule hold email for its Max from now.
func holdEmail(t testing.TB, e *keywardtest.Env, email string) {
	t.Helper()
	a := &distributedAttack{t: t, e: e, email: email}
	for a.failures < 30 || !a.last.Equal(e.Clock.Now()) {
		e.Clock.Advance(time.Second)
		a.tick()
	}
}

// TestDeviceTokenTrust: only a valid token of the account the email names
// skips the per-email rule; any other token is untrusted, never an error,
// and an unknown email with a token is an unknown email.
func TestDeviceTokenTrust(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	signUp(t, e, "ada@example.com")
	bob := signUp(t, e, "bob@example.com")
	ada := signIn(t, e, "ada@example.com", laptop)
	adas := ada.DeviceToken
	bobs := signIn(t, e, "bob@example.com", phone).DeviceToken
	forged := []byte(adas)
	forged[len(forged)-2] ^= 1 // a bit of the tag
	// Ada's email is held by the per-email rule for its Max (and Bob's not).
	holdEmail(t, e, "ada@example.com")
	_ = bob
	expired, err := e.Svc.DeviceTokenIssuedAt(ada.Account.ID, e.Clock.Now().Add(-keyward.DefaultConfig().DeviceTokenLifetime))
	if err != nil {
		t.Fatal(err)
	}
	almost, err := e.Svc.DeviceTokenIssuedAt(ada.Account.ID, e.Clock.Now().Add(-keyward.DefaultConfig().DeviceTokenLifetime+time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		want  keyward.Code // "" signs in
	}{
		{"ada's token", adas, ""},
		{"ada's token near its end", almost, ""},
		{"no token", "", keyward.CodeTooManyAttempts},
		{"bob's token", bobs, keyward.CodeTooManyAttempts},
		{"expired", expired, keyward.CodeTooManyAttempts},
		{"forged tag", string(forged), keyward.CodeTooManyAttempts},
		{"malformed", "kwd_AAAA", keyward.CodeTooManyAttempts},
		{"a session token", ada.Token, keyward.CodeTooManyAttempts},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := keyward.Client{IP: fmt.Sprintf("203.0.113.%d", 100+i), DeviceToken: tt.token}
			_, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c)
			wantCode(t, err, tt.want)
		})
	}

	t.Run("a known device's own failures are its bucket's", func(t *testing.T) {
		c := keyward.Client{IP: "203.0.113.200", DeviceToken: adas}
		rule := keyward.DefaultConfig().DeviceThrottle
		for range rule.Free + 1 {
			_, err := e.Svc.SignIn(ctx, "ada@example.com", "my fingers slipped", c)
			wantCode(t, err, keyward.CodeInvalidCredentials)
		}
		_, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		e.Clock.Advance(rule.Delay(rule.Free + 1))
		if _, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c); err != nil {
			t.Fatalf("after the device's own wait: %v", err)
		}
		// and Bob, from another address, was never slowed by them.
		signIn(t, e, "bob@example.com", phone)
	})

	t.Run("an unknown email with a token is an unknown email", func(t *testing.T) {
		holdEmail(t, e, "ghost@example.com")
		for _, tok := range []string{"", adas, bobs} {
			_, err := e.Svc.SignIn(ctx, "ghost@example.com", goodPassword, keyward.Client{IP: "203.0.113.210", DeviceToken: tok})
			wantCode(t, err, keyward.CodeTooManyAttempts)
		}
	})

	t.Run("a token outlives a key rotation, not the key's retirement", func(t *testing.T) {
		if _, err := e.Keys.Rotate(crand.Reader); err != nil {
			t.Fatal(err)
		}
		holdEmail(t, e, "ada@example.com")
		c := keyward.Client{IP: "203.0.113.220", DeviceToken: adas}
		res, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c)
		if err != nil {
			t.Fatalf("after keys rotate: %v", err)
		}
		if err := e.Keys.Retire(); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c)
		wantCode(t, err, keyward.CodeTooManyAttempts)
		c.DeviceToken = res.DeviceToken // issued under the new key
		if _, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c); err != nil {
			t.Fatalf("token of the current key: %v", err)
		}
	})
}

// TestDeviceTokenOfASequentialKeyID: a token issued under a ring of the
// old sequential ids (k1) is still trusted once a rotation has made a
// random id current, and the new key's tokens are trusted too: the token
// names its key by the id's number, which both kinds of id have.
func TestDeviceTokenOfASequentialKeyID(t *testing.T) {
	keys, err := keyring.Parse("k1 " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	e := keywardtest.New(t, keywardtest.Options{Keys: keys})
	signUp(t, e, "ada@example.com")
	old := signIn(t, e, "ada@example.com", laptop).DeviceToken
	id, err := e.Keys.Rotate(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := keyring.ParseID(id); !ok || n < 1<<24 {
		t.Fatalf("Rotate made id %q, want a random one", id)
	}
	fresh := signIn(t, e, "ada@example.com", laptop).DeviceToken
	holdEmail(t, e, "ada@example.com")
	for i, tok := range []string{old, fresh} {
		c := keyward.Client{IP: fmt.Sprintf("203.0.113.%d", 10+i), DeviceToken: tok}
		if _, err := e.Svc.SignIn(ctx, "ada@example.com", goodPassword, c); err != nil {
			t.Errorf("token %d (of %s) not trusted while the email is held: %v", i, []string{"k1", id}[i], err)
		}
	}
}
