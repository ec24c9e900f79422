package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
)

// TestSignupPageWaitsForVerification: with --require-verified-email the
// sign-up page creates the account and sends the person to sign in after
// the mailed link, with no session cookie (else anyone is signed in, and
// handed to applications, as an address he cannot read).
func TestSignupPageWaitsForVerification(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.RequireVerifiedEmail = true
	e := newMailEnv(t, cfg)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(e.srv.URL+"/signup", url.Values{"email": {"victim@example.com"}, "password": {apiPassword}, "password_confirmation": {apiPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Fatalf("sign-up answered %d, Location %q; want 303 to /signin", res.StatusCode, res.Header.Get("Location"))
	}
	for _, c := range res.Cookies() {
		if strings.Contains(c.Name, "session") && c.Value != "" {
			t.Errorf("sign-up of an unverified address set %s", c.Name)
		}
	}
	e.send(t)
	e.smtp.WaitFor(t, "victim@example.com", "Confirm your email address", 5*time.Second)
}
