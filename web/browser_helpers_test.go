package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// The browser journeys drive Debian's Chromium with chromedp against a real
// keyward server (real store, real hashing, the wall clock). The helpers
// here start the parts, time-box each journey, and give each "device" a few
// verbs a person would use: open a page, type into a field, press a button,
// read what is on screen.

const (
	// requireEnv lists the parts whose absence fails a test instead of
	// skipping it, comma-separated: "browser", "oathtool", ...
	requireEnv = "KEYWARD_TEST_REQUIRE"
	// screenshotsEnv is the folder the journeys save their PNGs to.
	screenshotsEnv = "KEYWARD_TEST_SCREENSHOTS"
	// journeyTimeout bounds one journey, browser start included, so a hang
	// fails the test instead of blocking CI.
	journeyTimeout = 60 * time.Second
	// stepTimeout bounds one action (a page load, a click, some typing),
	// so a hang names its step instead of using up the journey's time.
	stepTimeout = 15 * time.Second
	// pollTimeout bounds a wait for something a script changes on a page.
	pollTimeout = 10 * time.Second
)

// partRequired reports whether KEYWARD_TEST_REQUIRE names part.
func partRequired(part string) bool {
	for p := range strings.SplitSeq(os.Getenv(requireEnv), ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

// missingPart skips the test, or fails it when the part is required.
func missingPart(t testing.TB, part, why string) {
	t.Helper()
	if partRequired(part) {
		t.Fatalf("%s is required (%s=%q) but %s", part, requireEnv, os.Getenv(requireEnv), why)
	}
	t.Skipf("skipping: %s (set %s=%s to make this a failure)", why, requireEnv, part)
}

// lookTool finds the first of names on PATH, or skips (or fails) for part.
func lookTool(t testing.TB, part string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	missingPart(t, part, fmt.Sprintf("none of %v is installed", names))
	return ""
}

// browserSite is keyward served over HTTP on a fresh store, on the wall
// clock: the browser judges cookie expiry, and TOTP codes come from real time.
type browserSite struct {
	env *keywardtest.Env
	url string
}

func newBrowserSite(t testing.TB) *browserSite {
	t.Helper()
	return newBrowserSiteWith(t, web.Config{})
}

// newBrowserSiteWith is newBrowserSite with the web layer's configuration.
func newBrowserSiteWith(t testing.TB, wcfg web.Config) *browserSite {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{RealTime: true})
	h, err := web.New(env.Svc, wcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The pages' scripts call the API: their answers are held to the
	// OpenAPI document too (contract_test.go).
	srv := httptest.NewServer(checkedUnder(t, h, wcfg.BasePath))
	t.Cleanup(srv.Close)
	return &browserSite{env: env, url: srv.URL}
}

// newBrowserSiteAt is newBrowserSite on a clock the test moves: the
// service's rules (the sudo window, TOTP) read it, while the browser keeps
// judging its cookies by the wall clock, from which the test clock starts.
func newBrowserSiteAt(t testing.TB, clock *keywardtest.Clock) *browserSite {
	t.Helper()
	env := keywardtest.New(t, keywardtest.Options{Clock: clock})
	h, err := web.New(env.Svc, web.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(checked(t, h))
	t.Cleanup(srv.Close)
	return &browserSite{env: env, url: srv.URL}
}

// browserRun is one headless Chromium for one journey.
type browserRun struct {
	t       testing.TB
	site    *browserSite
	journey string // prefix of the screenshot names
	shots   string // folder for screenshots; "" saves none
	shotN   int
	first   context.Context // the first tab, in the default browser context
	trail   []string        // the steps so far, "device: step", for failures
}

// startBrowser starts Chromium for journey (skipping or failing when it is
// missing) with the whole journey time-boxed by journeyTimeout. extra adds
// command-line options (host mapping, certificates) to the usual ones.
func startBrowser(t testing.TB, site *browserSite, journey string, extra ...chromedp.ExecAllocatorOption) *browserRun {
	t.Helper()
	return startBrowserWithin(t, site, journey, journeyTimeout, extra...)
}

// startBrowserWithin is startBrowser for a journey longer than most,
// time-boxed by limit.
func startBrowserWithin(t testing.TB, site *browserSite, journey string, limit time.Duration, extra ...chromedp.ExecAllocatorOption) *browserRun {
	t.Helper()
	exe := lookTool(t, "browser", "chromium", "chromium-browser")
	dir := browserProfileDir(t)

	timed, cancelTime := context.WithTimeout(context.Background(), limit)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timed, opts...)
	first, cancelFirst := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelFirst() // closes the browser and waits for it
		cancelAlloc()
		cancelTime()
	})
	if err := startWithin(first, stepTimeout); err != nil {
		missingPart(t, "browser", fmt.Sprintf("%s did not start: %v", exe, err))
	}

	b := &browserRun{t: t, site: site, journey: journey, first: first, shots: os.Getenv(screenshotsEnv)}
	if b.shots != "" {
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatalf("screenshots folder: %v", err)
		}
	}
	return b
}

// browserProfileDir is a fresh --user-data-dir. Chromium's helper
// processes can still write in it for a moment after the browser exits, so
// its removal is retried (t.TempDir's is not, outside Windows).
func browserProfileDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "keyward-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if err := os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s", dir)
	})
	return dir
}

// device is the browser's first tab: device 1.
func (b *browserRun) device(name string) *device {
	return &device{b: b, t: b.t, ctx: b.first, name: name}
}

// newDevice is another device: a tab in a browser context of its own, so
// it shares no cookies with the others (like an incognito window).
func (b *browserRun) newDevice(name string) *device {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.first, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := startWithin(ctx, stepTimeout); err != nil {
		b.t.Fatalf("%s: opening a tab in a new browser context: %v", name, err)
	}
	return &device{b: b, t: b.t, ctx: ctx, name: name}
}

// startWithin starts ctx's browser or tab, giving up after d. The first Run
// of a context binds the browser's or tab's life to that context, so it
// cannot take a shorter-lived one: the wait is bounded from outside.
func startWithin(ctx context.Context, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("no answer within %v", d)
	}
}

// device is one tab, with its own cookies: one of a person's devices.
type device struct {
	b    *browserRun
	t    testing.TB
	ctx  context.Context
	name string
}

// act runs one action on the device within stepTimeout, failing the
// journey with the step's name if it errs.
func act[T any](d *device, step string, a chromedp.Action[T]) T {
	d.t.Helper()
	d.b.trail = append(d.b.trail, d.name+": "+step)
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	d.check(step, err)
	return v
}

// fatalf fails the journey with the last steps taken and what the page
// shows, and saves a screenshot of it.
func (d *device) fatalf(format string, args ...any) {
	d.t.Helper()
	msg := fmt.Sprintf(format, args...)
	trail := d.b.trail[max(0, len(d.b.trail)-8):]
	msg += "\n--- last steps:\n\t" + strings.Join(trail, "\n\t")
	if d.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
		defer cancel()
		txt, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		if err == nil {
			if len(txt) > 1500 {
				txt = txt[:1500] + "…"
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			msg += "\n--- " + d.name + " shows " + strings.TrimPrefix(loc, d.b.site.url) + ":\n" + txt
		}
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			d.savePNG("failed", png)
		}
	}
	d.t.Fatalf("%s: %s", d.name, msg)
}

// check fails the journey on err, naming the step.
func (d *device) check(step string, err error) {
	d.t.Helper()
	if err != nil {
		d.fatalf("%s: %v", step, err)
	}
}

// open loads path and returns the final response's status (after redirects).
func (d *device) open(path string) int64 {
	d.t.Helper()
	return act(d, "open "+path, chromedp.NavigateResponse(d.b.site.url+path)).Status
}

// press clicks the element that css selects (a button or a link) and waits
// for the page it leads to; it returns that page's status.
func (d *device) press(css string) int64 {
	d.t.Helper()
	d.mustHave(css)
	d.b.trail = append(d.b.trail, d.name+": press "+css)
	ctx, cancel := context.WithTimeout(d.ctx, stepTimeout)
	defer cancel()
	// A DOM click, not a mouse click at coordinates: the strength meter can
	// shift the layout between measuring a button and clicking it, and a
	// click at stale coordinates lands on nothing (seen on a loaded machine).
	click := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).click(), true)`, css))(ctx, t)
		return err
	})
	resp, err := chromedp.RunResponse(ctx, click)
	d.check("press "+css, err)
	return resp.Status
}

// fill types value into the field that css selects, key by key, replacing
// what was there.
func (d *device) fill(css, value string) {
	d.t.Helper()
	d.mustHave(css)
	// chromedp's SetValue(sel, "") fails ("could not set value"): the empty
	// string does not reach the page, so the field is emptied here.
	act(d, "fill "+css, chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`(e => { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); })(document.querySelector(`+jsString(css)+`))`),
		chromedp.SendKeys(chromedp.CSS(css), value),
	))
}

// choose picks value in the select that css selects.
func (d *device) choose(css, value string) {
	d.t.Helper()
	d.mustHave(css)
	act(d, "choose "+css, chromedp.SetValue(chromedp.CSS(css), value))
}

// path is the page's path and query (and fragment), as the address bar shows.
func (d *device) path() string {
	d.t.Helper()
	return strings.TrimPrefix(act(d, "location", chromedp.Location()), d.b.site.url)
}

// wantPath fails unless the page is at want (path, query and fragment).
func (d *device) wantPath(step, want string) {
	d.t.Helper()
	if got := d.path(); got != want {
		d.fatalf("%s: the page is %s, want %s", step, got, want)
	}
}

// texts is the visible text of every element that css selects, in page
// order. It does not wait: the pages are rendered by the server, so what a
// page shows is there when it has loaded.
func (d *device) texts(css string) []string {
	d.t.Helper()
	return act(d, "read "+css, chromedp.Evaluate[[]string](fmt.Sprintf(
		`Array.from(document.querySelectorAll(%s), e => e.innerText.trim())`, jsString(css))))
}

// count is how many elements css selects.
func (d *device) count(css string) int {
	d.t.Helper()
	return len(d.texts(css))
}

// text is the visible text of the one element css selects.
func (d *device) text(css string) string {
	d.t.Helper()
	all := d.texts(css)
	if len(all) != 1 {
		d.fatalf("%d elements match %s, want 1: %q", len(all), css, all)
	}
	return all[0]
}

// mustHave fails unless css selects something. Actions that wait for an
// element would otherwise wait for the journey's timeout.
func (d *device) mustHave(css string) {
	d.t.Helper()
	if d.count(css) == 0 {
		d.fatalf("nothing on the page matches %s", css)
	}
}

// attr is the attribute name of the one element css selects ("" when unset).
func (d *device) attr(css, name string) string {
	d.t.Helper()
	d.text(css) // exactly one
	return act(d, "attribute "+name+" of "+css, chromedp.Evaluate[string](fmt.Sprintf(
		`document.querySelector(%s).getAttribute(%s) || ""`, jsString(css), jsString(name))))
}

// wantText fails unless the one element css selects shows every part.
func (d *device) wantText(step, css string, parts ...string) string {
	d.t.Helper()
	got := d.text(css)
	for _, p := range parts {
		if !strings.Contains(got, p) {
			d.fatalf("%s: %s shows %q, want it to contain %q", step, css, got, p)
		}
	}
	return got
}

// value is the current value of the one form control css selects.
func (d *device) value(css string) string {
	d.t.Helper()
	d.text(css) // exactly one
	return act(d, "value of "+css, chromedp.Evaluate[string](`document.querySelector(`+jsString(css)+`).value`))
}

// screenshot saves a full-page PNG as "<journey>-NN-<step>.png" when
// KEYWARD_TEST_SCREENSHOTS names a folder.
func (d *device) screenshot(step string) {
	d.t.Helper()
	if d.b.shots == "" {
		return
	}
	d.savePNG(step, act(d, "screenshot "+step, chromedp.FullScreenshot(100)))
}

func (d *device) savePNG(step string, png []byte) {
	d.t.Helper()
	if d.b.shots == "" {
		return
	}
	d.b.shotN++
	name := fmt.Sprintf("%s-%02d-%s.png", d.b.journey, d.b.shotN, step)
	if err := os.WriteFile(filepath.Join(d.b.shots, name), png, 0o644); err != nil {
		d.t.Errorf("%s: saving %s: %v", d.name, name, err)
	}
}

// A person's moves that several journeys share.

// signUp creates the account on /signup and lands signed in.
func (d *device) signUp(email, password string) {
	d.t.Helper()
	d.open("/signup")
	d.fill("#email", email)
	d.fill("#password", password)
	d.fill("#password_confirmation", password)
	d.press(`form[action="/signup"] button[type="submit"]`)
	d.wantPath("sign-up", "/settings/security")
	d.wantText("sign-up", "p.flash", "Your account is ready")
	d.wantText("sign-up", "header .who", email)
}

// signIn submits the sign-in form on /signin and returns the status of the
// page it leads to.
func (d *device) signIn(email, password string) int64 {
	d.t.Helper()
	if !strings.HasPrefix(d.path(), "/signin") {
		d.open("/signin")
	}
	d.fill("#email", email)
	d.fill("#password", password)
	return d.press(`form[action="/signin"] button[type="submit"]`)
}

// signOut presses the header's Sign out button.
func (d *device) signOut() {
	d.t.Helper()
	d.press(`header form[action="/signout"] button`)
	d.wantPath("sign out", "/signin")
	d.wantText("sign out", "p.flash", "You are signed out.")
	if n := d.count("header .who"); n != 0 {
		d.fatalf("sign out: the header still shows who is signed in")
	}
}

// pollScript waits until the JavaScript expression is truthy and returns it.
func (d *device) pollScript(step, expr string) string {
	d.t.Helper()
	return act(d, step, chromedp.Poll[string](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(pollTimeout)))
}

// download clicks the link that css selects with downloads allowed into a
// fresh folder and returns the file's name (as the server suggested) and
// contents. Downloads go to the default browser context, so d must be the
// browser's first device.
func (d *device) download(css string) (name string, body []byte) {
	d.t.Helper()
	if d.ctx != d.b.first {
		d.fatalf("download works on the first device only")
	}
	d.mustHave(css)
	dir := d.t.TempDir()
	d.b.trail = append(d.b.trail, d.name+": download "+css)
	_, err := chromedp.CallBrowser(d.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
		DownloadPath:  dir,
		EventsEnabled: new(true),
	})
	d.check("allow downloads", err)

	ctx, cancel := context.WithTimeout(d.ctx, pollTimeout)
	defer cancel()
	begin := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	act(d, "click "+css, chromedp.Click(chromedp.CSS(css)))

	var guid string
	for ev, err := range begin {
		d.check("waiting for the download to begin", err)
		guid, name = ev.GUID, ev.SuggestedFilename
		break
	}
	if guid == "" {
		d.fatalf("clicking %s started no download", css)
	}
	completed := false
	for ev, err := range progress {
		d.check("waiting for the download", err)
		if ev.GUID != guid {
			continue
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			d.fatalf("the download of %s was canceled", name)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			completed = true
			break
		}
	}
	if !completed {
		d.fatalf("the download of %s did not complete", name)
	}
	// allowAndName saves the file under its guid.
	body, err = os.ReadFile(filepath.Join(dir, guid))
	d.check("reading the downloaded "+name, err)
	return name, body
}

// oathtoolCode is the TOTP code for the base32 key at time at, made by
// oathtool (oath-toolkit): an authenticator that keyward did not write.
func oathtoolCode(t testing.TB, exe, key string, at time.Time) string {
	t.Helper()
	out, err := exec.Command(exe, "--totp", "-b", "-N", "@"+strconv.FormatInt(at.Unix(), 10), key).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v\n%s", err, out)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q, want a 6-digit code", code)
	}
	return code
}

// dataURLText decodes a "data:text/plain;charset=utf-8,<percent-encoded>" URL.
func dataURLText(t testing.TB, href string) string {
	t.Helper()
	meta, data, ok := strings.Cut(href, ",")
	if !ok || !strings.HasPrefix(meta, "data:text/plain") || strings.Contains(meta, ";base64") {
		t.Fatalf("href %.80q is not a plain-text data: URL", href)
	}
	text, err := url.PathUnescape(data)
	if err != nil {
		t.Fatalf("data: URL does not decode: %v", err)
	}
	return text
}

// indexInOrder finds, for each want, the first text at or after the
// previous match that starts with it; -1 marks one not found in order.
func indexInOrder(texts, wants []string) []int {
	idx := make([]int, len(wants))
	from := 0
	for i, w := range wants {
		idx[i] = -1
		if j := slices.IndexFunc(texts[min(from, len(texts)):], func(s string) bool { return strings.HasPrefix(s, w) }); j >= 0 {
			idx[i] = from + j
			from += j + 1
		}
	}
	return idx
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
