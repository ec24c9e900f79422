package web

import (
	"net/url"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
)

// settingsPages are every page under /settings/security a signed-in person
// reaches by a GET.
var settingsPages = []string{
	"/settings/security",
	"/settings/security/password",
	"/settings/security/two-factor",
	"/settings/security/sessions",
	"/settings/security/audit",
}

// TestBranding: the product name titles every page, escaped; settings pages
// link back to the application; the accent arrives through a stylesheet of
// its own, so the Content-Security-Policy stays as strict as before.
func TestBranding(t *testing.T) {
	const product = `Acme <script>alert(1)</script> "Q" & 'R'`
	const escaped = `Acme &lt;script&gt;alert(1)&lt;/script&gt; &#34;Q&#34; &amp; &#39;R&#39;`
	app, _ := url.Parse(`https://app.example.com/home?a=1&b=2`)
	cfg := keyward.DefaultConfig()
	cfg.ProductName = product // the issuer follows it
	e := newPageEnvWeb(t, cfg, Config{ProductName: product, AppURL: app, AccentColor: "#0a7"})
	e.signUp()
	for _, path := range settingsPages {
		p := e.get(path)
		wantStatus(t, path, p, 200)
		wantBody(t, path, p, " · "+escaped+"</title>",
			`<a href="https://app.example.com/home?a=1&amp;b=2">Back to `+escaped+`</a>`,
			`<link rel="stylesheet" href="/static/brand.css">`)
		wantNoBody(t, path, p, "<script>alert", "· keyward</title>")
		if got := p.header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("%s: CSP = %q, want %q", path, got, contentSecurityPolicy)
		}
	}

	// Signed-out pages carry the name but no way out to the application.
	out := e.do(e.newClient(), "GET", "/signin", nil)
	wantStatus(t, "sign-in", out, 200)
	wantBody(t, "sign-in", out, "Sign in · "+escaped+"</title>")
	wantNoBody(t, "sign-in", out, "Back to ")
	nf := e.get("/no-such-page")
	wantBody(t, "not found", nf, " · "+escaped+"</title>", "Back to "+escaped+"</a>")

	// The setup names what the authenticator app will show.
	wantRedirect(t, "setup", e.post("/settings/security/two-factor/setup", url.Values{}), "/settings/security/two-factor#step-2")
	setup := e.get("/settings/security/two-factor")
	wantBody(t, "pending setup", setup, "Add "+escaped+" to the app", `adds your `+escaped+` account`,
		`<th scope="row">Issuer</th><td>`+escaped+`</td>`, "shows for "+escaped+".")
	wantNoBody(t, "pending setup", setup, "keyward")

	css := e.get("/static/brand.css")
	wantStatus(t, "brand.css", css, 200)
	if got := css.header.Get("Content-Type"); !strings.HasPrefix(got, "text/css") {
		t.Errorf("brand.css Content-Type = %q, want text/css", got)
	}
	wantBody(t, "brand.css", css, "--primary: #0a7;")
}

// TestBrandingDefaults: without branding the pages are keyward's, with no
// back link and no accent stylesheet.
func TestBrandingDefaults(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	for _, path := range settingsPages {
		p := e.get(path)
		wantBody(t, path, p, "· keyward</title>")
		wantNoBody(t, path, p, "Back to ", "brand.css")
	}
	wantStatus(t, "brand.css", e.get("/static/brand.css"), 404)
}

// TestBrandingRefused: New refuses what the command refuses, for an
// application that mounts the package without the command's checks.
func TestBrandingRefused(t *testing.T) {
	rel, _ := url.Parse("/home")
	js, _ := url.Parse("javascript:alert(1)")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"relative app url", Config{AppURL: rel}},
		{"javascript app url", Config{AppURL: js}},
		{"colour name", Config{AccentColor: "red"}},
		{"colour breaking out", Config{AccentColor: "#fff;}body{display:none"}},
		{"colour with a bad digit", Config{AccentColor: "#12g"}},
		{"colour of five digits", Config{AccentColor: "#12345"}},
	}
	e := newPageEnv(t, keyward.DefaultConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(e.svc, tt.cfg, nil); err == nil {
				t.Errorf("New(%+v) = nil error, want one", tt.cfg)
			}
		})
	}
}
