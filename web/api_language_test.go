package web_test

import (
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// TestAPIErrorMessagesFollowAcceptLanguage: the same error has the same
// status and code in every language; only its message is translated, by
// Accept-Language (and the chooser's cookie, for a browser's own calls).
func TestAPIErrorMessagesFollowAcceptLanguage(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	e.signUpIn(t, "olena@example.com")
	wrongPassword := map[string]string{"email": "olena@example.com", "password": "not the password at all"}
	tests := []struct {
		name          string
		method, path  string
		body          any
		header        []string
		status        int
		code, message string
	}{
		{"wrong password, no language", "POST", "/api/v1/sessions", wrongPassword, nil,
			401, "invalid_credentials", "The email or password is incorrect."},
		{"wrong password, English", "POST", "/api/v1/sessions", wrongPassword, []string{"Accept-Language", "en-GB,en;q=0.9"},
			401, "invalid_credentials", "The email or password is incorrect."},
		{"wrong password, Ukrainian", "POST", "/api/v1/sessions", wrongPassword, []string{"Accept-Language", "uk"},
			401, "invalid_credentials", "Неправильна адреса електронної пошти або пароль."},
		{"wrong password, Ukrainian by q-value", "POST", "/api/v1/sessions", wrongPassword, []string{"Accept-Language", "en;q=0.2, uk-UA;q=0.8"},
			401, "invalid_credentials", "Неправильна адреса електронної пошти або пароль."},
		{"wrong password, the chooser's cookie", "POST", "/api/v1/sessions", wrongPassword, []string{"Cookie", "keyward_lang=uk", "Accept-Language", "en"},
			401, "invalid_credentials", "Неправильна адреса електронної пошти або пароль."},
		{"unknown field, Ukrainian", "POST", "/api/v1/sessions", `{"email": "a@example.com", "password": "x", "pasword": "y"}`, []string{"Accept-Language", "uk"},
			400, "invalid_request", `Невідоме поле "pasword" (у назвах полів великі й малі літери розрізняються).`},
		{"a password too short, Ukrainian", "POST", "/api/v1/accounts", map[string]string{"email": "new@example.com", "password": "short"}, []string{"Accept-Language", "uk"},
			400, "password_too_short", "Цей пароль закороткий. Використайте щонайменше 8 символів."},
		{"no token, Ukrainian", "GET", "/api/v1/sessions", nil, []string{"Accept-Language", "uk"},
			401, "unauthenticated", "Увійдіть, щоб продовжити."},
		{"no such path, Ukrainian", "GET", "/api/v1/nothing", nil, []string{"Accept-Language", "uk"},
			404, "not_found", "За цим шляхом нічого немає."},
		{"no such path, a language keyward lacks", "GET", "/api/v1/nothing", nil, []string{"Accept-Language", "de"},
			404, "not_found", "There is nothing at this path."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, tt.path, "", tt.body, tt.header...)
			wantStatus(t, r, tt.status, tt.code)
			msg, _ := r.json(t)["error"].(map[string]any)["message"].(string)
			if msg != tt.message {
				t.Errorf("message %q, want %q", msg, tt.message)
			}
		})
	}
}
