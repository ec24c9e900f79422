package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
)

// getIn GETs path with Accept-Language accept (none when "").
func (e *pageEnv) getIn(path, accept string) page {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	res, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, res.Body); err != nil {
		e.t.Fatal(err)
	}
	p := page{status: res.StatusCode, header: res.Header, body: b.String()}
	checkPageHTML(e.t, "GET "+path, p.body)
	return p
}

// TestPagesFollowAcceptLanguage: without a choice, a page is in the best
// language of Accept-Language, and says so in <html lang>.
func TestPagesFollowAcceptLanguage(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	tests := []struct {
		accept string
		lang   string
		words  []string
	}{
		{"", "en", []string{"Skip to content", ">Language</label>"}},
		{"uk-UA,uk;q=0.9,en;q=0.8", "uk", []string{"Перейти до вмісту", ">Мова</label>", `<option value="uk" lang="uk" selected>Українська</option>`}},
		{"de, en;q=0.5, uk;q=0.4", "en", []string{"Skip to content", `<option value="en" lang="en" selected>English</option>`}},
		{"de", "en", []string{"Skip to content"}},
	}
	for _, tt := range tests {
		p := e.getIn("/signin", tt.accept)
		wantStatus(t, "sign-in page in "+tt.accept, p, http.StatusOK)
		wantBody(t, "sign-in page in "+tt.accept, p, append(tt.words, `<html lang="`+tt.lang+`">`)...)
	}
	// The error page too: its heading, its words and the message.
	p := e.getIn("/no/such/page", "uk")
	wantStatus(t, "404 in Ukrainian", p, http.StatusNotFound)
	wantBody(t, "404 in Ukrainian", p, `<html lang="uk">`, "Помилка 404", "<h1>Не знайдено</h1>", "За цією адресою нічого немає.", "Повернутися до keyward")
}

// TestLanguageChooser: the footer's form chooses the language, a cookie
// remembers it over Accept-Language, and it goes back only to a page of
// keyward's own.
func TestLanguageChooser(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	p := e.get("/signin?next=%2Fsettings%2Fsecurity%2Fsessions")
	wantBody(t, "sign-in page", p, `<form class="language" method="post" action="/settings/language">`,
		`<input type="hidden" name="next" value="/signin?next=%2Fsettings%2Fsecurity%2Fsessions">`)

	p = e.post("/settings/language", url.Values{"language": {"uk"}, "next": {"/signin?next=%2Fsettings%2Fsecurity%2Fsessions"}})
	wantRedirect(t, "choosing Ukrainian", p, "/signin?next=%2Fsettings%2Fsecurity%2Fsessions")
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "keyward_lang" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != "uk" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge < 0 {
		t.Fatalf("language cookie %+v", cookie)
	}
	// Remembered, over what the browser asks for.
	p = e.getIn("/signin", "en-US,en;q=0.9")
	wantBody(t, "after choosing Ukrainian", p, `<html lang="uk">`, "Перейти до вмісту")

	// Signed in, the account's mails follow the choice.
	e.signUp()
	p = e.get("/settings/security")
	wantBody(t, "overview in Ukrainian", p, `<html lang="uk">`, ">Огляд</a>", ">Журнал подій</a>", "Ви ввійшли як", ">Вийти</button>")
	p = e.post("/settings/language", url.Values{"language": {"en"}, "next": {"/settings/security/sessions"}})
	wantRedirect(t, "choosing English", p, "/settings/security/sessions")
	a, err := e.svc.Store().AccountByEmail(t.Context(), testEmail)
	if err != nil || a.Language != "en" {
		t.Fatalf("account after choosing English: %+v, %v", a, err)
	}
	p = e.post("/settings/language", url.Values{"language": {"uk"}, "next": {"/settings/security"}})
	wantRedirect(t, "choosing Ukrainian again", p, "/settings/security")
	if a, err = e.svc.Store().AccountByEmail(t.Context(), testEmail); err != nil || a.Language != "uk" {
		t.Fatalf("account after choosing Ukrainian: %+v, %v", a, err)
	}

	// Back only to a page of keyward's, on this origin.
	for _, next := range []string{"", "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
		"/settings/security/two-factor/enable", "/no/such/page", "/signin\r\nSet-Cookie: x=y", "settings/security"} {
		p = e.post("/settings/language", url.Values{"language": {"en"}, "next": {next}})
		wantRedirect(t, "next "+next, p, "/settings/security")
	}
	p = e.post("/settings/language", url.Values{"language": {"de"}, "next": {"/signin"}})
	wantStatus(t, "a language keyward does not speak", p, http.StatusBadRequest)
	wantBody(t, "a language keyward does not speak", p, "Choose one of the languages offered.")
}

// TestLanguageChooserRefusesOtherSites: the chooser is a form like the
// others, behind the same cross-origin check.
func TestLanguageChooserRefusesOtherSites(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	req, _ := http.NewRequest("POST", e.ts.URL+"/settings/language", strings.NewReader("language=uk&next=%2Fsignin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	res, err := e.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Fatalf("a cross-site choice: %d, cookies %v", res.StatusCode, res.Cookies())
	}
}

// TestLanguageChooserUnderBasePath: under a base path, the chooser posts
// there and goes back only under it.
func TestLanguageChooserUnderBasePath(t *testing.T) {
	e := newPageEnvWeb(t, keyward.DefaultConfig(), Config{BasePath: "/auth"})
	p := e.get("/auth/signin")
	wantBody(t, "sign-in page", p, `action="/auth/settings/language"`, `name="next" value="/auth/signin"`)
	p = e.post("/auth/settings/language", url.Values{"language": {"uk"}, "next": {"/auth/forgot-password"}})
	wantRedirect(t, "choosing", p, "/auth/forgot-password")
	for _, next := range []string{"/forgot-password", "/authx/signin", "/app/settings"} {
		p = e.post("/auth/settings/language", url.Values{"language": {"uk"}, "next": {next}})
		wantRedirect(t, "next "+next, p, "/auth/settings/security")
	}
}

// FuzzChooserNext: whatever a form sends as next, the chooser goes back to
// it only when it is a path on this origin, under the base path; else to
// the overview.
func FuzzChooserNext(f *testing.F) {
	e := newPageEnvWeb(f, keyward.DefaultConfig(), Config{BasePath: "/auth"})
	for _, s := range []string{"", "/auth/signin", "/auth/signin?next=%2Fauth", "//evil.example", "/auth/../x", "/auth\\x", "https://evil.example/auth/signin", "/auth/%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := e.srv.chooserNext(next)
		if got == e.srv.path(homeRoute) {
			return
		}
		if got != next || !localPath(got) || !strings.HasPrefix(got, "/auth/") {
			t.Fatalf("chooserNext(%q) = %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("chooserNext(%q) = %q, which leaves the origin", next, got)
		}
	})
}

// TestSignUpKeepsTheLanguageAsked: an account made from a request in a
// language keeps it; one made from a request that says none keeps none,
// so that it follows the operator's default.
func TestSignUpKeepsTheLanguageAsked(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	for _, tt := range []struct{ email, accept, want string }{
		{"olena@example.com", "uk-UA,uk;q=0.9", "uk"},
		{"ann@example.com", "en-GB", "en"},
		{"nobody@example.com", "", ""},
	} {
		req, _ := http.NewRequest("POST", e.ts.URL+"/signup", strings.NewReader(url.Values{"email": {tt.email}, "password": {testPassword}, "password_confirmation": {testPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tt.accept != "" {
			req.Header.Set("Accept-Language", tt.accept)
		}
		res, err := e.newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		a, err := e.svc.Store().AccountByEmail(t.Context(), tt.email)
		if err != nil {
			t.Fatalf("%s: %d, %v", tt.email, res.StatusCode, err)
		}
		if a.Language != tt.want {
			t.Errorf("%s (Accept-Language %q): language %q, want %q", tt.email, tt.accept, a.Language, tt.want)
		}
	}
}
