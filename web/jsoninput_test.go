package web_test

import (
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// TestUndecodableEmailNeverSignsUp: bytes that are not UTF-8 (or escapes
// that are no character) are refused whichever way they come, and no
// account exists afterwards under the bytes or under what a lossy decoder
// would have made of them.
func TestUndecodableEmailNeverSignsUp(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	api := []struct{ name, body, code string }{
		{"raw invalid UTF-8", "{\"email\":\"\xff\xfe@example.com\",\"password\":\"" + apiPassword + "\"}", "invalid_request"},
		{"escaped lone surrogates", `{"email":"\udcff\udcfe@example.com","password":"` + apiPassword + `"}`, "invalid_request"},
		{"escaped replacement characters", `{"email":"\ufffd\ufffd@example.com","password":"` + apiPassword + `"}`, "invalid_email"},
		{"raw invalid UTF-8 in the password", "{\"email\":\"bob@example.com\",\"password\":\"correct horse \xff\xfe staple\"}", "invalid_request"},
	}
	for _, tt := range api {
		t.Run("API: "+tt.name, func(t *testing.T) {
			wantStatus(t, e.call(t, "POST", "/api/v1/accounts", "", tt.body), 400, tt.code)
		})
	}
	forms := []struct{ name, email, password, message string }{
		{"invalid UTF-8 email", "\xff\xfe@example.com", apiPassword, "Enter a valid email address"},
		{"replacement characters", "\ufffd\ufffd@example.com", apiPassword, "Enter a valid email address"},
		{"invalid UTF-8 password", "bob@example.com", "correct horse \xff\xfe staple", "The password is not valid text"},
	}
	for _, tt := range forms {
		t.Run("page: "+tt.name, func(t *testing.T) {
			form := url.Values{"email": {tt.email}, "password": {tt.password}, "password_confirmation": {tt.password}}
			r := e.call(t, "POST", "/signup", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
			if r.status != 400 || !strings.Contains(string(r.body), tt.message) {
				t.Fatalf("status = %d, want 400 saying %q; body %.300s", r.status, tt.message, r.body)
			}
		})
	}
	for _, email := range []string{"\xff\xfe@example.com", "\ufffd\ufffd@example.com", "bob@example.com"} {
		if _, err := e.Store.AccountByEmail(t.Context(), email); !keyward.IsCode(err, keyward.CodeNotFound) {
			t.Errorf("AccountByEmail(%q) = %v, want not found", email, err)
		}
	}
}
