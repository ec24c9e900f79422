package web_test

import (
	"slices"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserLanguageChooser: the footer's chooser switches the layout's
// language, without JavaScript, and the choice is remembered on the pages
// after it, signed out and signed in, over what the browser asks for,
// until it is changed back.
func TestBrowserLanguageChooser(t *testing.T) {
	site := newBrowserSite(t)
	b := startBrowser(t, site, "language")
	d := b.device("laptop")
	if _, err := chromedp.Call(d.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		d.fatalf("turning JavaScript off: %v", err)
	}
	if _, err := chromedp.Call(d.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
		"Accept-Language": "en-US,en;q=0.9",
	}}); err != nil {
		d.fatalf("asking for English: %v", err)
	}

	d.open("/signin")
	d.wantLang("a browser that asks for English", "en")
	d.wantText("English", "footer .language label", "Language")
	d.wantText("English", "footer .language button", "Change")
	d.screenshot("english")

	d.choose("#language", "uk")
	d.press(`form.language button[type="submit"]`)
	d.wantPath("after choosing Ukrainian", "/signin")
	d.wantLang("after choosing Ukrainian", "uk")
	d.wantText("Ukrainian", "footer .language label", "Мова")
	d.wantText("Ukrainian", "footer .language button", "Змінити")
	if v := d.value("#language"); v != "uk" {
		d.fatalf("the chooser shows %q, want uk", v)
	}
	d.screenshot("ukrainian")

	// Remembered on the next page, and once signed in.
	d.open("/forgot-password")
	d.wantLang("the next page", "uk")
	d.signUp(journeyEmail, journeyPassword)
	d.wantLang("signed in", "uk")
	if tabs := d.texts("nav.tabs a"); !slices.Equal(tabs, []string{"Огляд", "Пароль", "Двофакторна автентифікація", "Сесії", "Журнал подій"}) {
		d.fatalf("the tabs read %q", tabs)
	}
	d.wantText("signed in", `header form[action="/signout"] button`, "Вийти")
	d.screenshot("signed-in-ukrainian")

	// And back to English, on the same page.
	d.open("/settings/security/sessions")
	d.choose("#language", "en")
	d.press(`form.language button[type="submit"]`)
	d.wantPath("after choosing English", "/settings/security/sessions")
	d.wantLang("after choosing English", "en")
	if tabs := d.texts("nav.tabs a"); !slices.Equal(tabs, []string{"Overview", "Password", "Two-factor authentication", "Sessions", "Audit log"}) {
		d.fatalf("the tabs read %q", tabs)
	}
}

// wantLang fails unless the page says it is in lang.
func (d *device) wantLang(step, lang string) {
	d.t.Helper()
	if got := d.attr("html", "lang"); got != lang {
		d.fatalf("%s: <html lang=%q>, want %q", step, got, lang)
	}
}
