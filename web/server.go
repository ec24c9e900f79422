// Package web is keyward's HTTP face: the JSON API of API.md and the pages a
// person uses. Handlers translate HTTP into Service calls and errors into
// responses; every rule lives in the Service.
package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/locale"
	"github.com/keyward/keyward/metrics"
)

// Config is what the web layer needs to know about its deployment.
type Config struct {
	// PublicURL is where people reach keyward. With https, cookies are
	// Secure and __Host- prefixed (__Secure- when a Domain or a Path other
	// than / rules __Host- out) and HSTS is sent. Its path, if any, must be
	// BasePath: links are built from its origin and BasePath.
	PublicURL *url.URL
	// BasePath ("/auth"), when set, is the path keyward is served under:
	// every link, form action, redirect and cookie Path carries it. Requests
	// are served with the base path still on them or already stripped (by a
	// proxy or http.StripPrefix). See ParseBasePath for the accepted forms;
	// "" and "/" mean none.
	BasePath string
	// CookiePath is the session cookie's Path: "" for BasePath (or / when
	// there is none), else "/" or a parent of BasePath, so that an
	// application on the same host, outside the base path, receives the
	// session cookie too. keyward's other cookies use BasePath (the flash
	// message /, to be __Host- under https).
	CookiePath string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CORSOrigins (scheme://host[:port]) may call the API from a browser
	// with a bearer token; credentials are never allowed.
	CORSOrigins []string
	// AllowedReturnOrigins are the origins (scheme://host[:port]) a
	// post-sign-in next may point at; see ParseReturnOrigins.
	AllowedReturnOrigins []string
	// CookieDomain, when set, shares the session cookie with sibling
	// subdomains (see ParseCookieDomain); keyward's other cookies stay
	// host-only. Empty keeps every cookie host-only.
	CookieDomain string
	// ProductName is shown in page titles and the header ("keyward" when
	// empty).
	ProductName string
	// AppURL, when set, is linked as "Back to <product>" on every settings
	// page. It must be an absolute http(s) URL.
	AppURL *url.URL
	// AccentColor, when set, is the pages' accent colour, #rgb or #rrggbb.
	AccentColor string
	// SeparateAdmin serves the admin API (/api/v1/admin/…) only through
	// AdminHandler, on a listener of its own that the public network does
	// not reach; the Server itself then answers 404 there. When false the
	// admin API is served with everything else.
	SeparateAdmin bool
	// Locale holds the words of the pages and the API's error messages in
	// every language keyward speaks; nil reads the built-in catalogues
	// with DefaultLanguage.
	Locale *locale.Catalogue
	// DefaultLanguage ("en" when empty, or "uk") is the language of a
	// request that asks, by the chooser's cookie and Accept-Language, for
	// none keyward speaks. Only read when Locale is nil.
	DefaultLanguage string
	// NoRequestDurations leaves the time of each answer uncounted: a node
	// that serves no metrics (keyward serve without --metrics-addr) has no
	// one to read them. The counters (sign-ins, checks, throttles) count
	// either way.
	NoRequestDurations bool
	// OpenID, when set, is the OpenID Connect provider served at
	// /.well-known/openid-configuration and under /oauth/ (the openid
	// package's); nil turns single sign-on off.
	OpenID OpenIDProvider
}

// Server serves keyward over HTTP. It is an http.Handler, so a Go
// application can mount it.
type Server struct {
	svc     *keyward.Service
	cfg     Config
	base    string // canonical BasePath: "" or "/seg..."
	log     *slog.Logger
	pages   *pages
	locale  *locale.Catalogue
	handler http.Handler
	mux     *http.ServeMux
	// adminMux holds the admin routes: mux, or one of their own with
	// Config.SeparateAdmin, which adminHandler serves.
	adminMux     *http.ServeMux
	adminHandler http.Handler
	secure       bool
	cookie       cookieNames
	ids          *requestIDs
	// Session checks answered (200) and refused (401) between log lines.
	sessionChecks        atomic.Int64
	sessionChecksRefused atomic.Int64
	checkAnswers         *checkAnswers
	returnOrigins        map[string]bool // canonical origins next may leave for
	pagePolicy           []string        // the pages' Content-Security-Policy
	// crossOrigin is the CSRF check of keyward's own routes and of the
	// application's behind RequireSession: one check, one set of rules.
	crossOrigin *http.CrossOriginProtection
	metrics     *metrics.Metrics // the service's: one set of counters
	patterns    []string         // every route's http.ServeMux pattern
	// openAPI is the OpenAPI document as served here (its server URL is
	// this deployment's), made on first use.
	openAPI func() ([]byte, error)
	// durations: each answer's time is counted under its route for
	// /metrics (Config.NoRequestDurations unset).
	durations bool
	epoch     time.Time // answer times are measured from it, on the monotonic clock
	// checks answers the checks on their short way (see middleware), and
	// checkRoutes are their routes' durations.
	checks      http.Handler
	checkRoutes struct{ session, auth, forward *metrics.Route }
	// errorBodies are encoded 401 answers, by code and message (all of
	// them constants): an unknown token's answer costs no encoding.
	errorBodies    sync.Map // errorDetail → []byte
	errorBodyCount atomic.Int64
}

// RoutePatterns are the http.ServeMux patterns of every route, in the
// order they are registered ("GET /api/v1/sessions/{id}", "/api/").
func (s *Server) RoutePatterns() []string { return slices.Clone(s.patterns) }

type cookieNames struct {
	session string
	mfa     string
	flash   string
	device  string // marks a browser that signed in before; outlives sessions
	// sessionRef names the browser's session (account and session ids,
	// no secret), so that a browser whose session was ended elsewhere can
	// be told why (Server.tellSessionEnded).
	sessionRef string
	codes      string // new backup codes, sealed for their session (codesonscreen.go)
	lang       string // the language chosen with the pages' chooser
	// sessionPath is the session cookie's Path (Config.CookiePath); ownPath
	// that of the mfa and device cookies, which only keyward's pages read
	// (the base path).
	sessionPath, ownPath string
}

// cookieName is a cookie's name with the strongest prefix its attributes
// allow under https: __Host- binds it to this exact origin but demands
// Path=/ and no Domain; __Secure- still demands Secure.
func cookieName(name string, secure bool, path, domain string) string {
	switch {
	case !secure:
		return name
	case path == "/" && domain == "":
		return "__Host-" + name
	default:
		return "__Secure-" + name
	}
}

// The session-check answer cache holds at most maxCheckAnswers answers
// (~720 B an entry besides its body: the view's strings are shared with the
// session cache) and maxCheckAnswerBytes of bodies (~450 B for a browser's
// session, up to ~6.5 KiB for a 512-byte user agent full of characters JSON
// escapes): ~30 MiB at most. Past either bound it starts again, and each
// session's next check encodes its answer once more.
const (
	maxCheckAnswers     = 20_000
	maxCheckAnswerBytes = 16 << 20
)

// New builds the server and its routes.
func New(svc *keyward.Service, cfg Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secure := cfg.PublicURL != nil && cfg.PublicURL.Scheme == "https"
	base, err := ParseBasePath(cfg.BasePath, cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("base path: %w", err)
	}
	cfg.BasePath = base
	cookiePath, err := ParseCookiePath(cfg.CookiePath, base)
	if err != nil {
		return nil, fmt.Errorf("cookie path: %w", err)
	}
	cfg.CookiePath = cookiePath
	domain, err := ParseCookieDomain(cfg.CookieDomain, cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("cookie domain: %w", err)
	}
	cfg.CookieDomain = domain
	ownPath := base
	if ownPath == "" {
		ownPath = "/"
	}
	// Only the session cookie is shared: the others stay host-only, as
	// only keyward's pages read them. The flash is at Path=/ so that it can
	// be __Host- under https: a sibling subdomain could set a __Secure- one
	// under the base path, and keyward would show its text as its own.
	names := cookieNames{
		session:     cookieName("keyward_session", secure, cookiePath, domain),
		mfa:         cookieName("keyward_mfa", secure, ownPath, ""),
		flash:       cookieName("keyward_flash", secure, "/", ""),
		device:      cookieName("keyward_device", secure, ownPath, ""),
		sessionRef:  cookieName("keyward_session_ref", secure, ownPath, ""),
		codes:       cookieName("keyward_codes", secure, ownPath, ""),
		lang:        cookieName("keyward_lang", secure, ownPath, ""),
		sessionPath: cookiePath,
		ownPath:     ownPath,
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "keyward"
	}
	if cfg.AppURL != nil && ((cfg.AppURL.Scheme != "http" && cfg.AppURL.Scheme != "https") || cfg.AppURL.Host == "") {
		return nil, fmt.Errorf("web: AppURL %q is not an absolute http(s) URL", cfg.AppURL)
	}
	if cfg.AccentColor != "" && !isHexColor(cfg.AccentColor) {
		return nil, fmt.Errorf("web: AccentColor %q is not #rgb or #rrggbb", cfg.AccentColor)
	}
	cat := cfg.Locale
	if cat == nil {
		if cat, err = locale.New(cfg.DefaultLanguage); err != nil {
			return nil, err
		}
	}
	p, err := parsePages(base, cat)
	if err != nil {
		return nil, err
	}
	origins, err := ParseReturnOrigins(strings.Join(cfg.AllowedReturnOrigins, ","), cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("allowed return origins: %w", err)
	}
	s := &Server{svc: svc, cfg: cfg, base: base, log: log, pages: p, locale: cat, secure: secure, cookie: names, ids: newRequestIDs(),
		checkAnswers: newCheckAnswers(maxCheckAnswers, maxCheckAnswerBytes)}
	// The service's counters, so one scrape sees them all; a Server built
	// without a service (tests of parsing) keeps its own.
	s.metrics = metrics.New()
	if svc != nil {
		s.metrics = svc.Metrics()
	}
	s.crossOrigin = http.NewCrossOriginProtection()
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, keyward.Errorf(keyward.CodeForbidden, "This request came from another site and was refused."))
	}))
	s.durations = !cfg.NoRequestDurations
	s.epoch = time.Now()
	for _, o := range origins {
		if s.returnOrigins == nil {
			s.returnOrigins = map[string]bool{}
		}
		s.returnOrigins[o] = true
	}
	s.pagePolicy = pagePolicy(origins)
	s.openAPI = sync.OnceValues(func() ([]byte, error) { return withServer(openAPIDocument, s.openAPIServerURL()) })
	s.mux = s.routes()
	s.checkRoutes.session = s.metrics.Route("GET " + sessionCheckPath)
	s.checkRoutes.auth = s.metrics.Route("GET " + authCheckPath)
	s.checkRoutes.forward = s.metrics.Route("GET " + authForwardPath)
	s.checks = s.cors(http.HandlerFunc(s.serveCheck))
	s.handler = s.middleware(s.mux)
	if cfg.SeparateAdmin {
		// Without the checks' short way: the admin listener serves the
		// admin API alone, never the session or proxy checks.
		s.adminHandler = s.accessLog(s.routeChain(s.adminMux), nil)
	}
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(s.handler, w, r) }

// AdminHandler serves the admin API alone, with the same middleware
// (request ids, the access log, security headers), for a listener of its
// own; nil unless Config.SeparateAdmin is set.
func (s *Server) AdminHandler() http.Handler {
	if s.adminHandler == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(s.adminHandler, w, r) })
}

// serve answers r with h, the base path taken off first.
func (s *Server) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if s.base != "" {
		stripped, redirect := s.underBase(r)
		if redirect != "" {
			// Through the middleware, like every answer: security headers,
			// a request id and an access-log line.
			s.accessLog(s.routeChain(http.RedirectHandler(redirect, http.StatusMovedPermanently)), nil).ServeHTTP(w, r)
			return
		}
		r = stripped
	}
	h.ServeHTTP(w, r)
}

// isAPI reports whether a request is for the JSON API (errors as JSON) or
// for a page (errors as HTML). The path it reads has no base path: ServeHTTP
// took it off before any middleware.
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }
