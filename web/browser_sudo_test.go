package web_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
)

// TestBrowserSudoJourney: sign in, let the sudo window close (the service's
// clock moves; nothing sleeps), start the two-factor setup and be sent to
// confirm it is you, give the password, come back to the setup, confirm it
// with a code from oathtool, and generate new backup codes with no password
// field anywhere. Later, outside the window again, confirm with a code.
func TestBrowserSudoJourney(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	clock := keywardtest.NewClock(time.Now().UTC())
	site := newBrowserSiteAt(t, clock)
	b := startBrowser(t, site, "sudo")
	d := b.device("device 1")
	window := keyward.DefaultConfig().SudoWindow
	d.signUp(journeyEmail, journeyPassword)

	clock.Advance(window + time.Minute)
	d.open("/settings/security/two-factor")
	d.wantText("2FA page", "#sudo-note", "confirm it is you first")
	if n := d.count(`input[type="password"]`); n != 0 {
		d.fatalf("the two-factor page has %d password fields, want none", n)
	}
	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	d.wantPath("sent to confirm", "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	d.wantText("sudo page", "main h1", "Confirm it is you")
	if got := d.value(`input[name="username"][autocomplete="username"]`); got != journeyEmail {
		d.fatalf("the hidden username is %q, want %q", got, journeyEmail)
	}
	d.screenshot("sudo-page")
	d.fill("#password", "not my password")
	if st := d.press(`form[action="/settings/security/confirm"] button[type="submit"]`); st != 403 {
		d.fatalf("wrong password: status %d, want 403", st)
	}
	d.wantText("wrong password", "#password-error", "Your current password is incorrect.")
	d.fill("#password", journeyPassword)
	d.press(`form[action="/settings/security/confirm"] button[type="submit"]`)
	d.wantPath("back", "/settings/security/two-factor")
	d.wantText("back", "p.flash", "You will not be asked again for 10 minutes.")
	if n := d.count("#sudo-note"); n != 0 {
		d.fatalf("back: the page still says it will ask")
	}

	d.press(`form[action="/settings/security/two-factor/setup"] button`)
	d.wantPath("setup", "/settings/security/two-factor#step-2")
	key := strings.Join(strings.Fields(d.text("#manual-key")), "")
	d.fill("#code", oathtoolCode(t, oathtool, key, clock.Now()))
	if st := d.press(`form[action="/settings/security/two-factor/enable"] button`); st != 200 {
		d.fatalf("enable: status %d, want 200", st)
	}
	d.wantText("enable", "main h1", "Two-factor authentication is on")
	first := d.texts("#backup-codes li code")
	d.press(`form[data-codes-saved] button`)

	if n := d.count(`input[type="password"]`); n != 0 {
		d.fatalf("the two-factor page, on, has %d password fields, want none", n)
	}
	d.press(`form[action="/settings/security/two-factor/backup-codes"] button`)
	d.wantText("regenerate", "main h1", "Your new backup codes")
	fresh := d.texts("#backup-codes li code")
	if len(fresh) != 10 || slices.ContainsFunc(fresh, func(c string) bool { return slices.Contains(first, c) }) {
		d.fatalf("regenerate: %q, want ten codes none of which were in %q", fresh, first)
	}
	d.screenshot("regenerated-without-a-password")
	d.press(`form[data-codes-saved] button`)

	// Outside the window again: confirm with a code this time.
	clock.Advance(window + time.Minute)
	d.press(`form[action="/settings/security/two-factor/backup-codes"] button`)
	d.wantPath("sent to confirm again", "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	d.press(`main a[href*="method=code"]`)
	d.wantPath("code form", "/settings/security/confirm?method=code&next="+url.QueryEscape("/settings/security/two-factor"))
	d.fill("#code", oathtoolCode(t, oathtool, key, clock.Now()))
	d.press(`form[action="/settings/security/confirm"] button[type="submit"]`)
	d.wantPath("back with a code", "/settings/security/two-factor")
	d.press(`form[action="/settings/security/two-factor/backup-codes"] button`)
	d.wantText("regenerate after a code", "main h1", "Your new backup codes")
	d.press(`form[data-codes-saved] button`)

	d.open("/settings/security/sessions")
	d.wantText("sessions", "li.session-current", "Password")
	d.open("/settings/security/audit")
	d.wantText("audit", "main", "Confirmed it was you with the password", "Confirmed it was you with an authenticator code")
}
