package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/totp"
)

// Formatting helpers, in tables.

func TestRelativeTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		ago  time.Duration // negative: in the future
		want string
	}{
		{"same instant", 0, "just now"},
		{"44 seconds", 44 * time.Second, "just now"},
		{"45 seconds", 45 * time.Second, "1 minute ago"},
		{"89 seconds", 89 * time.Second, "1 minute ago"},
		{"90 seconds rounds up", 90 * time.Second, "2 minutes ago"},
		{"2 minutes", 2 * time.Minute, "2 minutes ago"},
		{"44 minutes", 44 * time.Minute, "44 minutes ago"},
		{"45 minutes", 45 * time.Minute, "1 hour ago"},
		{"89 minutes", 89 * time.Minute, "1 hour ago"},
		{"3 hours", 3 * time.Hour, "3 hours ago"},
		{"21 hours", 21 * time.Hour, "21 hours ago"},
		{"22 hours", 22 * time.Hour, "yesterday"},
		{"35 hours", 35 * time.Hour, "yesterday"},
		{"36 hours", 36 * time.Hour, "2 days ago"},
		{"25 days", 25 * 24 * time.Hour, "25 days ago"},
		{"26 days gives the date", 26 * 24 * time.Hour, "on 12 Feb 2026"},
		{"a year", 365 * 24 * time.Hour, "on 10 Mar 2025"},
		{"10 seconds ahead", -10 * time.Second, "just now"},
		{"15 minutes ahead", -15 * time.Minute, "in 15 minutes"},
		{"1 hour ahead", -time.Hour, "in 1 hour"},
		{"30 hours ahead", -30 * time.Hour, "tomorrow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := relativeTime(now.Add(-c.ago), now); got != c.want {
				t.Errorf("relativeTime(now - %v) = %q, want %q", c.ago, got, c.want)
			}
		})
	}
}

func TestTimeView(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	at := time.Date(2026, 3, 10, 13, 58, 0, 0, time.FixedZone("CEST", 2*3600)) // 11:58 UTC
	got := newTimeView(at, now)
	want := timeView{Relative: "2 minutes ago", ISO: "2026-03-10T11:58:00Z", Exact: "10 Mar 2026, 11:58:00 UTC", Text: "10 Mar 2026, 11:58 UTC", Date: "10 March 2026"}
	if got != want {
		t.Errorf("timeView = %+v, want %+v", got, want)
	}
}

func TestBackupCodesLeft(t *testing.T) {
	cases := []struct {
		n    int
		want string
		low  bool
	}{
		{10, "10 backup codes left.", false},
		{4, "4 backup codes left.", false},
		{3, "Only 3 backup codes left — generate new ones.", true},
		{2, "Only 2 backup codes left — generate new ones.", true},
		{1, "Only 1 backup code left — generate new ones.", true},
		{0, "No backup codes left — generate new ones.", true},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.n), func(t *testing.T) {
			got, low := backupCodesLeft(c.n)
			if got != c.want || low != c.low {
				t.Errorf("backupCodesLeft(%d) = %q, %v; want %q, %v", c.n, got, low, c.want, c.low)
			}
		})
	}
}

func TestBackupCodeFlash(t *testing.T) {
	cases := []struct {
		n        int
		contains string
		kind     string
	}{
		{9, "Signed in with a backup code. You have 9 backup codes left.", flashOK},
		{4, "You have 4 backup codes left.", flashOK},
		{3, "You have only 3 backup codes left", flashWarning},
		{1, "You have only 1 backup code left", flashWarning},
		{0, "You have no backup codes left", flashWarning},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.n), func(t *testing.T) {
			text, kind := backupCodeFlash(c.n)
			if !strings.Contains(text, c.contains) || kind != c.kind {
				t.Errorf("backupCodeFlash(%d) = %q, %q; want it to contain %q, kind %q", c.n, text, kind, c.contains, c.kind)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	cases := []struct {
		name, got, want string
	}{
		{"password, 0 revoked", passwordChangedFlash(0, true), "Password changed. There were no other sessions to sign out."},
		{"password, 1 revoked", passwordChangedFlash(1, true), "Password changed. 1 other session was signed out."},
		{"password, 3 revoked", passwordChangedFlash(3, true), "Password changed. 3 other sessions were signed out."},
		{"password, kept others", passwordChangedFlash(0, false), "Password changed. Your other sessions stay signed in."},
		{"end others, none", endedOthersFlash(0), "There were no other sessions to end."},
		{"end others, one", endedOthersFlash(1), "1 other session was ended."},
		{"end others, two", endedOthersFlash(2), "2 other sessions were ended."},
		{"plural one", plural(1, "day", "days"), "1 day"},
		{"plural zero", plural(0, "day", "days"), "0 days"},
		{"type label", typeLabel("2fa.enabled"), "Two-factor authentication enabled"},
		{"unknown type label", typeLabel("future.thing"), "future.thing"},
		{"turned on, none ended", turnedOnNote(0), "Two-factor authentication is on."},
		{"turned on, one ended", turnedOnNote(1), "Two-factor authentication is on. 1 other session was signed out."},
		{"turned on, two ended", turnedOnNote(2), "Two-factor authentication is on. 2 other sessions were signed out."},
		{"wait, seconds", waitText(30 * time.Second), "30 seconds"},
		{"wait, under a second", waitText(200 * time.Millisecond), "1 second"},
		{"wait, a minute", waitText(60 * time.Second), "1 minute"},
		{"wait, rounded up", waitText(61 * time.Second), "2 minutes"},
		{"ended from elsewhere", sessionEndedFlash(""), "You were signed out from another device."},
		{"ended with the others", sessionEndedFlash("signed_out_others"), "You were signed out from another device."},
		{"ended by 2fa", sessionEndedFlash("2fa_enabled"), "You were signed out: two-factor authentication was turned on from another device. Sign in again with your password and a code."},
		{"ended by an admin", sessionEndedFlash("admin_revoked"), "You were signed out by an administrator."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
}

// TestTypeLabelsAreTheLogsWords: each type's label in the filter is said
// in the words of the log's sentence for it (most begin with it), so the
// two say the same thing.
func TestTypeLabelsAreTheLogsWords(t *testing.T) {
	for _, typ := range audit.Types() {
		if !audit.InAccountLog(typ) {
			continue
		}
		outcome := audit.Success
		if typ == audit.SigninFailed || typ == audit.SigninMFAFailed || typ == audit.SigninThrottled {
			outcome = audit.Failure
		}
		sentence := audit.Describe(&audit.Event{Type: typ, Outcome: outcome})
		notLetter := func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }
		words := strings.FieldsFunc(strings.ToLower(sentence), notLetter)
		for _, w := range strings.FieldsFunc(strings.ToLower(typeLabel(typ)), notLetter) {
			if !slices.Contains(words, w) {
				t.Errorf("%s: the filter says %q, the log %q, without %q", typ, typeLabel(typ), sentence, w)
			}
		}
	}
}

// TestEventRow: a failure whose sentence says so gets no second "Failed";
// the row names the device and whether it is the reader's session.
func TestEventRow(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	cases := []struct {
		name       string
		e          audit.Event
		badge      bool
		device     string
		thisOne    bool
		wantPrefix string
	}{
		{"failed sign-in", audit.Event{Type: audit.SigninFailed, Outcome: audit.Failure, Reason: "invalid_password", UserAgent: chrome}, false, "Chrome on macOS", false, "Failed sign-in"},
		{"failed setup", audit.Event{Type: audit.TwoFactorEnabled, Outcome: audit.Failure, Reason: "invalid_code", SessionID: "sess_a"}, false, "", true, "Two-factor authentication setup failed"},
		{"failed confirmation", audit.Event{Type: audit.SudoGranted, Outcome: audit.Failure}, false, "", false, "Failed to confirm"},
		{"failed email change", audit.Event{Type: audit.EmailChanged, Outcome: audit.Failure, SessionID: "sess_b"}, false, "", false, "Email change failed"},
		{"paused", audit.Event{Type: audit.SigninThrottled, Outcome: audit.Failure}, true, "", false, "Sign-in paused"},
		{"no agent", audit.Event{Type: audit.Signout, Outcome: audit.Success}, false, "", false, "Signed out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.e.Time = now
			row := newEventRow(&c.e, "sess_a", now)
			if row.Badge != c.badge || row.Device != c.device || row.ThisSession != c.thisOne || !strings.HasPrefix(row.Sentence, c.wantPrefix) {
				t.Errorf("got badge %v, device %q, this session %v, sentence %q; want %v, %q, %v, %q…",
					row.Badge, row.Device, row.ThisSession, row.Sentence, c.badge, c.device, c.thisOne, c.wantPrefix)
			}
		})
	}
}

func TestDecodeFlash(t *testing.T) {
	cases := []struct {
		name, value, text, kind string
		ok                      bool
	}{
		{"ok", "ok.WW91IGFyZSBzaWduZWQgb3V0Lg", "You are signed out.", flashOK, true},
		{"warning", "warning.aGk", "hi", flashWarning, true},
		{"unknown kind", "shout.aGk", "", "", false},
		{"no kind", "aGk", "", "", false},
		{"bad base64", "ok.!!!", "", "", false},
		{"empty text", "ok.", "", "", false},
		{"too long", "ok." + strings.Repeat("A", 2000), "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, kind, ok := decodeFlash(c.value)
			if text != c.text || kind != c.kind || ok != c.ok {
				t.Errorf("decodeFlash(%q) = %q, %q, %v; want %q, %q, %v", c.value, text, kind, ok, c.text, c.kind, c.ok)
			}
		})
	}
}

func TestTabs(t *testing.T) {
	if tabs := (layout{}).Tabs(); tabs != nil {
		t.Errorf("Tabs outside Security = %v, want none", tabs)
	}
	tabs := layout{Section: sectionSessions}.Tabs()
	var current []string
	for _, tab := range tabs {
		if tab.Current {
			current = append(current, tab.Href)
		}
	}
	if len(tabs) != 5 || len(current) != 1 || current[0] != "/settings/security/sessions" {
		t.Errorf("Tabs(sessions): %d tabs, current %v; want 5 tabs, current [/settings/security/sessions]", len(tabs), current)
	}
}

func TestBackupCodesDownload(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	file := backupCodesFile("keyward", "ada@example.com", []string{"abcde-fghj-kmnp", "qrstv-wxyz-0123"}, now)
	for _, want := range []string{"keyward backup codes\n", "Account: ada@example.com\n", "Generated: 10 March 2026", "Each code works once", "abcde-fghj-kmnp\nqrstv-wxyz-0123\n"} {
		if !strings.Contains(file, want) {
			t.Errorf("backup codes file lacks %q:\n%s", want, file)
		}
	}
	u := string(textDataURL(file))
	const prefix = "data:text/plain;charset=utf-8,"
	if !strings.HasPrefix(u, prefix) {
		t.Fatalf("data URL %q does not start with %q", u, prefix)
	}
	back, err := url.PathUnescape(strings.TrimPrefix(u, prefix))
	if err != nil || back != file {
		t.Errorf("data URL decodes to %q (%v), want the file", back, err)
	}
	if strings.ContainsAny(strings.TrimPrefix(u, prefix), " \n#\"<>") {
		t.Errorf("data URL %q has characters that should be escaped", u)
	}
}

func TestAuditLink(t *testing.T) {
	f := auditFilters(url.Values{"type": {"signin.failed"}, "since": {"2026-01-01"}, "until": {""}, "cursor": {"abc"}})
	cases := []struct {
		name, got, want string
	}{
		{"page", auditLink(auditPath, f, "", ""), "/settings/security/audit?since=2026-01-01&type=signin.failed"},
		{"next", auditLink(auditPath, f, "cursor", "c1"), "/settings/security/audit?cursor=c1&since=2026-01-01&type=signin.failed"},
		{"export", auditLink(auditExportPath, f, "format", "csv"), "/settings/security/audit/export?format=csv&since=2026-01-01&type=signin.failed"},
		{"no filters", auditLink(auditPath, url.Values{}, "", ""), "/settings/security/audit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
}

// Page handlers through httptest, on a real SQLite store.

type pageEnv struct {
	t   testing.TB
	svc *keyward.Service
	ts  *httptest.Server
	srv *Server
	c   *http.Client
	// base is the server's base path: every page's links and every
	// redirect to keyward itself must be under it (checkUnderBase).
	base string
	// outside is a Location outside base a test expects (a next on the
	// application beside keyward).
	outside string
}

func newPageEnv(t testing.TB, cfg keyward.Config) *pageEnv {
	t.Helper()
	return newPageEnvWeb(t, cfg, Config{})
}

// newPageEnvWeb is newPageEnv with the web settings given.
func newPageEnvWeb(t testing.TB, cfg keyward.Config, webCfg Config) *pageEnv {
	t.Helper()
	return newPageEnvMounted(t, cfg, webCfg, nil)
}

// newPageEnvMounted is newPageEnvWeb with the server mounted by mount (as
// an application or a proxy would), when mount is not nil.
func newPageEnvMounted(t testing.TB, cfg keyward.Config, webCfg Config, mount func(http.Handler) http.Handler) *pageEnv {
	t.Helper()
	return newPageEnvAt(t, cfg, webCfg, mount, time.Now)
}

// newPageEnvAt is newPageEnvMounted on the clock now: a test moves it
// instead of sleeping.
func newPageEnvAt(t testing.TB, cfg keyward.Config, webCfg Config, mount func(http.Handler) http.Handler, now func() time.Time) *pageEnv {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := keyring.LoadFile(filepath.Join(dir, "keys"), rand.Reader)
	if err != nil {
		t.Fatalf("keyring.LoadFile: %v", err)
	}
	svc, err := keyward.New(cfg, keyward.Deps{
		Store:  store,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 4, time.Second),
		Policy: password.Policy{MinLength: 8, MaxLength: 1024, MinScore: 2, Breached: []password.BreachedChecker{password.CommonPasswords()}},
		Keys:   keys,
		Now:    now,
		Rand:   rand.Reader,
	})
	if err != nil {
		t.Fatalf("keyward.New: %v", err)
	}
	srv, err := New(svc, webCfg, nil)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	var h http.Handler = srv
	if mount != nil {
		h = mount(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	e := &pageEnv{t: t, svc: svc, ts: ts, srv: srv, base: srv.base}
	e.c = e.newClient()
	return e
}

// newClient is a browser of its own: a cookie jar, and redirects not
// followed so that tests see each 303.
func (e *pageEnv) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (e *pageEnv) do(c *http.Client, method, path string, form url.Values) page {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	p := page{status: res.StatusCode, header: res.Header, body: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		checkPageHTML(e.t, method+" "+path, p.body)
	}
	if e.base != "" {
		e.checkUnderBase(method+" "+path, p)
	}
	return p
}

func (e *pageEnv) get(path string) page { e.t.Helper(); return e.do(e.c, "GET", path, nil) }
func (e *pageEnv) post(path string, f url.Values) page {
	e.t.Helper()
	return e.do(e.c, "POST", path, f)
}

// inlineCode is what the Content-Security-Policy would block.
var inlineCode = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)

// checkPageHTML checks what every page must be: no inline script, style or
// handler (the CSP forbids them), and a label for every visible input.
func checkPageHTML(t testing.TB, what, body string) {
	t.Helper()
	if m := inlineCode.FindString(body); m != "" {
		t.Errorf("%s: page has inline code the CSP blocks: %q", what, m)
	}
	for _, m := range regexp.MustCompile(`<(?:input|select)\s[^>]*>`).FindAllString(body, -1) {
		if strings.Contains(m, `type="hidden"`) || regexp.MustCompile(`\shidden[\s>]`).MatchString(m) {
			continue
		}
		id := regexp.MustCompile(`\sid="([^"]+)"`).FindStringSubmatch(m)
		if id == nil || !strings.Contains(body, `<label for="`+id[1]+`"`) {
			t.Errorf("%s: input without a label: %s", what, m)
		}
	}
}

func wantStatus(t testing.TB, what string, p page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, status, p.body)
	}
}

func wantRedirect(t testing.TB, what string, p page, to string) {
	t.Helper()
	wantStatus(t, what, p, http.StatusSeeOther)
	if got := p.header.Get("Location"); got != to {
		t.Fatalf("%s: Location %q, want %q", what, got, to)
	}
}

func wantBody(t testing.TB, what string, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s: page lacks %q", what, s)
		}
	}
}

func wantNoBody(t testing.TB, what string, p page, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if strings.Contains(p.body, s) {
			t.Errorf("%s: page has %q, want it absent", what, s)
		}
	}
}

const (
	testEmail    = "ada@example.com"
	testPassword = "correct horse battery staple"
)

// signUp creates the test account and signs the env's client in.
func (e *pageEnv) signUp() {
	e.t.Helper()
	p := e.post("/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {testPassword}})
	wantRedirect(e.t, "sign-up", p, "/settings/security")
}

func TestSignedOutPages(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	cases := []struct {
		name, path string
		status     int
		location   string
		body       []string
	}{
		{"home", "/", 303, "/signin", nil},
		{"security", "/settings/security", 303, "/signin?next=%2Fsettings%2Fsecurity", nil},
		{"sessions", "/settings/security/sessions", 303, "/signin?next=%2Fsettings%2Fsecurity%2Fsessions", nil},
		{"audit with filters", "/settings/security/audit?type=signout", 303, "/signin?next=%2Fsettings%2Fsecurity%2Faudit%3Ftype%3Dsignout", nil},
		{"sign-in form", "/signin", 200, "", []string{
			`<label for="email">Email</label>`, `name="email"`, `type="email"`,
			`<label for="password">Password</label>`, `name="password"`, `type="password"`,
			`<input type="hidden" name="next" value="/settings/security">`, `href="/signup"`,
		}},
		{"sign-in keeps next", "/signin?next=%2Fsettings%2Fsecurity%2Faudit", 200, "", []string{`name="next" value="/settings/security/audit"`}},
		{"sign-in drops a foreign next", "/signin?next=%2F%2Fevil.example", 200, "", []string{`name="next" value="/settings/security"`}},
		{"sign-up form", "/signup", 200, "", []string{`<label for="password_confirmation">`, `data-strength-for="password"`, `/static/password-meter.js`}},
		{"second step without a password step", "/signin/2fa", 303, "/signin", nil},
		{"not found", "/no/such/page", 404, "", []string{"There is nothing at this address."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.get(c.path)
			wantStatus(t, c.path, p, c.status)
			if c.location != "" {
				wantRedirect(t, c.path, p, c.location)
			}
			wantBody(t, c.path, p, c.body...)
		})
	}
}

func TestSignupAndSignin(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())

	p := e.post("/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {"something else"}})
	wantStatus(t, "sign-up with a mismatch", p, 400)
	wantBody(t, "sign-up with a mismatch", p, "The passwords do not match", `value="`+testEmail+`"`, `aria-invalid="true" aria-describedby="password_confirmation-error"`)
	wantNoBody(t, "sign-up with a mismatch", p, testPassword)

	p = e.post("/signup", url.Values{"email": {testEmail}, "password": {"password123"}, "password_confirmation": {"password123"}})
	wantStatus(t, "sign-up with a common password", p, 400)
	wantNoBody(t, "sign-up with a common password", p, "password123")

	e.signUp()
	p = e.get("/settings/security")
	wantStatus(t, "overview", p, 200)
	wantBody(t, "overview", p, testEmail, "Your account is ready.", `action="/signout"`,
		`href="/settings/security/password"`, `href="/settings/security/two-factor"`, `href="/settings/security/sessions"`, `href="/settings/security/audit"`,
		`<a href="/settings/security" aria-current="page">Overview</a>`, "Off. Turn it on", "Signed in on this device only.", "Latest event")
	if n := strings.Count(p.body, `aria-current="page"`); n != 1 {
		t.Errorf("overview: %d tabs marked current, want 1", n)
	}
	// The flash is shown once.
	wantNoBody(t, "overview again", e.get("/settings/security"), "Your account is ready.")

	wantRedirect(t, "home signed in", e.get("/"), "/settings/security")
	wantRedirect(t, "sign-in page signed in", e.get("/signin?next=%2Fsettings%2Fsecurity%2Fsessions"), "/settings/security/sessions")

	p = e.post("/signout", url.Values{})
	wantRedirect(t, "sign out", p, "/signin")
	p = e.get("/signin")
	wantBody(t, "after sign-out", p, "You are signed out.")
	wantRedirect(t, "overview after sign-out", e.get("/settings/security"), "/signin?next=%2Fsettings%2Fsecurity")

	p = e.post("/signin", url.Values{"email": {testEmail}, "password": {"wrong password"}, "next": {"/settings/security/audit"}})
	wantStatus(t, "wrong password", p, 401)
	wantBody(t, "wrong password", p, "The email or password is incorrect.", `value="`+testEmail+`"`, `name="next" value="/settings/security/audit"`)
	// The typed email must not make the header look signed in.
	wantNoBody(t, "wrong password", p, "wrong password\"", `action="/signout"`)

	p = e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}, "next": {"https://evil.example/"}})
	wantRedirect(t, "sign in with a foreign next", p, "/settings/security")
	wantStatus(t, "signed in", e.get("/settings/security"), 200)
}

// An absolute next on an allowed return origin survives the password step
// and the second step; any other absolute next still lands on settings.
func TestSigninReturnsToAllowedOrigin(t *testing.T) {
	e := newPageEnvWeb(t, keyward.DefaultConfig(), Config{AllowedReturnOrigins: []string{"https://app.example.com"}})
	e.signUp()
	wantRedirect(t, "signed in", e.get("/signin?next=https%3A%2F%2Fapp.example.com%2Fdash"), "https://app.example.com/dash")
	wantRedirect(t, "signed in, foreign", e.get("/signin?next=https%3A%2F%2Fapp.example.com.evil.net%2F"), "/settings/security")
	_, codes := e.enableTwoFactor()
	wantRedirect(t, "sign out", e.post("/signout", url.Values{}), "/signin")

	p := e.get("/signin?next=https%3A%2F%2Fapp.example.com%2Fdash")
	wantBody(t, "sign-in page", p, `name="next" value="https://app.example.com/dash"`)
	p = e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}, "next": {"https://app.example.com/dash"}})
	wantRedirect(t, "password step", p, "/signin/2fa?next=https%3A%2F%2Fapp.example.com%2Fdash")
	p = e.post("/signin/2fa", url.Values{"code": {codes[0]}, "method": {"backup"}, "next": {"https://evil.net@app.example.com/"}})
	wantRedirect(t, "second step, userinfo", p, "/settings/security")

	wantRedirect(t, "sign out again", e.post("/signout", url.Values{}), "/signin")
	p = e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}, "next": {"https://app.example.com/dash"}})
	wantRedirect(t, "password step again", p, "/signin/2fa?next=https%3A%2F%2Fapp.example.com%2Fdash")
	p = e.post("/signin/2fa", url.Values{"code": {codes[1]}, "method": {"backup"}, "next": {"https://app.example.com/dash"}})
	wantRedirect(t, "second step", p, "https://app.example.com/dash")
}

// Browsers apply a page's form-action to the redirects that answer its
// forms: the sign-in pages' policy must name the return origins, or the
// browser stops at keyward after signing in (TestProxyNginx walks it).
func TestPagePolicyAllowsFormsToReturn(t *testing.T) {
	const want = "form-action 'self' https://app.example.com http://localhost:3000;"
	e := newPageEnvWeb(t, keyward.DefaultConfig(), Config{AllowedReturnOrigins: []string{"https://App.example.com:443", "http://localhost:3000"}})
	for _, path := range []string{"/signin", "/signup", "/signin/2fa"} {
		p := e.do(e.newClient(), "GET", path, nil)
		if got := p.header.Get("Content-Security-Policy"); !strings.Contains(got, want) || strings.Count(got, "form-action") != 1 {
			t.Errorf("%s: CSP = %q, want it to hold %q", path, got, want)
		}
	}
	plain := newPageEnvWeb(t, keyward.DefaultConfig(), Config{})
	if got := plain.do(plain.newClient(), "GET", "/signin", nil).header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("without return origins, CSP = %q, want %q", got, contentSecurityPolicy)
	}
}

func TestSignupDisabled(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SignupEnabled = false
	e := newPageEnv(t, cfg)
	p := e.get("/signup")
	wantStatus(t, "sign-up page", p, 200)
	wantBody(t, "sign-up page", p, "Sign-up is turned off")
	wantNoBody(t, "sign-up page", p, `action="/signup"`)
	p = e.post("/signup", url.Values{"email": {testEmail}, "password": {testPassword}, "password_confirmation": {testPassword}})
	wantStatus(t, "sign-up post", p, 403)
	wantBody(t, "sign-up post", p, "Sign-up is turned off")
	wantNoBody(t, "sign-in page", e.get("/signin"), `href="/signup"`)
}

func TestSigninThrottled(t *testing.T) {
	cfg := keyward.DefaultConfig()
	cfg.SignInThrottle = keyward.ThrottleRule{Free: 1, Base: time.Minute, Max: time.Minute, Forget: time.Hour}
	e := newPageEnv(t, cfg)
	e.signUp()
	other := e.newClient()
	bad := url.Values{"email": {testEmail}, "password": {"not the password"}}
	wantStatus(t, "first failure", e.do(other, "POST", "/signin", bad), 401)
	wantStatus(t, "second failure", e.do(other, "POST", "/signin", bad), 401)
	p := e.do(other, "POST", "/signin", bad)
	wantStatus(t, "throttled", p, 429)
	wantBody(t, "throttled", p, "Too many attempts")
	if ra, err := strconv.Atoi(p.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("throttled: Retry-After %q, want seconds", p.header.Get("Retry-After"))
	}
}

func TestPasswordPage(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	other := e.newClient()
	wantRedirect(t, "second sign-in", e.do(other, "POST", "/signin", url.Values{"email": {testEmail}, "password": {testPassword}}), "/settings/security")

	p := e.get("/settings/security/password")
	wantStatus(t, "password page", p, 200)
	wantBody(t, "password page", p, `name="current_password"`, `name="new_password"`, `name="new_password_confirmation"`,
		`name="sign_out_other_sessions" type="checkbox" value="on" checked`, "Nothing changes until you save.", `<meter`, `aria-current="page">Password<`)

	const next = "a new and longer passphrase"
	cases := []struct {
		name   string
		form   url.Values
		status int
		msg    string
		field  string
	}{
		{"wrong current", url.Values{"current_password": {"nope nope"}, "new_password": {next}, "new_password_confirmation": {next}, "sign_out_other_sessions": {"on"}}, 403, "Your current password is incorrect.", "current_password"},
		{"mismatch", url.Values{"current_password": {testPassword}, "new_password": {next}, "new_password_confirmation": {next + "x"}, "sign_out_other_sessions": {"on"}}, 400, "do not match", "new_password_confirmation"},
		{"breached", url.Values{"current_password": {testPassword}, "new_password": {"password1"}, "new_password_confirmation": {"password1"}}, 400, "", "new_password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := e.post("/settings/security/password", c.form)
			wantStatus(t, c.name, p, c.status)
			wantBody(t, c.name, p, `id="`+c.field+`-error"`, c.msg, `id="`+c.field+`"`)
			field := regexp.MustCompile(`<input id="` + c.field + `"[^>]*>`).FindString(p.body)
			if !strings.Contains(field, `aria-invalid="true"`) || !strings.Contains(field, c.field+"-error") {
				t.Errorf("%s: field %s is not marked invalid and linked to the error: %s", c.name, c.field, field)
			}
			wantNoBody(t, c.name, p, next, testPassword)
			if c.form.Get("sign_out_other_sessions") == "" && strings.Contains(p.body, `value="on" checked`) {
				t.Errorf("%s: the unticked checkbox came back ticked", c.name)
			}
		})
	}

	p = e.post("/settings/security/password", url.Values{"current_password": {testPassword}, "new_password": {next}, "new_password_confirmation": {next}, "sign_out_other_sessions": {"on"}})
	wantRedirect(t, "change", p, "/settings/security/password")
	wantBody(t, "after change", e.get("/settings/security/password"), "Password changed. 1 other session was signed out.")
	wantRedirect(t, "other session after change", e.do(other, "GET", "/settings/security", nil), "/signin?next=%2Fsettings%2Fsecurity")
}

var (
	manualKeyRE   = regexp.MustCompile(`id="manual-key"[^>]*>([^<]+)<`)
	backupCodesRE = regexp.MustCompile(`(?s)<ol id="backup-codes"[^>]*>(.*?)</ol>`)
	codeRE        = regexp.MustCompile(`<code>([^<]+)</code>`)
	eventsRE      = regexp.MustCompile(`(?s)<ol class="events[^>]*>.*?</ol>`)
	// backupCodeRE is a backup code as shown: 13 characters in 5-4-4 groups.
	backupCodeRE = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
)

// enableTwoFactor walks the two-factor page's steps and returns the backup codes.
func (e *pageEnv) enableTwoFactor() (secret string, codes []string) {
	t := e.t
	t.Helper()
	p := e.get(e.base + "/settings/security/two-factor")
	wantStatus(t, "two-factor page", p, 200)
	wantBody(t, "two-factor page", p, "Step 1", "Install an authenticator app", "Google Authenticator", "Authy", "1Password", `action="`+e.base+`/settings/security/two-factor/setup"`)
	wantRedirect(t, "setup", e.post(e.base+"/settings/security/two-factor/setup", url.Values{}), e.base+"/settings/security/two-factor#step-2")

	p = e.get(e.base + "/settings/security/two-factor")
	wantBody(t, "pending setup", p, `<img class="qr" src="data:image/png;base64,`, `alt="QR code`, `data-copy="manual-key"`, e.base+"/static/copy.js",
		"<th scope=\"row\">Account</th><td>"+testEmail+"</td>", "<td>Time-based</td>", "<td>SHA-1</td>", "<td>6</td>", "<td>30 seconds</td>",
		`name="code"`, `inputmode="numeric"`, `autocomplete="one-time-code"`, `action="`+e.base+`/settings/security/two-factor/enable"`)
	m := manualKeyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("pending setup: no manual key in\n%s", p.body)
	}
	grouped := m[1]
	for _, g := range strings.Fields(grouped) {
		if len(g) != 4 {
			t.Errorf("manual key %q is not in groups of four", grouped)
		}
	}
	secret = strings.ReplaceAll(grouped, " ", "")

	p = e.post(e.base+"/settings/security/two-factor/enable", url.Values{"code": {"000000"}})
	if code, _ := totp.Code(secret, time.Now()); code == "000000" {
		t.Skip("the current code happens to be 000000")
	}
	wantStatus(t, "wrong code", p, 400)
	wantBody(t, "wrong code", p, "That code is not valid", `manual-key`)

	code, err := totp.Code(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p = e.post(e.base+"/settings/security/two-factor/enable", url.Values{"code": {code}})
	wantRedirect(t, "enable", p, e.base+"/settings/security/two-factor")
	p = e.get(e.base + "/settings/security/two-factor")
	wantStatus(t, "enable", p, 200)
	wantBody(t, "enable", p, "Two-factor authentication is on", "Each code works once", `download="keyward-backup-codes.txt" href="data:text/plain;charset=utf-8,`,
		`data-print`, e.base+"/static/print.js", `action="`+e.base+`/settings/security/two-factor/backup-codes/saved"`, "I have saved them")
	codes = backupCodes(t, p)
	return secret, codes
}

func backupCodes(t testing.TB, p page) []string {
	t.Helper()
	list := backupCodesRE.FindStringSubmatch(p.body)
	if list == nil {
		t.Fatalf("no #backup-codes in\n%s", p.body)
	}
	var codes []string
	for _, m := range codeRE.FindAllStringSubmatch(list[1], -1) {
		codes = append(codes, html.UnescapeString(m[1]))
	}
	if len(codes) != 10 {
		t.Fatalf("%d backup codes, want 10: %v", len(codes), codes)
	}
	for _, c := range codes {
		if !backupCodeRE.MatchString(c) {
			t.Fatalf("backup code %q shown, want 13 characters as abcde-fghj-kmnp", c)
		}
	}
	return codes
}

func TestTwoFactorPages(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	_, codes := e.enableTwoFactor()

	// The codes stay on screen until the person says they are saved.
	wantBody(t, "reload", e.get("/settings/security/two-factor"), codes[0])
	wantRedirect(t, "saved", e.post("/settings/security/two-factor/backup-codes/saved", url.Values{}), "/settings/security/two-factor")
	p := e.get("/settings/security/two-factor")
	wantBody(t, "on", p, "Two-factor authentication has been on since", "10 backup codes left.", `action="/settings/security/two-factor/backup-codes"`, `action="/settings/security/two-factor/disable"`)
	wantNoBody(t, "on", p, codes[0])

	// Sign in again: the password step hands over to the second step with
	// the mfa token in a cookie, never in the URL.
	wantRedirect(t, "sign out", e.post("/signout", url.Values{}), "/signin")
	p = e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}, "next": {"/settings/security/sessions"}})
	wantRedirect(t, "password step", p, "/signin/2fa?next=%2Fsettings%2Fsecurity%2Fsessions")
	if !strings.Contains(p.header.Get("Set-Cookie"), "keyward_mfa=kwm_") {
		t.Errorf("password step: Set-Cookie %q, want the mfa cookie", p.header.Get("Set-Cookie"))
	}
	p = e.get("/signin/2fa?next=%2Fsettings%2Fsecurity%2Fsessions")
	wantStatus(t, "second step", p, 200)
	wantBody(t, "second step", p, `name="code"`, `inputmode="numeric"`, "Use a backup code instead", `href="/signin/2fa?method=backup&amp;next=%2Fsettings%2Fsecurity%2Fsessions"`)
	p = e.get("/signin/2fa?method=backup&next=%2Fsettings%2Fsecurity%2Fsessions")
	wantBody(t, "backup code step", p, `<label for="code">Backup code</label>`, `name="method" value="backup"`, `inputmode="text"`, "Use your authenticator app instead")

	p = e.post("/signin/2fa", url.Values{"code": {"aaaaa-aaaaa"}, "method": {"backup"}, "next": {"/settings/security/sessions"}})
	wantStatus(t, "wrong backup code", p, 401)
	wantBody(t, "wrong backup code", p, "That code is not valid", `<label for="code">Backup code</label>`)

	p = e.post("/signin/2fa", url.Values{"code": {codes[0]}, "method": {"backup"}, "next": {"/settings/security/sessions"}})
	wantRedirect(t, "backup code", p, "/settings/security/sessions")
	p = e.get("/settings/security/sessions")
	wantStatus(t, "after backup code", p, 200)
	wantBody(t, "after backup code", p, "Signed in with a backup code. You have 9 backup codes left.")

	// Regenerate: no password asked, the sign-in has just opened the
	// session's sudo window.
	wantNoBody(t, "on, just signed in", e.get("/settings/security/two-factor"), `type="password"`, `id="sudo-note"`)
	p = e.post("/settings/security/two-factor/backup-codes", url.Values{})
	wantRedirect(t, "regenerate", p, "/settings/security/two-factor")
	p = e.get("/settings/security/two-factor")
	wantStatus(t, "regenerate", p, 200)
	if fresh := backupCodes(t, p); fresh[0] == codes[0] {
		t.Errorf("regenerate: the same codes came back")
	}

	// Disable.
	p = e.post("/settings/security/two-factor/disable", url.Values{})
	wantRedirect(t, "disable", p, "/settings/security/two-factor")
	wantBody(t, "after disable", e.get("/settings/security/two-factor"), "Two-factor authentication is off.", "Step 1")
}

func TestSigninMFAExpired(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	e.enableTwoFactor()
	wantRedirect(t, "sign out", e.post("/signout", url.Values{}), "/signin")
	wantRedirect(t, "password step", e.post("/signin", url.Values{"email": {testEmail}, "password": {testPassword}}), "/signin/2fa?next=%2Fsettings%2Fsecurity")

	// A token the service no longer knows.
	u, _ := url.Parse(e.ts.URL)
	e.c.Jar.SetCookies(u, []*http.Cookie{{Name: "keyward_mfa", Value: "kwm_" + strings.Repeat("A", 43), Path: "/"}})
	p := e.post("/signin/2fa", url.Values{"code": {"123456"}, "next": {"/settings/security"}})
	wantRedirect(t, "expired", p, "/signin")
	p = e.get("/signin")
	wantBody(t, "expired", p, "This sign-in has expired. Sign in again with your password.", "flash-error")
}

func TestSessionsPage(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	clients := []*http.Client{e.newClient(), e.newClient(), e.newClient()}
	for _, c := range clients {
		wantRedirect(t, "sign in", e.do(c, "POST", "/signin", url.Values{"email": {testEmail}, "password": {testPassword}}), "/settings/security")
	}

	p := e.get("/settings/security/sessions")
	wantStatus(t, "sessions", p, 200)
	wantBody(t, "sessions", p, "This device", "Firefox on Linux", "Desktop", "127.0.0.1", "Started", "Last active", "just now", `<time datetime="`,
		`action="/settings/security/sessions/end-others"`, "End all other sessions")
	ends := regexp.MustCompile(`action="(/settings/security/sessions/[^/"]+/end)"`).FindAllStringSubmatch(p.body, -1)
	if len(ends) != 3 {
		t.Fatalf("sessions: %d End buttons, want 3 (none on this device)", len(ends))
	}

	p = e.post(ends[0][1], url.Values{})
	wantRedirect(t, "end one", p, "/settings/security/sessions")
	wantBody(t, "after ending one", e.get("/settings/security/sessions"), "Session ended: Firefox on Linux is signed out.")

	p = e.post(ends[0][1], url.Values{})
	wantStatus(t, "end it again", p, 404)
	wantBody(t, "end it again", p, "That session has already ended.")

	// Asked first; nothing ends until confirmed.
	p = e.post("/settings/security/sessions/end-others", url.Values{})
	wantStatus(t, "end others, asked", p, 200)
	wantBody(t, "end others, asked", p, "End 2 other sessions?", `name="confirm" value="yes"`)
	wantBody(t, "not ended yet", e.get("/settings/security/sessions"), "End all other sessions")
	p = e.post("/settings/security/sessions/end-others", url.Values{"confirm": {"yes"}})
	wantRedirect(t, "end others", p, "/settings/security/sessions")
	p = e.get("/settings/security/sessions")
	wantBody(t, "after ending others", p, "2 other sessions were ended.", "No other device is signed in.")
	wantNoBody(t, "after ending others", p, "End all other sessions")
	for _, c := range clients {
		wantRedirect(t, "ended client", e.do(c, "GET", "/settings/security", nil), "/signin?next=%2Fsettings%2Fsecurity")
	}
}

func TestAuditPage(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	e.signUp()
	for range 3 {
		e.do(e.newClient(), "POST", "/signin", url.Values{"email": {testEmail}, "password": {"bad guess here"}})
	}

	p := e.get("/settings/security/audit")
	wantStatus(t, "audit", p, 200)
	wantBody(t, "audit", p, "Account created", "Signed in from Firefox on Linux", "Failed sign-in: wrong password", `<li class="event event-failed">`,
		`<span class="event-device">Firefox on Linux</span> · <span class="event-ip">127.0.0.1</span> · `, "just now", `<select id="type" name="type">`, `<option value="signin.failed">Failed sign-in</option>`,
		`type="date"`, `href="/settings/security/audit/export?format=csv"`, `href="/settings/security/audit/export?format=jsonl"`, "Download CSV", "Download JSON Lines")
	list := eventsRE.FindString(p.body)
	if i, j := strings.Index(list, "Failed sign-in: wrong password"), strings.Index(list, "Account created"); i < 0 || j < 0 || i > j {
		t.Errorf("audit: events are not newest first:\n%s", list)
	}

	p = e.get("/settings/security/audit?type=signin.failed")
	wantBody(t, "filtered", p, `<option value="signin.failed" selected>`, `href="/settings/security/audit/export?format=csv&amp;type=signin.failed"`)
	if list := eventsRE.FindString(p.body); strings.Count(list, "<li") != 3 || strings.Contains(list, "Account created") {
		t.Errorf("filtered: want the 3 failed sign-ins only:\n%s", list)
	}

	p = e.get("/settings/security/audit?limit=2")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatalf("limit=2: no Older events link")
	}
	p = e.get(html.UnescapeString(next[1]))
	wantStatus(t, "older page", p, 200)
	wantBody(t, "older page", p, "Newest events")

	p = e.get("/settings/security/audit?cursor=forged")
	wantStatus(t, "forged cursor", p, 400)
	wantBody(t, "forged cursor", p, "The cursor is not valid")

	p = e.get("/settings/security/audit?since=2026-02-01&until=2026-01-01")
	wantStatus(t, "since after until", p, 400)
	wantBody(t, "since after until", p, "The From date must be on or before the To date.", `value="2026-02-01"`, `id="since-error"`)
	wantNoBody(t, "since after until", p, "since must be before until")

	p = e.get("/settings/security/audit/export?format=csv&type=signin.failed")
	wantStatus(t, "export", p, 200)
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") || strings.Count(p.body, "signin.failed") != 3 {
		t.Errorf("export: %s with %d signin.failed rows, want CSV with 3\n%s", p.header.Get("Content-Type"), strings.Count(p.body, "signin.failed"), p.body)
	}
}

func TestStaticFiles(t *testing.T) {
	e := newPageEnv(t, keyward.DefaultConfig())
	for _, f := range []string{"style.css", "password-meter.js", "copy.js", "print.js"} {
		p := e.get("/static/" + f)
		wantStatus(t, f, p, 200)
	}
}

// rerender shows the form again for the person's own mistakes (with the
// status, the message, the field and any wait) and leaves every other error
// to the error page.
func TestRerender(t *testing.T) {
	srv, err := New(nil, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		err        error
		field      string
		wantErr    bool   // returned for the error page, nothing written
		wantStatus int    // else the form again, with
		wantField  string // the field the message is about
		wantRetry  string // Retry-After
		wantMsg    string // the message shown, when not err's own
	}{
		{"a typing mistake", invalid("Enter your password."), "password", false, 400, "password", "", ""},
		{"a wrong password", keyward.Errorf(keyward.CodeInvalidCredentials, "That email and password do not match."), "password", false, 401, "password", "", ""},
		{"a wait is about no field, and says how long", &keyward.Error{Code: keyward.CodeTooManyAttempts, Message: "Too many attempts.", RetryAfter: 3 * time.Second}, "password", false, 429, "", "3",
			"Too many attempts. Try again in 3 seconds."},
		{"the store is down", &keyward.Error{Code: keyward.CodeUnavailable, Message: "The server is busy.", RetryAfter: time.Second}, "password", true, 0, "", "", ""},
		{"a fault", keyward.Internal(io.ErrUnexpectedEOF), "password", true, 0, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", "/signin", nil)
			v := signinView{layout: layout{Title: "Sign in"}, EmailValue: "ada@example.com", Next: "/settings/security"}
			got := srv.rerender(w, r, "signin.html", &v, c.err, c.field)
			if c.wantErr {
				if got != c.err || w.Body.Len() != 0 || w.Header().Get("Retry-After") != "" {
					t.Fatalf("rerender = %v, wrote %d bytes, Retry-After %q; want the error back and nothing written", got, w.Body.Len(), w.Header().Get("Retry-After"))
				}
				return
			}
			if got != nil {
				t.Fatalf("rerender = %v, want nil", got)
			}
			msg := cmp.Or(c.wantMsg, keyward.ErrorMessage(c.err))
			if w.Code != c.wantStatus || v.ErrorField != c.wantField || v.Error != msg || w.Header().Get("Retry-After") != c.wantRetry {
				t.Errorf("got status %d, field %q, error %q, Retry-After %q; want %d, %q, %q, %q",
					w.Code, v.ErrorField, v.Error, w.Header().Get("Retry-After"), c.wantStatus, c.wantField, msg, c.wantRetry)
			}
			if !strings.Contains(w.Body.String(), html.EscapeString(keyward.ErrorMessage(c.err))) {
				t.Errorf("the page does not show %q", keyward.ErrorMessage(c.err))
			}
		})
	}
}
