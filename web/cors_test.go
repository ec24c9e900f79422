package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

func TestAPICORS(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{CORSOrigins: []string{"https://app.example.com"}})
	tok := e.signUpIn(t, "ada@example.com")
	preflight := func(origin string) []string {
		return []string{"Origin", origin, "Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization"}
	}
	tests := []struct {
		name, method, path, token string
		header                    []string
		status                    int
		allowOrigin               string // "" wants none
	}{
		{"preflight, allowed origin", "OPTIONS", "/api/v1/sessions/current", "", preflight("https://app.example.com"), 204, "https://app.example.com"},
		{"preflight, other origin", "OPTIONS", "/api/v1/sessions/current", "", preflight("https://evil.example"), 405, ""},
		{"preflight, a look-alike origin", "OPTIONS", "/api/v1/sessions/current", "", preflight("https://app.example.com.evil.net"), 405, ""},
		{"preflight, not the API", "OPTIONS", "/signout", "", preflight("https://app.example.com"), 404, ""},
		{"bearer GET, allowed origin", "GET", "/api/v1/sessions/current", tok, []string{"Origin", "https://app.example.com"}, 200, "https://app.example.com"},
		{"bearer GET, other origin", "GET", "/api/v1/sessions/current", tok, []string{"Origin", "https://evil.example"}, 200, ""},
		{"bearer check, allowed origin", "GET", "/api/v1/auth/check", tok, []string{"Origin", "https://app.example.com"}, 200, "https://app.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, tt.method, tt.path, tt.token, nil, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.allowOrigin)
			}
			if got, ok := r.header["Access-Control-Allow-Credentials"]; ok {
				t.Errorf("Access-Control-Allow-Credentials = %q, want none ever", got)
			}
			if tt.status == 204 {
				if m := r.header.Get("Access-Control-Allow-Methods"); m != "GET, POST, PUT, PATCH, DELETE" {
					t.Errorf("Access-Control-Allow-Methods = %q", m)
				}
				if h := r.header.Get("Access-Control-Allow-Headers"); h != "Authorization, Content-Type" {
					t.Errorf("Access-Control-Allow-Headers = %q", h)
				}
			}
		})
	}
}

func TestAPIBearerCallsAreExemptFromTheCrossOriginCheck(t *testing.T) {
	tests := []struct {
		name   string
		bearer bool
		cookie bool
		status int
	}{
		{"bearer, cross-site", true, false, 200},
		{"bearer and cookie, cross-site: judged by the bearer", true, true, 200},
		{"cookie, cross-site: refused", false, true, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPI(t, keyward.DefaultConfig(), web.Config{CORSOrigins: []string{"https://app.example.com"}})
			tok := e.signUpIn(t, "ada@example.com")
			e.signIn(t, "ada@example.com")
			header := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://app.example.com"}
			if tt.cookie {
				header = append(header, "Cookie", "keyward_session="+tok)
			}
			bearer := ""
			if tt.bearer {
				bearer = tok
			}
			r := e.call(t, "POST", "/api/v1/sessions/revoke-others", bearer, nil, header...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			want := 1
			if tt.status != 200 {
				want = 2
			}
			if n := len(e.call(t, "GET", "/api/v1/sessions", tok, nil).json(t)["sessions"].([]any)); n != want {
				t.Fatalf("%d sessions left, want %d", n, want)
			}
		})
	}
	t.Run("a bad bearer beside a good cookie is refused", func(t *testing.T) {
		e := newAPI(t, keyward.DefaultConfig(), web.Config{})
		tok := e.signUpIn(t, "ada@example.com")
		r := e.call(t, "POST", "/api/v1/sessions/revoke-others", "kws_nope", nil, "Cookie", "keyward_session="+tok, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401; body %s", r.status, r.body)
		}
	})
}

// TestAPICORSCoversEveryDocumentedMethod holds the preflight's allowed
// methods to the document: a method added to a user route (PATCH came with
// passkeys) would otherwise be refused to every browser application by its
// preflight, while every other client works.
func TestAPICORSCoversEveryDocumentedMethod(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{CORSOrigins: []string{"https://app.example.com"}})
	doc := readJSON(t, openAPIFile)
	for op := range operations(doc) {
		method, path, _ := strings.Cut(op, " ")
		if strings.HasPrefix(path, "/api/v1/admin/") {
			continue // no origin may read the admin API
		}
		r := e.call(t, "OPTIONS", "/api/v1/sessions/current", "", nil,
			"Origin", "https://app.example.com", "Access-Control-Request-Method", method)
		if r.status != http.StatusNoContent {
			t.Fatalf("preflight for %s: status %d", method, r.status)
		}
		allowed := strings.Split(r.header.Get("Access-Control-Allow-Methods"), ", ")
		if !slices.Contains(allowed, method) {
			t.Errorf("%s: the preflight allows %q, not %s", op, allowed, method)
		}
	}
}
