package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// The passkey journeys run Chromium with the virtual authenticators of
// the DevTools protocol (WebAuthn.enable, WebAuthn.addVirtualAuthenticator).
// WebAuthn needs a secure context and a domain name for the relying party:
// the sites are served on the loopback address and opened as
// http://localhost:PORT, which browsers treat as secure, with the relying
// party id "localhost" (an IP address is no relying party id).

// listenLocalhost listens on the loopback address and returns the
// listener and the origin a browser opens it at.
func listenLocalhost(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
}

// passkeyConfig is the service configuration of a site at origin.
func passkeyConfig(origin string) keyward.Config {
	cfg := keyward.DefaultConfig()
	cfg.PasskeyOrigin = origin
	return cfg
}

// newPasskeySite is a browser site whose passkeys are made for
// http://localhost:PORT, on the wall clock.
func newPasskeySite(t testing.TB) *browserSite { t.Helper(); return newPasskeySiteAt(t, nil) }

// newPasskeySiteAt is newPasskeySite on clock (nil: the wall clock).
func newPasskeySiteAt(t testing.TB, clock *keywardtest.Clock) *browserSite {
	t.Helper()
	ln, origin := listenLocalhost(t)
	env := keywardtest.New(t, keywardtest.Options{RealTime: clock == nil, Clock: clock, Config: passkeyConfig(origin)})
	public, _ := url.Parse(origin)
	h, err := web.New(env.Svc, web.Config{PublicURL: public}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The passkey script's calls are held to the OpenAPI document too.
	srv := httptest.NewUnstartedServer(checked(t, h))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &browserSite{env: env, url: origin}
}

// authenticator is a virtual authenticator on a device's tab.
type authenticator struct {
	d  *device
	id webauthn.AuthenticatorID
}

// passkeyDevice is a platform authenticator that verifies its user (a
// laptop's fingerprint reader): the CDP options the contract names.
var passkeyDevice = webauthn.VirtualAuthenticatorOptions{
	Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
	HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
}

// addAuthenticator plugs a virtual authenticator into the device's tab.
func (d *device) addAuthenticator(o webauthn.VirtualAuthenticatorOptions) *authenticator {
	d.t.Helper()
	act(d, "enable WebAuthn", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{})
		return err
	}))
	id := act(d, "add a virtual authenticator", chromedp.Action[webauthn.AuthenticatorID](func(ctx context.Context, _ *chromedp.Target) (webauthn.AuthenticatorID, error) {
		res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &o})
		return res.AuthenticatorID, err
	}))
	return &authenticator{d: d, id: id}
}

// remove unplugs it.
func (a *authenticator) remove() {
	a.d.t.Helper()
	act(a.d, "remove a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: a.id})
		return err
	}))
}

// credentials counts the passkeys it holds.
func (a *authenticator) credentials() int {
	a.d.t.Helper()
	return act(a.d, "list the authenticator's credentials", chromedp.Action[int](func(ctx context.Context, _ *chromedp.Target) (int, error) {
		res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id})
		return len(res.Credentials), err
	}))
}

// reportNoUserVerification makes the authenticator answer without the
// user-verified flag, as one that did not check who holds it.
func (a *authenticator) reportNoUserVerification() {
	a.d.t.Helper()
	act(a.d, "answer without user verification", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: a.id, IsBadUV: new(true)})
		return err
	}))
}

// withoutAutofill hides the browser's offer of passkeys in the email
// field's autofill (conditional mediation) from the pages until the
// returned func is called: a virtual authenticator answers such an offer
// at once, signing in before any button can be pressed.
func (d *device) withoutAutofill() (restore func()) {
	d.t.Helper()
	id := act(d, "turn off passkey autofill", chromedp.Action[page.ScriptIdentifier](func(ctx context.Context, _ *chromedp.Target) (page.ScriptIdentifier, error) {
		res, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `if (window.PublicKeyCredential) { PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false); }`,
		})
		return res.Identifier, err
	}))
	return func() {
		act(d, "turn passkey autofill back on", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: id})
			return err
		}))
	}
}

// waitPath waits until the page is at want, loaded.
func (d *device) waitPath(step, want string) {
	d.t.Helper()
	d.waitFor(step, `document.readyState === "complete" && location.pathname + location.search === `+jsString(want)+` ? "yes" : ""`)
}

// session is what the API says of the device's current session.
func (d *device) session() (aal int, email string) {
	d.t.Helper()
	v := act(d, "read the current session", chromedp.Evaluate[[]any](
		`fetch('/api/v1/sessions/current').then(r => r.json()).then(j => [j.session.aal, j.account.email])`, chromedp.EvalAwaitPromise))
	if len(v) != 2 {
		d.fatalf("current session: %v", v)
	}
	n, _ := v[0].(float64)
	s, _ := v[1].(string)
	return int(n), s
}

// waitShown waits until the script has unhidden what css selects.
func (d *device) waitShown(step, css string) {
	d.t.Helper()
	d.waitFor(step, `(e => e && !e.hidden ? "yes" : "")(document.querySelector(`+jsString(css)+`))`)
}

// waitFor waits until the expression gives "yes". Unlike pollScript it
// outlives the page it started on: a script may take the tab through
// pages that come and go meanwhile.
func (d *device) waitFor(step, expr string) {
	d.t.Helper()
	d.b.trail = append(d.b.trail, d.name+": "+step)
	deadline := time.Now().Add(pollTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(d.ctx, time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil && got == "yes" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.fatalf("%s: still waiting after %v", step, pollTimeout)
}

// addPasskeyOnPage names and adds a passkey on the two-factor page.
func (d *device) addPasskeyOnPage(name string) {
	d.t.Helper()
	d.open("/settings/security/two-factor")
	d.waitShown("the add form shows", `#passkey-add`)
	d.fill("#passkey-name", name)
	d.press(`#passkey-add button[type="submit"]`)
}

// TestBrowserPasskeyJourney: a passkey is added on the page (turning
// two-factor on, with its backup codes), signs in without a password,
// then as the second step after the password, and is removed, which
// turns two-factor off after the page asked to confirm.
func TestBrowserPasskeyJourney(t *testing.T) {
	site := newPasskeySite(t)
	b := startBrowser(t, site, "passkeys")
	d := b.device("laptop")
	d.signUp(journeyEmail, journeyPassword)
	laptop := d.addAuthenticator(passkeyDevice)

	d.open("/settings/security/two-factor")
	d.wantText("2FA page", "#passkeys", "Passkeys and security keys", "Adding one turns on two-factor authentication", "You have no passkeys yet.")
	d.screenshot("no-passkeys")
	d.addPasskeyOnPage("Work laptop")
	d.wantText("passkey added", "main h1", "Two-factor authentication is on")
	if n := d.count("#backup-codes li"); n != 10 {
		d.fatalf("a first passkey showed %d backup codes, want 10", n)
	}
	if laptop.credentials() != 1 {
		d.fatalf("the authenticator holds no passkey")
	}
	d.screenshot("passkey-codes")
	d.press(`form[data-codes-saved] button`)
	d.wantText("listed", "#passkeys .passkey-name", "Work laptop")
	d.wantText("listed", "#passkeys .passkey-times", "Added", "Never used to sign in")
	d.wantText("status", "#passkeys-on", "Two-factor authentication is on with your passkeys.")
	if aal, _ := d.session(); aal != 2 {
		d.fatalf("the session that added the passkey has aal %d, want 2", aal)
	}
	d.screenshot("passkey-listed")

	// Without a password: the button.
	autofill := d.withoutAutofill()
	d.signOut()
	if got := d.attr("#email", "autocomplete"); got != "username webauthn" {
		d.fatalf("the email field's autocomplete is %q, want conditional UI's", got)
	}
	d.waitShown("the passkey button shows", `[data-passkey-signin]`)
	d.screenshot("signin-with-passkey")
	d.press("#passkey-signin")
	d.wantPath("passkey sign-in", "/settings/security")
	if aal, email := d.session(); aal != 2 || email != journeyEmail {
		d.fatalf("signed in without a password: aal %d as %q, want aal 2 as %s", aal, email, journeyEmail)
	}
	d.open("/settings/security/sessions")
	d.wantText("sessions page", ".session-current .facts", "Signed in with\nPasskey")

	// As the second step after the password.
	d.signOut()
	d.signIn(journeyEmail, journeyPassword)
	d.wantPath("second step", "/signin/2fa?next=%2Fsettings%2Fsecurity")
	d.wantText("second step", `label[for="code"]`, "Backup code")
	d.waitShown("the passkey step shows", `[data-passkey-signin]`)
	d.screenshot("second-step")
	d.press("#passkey-second-step")
	d.wantPath("second step with a passkey", "/settings/security")
	if aal, _ := d.session(); aal != 2 {
		d.fatalf("second step with a passkey: aal %d, want 2", aal)
	}
	d.open("/settings/security/sessions")
	d.wantText("sessions page", ".session-current .facts", "Signed in with\nPassword + passkey")
	d.open("/settings/security/two-factor")
	d.wantText("used", "#passkeys .passkey-times", "Last used")

	// Without a password: the passkey offered in the email field's
	// autofill, which the virtual authenticator takes at once.
	autofill()
	d.press(`header form[action="/signout"] button`)
	d.waitPath("signed in by autofill", "/settings/security")
	if aal, email := d.session(); aal != 2 || email != journeyEmail {
		d.fatalf("signed in by autofill: aal %d as %q", aal, email)
	}
	autofill = d.withoutAutofill()
	defer autofill()

	// Rename, then remove: the last factor asks first.
	d.open("/settings/security/two-factor")
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.fill(`form.passkey-rename input[name="name"]`, "Old laptop")
	d.press(`form.passkey-rename button`)
	d.wantText("renamed", "p.flash", "Passkey renamed to \u201cOld laptop\u201d.")
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.press(`form.passkey-remove button`)
	d.wantText("confirm", "#confirm-remove", "Remove \u201cOld laptop\u201d and turn off two-factor authentication?")
	d.screenshot("confirm-remove")
	d.press(`#confirm-remove button[type="submit"]`)
	d.wantText("removed", "p.flash", "Passkey removed. Two-factor authentication is off")
	d.wantText("removed", "#no-passkeys", "You have no passkeys yet.")
	d.signOut()
	d.signIn(journeyEmail, journeyPassword)
	d.wantPath("2FA off", "/settings/security")
}

// TestBrowserPasskeyWithoutUserVerification shows the aal rule: an
// authenticator that cannot verify its user still gives aal 2 as the
// second step (the password came first); a sign-in without a password
// whose authenticator did not verify the user gives aal 1, and that
// session changes no factor. Chromium offers no discoverable passkey of a
// platform authenticator that cannot verify its user, so the sign-in
// without a password uses one that answers without the user-verified flag.
func TestBrowserPasskeyWithoutUserVerification(t *testing.T) {
	site := newPasskeySite(t)
	b := startBrowser(t, site, "passkeys-no-uv")
	d := b.device("laptop")
	d.withoutAutofill()
	d.signUp(journeyEmail, journeyPassword)

	key := d.addAuthenticator(webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: false, AutomaticPresenceSimulation: true,
	})
	d.addPasskeyOnPage("No PIN")
	d.wantText("passkey added", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`)
	d.signOut()
	d.signIn(journeyEmail, journeyPassword)
	d.waitShown("the passkey step shows", `[data-passkey-signin]`)
	d.press("#passkey-second-step")
	d.wantPath("second step without user verification", "/settings/security")
	if aal, _ := d.session(); aal != 2 {
		d.fatalf("password, then a passkey without user verification: aal %d, want 2", aal)
	}
	key.remove()

	phone := d.addAuthenticator(passkeyDevice)
	d.addPasskeyOnPage("Phone")
	d.wantText("second passkey", "p.flash", "Passkey \u201cPhone\u201d added.")
	phone.reportNoUserVerification()
	d.signOut()
	d.waitShown("the passkey button shows", `[data-passkey-signin]`)
	d.press("#passkey-signin")
	d.wantPath("passkey sign-in without user verification", "/settings/security")
	d.wantText("warned", "p.flash", "did not check that it is you")
	if aal, _ := d.session(); aal != 1 {
		d.fatalf("a passkey alone, user not verified: aal %d, want 1", aal)
	}
	// Such a session is not in a sudo window, and the same key does not
	// open one: the password does, and still no factor changes.
	d.open("/settings/security/two-factor")
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.press(`form.passkey-remove button`)
	d.wantPath("sent to confirm", "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	d.waitShown("the passkey is offered", `[data-passkey-signin]`)
	d.press("#passkey-sudo")
	d.wantText("the key alone", "#form-error", "did not check that it is you")
	d.fill("#password", journeyPassword)
	d.press(`form[action="/settings/security/confirm"] button[type="submit"]`)
	d.wantPath("confirmed with the password", "/settings/security/two-factor")
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.press(`form.passkey-remove button`)
	d.wantText("refused", "main", "Sign in again")
	if n := d.count("#passkeys .passkey"); n != 2 {
		d.fatalf("%d passkeys after a one-factor session tried to remove one, want 2", n)
	}
}

// TestBrowserPasskeyAcrossNodes: two keyward nodes on one database behind
// a balancer that sends every ceremony's options to node A and everything
// else to node B: each ceremony is begun on one node and finished on the
// other. With KEYWARD_TEST_ENGINE=postgres the nodes share PostgreSQL.
func TestBrowserPasskeyAcrossNodes(t *testing.T) {
	ln, origin := listenLocalhost(t)
	cfg := passkeyConfig(origin)
	a := keywardtest.New(t, keywardtest.Options{RealTime: true, Config: cfg})
	bEnv := keywardtest.New(t, keywardtest.Options{RealTime: true, Config: cfg, Store: a.Store, Keys: a.Keys})
	public, _ := url.Parse(origin)
	var mu sync.Mutex
	served := map[string][]string{}
	node := func(name string, env *keywardtest.Env) *url.URL {
		h, err := web.New(env.Svc, web.Config{PublicURL: public}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkedH := checked(t, h)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "passkey") {
				mu.Lock()
				served[name] = append(served[name], r.URL.Path)
				mu.Unlock()
			}
			checkedH.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u
	}
	toA, toB := httputil.NewSingleHostReverseProxy(node("A", a)), httputil.NewSingleHostReverseProxy(node("B", bEnv))
	balancer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Host = public.Host // the browser's origin, as a balancer passes it on
		if strings.HasSuffix(r.URL.Path, "/options") {
			toA.ServeHTTP(w, r)
			return
		}
		toB.ServeHTTP(w, r)
	}))
	balancer.Listener.Close()
	balancer.Listener = ln
	balancer.Start()
	t.Cleanup(balancer.Close)

	br := startBrowser(t, &browserSite{env: a, url: origin}, "passkeys-nodes")
	d := br.device("laptop")
	d.withoutAutofill()
	d.signUp(journeyEmail, journeyPassword)
	d.addAuthenticator(passkeyDevice)
	d.addPasskeyOnPage("Laptop")
	d.wantText("passkey added", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`)
	d.signOut()
	d.waitShown("the passkey button shows", `[data-passkey-signin]`)
	d.press("#passkey-signin")
	d.wantPath("passkey sign-in across nodes", "/settings/security")

	mu.Lock()
	defer mu.Unlock()
	wantA := []string{"/api/v1/account/passkeys/options", "/api/v1/sessions/passkey/options"}
	wantB := []string{"/settings/security/two-factor/passkeys", "/signin/passkey"}
	for _, w := range wantA {
		if !slices.Contains(served["A"], w) {
			t.Errorf("node A served %q, want %s among them", served["A"], w)
		}
	}
	for _, w := range wantB {
		if !slices.Contains(served["B"], w) {
			t.Errorf("node B served %q, want %s among them", served["B"], w)
		}
	}
}

// TestBrowserPasskeySudo: adding and removing a passkey are sensitive.
// Outside the sudo window (the service's clock moves), the page's script
// sends the person to confirm it is them before adding one, and back;
// later, removing it asks again, and the passkey itself confirms.
func TestBrowserPasskeySudo(t *testing.T) {
	clock := keywardtest.NewClock(time.Now().UTC())
	site := newPasskeySiteAt(t, clock)
	b := startBrowser(t, site, "passkeys-sudo")
	d := b.device("laptop")
	d.withoutAutofill()
	window := keyward.DefaultConfig().SudoWindow
	d.signUp(journeyEmail, journeyPassword)
	d.addAuthenticator(passkeyDevice)

	clock.Advance(window + time.Minute)
	d.open("/settings/security/two-factor")
	d.waitShown("the add form shows", `#passkey-add`)
	d.fill("#passkey-name", "Laptop")
	act(d, "press add", chromedp.Evaluate[bool](`(document.querySelector('#passkey-add button[type="submit"]').click(), true)`))
	d.waitPath("sent to confirm", "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	if n := d.count("#passkey-sudo"); n != 0 {
		d.fatalf("the sudo page offers a passkey the account does not have")
	}
	d.fill("#password", journeyPassword)
	d.press(`form[action="/settings/security/confirm"] button[type="submit"]`)
	d.wantPath("back", "/settings/security/two-factor")
	d.addPasskeyOnPage("Laptop")
	d.wantText("passkey added", "main h1", "Two-factor authentication is on")
	d.press(`form[data-codes-saved] button`)

	clock.Advance(window + time.Minute)
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.press(`form.passkey-remove button`)
	d.wantPath("sent to confirm again", "/settings/security/confirm?next=%2Fsettings%2Fsecurity%2Ftwo-factor")
	d.waitShown("the passkey is offered", `[data-passkey-signin]`)
	d.screenshot("sudo-with-a-passkey")
	d.press("#passkey-sudo")
	d.wantPath("confirmed with the passkey", "/settings/security/two-factor")
	d.wantText("confirmed", "p.flash", "You will not be asked again for 10 minutes.")
	act(d, "open the passkey's actions", chromedp.Evaluate[bool](`document.querySelector('details.passkey-manage').open = true`))
	d.press(`form.passkey-remove button`)
	d.press(`#confirm-remove button[type="submit"]`)
	d.wantText("removed", "p.flash", "Passkey removed. Two-factor authentication is off")
}
