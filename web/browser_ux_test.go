package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// What a first-time walkthrough of the pages asked for: being told what
// happens to the other devices, times in the reader's zone, errors next to
// their fields, backup codes that survive a reload, confirmation before
// ending every session, an audit log that says where, waits that say how
// long, dark mode, and a tidy phone layout.

// Screen sizes the pages are held to.
const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 390, 844
)

// newBrowserSiteConfig is newBrowserSite with the service's configuration.
func newBrowserSiteConfig(t testing.TB, cfg keyward.Config) *browserSite {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{RealTime: true, Config: cfg})
	h, err := web.New(env.Svc, web.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(checkedUnder(t, h, ""))
	t.Cleanup(srv.Close)
	return &browserSite{env: env, url: srv.URL}
}

// viewport sets the device's screen size (a phone is a mobile device).
func (d *device) viewport(width, height int64) {
	d.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	act(d, fmt.Sprintf("viewport %dx%d", width, height), chromedp.EmulateViewport(width, height, opts...))
}

// colorScheme makes the device prefer "light" or "dark".
func (d *device) colorScheme(scheme string) {
	d.t.Helper()
	act(d, "prefer "+scheme, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// eval evaluates a JavaScript expression on the device's page.
func eval[T any](d *device, step, expr string) T {
	d.t.Helper()
	return act(d, step, chromedp.Evaluate[T](expr))
}

// enableTOTP sets up the authenticator app on the two-factor page and
// confirms it with oathtool's code; it leaves the device on the new codes.
func (d *device) enableTOTP(oathtool string) (key string, codes []string) {
	d.t.Helper()
	d.open("/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	key = strings.ReplaceAll(d.text("#manual-key"), " ", "")
	d.fill("#code", oathtoolCode(d.t, oathtool, key, time.Now()))
	d.press(`form[action="/settings/security/two-factor/enable"] button`)
	d.wantPath("turned on", "/settings/security/two-factor")
	d.wantText("turned on", "main h1", "Two-factor authentication is on")
	return key, d.texts("#backup-codes li code")
}

// TestBrowserTurningOnTwoFactorSaysWhoIsSignedOut: the step that turns
// two-factor on says the other devices will be signed out, the page after
// says how many were, the signed-out device is told why, and the audit log
// names the device and the reason. The new codes page has Copy, survives a
// reload, asks before being left, and ends with "I have saved them".
func TestBrowserTurningOnTwoFactorSaysWhoIsSignedOut(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-turn-on")
	laptop := b.device("device 1")
	laptop.signUp(journeyEmail, journeyPassword)
	phone := b.newDevice("device 2")
	phone.signIn(journeyEmail, journeyPassword)
	phone.wantPath("device 2 signs in", "/settings/security")

	// Before: the step that turns it on says so.
	laptop.open("/settings/security/two-factor")
	laptop.press(`form[action="/settings/security/two-factor/setup"] button`)
	laptop.wantText("before", "#step-3 #others-ending", "Turning it on signs out your other session", "This device stays signed in.")
	key := strings.ReplaceAll(laptop.text("#manual-key"), " ", "")
	laptop.fill("#code", oathtoolCode(t, oathtool, key, time.Now()))
	laptop.press(`form[action="/settings/security/two-factor/enable"] button`)

	// After: how many were signed out.
	laptop.wantPath("after", "/settings/security/two-factor")
	laptop.wantText("after", "p.flash", "Two-factor authentication is on. 1 other session was signed out.")
	codes := laptop.texts("#backup-codes li code")
	if len(codes) != 10 {
		laptop.fatalf("%d codes shown, want 10", len(codes))
	}
	laptop.screenshot("codes")

	// Copy puts the ten codes on the clipboard, one a line.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(laptop.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: site.url,
		})
		laptop.check("grant "+name, err)
	}
	laptop.wantText("copy", `button[data-copy="backup-codes"]`, "Copy")
	act(laptop, "press Copy", chromedp.Click(chromedp.CSS(`button[data-copy="backup-codes"]`)))
	laptop.pollScript("copied", `document.getElementById('codes-copy-status').textContent.indexOf('copied') >= 0 ? 'yes' : ''`)
	clip := act(laptop, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if got := strings.Fields(clip); !slices.Equal(got, codes) {
		laptop.fatalf("the clipboard holds %q, want the codes %q", clip, codes)
	}

	// Leaving is asked about: after the click on Copy (the browser asks
	// only on a page the person has used), a reload opens the browser's
	// "Leave site?" dialog, which the person accepts here.
	laptop.reloadAnswering(page.DialogTypeBeforeunload)

	// A reload shows the same codes, not "already on".
	laptop.wantPath("reload", "/settings/security/two-factor")
	if got := laptop.texts("#backup-codes li code"); !slices.Equal(got, codes) {
		laptop.fatalf("after a reload the page shows %q, want the same codes %q", got, codes)
	}
	if laptop.count("#form-error") != 0 {
		laptop.fatalf("after a reload an error is shown: %q", laptop.texts("#form-error"))
	}

	// "I have saved them" ends it; the page is the usual one again.
	laptop.press(`form[data-codes-saved] button`)
	laptop.wantText("saved", "p.flash", "Your backup codes are saved.")
	laptop.wantText("saved", "#status-heading", "Two-factor authentication is on")
	if strings.Contains(laptop.text("main"), codes[0]) {
		laptop.fatalf("the codes are still shown after \"I have saved them\"")
	}
	act(laptop, "reload", chromedp.Reload())
	if laptop.count("#backup-codes") != 0 {
		laptop.fatalf("the codes came back after \"I have saved them\"")
	}

	// The signed-out device is told why.
	phone.open("/settings/security/sessions")
	phone.wantPath("device 2 signed out", "/signin?next=%2Fsettings%2Fsecurity%2Fsessions")
	phone.wantText("device 2 told why", "p.flash", "You were signed out: two-factor authentication was turned on from another device.")

	// The log names the ended session's device and address, and why.
	laptop.open("/settings/security/audit")
	ended := laptop.texts("li.event .sentence")
	re := regexp.MustCompile(`^Session on .+ on .+ \(127\.0\.0\.1\) ended: two-factor authentication turned on$`)
	if !slices.ContainsFunc(ended, re.MatchString) {
		laptop.fatalf("no entry like %q in the log: %q", re, ended)
	}
}

// reloadAnswering reloads the page, expects the browser to open a dialog
// of kind first, accepts it, and waits for the page to load again.
func (d *device) reloadAnswering(kind page.DialogType) {
	d.t.Helper()
	d.b.trail = append(d.b.trail, d.name+": reload, answering a "+string(kind)+" dialog")
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	loads := chromedp.Events(ctx, page.LoadEventFired)
	reloaded := make(chan error, 1)
	go func() {
		_, err := chromedp.Call(ctx, page.Reload, page.ReloadParams{})
		reloaded <- err
	}()
	asked := false
	for ev, err := range dialogs {
		d.check("waiting for a dialog", err)
		if ev.Type != kind {
			d.fatalf("a %s dialog opened, want %s", ev.Type, kind)
		}
		_, err = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		d.check("accept the dialog", err)
		asked = true
		break
	}
	if !asked {
		d.fatalf("no %s dialog opened", kind)
	}
	d.check("reload", <-reloaded)
	for _, err := range loads {
		d.check("waiting for the page to load again", err)
		break
	}
}

// TestBrowserLowCodesLinkToNewOnes: with few backup codes left, the
// warnings link to where new ones are made.
func TestBrowserLowCodesLinkToNewOnes(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-low-codes")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)
	_, codes := d.enableTOTP(oathtool)
	d.press(`form[data-codes-saved] button`)

	// Seven codes spent elsewhere, through the service: three are left.
	ctx := context.Background()
	for _, c := range codes[:7] {
		res, err := site.env.Svc.SignIn(ctx, journeyEmail, journeyPassword, keyward.Client{IP: "192.0.2.7", UserAgent: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := site.env.Svc.CompleteSignIn(ctx, res.MFAToken, c, keyward.Client{IP: "192.0.2.7", UserAgent: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	d.open("/settings/security")
	d.wantText("overview", "li.section-card:nth-child(2) .status", "Only 3 backup codes left", "Generate new codes")
	d.press(`li.section-card:nth-child(2) .status a.fix`)
	d.wantPath("the link", "/settings/security/two-factor#backup-codes-section")
	d.wantText("two-factor page", "#codes-left", "Only 3 backup codes left", "Generate new codes")
	if got := d.attr("#codes-left a", "href"); got != "#regenerate-heading" {
		d.fatalf("the warning links to %q, want #regenerate-heading", got)
	}
}

// TestBrowserEndingEveryOtherSessionIsConfirmed: "End all other sessions"
// asks first; the ended device is told.
func TestBrowserEndingEveryOtherSessionIsConfirmed(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-end-others")
	laptop := b.device("device 1")
	laptop.signUp(journeyEmail, journeyPassword)
	phone := b.newDevice("device 2")
	phone.signIn(journeyEmail, journeyPassword)

	laptop.open("/settings/security/sessions")
	laptop.press("form.end-others button")
	laptop.wantText("asked", "#confirm-end-others", "End 1 other session?", "This device stays signed in.")
	if n := laptop.count("li.session"); n != 2 {
		laptop.fatalf("asking ended something: %d sessions listed, want 2", n)
	}
	laptop.screenshot("confirm")
	// Keeping them keeps them.
	laptop.press(`#confirm-end-others a`)
	phone.open("/settings/security")
	phone.wantPath("device 2 still in", "/settings/security")

	laptop.press("form.end-others button")
	laptop.press(`#confirm-end-others button`)
	laptop.wantText("ended", "p.flash", "1 other session was ended.")
	phone.open("/settings/security")
	phone.wantPath("device 2 out", "/signin?next=%2Fsettings%2Fsecurity")
	phone.wantText("device 2 told", "p.flash", "You were signed out from another device.")
}

// TestBrowserFormErrorsNextToTheirFields: every error at once, each next
// to its field and linked to it, what is not secret kept, the focus on the
// first; on the two-factor setup, the error is at the code, not 1,400 px up.
func TestBrowserFormErrorsNextToTheirFields(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-errors")
	d := b.device("device 1")

	d.open("/signup")
	act(d, "let the server check", chromedp.Evaluate[bool](`(document.querySelector('form[action="/signup"]').noValidate = true)`))
	d.fill("#password", "first try of a password")
	d.fill("#password_confirmation", "second try of a password")
	if st := d.press(`form[action="/signup"] button[type="submit"]`); st != 400 {
		d.fatalf("status %d, want 400", st)
	}
	d.wantText("email error", "#email-error", "Enter your email address.")
	d.wantText("mismatch error", "#password_confirmation-error", "The passwords do not match.")
	for _, f := range []string{"email", "password_confirmation"} {
		if got := d.attr("#"+f, "aria-describedby"); !strings.Contains(got, f+"-error") {
			d.fatalf("#%s is described by %q, want its error", f, got)
		}
		if d.attr("#"+f, "aria-invalid") != "true" {
			d.fatalf("#%s is not marked invalid", f)
		}
	}
	if got := eval[string](d, "focus", `document.activeElement.id`); got != "email" {
		d.fatalf("the focus is on %q, want the first field with an error, email", got)
	}
	if d.count("#form-error") != 0 {
		d.fatalf("the errors are in a banner too: %q", d.texts("#form-error"))
	}

	// The email is kept; the passwords are not.
	d.fill("#email", journeyEmail)
	d.fill("#password", journeyPassword)
	d.fill("#password_confirmation", journeyPassword+"!")
	d.press(`form[action="/signup"] button[type="submit"]`)
	if got := d.value("#email"); got != journeyEmail {
		d.fatalf("the email came back as %q, want %q", got, journeyEmail)
	}
	if got := eval[string](d, "focus", `document.activeElement.id`); got != "password_confirmation" {
		d.fatalf("the focus is on %q, want password_confirmation", got)
	}
	d.fill("#password", journeyPassword)
	d.fill("#password_confirmation", journeyPassword)
	d.press(`form[action="/signup"] button[type="submit"]`)
	d.wantPath("signed up", "/settings/security")

	// A wrong code on the setup: the error is at the code, in view.
	d.open("/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	key := strings.ReplaceAll(d.text("#manual-key"), " ", "")
	wrong := "000000"
	if right := oathtoolCode(t, oathtool, key, time.Now()); right == wrong {
		wrong = "111111"
	}
	d.fill("#code", wrong)
	d.press(`form[action="/settings/security/two-factor/enable"] button`)
	d.wantText("wrong code", "#step-3 #code-error", "That code is not valid")
	if got := eval[string](d, "focus", `document.activeElement.id`); got != "code" {
		d.fatalf("the focus is on %q, want code", got)
	}
	if !eval[bool](d, "in view", `(() => { const r = document.getElementById('code-error').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`) {
		d.fatalf("the code's error is not in view")
	}
	d.screenshot("wrong-code")
}

// TestBrowserLocalTimes: exact times in the reader's zone, the relative
// time beside them, both visible on a phone; UTC without scripts.
func TestBrowserLocalTimes(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-times")
	d := b.device("device 1")
	act(d, "live in Tokyo", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	}))
	d.signUp(journeyEmail, journeyPassword)
	d.viewport(phoneWidth, phoneHeight)
	d.open("/settings/security/sessions")
	iso := d.attr("li.session-current .facts div:nth-child(3) time", "datetime")
	at, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		d.fatalf("datetime %q: %v", iso, err)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	started := d.text("li.session-current .facts div:nth-child(3) dd")
	if want := at.In(tokyo).Format("15:04"); !strings.Contains(started, want) || strings.Contains(started, "UTC") {
		d.fatalf("started shows %q, want Tokyo's %s and no UTC", started, want)
	}
	if !strings.Contains(started, "(just now)") {
		d.fatalf("started shows %q, want the relative time beside it", started)
	}
	for _, css := range []string{"li.session-current .facts div:nth-child(3) time", "li.session-current .facts div:nth-child(3) .ago"} {
		if !eval[bool](d, "visible "+css, `(() => { const r = document.querySelector(`+jsString(css)+`).getBoundingClientRect(); const card = document.querySelector('li.session-current').getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.right <= card.right; })()`) {
			d.fatalf("%s is not visible on a phone, inside its card", css)
		}
	}
	d.screenshot("phone-times")

	act(d, "turn scripts off", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	d.open("/settings/security/sessions")
	if got, want := d.text("li.session-current .facts div:nth-child(3) time"), at.UTC().Format("2 Jan 2006, 15:04 UTC"); got != want {
		d.fatalf("without scripts the time shows %q, want %q", got, want)
	}
}

// TestBrowserThrottleSaysHowLong: a wait says how long it is.
func TestBrowserThrottleSaysHowLong(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SignInThrottle = keyward.ThrottleRule{Free: 1, Base: time.Minute, Max: time.Minute, Forget: time.Hour}
	site := newBrowserSiteConfig(t, cfg)
	b := startBrowser(t, site, "ux-throttle")
	owner := b.device("device 1")
	owner.signUp(journeyEmail, journeyPassword)
	// A device that never signed in: the owner's own passes the throttle.
	d := b.newDevice("device 2")
	var st int64
	for range 4 {
		if st = d.signIn(journeyEmail, "not the password at all"); st == http.StatusTooManyRequests {
			break
		}
	}
	if st != http.StatusTooManyRequests {
		d.fatalf("status %d, want 429", st)
	}
	got := d.text("#form-error")
	if !regexp.MustCompile(`Try again in (\d+ seconds|1 minute)\.`).MatchString(got) {
		d.fatalf("the wait says %q, want how long", got)
	}
}

// TestBrowserDarkModeAndFavicon: with prefers-color-scheme dark the pages
// are dark, and every pair of text and background checked keeps its
// contrast (4.5:1) in both schemes; the favicon is served.
func TestBrowserDarkModeAndFavicon(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-dark")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)
	d.open("/settings/security/password")
	icon := d.attr(`link[rel="icon"]`, "href")
	if st := d.open(icon); st != 200 {
		d.fatalf("the favicon %s: status %d", icon, st)
	}
	for _, scheme := range []string{"light", "dark"} {
		d.colorScheme(scheme)
		for _, path := range []string{"/settings/security", "/settings/security/password", "/settings/security/sessions", "/settings/security/audit"} {
			d.open(path)
			bg := eval[float64](d, "background", contrastJS+`luminance(backgroundOf(document.body))`)
			if dark := bg < 0.1; dark != (scheme == "dark") {
				d.fatalf("%s in %s: the page's background luminance is %.2f", path, scheme, bg)
			}
			low := eval[[]string](d, "contrast", contrastJS+`lowContrast()`)
			if len(low) > 0 {
				d.fatalf("%s in %s: too little contrast: %q", path, scheme, low)
			}
		}
	}
}

// contrastJS measures WCAG contrast on the page: lowContrast lists the
// text elements below 4.5:1 against the background they sit on.
const contrastJS = `
function parse(c) { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; }
function backgroundOf(el) { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; } return parse(getComputedStyle(document.documentElement).backgroundColor) || {r: 255, g: 255, b: 255, a: 1}; }
function channel(v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }
function luminance(c) { return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b); }
function ratio(a, b) { const x = luminance(a), y = luminance(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
function lowContrast() {
  const out = [];
  for (const el of document.querySelectorAll('h1, h2, p, a, label, dt, dd, button, .badge, .who, .hint, .muted, .lead, li, span, strong')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || !el.textContent.trim() || getComputedStyle(el).visibility === 'hidden') continue;
    const v = ratio(parse(getComputedStyle(el).color), backgroundOf(el));
    if (v < 4.5) out.push(el.tagName + '.' + el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + v.toFixed(2));
  }
  return out;
}
`

// TestBrowserPasswordFormsNameTheAccount: forms that change the password
// or ask for it again carry the account for password managers.
func TestBrowserPasswordFormsNameTheAccount(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-username")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)
	d.open("/settings/security/password")
	if got := d.value(`form[action="/settings/security/password"] input[name="username"][autocomplete="username"]`); got != journeyEmail {
		d.fatalf("the password form names %q, want %q", got, journeyEmail)
	}
	if eval[bool](d, "hidden", `document.querySelector('input[autocomplete="username"]').getBoundingClientRect().height > 0`) {
		d.fatalf("the username field is visible")
	}
}

// TestBrowserPolish: the small things of the walkthrough.
func TestBrowserPolish(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	b := startBrowser(t, site, "ux-polish")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)
	d.viewport(desktopWidth, desktopHeight)

	// The desktop tab bar has no stray scrollbar.
	d.open("/settings/security")
	if eval[bool](d, "tab bar", `(() => { const n = document.querySelector('nav.tabs'); return n.scrollHeight > n.clientHeight || n.scrollWidth > n.clientWidth; })()`) {
		d.fatalf("the tab bar overflows (a scrollbar)")
	}

	// The code input is narrow.
	d.open("/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	if w := eval[float64](d, "code width", `document.getElementById('code').getBoundingClientRect().width`); w > 200 {
		d.fatalf("the code input is %.0f px wide, want at most 200", w)
	}
	key := strings.ReplaceAll(d.text("#manual-key"), " ", "")
	d.fill("#code", oathtoolCode(t, oathtool, key, time.Now()))
	d.press(`form[action="/settings/security/two-factor/enable"] button`)
	d.press(`form[data-codes-saved] button`)
	d.wantText("since", "#status-heading + p", "Two-factor authentication has been on since ")

	// A failure is not "Failed Failed", and the filter's words are the log's.
	other := b.newDevice("device 2")
	other.signIn(journeyEmail, "not the password at all")
	d.open("/settings/security/audit")
	for _, e := range d.texts("li.event .sentence") {
		if strings.Contains(e, "Failed Failed") {
			d.fatalf("the log says %q", e)
		}
	}
	label := d.text(`#type option[value="2fa.enabled"]`)
	if !slices.ContainsFunc(d.texts("li.event .sentence"), func(s string) bool { return strings.HasPrefix(s, label) }) {
		d.fatalf("the filter says %q, which no entry of the log starts with: %q", label, d.texts("li.event .sentence"))
	}
	// Every entry says the device and address it came from.
	for _, meta := range d.texts("li.event .meta") {
		if !strings.Contains(meta, " on ") || !strings.Contains(meta, "127.0.0.1") {
			d.fatalf("an entry does not say where it came from: %q", meta)
		}
	}
	if d.count("li.event .event-session") == 0 {
		d.fatalf("no entry says it came from this session")
	}

	// From and To, not since and until.
	d.open("/settings/security/audit?since=2026-12-03&until=2026-12-01")
	d.wantText("dates", "#since-error", "The From date must be on or before the To date.")

	// A phone: two rows of tabs at most, and compact filters.
	d.viewport(phoneWidth, phoneHeight)
	d.open("/settings/security/audit")
	if h := eval[float64](d, "tabs", `document.querySelector('nav.tabs').getBoundingClientRect().height`); h > 110 {
		d.fatalf("the tabs are %.0f px tall on a phone, want two rows at most", h)
	}
	if !eval[bool](d, "from and to", `document.getElementById('since').getBoundingClientRect().top === document.getElementById('until').getBoundingClientRect().top`) {
		d.fatalf("From and To are not side by side on a phone")
	}
	if h := eval[float64](d, "filters", `document.querySelector('form.filters').getBoundingClientRect().height`); h > 330 {
		d.fatalf("the filters are %.0f px tall on a phone", h)
	}
	if !eval[bool](d, "filters fit", `(() => { const f = document.querySelector('form.filters').getBoundingClientRect(); return Array.from(document.querySelectorAll('form.filters input, form.filters select, form.filters button')).every(e => e.getBoundingClientRect().right <= f.right); })()`) {
		d.fatalf("a filter sticks out of its card on a phone")
	}
	d.screenshot("phone-audit")
}
