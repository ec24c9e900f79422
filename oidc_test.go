package keyward_test

import (
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestOIDCClientRedirectURIs: what registration accepts, by the contract's
// rules (exact URIs, https or http on a loopback host).
func TestOIDCClientRedirectURIs(t *testing.T) {
	e := keywardtest.New(t, keywardtest.Options{})
	for _, tt := range []struct {
		uri string
		ok  bool
	}{
		{"https://pay.example/callback", true},
		{"https://pay.example:8443/cb?tenant=1", true},
		{"http://127.0.0.1:8080/cb", true},
		{"http://[::1]:8080/cb", true},
		{"http://localhost/cb", true},
		{"http://pay.example/callback", false},
		{"https://pay.example/cb#frag", false},
		{"https://user:pw@pay.example/cb", false},
		{"javascript:alert(1)", false},
		{"com.example.app:/cb", false},
		{"/relative", false},
		{"https://pay.example/cb\nx", false},
		{"https://" + strings.Repeat("a", 3000) + ".example/", false},
		{"", false},
	} {
		_, _, err := e.Svc.CreateOIDCClient(t.Context(), keyward.OIDCClientSpec{Name: "App", RedirectURIs: []string{tt.uri}})
		if (err == nil) != tt.ok {
			t.Errorf("%.60q: err %v, want ok %v", tt.uri, err, tt.ok)
		}
		if err != nil && !keyward.IsCode(err, keyward.CodeInvalidRequest) {
			t.Errorf("%.60q: %v, want invalid_request", tt.uri, err)
		}
	}
}

// FuzzOIDCClientSpec: registration answers any name and URIs with a client
// or invalid_request, never anything else, and a client it makes has only
// URIs it accepts again.
func FuzzOIDCClientSpec(f *testing.F) {
	for _, s := range []string{"https://a.example/cb", "http://127.0.0.1/cb", "http://evil.example/", "\x00", "https://a.example/#", "https://[::1"} {
		f.Add("App", s)
	}
	e := keywardtest.New(f, keywardtest.Options{})
	f.Fuzz(func(t *testing.T, name, uri string) {
		c, _, err := e.Svc.CreateOIDCClient(t.Context(), keyward.OIDCClientSpec{Name: name, RedirectURIs: []string{uri}, Public: true})
		if err != nil {
			if !keyward.IsCode(err, keyward.CodeInvalidRequest) {
				t.Fatalf("CreateOIDCClient(%q, %q): %v", name, uri, err)
			}
			return
		}
		if len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != uri {
			t.Fatalf("stored %q, given %q", c.RedirectURIs, uri)
		}
	})
}

// FuzzCheckOIDCParams: the authorization request's checks answer any
// parameters with nil or invalid_request.
func FuzzCheckOIDCParams(f *testing.F) {
	f.Add("state", "nonce", "hint", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	f.Add("\xff", "", "", "")
	f.Fuzz(func(t *testing.T, state, nonce, hint, challenge string) {
		err := keyward.CheckOIDCParams(&keyward.OIDCRequestParams{State: state, Nonce: nonce, LoginHint: hint, CodeChallenge: challenge, Scopes: []string{"openid"}})
		if err != nil && !keyward.IsCode(err, keyward.CodeInvalidRequest) {
			t.Fatalf("CheckOIDCParams: %v", err)
		}
	})
}
