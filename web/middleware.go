package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/metrics"
)

// maxBodyBytes bounds every request body; larger ones are 413.
const maxBodyBytes = 1 << 20

// requestID is the id the access log gave the request w answers. It rides
// on the ResponseWriter rather than the request's context: a context value
// costs a copy of the whole Request on every request, hot checks included.
func requestID(w http.ResponseWriter) string {
	if rec := recorderOf(w); rec != nil {
		return rec.id
	}
	return ""
}

// middleware wraps the routes in what every response needs, outermost first:
// a request id and the access log, security headers, panic recovery, the
// body limit, CORS for the configured origins, and cross-origin protection
// for state-changing requests that a bearer token does not authenticate.
//
// The checks that every request of every application behind keyward makes
// (GET of the session check and of the proxies' auth checks) take a short
// way: the same request id, access log, metrics, security headers, panic
// recovery and CORS, then straight to their handler, with no ServeMux
// lookup, no body limit (they read no body) and no cross-origin wrapper
// (GET is a safe method, which it passes anyway). Those were 1.5–2 % of the
// server's CPU per check.
func (s *Server) middleware(h http.Handler) http.Handler {
	return s.accessLog(s.routeChain(h), s.checks)
}

// routeChain is what every answer but the checks' short way goes through
// under the access log.
func (s *Server) routeChain(h http.Handler) http.Handler {
	h = bearerExempt(s.crossOrigin.Handler(h), h)
	h = s.cors(h)
	h = s.limitBody(h)
	h = s.recoverPanics(h)
	return s.securityHeaders(h)
}

type statusRecorder struct {
	http.ResponseWriter
	id     string
	status int
	bytes  int
	route  *metrics.Route // set by the route that answers
	// idHeader is the X-Request-Id header's value: in the recorder's
	// allocation rather than one of its own.
	idHeader [1]string
}

// recorderOf finds the access log's recorder under w.
func recorderOf(w http.ResponseWriter) *statusRecorder {
	for {
		switch x := w.(type) {
		case *statusRecorder:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Flush lets streamed exports reach the client as they are written.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// requestIDs makes request ids: a random per-process prefix and a counter,
// unique without reading randomness on every request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 36)
}

// sessionCheckPath is the check every application behind keyward makes on
// each of its own requests.
const sessionCheckPath = "/api/v1/sessions/current"

// isCheckPath reports whether path is one of the checks made on each of
// the applications' own requests.
func isCheckPath(path string) bool {
	return path == sessionCheckPath || path == authCheckPath || path == authForwardPath
}

// accessLog logs one line per request: never a query string, header, cookie
// or body, so no token or code can reach the log. Session checks (and the
// proxies' auth checks, whose 302 to sign-in counts as answered) are the
// exception: they are as frequent as the applications' own requests, so
// answered ones (200, and 401 for a token that opens nothing) are counted
// and summed up once a minute (LogSessionChecks) instead of drowning
// everything else, and a flood of made-up tokens costs no more than valid
// ones. Any other answer to a check is logged like any request.
//
// checks, when not nil, answers the checks (GET of isCheckPath) instead of
// next: see middleware.
func (s *Server) accessLog(next, checks http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hot := r.Method == http.MethodGet && isCheckPath(r.URL.Path)
		// Durations from the monotonic clock alone: time.Now reads the
		// wall clock too, and a clock read is 50 ns or more on a VM.
		timed := s.durations || !hot
		var start time.Duration
		if timed {
			start = time.Since(s.epoch)
		}
		id := ""
		if in := r.Header["X-Request-Id"]; len(in) == 1 && saneRequestID(in[0]) {
			// A proxy's or an application's id: one id across their logs.
			id = in[0]
		} else {
			id = s.ids.next()
		}
		rec := &statusRecorder{ResponseWriter: w, id: id}
		rec.idHeader[0] = id
		w.Header()["X-Request-Id"] = rec.idHeader[:]
		if hot && checks != nil {
			// No context value: it copies the whole Request.
			checks.ServeHTTP(rec, r)
		} else {
			if !hot {
				// For the service's own lines about this request.
				r = r.WithContext(keyward.WithRequestID(r.Context(), id))
			}
			next.ServeHTTP(rec, r)
		}
		var elapsed time.Duration
		if timed {
			elapsed = time.Since(s.epoch) - start
		}
		if s.durations {
			route := rec.route
			if route == nil {
				route = s.metrics.Unmatched()
			}
			route.Observe(rec.status, elapsed)
		}
		if hot {
			switch rec.status {
			case http.StatusOK:
				s.metrics.SessionChecks.Inc(metrics.CheckValid)
				s.sessionChecks.Add(1)
				return
			case http.StatusFound:
				s.metrics.SessionChecks.Inc(metrics.CheckRedirect)
				s.sessionChecks.Add(1)
				return
			case http.StatusUnauthorized:
				s.metrics.SessionChecks.Inc(metrics.CheckUnauthorized)
				s.sessionChecksRefused.Add(1)
				return
			}
			s.metrics.SessionChecks.Inc(metrics.CheckOther)
			if !timed {
				elapsed = -1 // not measured: the line goes without a duration
			}
		}
		if isProbePath(r.URL.Path) {
			// Probes come every few seconds from the orchestrator; a failing
			// /readyz logs its own reason.
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
		}
		if elapsed >= 0 {
			attrs = append(attrs, slog.Float64("duration_ms", milliseconds(elapsed)))
		}
		attrs = append(attrs, slog.String("ip", clientIP(r, s.cfg.TrustedProxies)))
		s.log.LogAttrs(r.Context(), levelFor(rec.status), "http", attrs...)
	})
}

// serveCheck answers the checks on their short way (see middleware): the
// security headers, panic recovery, then the check's own handler.
func (s *Server) serveCheck(w http.ResponseWriter, r *http.Request) {
	defer s.recoverInto(w, r)
	s.setSecurityHeaders(w.Header(), false)
	rec := recorderOf(w)
	var err error
	switch r.URL.Path {
	case sessionCheckPath:
		rec.route = s.checkRoutes.session
		err = s.serveSessionCheck(w, r)
	case authCheckPath:
		rec.route = s.checkRoutes.auth
		err = s.apiAuthCheck(w, r)
	case authForwardPath:
		rec.route = s.checkRoutes.forward
		err = s.apiAuthForward(w, r)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// isProbePath reports whether path is a health probe's (the base path is
// already off).
func isProbePath(path string) bool { return path == "/healthz" || path == "/readyz" }

// milliseconds is d in milliseconds, to the microsecond: the unit a person
// reads in a log, and a number a log pipeline can sum.
func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// maxRequestIDLen bounds an incoming X-Request-Id (a UUID is 36, a W3C
// trace id 32).
const maxRequestIDLen = 128

// saneRequestID reports whether an incoming X-Request-Id may be kept: not
// empty, not long, and only characters that cannot forge a log line or a
// field in any log format (letters, digits, - _ . : /).
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':', c == '/':
		default:
			return false
		}
	}
	return true
}

// LogSessionChecks writes, every interval until ctx ends, how many session
// checks were answered and refused since the last line.
func (s *Server) LogSessionChecks(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ok, refused := s.sessionChecks.Swap(0), s.sessionChecksRefused.Swap(0)
			if ok+refused > 0 {
				s.log.Info("http session checks", "path", sessionCheckPath, "answered", ok, "refused", refused, "interval_ms", interval.Milliseconds())
			}
		}
	}
}

// contentSecurityPolicy allows only this origin's own scripts and styles:
// no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// pagePolicy is contentSecurityPolicy with the allowed return origins added
// to form-action. Browsers hold the redirects that answer a form post to
// form-action too, and signing in with an absolute next ends with one: the
// second step's form is answered 303 to the application. Origins are
// canonical scheme://host[:port], valid CSP sources as they are.
func pagePolicy(returnOrigins []string) []string {
	if len(returnOrigins) == 0 {
		return []string{contentSecurityPolicy}
	}
	return []string{strings.Replace(contentSecurityPolicy, "form-action 'self'",
		"form-action 'self' "+strings.Join(returnOrigins, " "), 1)}
}

// apiContentSecurityPolicy is the policy of JSON answers: nothing may load
// or frame them (standards.md 30 asks object-src, base-uri and
// frame-ancestors everywhere; default-src 'none' would cover object-src).
const apiContentSecurityPolicy = "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// headerValue is one header every response of a kind carries.
type headerValue struct {
	key   string
	value []string
}

// The values are shared, read-only slices of capacity 1 assigned to the
// canonical keys: no Header.Set re-canonicalising and re-validating them, no
// allocation per header (the session check is hot). net/http replaces or
// appends to a header's slice, never writes into it, and an append to a full
// slice copies it.
var (
	// apiHeaders are what acts on a JSON answer (the OWASP REST set, and
	// Referrer-Policy, which standards.md 30 asks everywhere). Every header
	// costs the hot session check a copy, a sort and a write, so the ones
	// that only act on documents are left to pages.
	apiHeaders = []headerValue{
		{"Content-Security-Policy", []string{apiContentSecurityPolicy}},
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"Referrer-Policy", []string{"no-referrer"}},
		{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
		{"Cache-Control", noStore},
	}
	// pageHeaders add, for HTML, the legacy framing ban, a browsing-context
	// group of its own and no powerful features.
	pageHeaders = []headerValue{
		{"Content-Security-Policy", []string{contentSecurityPolicy}},
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Referrer-Policy", []string{"no-referrer"}},
		{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
		{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
		{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=(), interest-cohort=()"}},
	}
	noStore         = []string{"no-store"}
	strictTransport = []string{"max-age=63072000; includeSubDomains"}
	jsonContentType = []string{"application/json; charset=utf-8"}
)

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := !isAPI(r)
		s.setSecurityHeaders(w.Header(), page)
		if page && strings.HasPrefix(r.URL.Path, "/static/") {
			delete(w.Header(), "Cache-Control") // static files are cached
		}
		next.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets keyward's security headers on an answer of its
// own: the API set on JSON, the page set (never stored) on HTML.
func (s *Server) setSecurityHeaders(h http.Header, page bool) {
	if page {
		for _, kv := range pageHeaders {
			h[kv.key] = kv.value[:1:1]
		}
		h["Content-Security-Policy"] = s.pagePolicy[:1:1]
		h["Cache-Control"] = noStore[:1:1]
	} else {
		for _, kv := range apiHeaders {
			h[kv.key] = kv.value[:1:1]
		}
	}
	if s.secure {
		h["Strict-Transport-Security"] = strictTransport[:1:1]
	}
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer s.recoverInto(w, r)
		next.ServeHTTP(w, r)
	})
}

// recoverInto, deferred, answers a panic of the handler as an internal
// error (http.ErrAbortHandler goes on up: it is how a handler hangs up).
func (s *Server) recoverInto(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.writeError(w, r, keyward.Internal(fmt.Errorf("panic: %v", v)))
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			s.writeError(w, r, tooLarge())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func tooLarge() *keyward.Error {
	return keyward.Errorf(keyward.CodeRequestTooLarge, "The request body is larger than 1 MiB.")
}

// levelFor is an access-log line's level: ERROR for what keyward got
// wrong, WARN for 503, which is load shed on purpose (a full hashing queue,
// a store that does not answer in time): worth watching, not a failure of
// keyward's own.
func levelFor(status int) slog.Level {
	switch {
	case status == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case status >= http.StatusInternalServerError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
