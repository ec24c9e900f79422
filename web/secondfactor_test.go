package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
	"github.com/keyward/keyward/web"
)

// TestTOTPSuspendedOverHTTP: once the account has had
// MaxSecondFactorFailures wrong codes in a row, the API's second step
// lists only backup codes and answers a TOTP code 401 invalid_code pointing
// to backup codes; the page sends the person to the backup-code form and
// says why.
func TestTOTPSuspendedOverHTTP(t *testing.T) {
	ctx := context.Background()
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	r := e.call(t, "POST", "/api/v1/account/2fa/setup", tok, nil)
	secret := r.json(t)["secret"].(string)
	code, _ := totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/account/2fa/enable", tok, map[string]string{"code": code})
	wantStatus(t, r, 200, "")
	backup := r.json(t)["backup_codes"].([]any)[0].(string)
	a, err := e.Store.AccountByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for range keyward.MaxSecondFactorFailures {
		if _, err := e.Store.AddSecondFactorFailure(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Advance(totp.Period)

	r = e.call(t, "POST", "/api/v1/sessions", "", map[string]string{"email": "ada@example.com", "password": apiPassword})
	wantStatus(t, r, 200, "")
	step := r.json(t)
	if methods := step["methods"].([]any); !slices.Equal(methods, []any{"backup_code"}) {
		t.Fatalf("methods = %v, want [backup_code]", methods)
	}
	code, _ = totp.Code(secret, e.Clock.Now())
	r = e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": step["mfa_token"].(string), "code": code})
	wantStatus(t, r, 401, "invalid_code")
	if !strings.Contains(string(r.body), "backup code") {
		t.Fatalf("the refusal does not point to backup codes: %s", r.body)
	}
	// A backup code still signs in, and the second step hands out a device token too.
	r = e.call(t, "POST", "/api/v1/sessions/mfa", "", map[string]string{"mfa_token": step["mfa_token"].(string), "code": backup})
	wantStatus(t, r, 201, "")
	if dt, _ := r.json(t)["device_token"].(string); !strings.HasPrefix(dt, "kwd_") {
		t.Fatalf("second step's body has device_token %q: %s", dt, r.body)
	}
	for range keyward.MaxSecondFactorFailures {
		if _, err := e.Store.AddSecondFactorFailure(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}

	res := e.form(t, "/signin", url.Values{"email": {"ada@example.com"}, "password": {apiPassword}, "next": {"/settings/security"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/signin/2fa?method=backup&next=%2Fsettings%2Fsecurity" {
		t.Fatalf("page password step = %d to %q, want the backup-code form", res.StatusCode, loc)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+res.Header.Get("Location"), nil)
	for _, c := range res.Cookies() {
		req.AddCookie(c)
	}
	got, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || !strings.Contains(string(body), "turned off for this account after too many wrong codes") || !strings.Contains(string(body), "Backup code") {
		t.Fatalf("second step page = %d, want the backup-code form saying why:\n%s", got.StatusCode, body)
	}
}
