package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// Browser journeys with keyward under /auth on the same host as an
// application, behind a front server that passes /auth/... through as it
// is and behind one that strips it (nginx's proxy_pass http://k/;).

const basePath = "/auth"

// newBasePathSite serves keyward under /auth beside an application's
// /dashboard; strip says whether the front server strips /auth.
func newBasePathSite(t testing.TB, strip bool) *browserSite {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{RealTime: true})
	kw, err := web.New(env.Svc, web.Config{BasePath: basePath, AccentColor: "#123456"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := checkedUnder(t, kw, basePath)
	front := http.NewServeMux()
	if strip {
		front.Handle(basePath+"/", http.StripPrefix(basePath, h))
	} else {
		front.Handle(basePath+"/", h)
	}
	front.HandleFunc("/dashboard", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "the application") })
	srv := httptest.NewServer(front)
	t.Cleanup(srv.Close)
	return &browserSite{env: env, url: srv.URL}
}

// wantUnderBase fails unless the page is at want, which the caller gives
// under /auth, and its stylesheets loaded (computed styles from style.css
// and from brand.css).
func (d *device) wantUnderBase(step, want string) {
	d.t.Helper()
	if !strings.HasPrefix(want, basePath+"/") {
		d.fatalf("%s: the test asks for %s, not under %s", step, want, basePath)
	}
	d.wantPath(step, want)
	got := d.pollScript(step+": stylesheets", `(() => {
		const bg = getComputedStyle(document.body).backgroundColor;
		const accent = getComputedStyle(document.documentElement).getPropertyValue('--primary').trim();
		return bg === 'rgb(244, 245, 247)' && accent === '#123456' ? bg + ' ' + accent : null;
	})()`)
	if got == "" {
		d.fatalf("%s: stylesheets not applied", step)
	}
}

// TestBrowserBasePathJourney: sign-up (with the strength meter asking the
// API under /auth), sign-in, two-factor with oathtool, the sessions page
// and sign-out, all under /auth behind a front server that does not strip.
func TestBrowserBasePathJourney(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBasePathSite(t, false)
	b := startBrowser(t, site, "basepath")
	d := b.device("device 1")

	d.open("/auth/signup")
	d.wantUnderBase("sign-up page", "/auth/signup")
	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	// The meter's script found the API under the base path.
	d.pollScript("strength meter", `document.getElementById('password-strength').getAttribute('data-score')`)
	d.fill("#password_confirmation", journeyPassword)
	d.press(`form[action="/auth/signup"] button[type="submit"]`)
	d.wantUnderBase("sign-up", "/auth/settings/security")
	d.wantText("sign-up", "p.flash", "Your account is ready")
	d.screenshot("signed-up")

	d.press(`header form[action="/auth/signout"] button`)
	d.wantUnderBase("sign out", "/auth/signin")
	d.wantText("sign out", "p.flash", "You are signed out.")

	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	d.press(`form[action="/auth/signin"] button[type="submit"]`)
	d.wantUnderBase("sign in", "/auth/settings/security")
	d.wantText("sign in", "header .who", journeyEmail)

	d.press(`nav.tabs a[href="/auth/settings/security/two-factor"]`)
	d.wantUnderBase("two-factor page", "/auth/settings/security/two-factor")
	d.press(`form[action="/auth/settings/security/two-factor/setup"] button`)
	d.wantUnderBase("set up", "/auth/settings/security/two-factor#step-2")
	key := strings.Join(strings.Fields(d.text("#manual-key")), "")
	confirmAt := time.Now()
	d.fill("#code", oathtoolCode(t, oathtool, key, confirmAt))
	if st := d.press(`form[action="/auth/settings/security/two-factor/enable"] button`); st != 200 {
		d.fatalf("enable: status %d, want 200", st)
	}
	d.wantUnderBase("enable", "/auth/settings/security/two-factor")
	d.wantText("enable", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`)
	d.wantUnderBase("2FA on", "/auth/settings/security/two-factor")
	d.screenshot("two-factor-on")

	d.press(`nav.tabs a[href="/auth/settings/security/sessions"]`)
	d.wantUnderBase("sessions page", "/auth/settings/security/sessions")
	d.wantText("sessions page", "li.session-current .badge", "This device")

	d.press(`header form[action="/auth/signout"] button`)
	d.wantUnderBase("sign out again", "/auth/signin")

	// Signed out, a settings page sends to sign in under /auth and, after
	// both steps, back to it.
	d.open("/auth/settings/security/audit")
	d.wantUnderBase("signed-out visit", "/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity%2Faudit")
	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	d.press(`form[action="/auth/signin"] button[type="submit"]`)
	d.wantUnderBase("password step", "/auth/signin/2fa?next=%2Fauth%2Fsettings%2Fsecurity%2Faudit")
	d.fill("#code", oathtoolCode(t, oathtool, key, time.Unix((confirmAt.Unix()/30+1)*30, 0)))
	d.press(`form[action="/auth/signin/2fa"] button[type="submit"]`)
	d.wantUnderBase("second step", "/auth/settings/security/audit")
	d.wantText("second step", "header .who", journeyEmail)
	d.screenshot("audit")
}

// TestBrowserBasePathStripped: behind a front server that strips /auth,
// sign-in and a settings page stay under /auth with their styles.
func TestBrowserBasePathStripped(t *testing.T) {
	site := newBasePathSite(t, true)
	b := startBrowser(t, site, "basepath-stripped")
	d := b.device("device 1")

	d.open("/auth/signup")
	d.wantUnderBase("sign-up page", "/auth/signup")
	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	d.fill("#password_confirmation", journeyPassword)
	d.press(`form[action="/auth/signup"] button[type="submit"]`)
	d.wantUnderBase("sign-up", "/auth/settings/security")
	d.press(`header form[action="/auth/signout"] button`)
	d.wantUnderBase("sign out", "/auth/signin")

	d.open("/auth/settings/security/password")
	d.wantUnderBase("signed-out visit", "/auth/signin?next=%2Fauth%2Fsettings%2Fsecurity%2Fpassword")
	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	d.press(`form[action="/auth/signin"] button[type="submit"]`)
	d.wantUnderBase("sign in", "/auth/settings/security/password")
	d.wantText("password page", "main h1", "Password")
	d.press(`nav.tabs a[href="/auth/settings/security"]`)
	d.wantUnderBase("overview", "/auth/settings/security")
	d.screenshot("overview")
}
