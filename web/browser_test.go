package web_test

import (
	"bytes"
	"encoding/csv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/web"
)

// Browser journeys: what a person sees in Chromium, page by page, for the
// four parts of Security. Each asserts on the words, counts
// and addresses on screen, and saves screenshots to KEYWARD_TEST_SCREENSHOTS.

const (
	journeyEmail    = "ada@example.com"
	journeyPassword = "violet tractor anchors the moon"
	journeyNewPass  = "copper kettle sings at dawn"
)

// TestBrowserSessionsJourney: sign up, a second device signs in,
// the first ends it from the Sessions page, then signs out.
func TestBrowserSessionsJourney(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "sessions")
	laptop := b.device("device 1")
	laptop.signUp(journeyEmail, journeyPassword)
	laptop.screenshot("signed-up")

	phone := b.newDevice("device 2")
	if st := phone.signIn(journeyEmail, journeyPassword); st != 200 {
		phone.fatalf("sign in: status %d, want 200", st)
	}
	phone.wantPath("device 2 signs in", "/settings/security")
	phone.wantText("device 2 signs in", "header .who", journeyEmail)

	laptop.open("/settings/security/sessions")
	laptop.wantText("sessions page", "main h1", "Sessions")
	if n := laptop.count("li.session"); n != 2 {
		laptop.fatalf("sessions page lists %d sessions, want 2", n)
	}
	laptop.wantText("sessions page", "li.session-current .badge", "This device")
	if badges := laptop.texts(".badge"); countOf(badges, "This device") != 1 {
		laptop.fatalf("sessions page: want exactly one \"This device\" badge, got badges %q", badges)
	}
	if laptop.count("li.session-current:first-child") != 1 {
		laptop.fatalf("sessions page: the current session is not listed first")
	}
	// Each row says what and where: the device, its type, the address and times.
	for _, row := range laptop.texts("li.session") {
		for _, want := range []string{" on ", "127.0.0.1", "Started", "Last active", "Signed in with"} {
			if !strings.Contains(row, want) {
				laptop.fatalf("session row %q lacks %q", row, want)
			}
		}
	}
	laptop.wantText("sessions page", "form.end-others button", "End all other sessions")
	if n := laptop.count("li.session-current .session-end"); n != 0 {
		laptop.fatalf("the current session has an End button")
	}
	laptop.screenshot("two-sessions")

	laptop.wantText("end button", "li.session:not(.session-current) .session-end button", "End")
	laptop.press("li.session:not(.session-current) .session-end button")
	laptop.wantPath("end the other session", "/settings/security/sessions")
	laptop.wantText("end the other session", "p.flash", "Session ended", "is signed out.")
	if n := laptop.count("li.session"); n != 1 {
		laptop.fatalf("after ending the other session: %d sessions listed, want 1", n)
	}
	laptop.wantText("after ending", "li.session-current .badge", "This device")
	laptop.wantText("after ending", "main > p.muted", "No other device is signed in.")
	if laptop.count("form.end-others") != 0 {
		laptop.fatalf("after ending: \"End all other sessions\" is still offered")
	}
	laptop.screenshot("ended-other")

	// Device 2's session ended at once: its next page load is the sign-in page.
	phone.open("/settings/security/sessions")
	phone.wantPath("device 2 after being ended", "/signin?next=%2Fsettings%2Fsecurity%2Fsessions")
	phone.wantText("device 2 after being ended", "main h1", "Sign in")
	phone.wantText("device 2 is told why", "p.flash", "You were signed out from another device.")
	if phone.count("header .who") != 0 {
		phone.fatalf("device 2 still shows who is signed in")
	}
	phone.screenshot("device2-signed-out")

	laptop.signOut()
	laptop.screenshot("signed-out")

	// Signed out, the Security area sends the visitor to sign in, and back.
	laptop.open("/settings/security")
	laptop.wantPath("signed-out visit", "/signin?next=%2Fsettings%2Fsecurity")
	laptop.open("/settings/security/sessions")
	laptop.wantPath("signed-out visit", "/signin?next=%2Fsettings%2Fsecurity%2Fsessions")
	laptop.wantText("signed-out visit", "main h1", "Sign in")
	if laptop.count("p.flash") != 0 {
		laptop.fatalf("a device that signed itself out is told %q", laptop.texts("p.flash"))
	}
	laptop.screenshot("sign-in-to-continue")
	laptop.signIn(journeyEmail, journeyPassword)
	laptop.wantPath("sign in and back", "/settings/security/sessions")
	if n := laptop.count("li.session"); n != 1 {
		laptop.fatalf("signed in again: %d sessions listed, want 1 (ended sessions are gone)", n)
	}
}

// TestBrowserPasswordJourney: the strength meter moves as the
// person types, a breached password is refused with its reason, a good one
// is saved, and only the new password signs in.
func TestBrowserPasswordJourney(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "password")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)

	d.open("/settings/security/password")
	d.wantText("password page", "main h1", "Password")
	if d.count("#new_password-strength[hidden]") != 1 {
		d.fatalf("the meter shows before anything is typed")
	}
	if d.count("#sign_out_other_sessions:checked") != 1 {
		d.fatalf("\"Sign out of all other sessions\" is not ticked by default")
	}
	d.screenshot("page")

	// The meter: a score, a word and a <meter>, shown once the server answers.
	meter := func(step, notScore string) (score int, word string) {
		d.t.Helper()
		got := d.pollScript(step, `(() => {
			const box = document.getElementById('new_password-strength');
			if (!box || box.hidden) return null;
			const s = box.getAttribute('data-score');
			if (s === null || s === `+jsString(notScore)+`) return null;
			return s + '|' + box.querySelector('meter').value + '|' + box.querySelector('.strength-word').textContent;
		})()`)
		parts := strings.SplitN(got, "|", 3)
		score, err := strconv.Atoi(parts[0])
		if err != nil || len(parts) != 3 || parts[1] != parts[0] || parts[2] == "" {
			d.fatalf("%s: meter reads %q, want score|meter value|word", step, got)
		}
		return score, parts[2]
	}
	d.fill("#new_password", "abc")
	weak, weakWord := meter("meter for abc", "")
	d.screenshot("meter-weak")
	d.fill("#new_password", "marble orchid quietly juggles seventeen lanterns")
	strong, strongWord := meter("meter for a passphrase", strconv.Itoa(weak))
	d.screenshot("meter-strong")
	if weak > 1 || strong < 3 || weakWord == strongWord {
		d.fatalf("meter: \"abc\" scored %d (%q), a passphrase %d (%q); want a weak score then a strong one, with different words", weak, weakWord, strong, strongWord)
	}
	t.Logf("meter: abc → %d %q; passphrase → %d %q", weak, weakWord, strong, strongWord)

	// A breached password is refused, with its reason, and nothing changes.
	d.fill("#current_password", journeyPassword)
	d.fill("#new_password", "password123")
	d.fill("#new_password_confirmation", "password123")
	if st := d.press(`form[action="/settings/security/password"] button[type="submit"]`); st != 400 {
		d.fatalf("breached password: status %d, want 400", st)
	}
	d.wantPath("breached password", "/settings/security/password")
	d.wantText("breached password", "#new_password-error", "Error:", "breached or common passwords")
	if d.attr("#new_password", "aria-invalid") != "true" {
		d.fatalf("breached password: the new password field is not marked invalid")
	}
	if !strings.Contains(d.attr("#new_password", "aria-describedby"), "new_password-error") {
		d.fatalf("breached password: the field is not described by the error")
	}
	if d.count("p.flash") != 0 {
		d.fatalf("breached password: a success message is shown: %q", d.texts("p.flash"))
	}
	d.screenshot("breached-refused")

	d.fill("#current_password", journeyPassword)
	d.fill("#new_password", journeyNewPass)
	d.fill("#new_password_confirmation", journeyNewPass)
	if st := d.press(`form[action="/settings/security/password"] button[type="submit"]`); st != 200 {
		d.fatalf("change password: status %d, want 200", st)
	}
	d.wantPath("change password", "/settings/security/password")
	d.wantText("change password", "p.flash", "Password changed.")
	if d.count("#form-error, .field-error") != 0 {
		d.fatalf("change password: an error is shown: %q", d.texts("#form-error, .field-error"))
	}
	d.screenshot("changed")

	d.signOut()
	if st := d.signIn(journeyEmail, journeyPassword); st != 401 {
		d.fatalf("old password: status %d, want 401", st)
	}
	d.wantText("old password", "#password-error", "The email or password is incorrect.")
	d.screenshot("old-password-refused")
	d.signIn(journeyEmail, journeyNewPass)
	d.wantPath("new password", "/settings/security")
	d.wantText("new password", "header .who", journeyEmail)
	d.wantText("overview", "main", "Last changed")
	d.screenshot("signed-in-new-password")
}

// TestBrowserTwoFactorJourney: enable 2FA from the manual key
// with oathtool as the authenticator, keep the backup codes, sign in with a
// code and with a backup code, regenerate the codes, disable.
func TestBrowserTwoFactorJourney(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	b := startBrowser(t, site, "twofactor")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)

	d.open("/settings/security/two-factor")
	d.wantText("2FA page", "main", "Two-factor authentication is off.", "Install an authenticator app", "Google Authenticator", "Authy")
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	d.wantPath("set up", "/settings/security/two-factor#step-2")
	grouped := d.text("#manual-key")
	groups := strings.Fields(grouped)
	for _, g := range groups {
		if len(g) != 4 {
			d.fatalf("manual key %q is not in groups of four", grouped)
		}
	}
	key := strings.Join(groups, "")
	if len(key) != 32 {
		d.fatalf("manual key %q has %d characters, want 32 (160 bits of base32)", grouped, len(key))
	}
	d.wantText("setup parameters", "table.params", journeyEmail, "Time-based", "SHA-1", "6", "30 seconds")
	if !strings.HasPrefix(d.attr("img.qr", "src"), "data:image/png;base64,") {
		d.fatalf("the QR code is not an inline PNG")
	}
	d.screenshot("setup")

	// The confirming code is spent: its time step cannot sign in later.
	confirmAt := time.Now()
	d.fill("#code", oathtoolCode(t, oathtool, key, confirmAt))
	if st := d.press(`form[action="/settings/security/two-factor/enable"] button`); st != 200 {
		d.fatalf("enable: status %d, want 200", st)
	}
	d.wantText("enable", "main h1", "Two-factor authentication is on")
	d.wantText("enable", "main", "Save your backup codes now.")
	codes := d.texts("#backup-codes li code")
	if len(codes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(codes)))) != 10 {
		d.fatalf("enable: %d distinct backup codes shown, want 10: %q", len(slices.Compact(slices.Sorted(slices.Values(codes)))), codes)
	}
	if got := d.attr("a[download]", "download"); got != "keyward-backup-codes.txt" {
		d.fatalf("download link saves as %q, want keyward-backup-codes.txt", got)
	}
	file := dataURLText(t, d.attr("a[download]", "href"))
	lines := strings.Split(strings.TrimSpace(file), "\n")
	if len(lines) < 10 || !slices.Equal(lines[len(lines)-10:], codes) || !strings.Contains(file, "Account: "+journeyEmail) {
		d.fatalf("the downloaded file does not hold the ten codes shown:\n%s\nshown: %q", file, codes)
	}
	d.screenshot("backup-codes")

	d.press(`form[data-codes-saved] button`)
	d.wantText("2FA on", "#status-heading", "Two-factor authentication is on")
	d.wantText("2FA on", "#codes-left", "10 backup codes left.")
	if d.count("#backup-codes") != 0 || strings.Contains(d.text("main"), codes[0]) {
		d.fatalf("2FA on: the backup codes are shown again")
	}
	d.signOut()

	// Sign in with a code from the app. The code for the next time step is
	// accepted at once (one step of drift), and is not the spent one.
	d.signIn(journeyEmail, journeyPassword)
	d.wantPath("password step", "/signin/2fa?next=%2Fsettings%2Fsecurity")
	d.wantText("second step", "main h1", "Two-factor authentication")
	d.wantText("second step", `label[for="code"]`, "Verification code")
	d.screenshot("second-step")
	next := time.Unix((confirmAt.Unix()/30+1)*30, 0)
	d.fill("#code", oathtoolCode(t, oathtool, key, next))
	d.press(`form[action="/signin/2fa"] button[type="submit"]`)
	d.wantPath("authenticator code", "/settings/security")
	d.wantText("authenticator code", "header .who", journeyEmail)
	d.open("/settings/security/sessions")
	d.wantText("authenticator code", "li.session-current", "Password + one-time code")
	d.screenshot("signed-in-with-code")
	d.signOut()

	// Sign in with a backup code, typed loosely: upper case, a space.
	d.signIn(journeyEmail, journeyPassword)
	d.wantText("second step", "main", "Use a backup code instead")
	d.press(`main a[href*="method=backup"]`)
	d.wantText("backup step", `label[for="code"]`, "Backup code")
	loose := strings.ToUpper(strings.Replace(codes[0], "-", " ", 1))
	if !strings.Contains(loose, " ") {
		loose = loose[:len(loose)/2] + " " + loose[len(loose)/2:]
	}
	d.fill("#code", loose)
	d.screenshot("backup-code-typed")
	d.press(`form[action="/signin/2fa"] button[type="submit"]`)
	d.wantPath("backup code", "/settings/security")
	d.wantText("backup code", "p.flash", "Signed in with a backup code.", "9 backup codes left")
	d.screenshot("signed-in-with-backup-code")

	d.open("/settings/security/two-factor")
	d.wantText("codes left", "#codes-left", "9 backup codes left.")
	d.screenshot("nine-left")

	// New codes replace the whole set. Signing in has just opened the
	// session's sudo window: nothing more is asked.
	d.press(`form[action="/settings/security/two-factor/backup-codes"] button`)
	d.wantText("regenerate", "main h1", "Your new backup codes")
	fresh := d.texts("#backup-codes li code")
	if len(fresh) != 10 {
		d.fatalf("regenerate: %d codes shown, want 10", len(fresh))
	}
	for _, c := range fresh {
		if slices.Contains(codes, c) {
			d.fatalf("regenerate: new code %s was in the old set", c)
		}
	}
	d.screenshot("new-codes")
	d.press(`form[data-codes-saved] button`)
	d.wantText("after regenerate", "#codes-left", "10 backup codes left.")

	d.press(`form[action="/settings/security/two-factor/disable"] button`)
	d.wantPath("disable", "/settings/security/two-factor")
	d.wantText("disable", "p.flash", "Two-factor authentication is off.")
	d.wantText("disable", "p.status", "Two-factor authentication is off.")
	d.wantText("disable", "main", "Install an authenticator app")
	d.screenshot("disabled")

	// Off: the password alone signs in again.
	d.signOut()
	d.signIn(journeyEmail, journeyPassword)
	d.wantPath("2FA off", "/settings/security")
}

// TestBrowserAuditJourney: a small story, then the audit page
// tells it newest first, filters it, and exports it as CSV.
func TestBrowserAuditJourney(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "audit")
	laptop := b.device("device 1")
	laptop.signUp(journeyEmail, journeyPassword)

	phone := b.newDevice("device 2")
	if st := phone.signIn(journeyEmail, "not my password at all"); st != 401 {
		phone.fatalf("wrong password: status %d, want 401", st)
	}
	phone.wantText("wrong password", "#password-error", "The email or password is incorrect.")
	phone.signIn(journeyEmail, journeyPassword)
	phone.wantPath("device 2 signs in", "/settings/security")

	laptop.open("/settings/security/sessions")
	laptop.press("li.session:not(.session-current) .session-end button")
	laptop.wantText("end device 2", "p.flash", "Session ended")

	laptop.open("/settings/security/password")
	laptop.fill("#current_password", journeyPassword)
	laptop.fill("#new_password", journeyNewPass)
	laptop.fill("#new_password_confirmation", journeyNewPass)
	laptop.press(`form[action="/settings/security/password"] button[type="submit"]`)
	laptop.wantText("change password", "p.flash", "Password changed.")

	laptop.open("/settings/security/audit")
	laptop.wantText("audit page", "main h1", "Audit log")
	sentences := laptop.texts("ol.events li.event .sentence")
	story := []string{ // newest first
		"Password changed",
		"Session on ", // which one: its device and address
		"Signed in from ",
		"Failed sign-in: wrong password", // no "Failed" badge before a sentence that says it
		"Signed in from ",
		"Account created",
	}
	if idx := indexInOrder(sentences, story); slices.Contains(idx, -1) {
		laptop.fatalf("audit page: the story is not told newest first.\nwant, in order: %q\ngot: %q (matched at %v)", story, sentences, idx)
	}
	if len(sentences) != len(story) {
		laptop.fatalf("audit page: %d events, want %d: %q", len(sentences), len(story), sentences)
	}
	// Failures are marked, and only failures.
	failed := laptop.texts("ol.events li.event-failed .sentence")
	if len(failed) != 1 || !strings.Contains(failed[0], "wrong password") || laptop.count("li.event-failed .badge") != 0 {
		laptop.fatalf("audit page: failed events marked %q, want the one wrong password", failed)
	}
	for _, meta := range laptop.texts("ol.events li.event .meta") {
		if !strings.Contains(meta, "127.0.0.1") || !strings.Contains(meta, "ago") && !strings.Contains(meta, "just now") {
			laptop.fatalf("audit page: event details %q lack the address or the time", meta)
		}
	}
	laptop.screenshot("story")

	// The whole log as CSV, from the page's link.
	name, body := laptop.download(`a[href="/settings/security/audit/export?format=csv"]`)
	rows := readCSV(t, body)
	if name != "keyward-audit.csv" || len(rows) != 1+len(story) {
		t.Fatalf("CSV export %q: %d rows, want a header and %d events:\n%s", name, len(rows), len(story), body)
	}
	var types []string
	for _, r := range rows[1:] {
		types = append(types, r[2])
		if r[5] != "127.0.0.1" || !strings.Contains(r[6], "Chrome") {
			t.Errorf("CSV row %q: want ip 127.0.0.1 and the browser's user agent", r)
		}
	}
	wantTypes := []string{"password.changed", "session.revoked", "signin.succeeded", "signin.failed", "signin.succeeded", "account.created"}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("CSV event types %q, want newest first %q", types, wantTypes)
	}

	// Filter by type: only the failure.
	laptop.choose("#type", "signin.failed")
	laptop.press(`form.filters button[type="submit"]`)
	if p := laptop.path(); !strings.Contains(p, "type=signin.failed") {
		laptop.fatalf("filter: the page is %s, want the filter in its address", p)
	}
	filtered := laptop.texts("ol.events li.event .sentence")
	if len(filtered) != 1 || laptop.count("ol.events li.event-failed") != 1 || !strings.Contains(filtered[0], "Failed sign-in: wrong password") {
		laptop.fatalf("filtered: events %q, want only the failed sign-in", filtered)
	}
	if got := laptop.value("#type"); got != "signin.failed" {
		laptop.fatalf("filtered: the select shows %q, want signin.failed", got)
	}
	laptop.wantText("filtered", "p.export", "the filtered events")
	laptop.screenshot("filtered")

	name, body = laptop.download(`p.export a[href*="format=csv"]`)
	rows = readCSV(t, body)
	if name != "keyward-audit.csv" || len(rows) != 2 || rows[1][2] != "signin.failed" || rows[1][3] != "failure" {
		t.Fatalf("filtered CSV export %q: want a header and the one signin.failed row, got:\n%s", name, body)
	}
}

// readCSV parses an export and checks its header.
func readCSV(t testing.TB, body []byte) [][]string {
	t.Helper()
	if !bytes.Contains(body, []byte("\r\n")) {
		t.Errorf("CSV rows do not end with CRLF (RFC 4180)")
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, body)
	}
	want := []string{"id", "time", "type", "outcome", "reason", "ip", "user_agent", "browser", "os", "device_type", "session_id", "actor", "details"}
	if len(rows) == 0 || !slices.Equal(rows[0], want) {
		t.Fatalf("CSV header %q, want %q", rows, want)
	}
	return rows
}

// countOf is how many of texts are exactly s.
func countOf(texts []string, s string) int {
	n := 0
	for _, x := range texts {
		if x == s {
			n++
		}
	}
	return n
}

// TestBrowserBranding: in a real browser, under the real
// Content-Security-Policy, the product name titles the page, the settings
// page links back to the application, and the accent colour applies.
func TestBrowserBranding(t *testing.T) {
	app, _ := url.Parse("https://app.example.com/home")
	site := newBrowserSiteWith(t, web.Config{ProductName: `Acme "Cloud"`, AppURL: app, AccentColor: "#0a7"})
	b := startBrowser(t, site, "branding")
	d := b.device("device 1")
	d.signUp(journeyEmail, journeyPassword)

	d.open("/settings/security")
	if got, want := d.pollScript("title", `document.title`), `Security · Acme "Cloud"`; got != want {
		d.fatalf("title = %q, want %q", got, want)
	}
	d.wantText("back link", "p.back a", `Back to Acme "Cloud"`)
	if got := d.attr("p.back a", "href"); got != "https://app.example.com/home" {
		d.fatalf("back link href = %q", got)
	}
	// The accent reaches the computed style only if brand.css loaded, which
	// the CSP allows as a same-origin stylesheet.
	if got := d.pollScript("accent", `getComputedStyle(document.querySelector("p.back a")).color`); got != "rgb(0, 170, 119)" {
		d.fatalf("back link colour = %q, want the accent rgb(0, 170, 119)", got)
	}
	d.screenshot("settings")
}
