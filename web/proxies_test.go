package web_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/web"
)

// The proxy journeys run the nginx and Caddy configurations of
// docs/integrate/ as they are printed there, in front of a small upstream
// application, with keyward beside them, and walk them with Chromium. The
// files are read as they stand; only the placeholders below are replaced,
// each of which must be in the file, so the table cannot drift from it.
//
//	placeholder in docs/integrate/            replaced with
//	auth.example.com, app.example.com         auth.example.test, app.example.test (Chromium maps *.example.test to 127.0.0.1)
//	127.0.0.1:4180 (keyward)                  the in-process keyward's address
//	127.0.0.1:8080 (the application)          the upstream's address
//	listen 443 ssl; (nginx)                   listen 127.0.0.1:<free port> ssl;
//	/etc/ssl/example.com/*.pem (nginx)        a certificate made for the test
//
// Caddy's file gets a global options block in front of it (no admin
// endpoint, its ports, its own local CA): what a reader would not write.
const (
	docAuthHost = "auth.example.com"
	docAppHost  = "app.example.com"
	docKeyward  = "127.0.0.1:4180"
	docUpstream = "127.0.0.1:8080"
	docListen   = "listen 443 ssl;"
	docCert     = "/etc/ssl/example.com/fullchain.pem"
	docCertKey  = "/etc/ssl/example.com/privkey.pem"

	testDomain   = "example.test"
	testAuthHost = "auth." + testDomain
	testAppHost  = "app." + testDomain

	proxyPassword = "correct horse battery staple"
	// proxyStartTimeout bounds a proxy's start, certificates included.
	proxyStartTimeout = 20 * time.Second
)

// identityHeaders are the headers keyward's checks answer with, in the
// form Go's server gives them to the upstream.
var identityHeaders = []string{"X-Keyward-Aal", "X-Keyward-Account-Id", "X-Keyward-Amr", "X-Keyward-Email", "X-Keyward-Session-Id"}

// docSnippet reads docs/integrate/name and replaces each placeholder (old,
// new pairs). A placeholder the file lacks fails the test.
func docSnippet(t testing.TB, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "integrate", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("docs/integrate/%s no longer holds the placeholder %q", name, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// freePort is a loopback port nobody listens on just now, for a proxy
// that takes its address from a configuration file.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// upstreamApp is the application behind the proxy: it records each request
// it gets and shows the X-Keyward-* headers it received on a page.
type upstreamApp struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	URI string `json:"uri"`
	// Header is every request header whose name, lower-cased with "_" read
	// as "-" (as CGI-style frameworks do), starts with x-keyward-: values
	// joined with "|", so that a second value shows.
	Header map[string]string `json:"header"`
}

func (u *upstreamApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seenRequest{URI: r.URL.RequestURI(), Header: map[string]string{}}
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "x-keyward-") {
			s.Header[k] = strings.Join(v, "|")
		}
	}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	u.mu.Unlock()
	js, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>app</title><pre id=\"seen\">%s</pre>", html.EscapeString(string(js)))
}

// saw reports whether the upstream was asked for a URI with that prefix.
func (u *upstreamApp) saw(prefix string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.ContainsFunc(u.seen, func(s seenRequest) bool { return strings.HasPrefix(s.URI, prefix) })
}

// proxyStack is keyward, the upstream and one proxy, on loopback.
type proxyStack struct {
	env      *keywardtest.Env
	keyward  string // keyward's own address (host:port), for API calls
	upstream string
	app      *upstreamApp
	port     string // the proxy's HTTPS port
	authURL  string // keyward through the proxy: https://auth.example.test:<port>, or the app's origin and /auth
	appURL   string // https://app.example.test:<port>
	base     string // keyward's base path: "" on its own subdomain, /auth on the app's host
	// the session cookie as the application's host gets it
	cookieName, cookieDomain string
	dir                      string
}

// newProxyStack starts keyward for the subdomain layout (its public URL on
// the proxy's port, the cookie shared with example.test, the application's
// origin allowed as next, the proxy trusted) and the upstream.
func newProxyStack(t testing.TB) *proxyStack {
	t.Helper()
	s := &proxyStack{port: freePort(t), app: &upstreamApp{}, dir: t.TempDir()}
	s.authURL = "https://" + testAuthHost + ":" + s.port
	s.appURL = "https://" + testAppHost + ":" + s.port
	s.cookieName, s.cookieDomain = "__Secure-keyward_session", testDomain
	public, _ := url.Parse(s.authURL)
	s.start(t, web.Config{
		PublicURL:            public,
		CookieDomain:         testDomain,
		AllowedReturnOrigins: []string{s.appURL},
		TrustedProxies:       []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	return s
}

// newSameHostStack is newProxyStack for keyward under /auth on the
// application's own host: the session cookie host-only, with Path=/ so
// that the application's paths get it, and the host's own origin allowed
// as next (the one /forward builds is absolute).
func newSameHostStack(t testing.TB) *proxyStack {
	t.Helper()
	s := &proxyStack{port: freePort(t), app: &upstreamApp{}, dir: t.TempDir(), base: "/auth"}
	s.appURL = "https://" + testAppHost + ":" + s.port
	s.authURL = s.appURL + s.base
	s.cookieName, s.cookieDomain = "__Host-keyward_session", testAppHost
	public, _ := url.Parse(s.appURL)
	s.start(t, web.Config{
		PublicURL:            public,
		BasePath:             s.base,
		CookiePath:           "/",
		AllowedReturnOrigins: []string{s.appURL},
		TrustedProxies:       []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	return s
}

// start serves keyward with cfg, and the upstream.
func (s *proxyStack) start(t testing.TB, cfg web.Config) {
	t.Helper()
	s.env = keywardtest.New(t, keywardtest.Options{RealTime: true})
	h, err := web.New(s.env.Svc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.keyward = serveLoopback(t, h)
	s.upstream = serveLoopback(t, s.app)
}

// serveLoopback serves h on a fresh loopback port and returns its address.
func serveLoopback(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// writeTestCertificate writes a self-signed certificate for *.example.test
// and its key, and returns their paths.
func writeTestCertificate(t testing.TB, dir string) (cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testDomain},
		DNSNames:     []string{testAuthHost, testAppHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// startProxy runs a proxy until the test ends, its output in logFile,
// which is shown when the test fails.
func (s *proxyStack) startProxy(t testing.TB, name string, env []string, exe string, args ...string) {
	t.Helper()
	logFile := filepath.Join(s.dir, name+".log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	showLog := func() string {
		b, _ := os.ReadFile(logFile)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		return string(b)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, showLog())
		}
	})
	// Ready when it answers on the application's name over TLS.
	c := s.client()
	deadline := time.Now().Add(proxyStartTimeout)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited at start: %v\n%s", name, err, showLog())
		default:
		}
		res, err := c.Get(s.appURL + "/")
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer on %s after %v: %v", name, s.appURL, proxyStartTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client reaches the proxy under the test's host names, as Chromium does,
// trusting its certificate (a test CA's or a self-signed one).
func (s *proxyStack) client() *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, "127.0.0.1:"+s.port)
			},
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// startNginx runs docs/integrate/<file> in nginx, inside a minimal main
// configuration of the test's own (paths, no daemon).
func (s *proxyStack) startNginx(t testing.TB, file string) {
	t.Helper()
	exe := lookTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	cert, key := writeTestCertificate(t, s.dir)
	replace := []string{
		docAppHost, testAppHost,
		docKeyward, s.keyward,
		docUpstream, s.upstream,
		docListen, "listen 127.0.0.1:" + s.port + " ssl;",
		docCert, cert,
		docCertKey, key,
	}
	if s.base == "" {
		replace = append(replace, docAuthHost, testAuthHost)
	}
	site := docSnippet(t, file, replace...)
	prefix := filepath.Join(s.dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(prefix, "site.conf"), site)
	write(t, filepath.Join(prefix, "nginx.conf"), fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, prefix))
	s.startProxy(t, "nginx", nil, exe, "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", "stderr")
}

// startCaddy runs docs/integrate/<file> in Caddy, with global options of
// the test's own in front: no admin endpoint, its ports, certificates from
// Caddy's own local CA kept under the test's folder.
func (s *proxyStack) startCaddy(t testing.TB, file string) {
	t.Helper()
	exe := lookTool(t, "caddy", "caddy")
	site := docSnippet(t, file,
		docAuthHost, testAuthHost,
		docAppHost, testAppHost,
		docKeyward, s.keyward,
		docUpstream, s.upstream,
	)
	global := fmt.Sprintf("{\n\tadmin off\n\tdefault_bind 127.0.0.1\n\tservers {\n\t\tprotocols h1 h2\n\t}\n\thttps_port %s\n\thttp_port %s\n\tauto_https disable_redirects\n\tlocal_certs\n\tskip_install_trust\n}\n\n", s.port, freePort(t))
	home := filepath.Join(s.dir, "caddy")
	config := filepath.Join(home, "Caddyfile")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, config, global+site)
	env := []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	s.startProxy(t, "caddy", env, exe, "run", "--config", config, "--adapter", "caddyfile")
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// api calls keyward's JSON API directly (not through the proxy).
func (s *proxyStack) api(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, "http://"+s.keyward+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode, m
}

// signUpAPI creates an account and returns a session token for it and its id.
func (s *proxyStack) signUpAPI(t testing.TB, email string) (token, accountID string) {
	t.Helper()
	st, m := s.api(t, "POST", "/api/v1/accounts", "", map[string]string{"email": email, "password": proxyPassword})
	if st != 201 {
		t.Fatalf("sign-up %s: %d %v", email, st, m)
	}
	accountID = m["account"].(map[string]any)["id"].(string)
	st, m = s.api(t, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": proxyPassword})
	if st != 201 {
		t.Fatalf("sign-in %s: %d %v", email, st, m)
	}
	return m["token"].(string), accountID
}

// signInAPI opens a session for an existing account and returns its token.
func (s *proxyStack) signInAPI(t testing.TB, email string) (token, sessionID string) {
	t.Helper()
	st, m := s.api(t, "POST", "/api/v1/sessions", "", map[string]string{"email": email, "password": proxyPassword})
	if st != 201 {
		t.Fatalf("sign-in %s: %d %v", email, st, m)
	}
	return m["token"].(string), m["session"].(map[string]any)["id"].(string)
}

// enableTOTP turns on 2FA for the account of token, confirming it with
// oathtool's code for now, and returns the key and the time step it spent.
func (s *proxyStack) enableTOTP(t testing.TB, oathtool, token string) (key string, spent time.Time) {
	t.Helper()
	st, m := s.api(t, "POST", "/api/v1/account/2fa/setup", token, map[string]string{"password": proxyPassword})
	if st != 200 {
		t.Fatalf("2fa setup: %d %v", st, m)
	}
	key = m["secret"].(string)
	spent = time.Now()
	st, m = s.api(t, "POST", "/api/v1/account/2fa/enable", token, map[string]string{"code": oathtoolCode(t, oathtool, key, spent)})
	if st != 200 {
		t.Fatalf("2fa enable: %d %v", st, m)
	}
	return key, spent
}

// TestProxyNginx walks docs/integrate/nginx.conf: keyward on its own
// subdomain, the application on another.
func TestProxyNginx(t *testing.T) {
	s := newProxyStack(t)
	s.startNginx(t, "nginx.conf")
	walkProxy(t, s, "proxy-nginx")
}

// TestProxyNginxSameHost walks docs/integrate/nginx-same-host.conf:
// keyward under /auth on the application's host.
func TestProxyNginxSameHost(t *testing.T) {
	s := newSameHostStack(t)
	s.startNginx(t, "nginx-same-host.conf")
	walkProxy(t, s, "proxy-nginx-same-host")
}

// TestProxyCaddy walks docs/integrate/Caddyfile: the same layout.
func TestProxyCaddy(t *testing.T) {
	s := newProxyStack(t)
	s.startCaddy(t, "Caddyfile")
	walkProxy(t, s, "proxy-caddy")
}

// walkProxy is the journey every proxy setup must pass: an application
// page, signed out, leads to keyward's sign-in and, after the password and
// a TOTP code, back to that page (path and query), whose upstream gets
// keyward's identity headers and not the ones the browser forged; a
// session ended elsewhere is refused at the next request; a route that
// needs two factors refuses a one-factor session.
func walkProxy(t *testing.T, s *proxyStack, journey string) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	const ada, bob = "ada@example.test", "bob@example.test"
	adaOther, adaID := s.signUpAPI(t, ada)
	key, spent := s.enableTOTP(t, oathtool, adaOther)
	_, bobID := s.signUpAPI(t, bob)

	b := startBrowser(t, &browserSite{env: s.env, url: s.authURL}, journey,
		chromedp.Flag("host-resolver-rules", "MAP *."+testDomain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true),
	)
	d := b.device("ada's laptop")
	// Headers a client makes up to pass for someone else; the proxy must
	// drop them (the "_" spelling is what CGI-style frameworks read as "-").
	if _, err := chromedp.Call(d.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
		"X-Keyward-Email":      "mallory@evil.test",
		"X-Keyward-Account-Id": "acct_forged",
		"X-Keyward-AAL":        "2",
		"X-Keyward_Email":      "mallory@evil.test",
	}}); err != nil {
		d.fatalf("forging X-Keyward-* headers: %v", err)
	}

	original := s.appURL + "/reports/2026?range=7d&sort=-date&q=a%2Fb%26c"
	if st := act(d, "open "+original, chromedp.NavigateResponse(original)).Status; st != 200 {
		d.fatalf("signed out, the application page answered %d, want keyward's sign-in page", st)
	}
	loc := location(d)
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, s.authURL+"/signin?") || u.Query().Get("next") != original {
		d.fatalf("signed out, the application page led to %s, want %s/signin with next=%s", loc, s.authURL, original)
	}
	d.fill("#email", ada)
	d.fill("#password", proxyPassword)
	d.press(`form[action="` + s.base + `/signin"] button[type="submit"]`)
	if loc := location(d); !strings.HasPrefix(loc, s.authURL+"/signin/2fa?") {
		d.fatalf("after the password, the page is %s, want the second step", loc)
	}
	// The code of the step after the one spent on enabling: one step of
	// drift is accepted.
	d.fill("#code", oathtoolCode(t, oathtool, key, spent.Add(30*time.Second)))
	if st := d.press(`form[action="` + s.base + `/signin/2fa"] button[type="submit"]`); st != 200 {
		d.fatalf("after the second step the page answered %d, want 200", st)
	}
	if loc := location(d); loc != original {
		d.fatalf("after sign-in the page is %s, want the original %s", loc, original)
	}
	d.screenshot("back-at-the-application")
	seen := seenOnPage(d)
	sessionID := wantIdentity(d, seen, "/reports/2026?range=7d&sort=-date&q=a%2Fb%26c", adaID, ada, "2", "pwd,otp,mfa")

	// The session cookie is keyward's, and the application's host gets it.
	got, err := chromedp.Call(d.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.appURL + "/"}})
	d.check("read cookies", err)
	all := got.Cookies
	i := slices.IndexFunc(all, func(c *network.Cookie) bool { return c.Name == s.cookieName })
	if i < 0 {
		d.fatalf("the application's host does not get %s; it gets %v", s.cookieName, cookieNames(all))
	}
	if c := all[i]; strings.TrimPrefix(c.Domain, ".") != s.cookieDomain || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
		d.fatalf("session cookie: Domain %q Path %q Secure %v HttpOnly %v SameSite %q, want %s, /, Secure, HttpOnly, Lax",
			c.Domain, c.Path, c.Secure, c.HTTPOnly, c.SameSite, s.cookieDomain)
	}

	// A two-factor session passes the route that asks for one.
	admin := s.appURL + "/admin/keys?tab=all"
	if st := act(d, "open "+admin, chromedp.NavigateResponse(admin)).Status; st != 200 {
		d.fatalf("the two-factor route answered %d to a two-factor session, want 200", st)
	}
	wantIdentity(d, seenOnPage(d), "/admin/keys?tab=all", adaID, ada, "2", "pwd,otp,mfa")

	// Ended from another session (through keyward's API): refused at once.
	if st, m := s.api(t, "DELETE", "/api/v1/sessions/"+sessionID, adaOther, nil); st != 204 {
		t.Fatalf("ending the browser's session from another: %d %v", st, m)
	}
	after := s.appURL + "/reports/after-revoke"
	act(d, "open "+after, chromedp.NavigateResponse(after))
	if loc := location(d); !strings.HasPrefix(loc, s.authURL+"/signin?") {
		d.fatalf("after its session ended, the application page is %s, want keyward's sign-in", loc)
	}
	if s.app.saw("/reports/after-revoke") {
		d.fatalf("the upstream was asked for a page after the session ended")
	}

	// A one-factor session: signs in, comes back, and is refused the
	// two-factor route (it is signed in: no second sign-in would raise it).
	p := b.newDevice("bob's phone")
	adminBob := s.appURL + "/admin/keys?who=bob"
	act(p, "open "+adminBob, chromedp.NavigateResponse(adminBob))
	if loc := location(p); !strings.HasPrefix(loc, s.authURL+"/signin?") {
		p.fatalf("signed out, the two-factor route led to %s, want keyward's sign-in", loc)
	}
	p.fill("#email", bob)
	p.fill("#password", proxyPassword)
	if st := p.press(`form[action="` + s.base + `/signin"] button[type="submit"]`); st != http.StatusUnauthorized {
		p.fatalf("a one-factor session at the two-factor route: %d, want 401", st)
	}
	if loc := location(p); loc != adminBob {
		p.fatalf("after sign-in the page is %s, want %s", loc, adminBob)
	}
	if s.app.saw("/admin/keys?who=bob") {
		p.fatalf("the upstream was asked for the two-factor route by a one-factor session")
	}
	home := s.appURL + "/home"
	if st := act(p, "open "+home, chromedp.NavigateResponse(home)).Status; st != 200 {
		p.fatalf("a one-factor session on an ordinary route: %d, want 200", st)
	}
	wantIdentity(p, seenOnPage(p), "/home", bobID, bob, "1", "pwd")

	proxyRequests(t, s, bob)
}

// proxyRequests sends what is not a page load through the proxy: form
// posts, API calls and scripts' fetches, with and without a bearer token.
func proxyRequests(t *testing.T, s *proxyStack, email string) {
	token, _ := s.signInAPI(t, email)
	page := "text/html,application/xhtml+xml"
	tests := []struct {
		name, method, path, token, accept string
		status                            int
		upstream                          bool // the request reaches the upstream
	}{
		{"signed out form post", "POST", "/reports?x=1", "", page, 401, false},
		{"signed out fetch", "GET", "/api/data", "", "application/json", 401, false},
		{"signed out DELETE", "DELETE", "/api/data/1", "", "*/*", 401, false},
		{"made-up token", "GET", "/api/data", "kws_madeup", "application/json", 401, false},
		{"bearer GET", "GET", "/api/data?bearer=get", token, "application/json", 200, true},
		{"bearer POST", "POST", "/api/data?bearer=post", token, "application/json", 200, true},
		{"bearer, two-factor route, one factor", "GET", "/admin/keys?bearer=1", token, "application/json", 401, false},
		{"bearer page load, two-factor route, one factor", "GET", "/admin/keys?bearer=2", token, page, 401, false},
	}
	c := s.client()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.appURL+tt.path, strings.NewReader("a=1"))
			req.Header.Set("Accept", tt.accept)
			req.Header.Set("X-Keyward-Email", "mallory@evil.test")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status || res.Header.Get("Location") != "" {
				t.Fatalf("%s %s: %d (Location %q), want %d; body %.200s", tt.method, tt.path, res.StatusCode, res.Header.Get("Location"), tt.status, body)
			}
			if got := s.app.saw(tt.path); got != tt.upstream {
				t.Fatalf("%s %s reached the upstream: %v, want %v", tt.method, tt.path, got, tt.upstream)
			}
			if tt.upstream && !strings.Contains(html.UnescapeString(string(body)), `"X-Keyward-Email":"`+email+`"`) {
				t.Fatalf("%s %s: the upstream saw %s, want X-Keyward-Email %s", tt.method, tt.path, body, email)
			}
		})
	}
}

func location(d *device) string {
	d.t.Helper()
	return act(d, "location", chromedp.Location())
}

// seenOnPage is what the upstream showed on the page it answered.
func seenOnPage(d *device) seenRequest {
	d.t.Helper()
	var s seenRequest
	if err := json.Unmarshal([]byte(d.text("#seen")), &s); err != nil {
		d.fatalf("the upstream's page does not show what it saw: %v", err)
	}
	return s
}

// wantIdentity fails unless the upstream got uri with keyward's identity
// headers, each once, and no other X-Keyward-* header; it returns the
// session id.
func wantIdentity(d *device, s seenRequest, uri, accountID, email, aal, amr string) string {
	d.t.Helper()
	if s.URI != uri {
		d.fatalf("the upstream got %s, want %s", s.URI, uri)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range s.Header {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(names, identityHeaders) {
		d.fatalf("the upstream got the headers %q, want exactly %q", s.Header, identityHeaders)
	}
	want := map[string]string{"X-Keyward-Account-Id": accountID, "X-Keyward-Email": email, "X-Keyward-Aal": aal, "X-Keyward-Amr": amr}
	for k, v := range want {
		if s.Header[k] != v {
			d.fatalf("the upstream got %s: %q, want %q (all: %q)", k, s.Header[k], v, s.Header)
		}
	}
	id := s.Header["X-Keyward-Session-Id"]
	if !strings.HasPrefix(id, "sess_") || strings.Contains(id, "|") {
		d.fatalf("the upstream got X-Keyward-Session-Id %q", id)
	}
	return id
}

func cookieNames(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestIntegrateGuideQuotesTheFiles: docs/integrate.md prints each file of
// docs/integrate/ it names, as it stands, so what a reader copies is what
// the walks above run.
func TestIntegrateGuideQuotesTheFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "integrate.md"))
	if err != nil {
		t.Fatal(err)
	}
	guide := string(b)
	files, err := filepath.Glob(filepath.Join("..", "docs", "integrate", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files under docs/integrate/: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		marker := "<!-- file: integrate/" + name + " -->\n```"
		_, rest, ok := strings.Cut(guide, marker)
		if !ok {
			t.Errorf("docs/integrate.md does not print docs/integrate/%s (want %q before its block)", name, marker)
			continue
		}
		_, rest, _ = strings.Cut(rest, "\n") // the fence's language
		quoted, _, ok := strings.Cut(rest, "```\n")
		if want := docSnippet(t, name); !ok || quoted != want {
			t.Errorf("docs/integrate.md prints a docs/integrate/%s that differs from the file", name)
		}
	}
}
