package keyward_test

import (
	"net/url"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestIssuerFollowsProductName: authenticator apps show the product's name
// unless an issuer of its own is set, in the otpauth issuer and label.
func TestIssuerFollowsProductName(t *testing.T) {
	tests := []struct {
		name                 string
		product, issuer      string
		wantIssuer, wantPref string
	}{
		{"default", "", "", "keyward", "keyward:"},
		{"product name", "Acme Cloud", "", "Acme Cloud", "Acme Cloud:"},
		{"issuer wins", "Acme Cloud", "Acme ID", "Acme ID", "Acme ID:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := keyward.DefaultConfig()
			cfg.ProductName, cfg.Issuer = tt.product, tt.issuer
			e := keywardtest.New(t, keywardtest.Options{Config: cfg})
			signUp(t, e, "ada@example.com")
			me := signIn(t, e, "ada@example.com", laptop)
			setup, err := e.Svc.BeginTOTPSetup(ctx, me.Session, "", laptop)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(setup.URL)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("issuer"); got != tt.wantIssuer || setup.Issuer != tt.wantIssuer {
				t.Errorf("issuer = %q (setup %q), want %q", got, setup.Issuer, tt.wantIssuer)
			}
			if got, want := u.Path, "/"+tt.wantPref+"ada@example.com"; got != want {
				t.Errorf("label = %q, want %q", got, want)
			}
		})
	}
}

// TestProductNameIsAContextWord: a password made of the product's name
// scores lower than it would elsewhere, as the issuer's does.
func TestProductNameIsAContextWord(t *testing.T) {
	const pw = "Zephyrquillington"
	score := func(product string) int {
		t.Helper()
		cfg := keyward.DefaultConfig()
		cfg.ProductName, cfg.Issuer = product, "Other"
		e := keywardtest.New(t, keywardtest.Options{Config: cfg})
		s, err := e.Svc.PasswordStrength(pw, "ada@example.com", nil, laptop)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	plain, branded := score("Acme"), score(pw)
	if branded >= plain {
		t.Errorf("score with the product name %q = %d, want below %d (without)", pw, branded, plain)
	}
}
