package web

import (
	"net/http"
	"net/url"
	"strings"

	keyward "github.com/keyward/keyward"
)

// The paths a reverse proxy asks before each request it lets through to
// the application behind keyward.
const (
	authCheckPath   = "/api/v1/auth/check"
	authForwardPath = "/api/v1/auth/forward"
)

// The identity headers' values that are the same for many sessions, made
// once so that answering a check allocates none of them: the levels, and
// X-Keyward-Amr for every set of methods (keyward.AMR is a byte).
var (
	aalOne     = []string{"1"}
	aalTwo     = []string{"2"}
	amrHeaders = func() (h [256][]string) {
		for i := range h {
			h[i] = []string{strings.Join(keyward.AMR(i).Values(), ",")}
		}
		return h
	}()
)

// apiAuthCheck answers GET /api/v1/auth/check, nginx's auth_request: 200
// with the identity headers, or 401, never a redirect.
func (s *Server) apiAuthCheck(w http.ResponseWriter, r *http.Request) error {
	p, err := s.checkAuth(r)
	if err != nil {
		return err
	}
	writeIdentity(w, &p)
	return nil
}

// apiAuthForward answers GET /api/v1/auth/forward, Traefik's ForwardAuth and
// Caddy's forward_auth: the same check, and a browser navigation without a
// session is sent to sign in and back to the page it asked for.
func (s *Server) apiAuthForward(w http.ResponseWriter, r *http.Request) error {
	p, err := s.checkAuth(r)
	if err == nil {
		writeIdentity(w, &p)
		return nil
	}
	if p.account == nil && keyward.IsCode(err, keyward.CodeUnauthenticated) {
		if method, original := s.originalRequest(r); method == http.MethodGet && acceptsHTML(r) {
			w.Header()["Location"] = []string{s.publicBase() + "/signin?next=" + url.QueryEscape(original)}
			w.WriteHeader(http.StatusFound)
			return nil
		}
	}
	return err
}

// checkAuth authenticates the caller and holds its session to ?aal=. A
// session below the asked level comes back with its error, so that the
// caller can tell "signed in, not enough" from "not signed in" (no
// account). The principal is the node's cached one (authenticateShared).
func (s *Server) checkAuth(r *http.Request) (principal, error) {
	want := 1
	if r.URL.RawQuery != "" {
		// Strictly: URL.Query drops the parts it cannot parse and Get reads
		// the first of several, so "aal=1&aal=2" or "aal=2;x" would ask for
		// less than a proxy's configuration may have meant. Refused instead.
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || len(q["aal"]) > 1 {
			return principal{}, keyward.Errorf(keyward.CodeInvalidRequest, "aal must be given once, as 1 or 2.")
		}
		switch v := q.Get("aal"); v {
		case "", "1":
		case "2":
			want = 2
		default:
			return principal{}, keyward.Errorf(keyward.CodeInvalidRequest, "aal must be 1 or 2.")
		}
	}
	p, err := s.authenticateShared(r)
	if err != nil {
		return principal{}, err
	}
	if p.session.AAL < want {
		return p, keyward.Errorf(keyward.CodeUnauthenticated, "This needs a session signed in with a second factor.")
	}
	if !headerSafe(p.account.ID) || !headerSafe(p.account.Email) || !headerSafe(p.session.ID) {
		// Ids are ours and emails validated: this would be a bug, not input.
		return principal{}, keyward.Errorf(keyward.CodeInternal, "The account cannot be described in headers.")
	}
	return p, nil
}

// writeIdentity answers 200 with an empty body (net/http adds
// Content-Length: 0) and the identity headers. The three strings share one
// backing array, the rest are shared constants: one allocation here.
func writeIdentity(w http.ResponseWriter, p *principal) {
	h := w.Header()
	vals := []string{p.account.ID, p.account.Email, p.session.ID}
	h["X-Keyward-Account-Id"] = vals[0:1:1]
	h["X-Keyward-Email"] = vals[1:2:2]
	h["X-Keyward-Session-Id"] = vals[2:3:3]
	if p.session.AAL >= 2 {
		h["X-Keyward-Aal"] = aalTwo
	} else {
		h["X-Keyward-Aal"] = aalOne
	}
	h["X-Keyward-Amr"] = amrHeaders[p.session.AMR]
	w.WriteHeader(http.StatusOK)
}

// headerSafe reports whether s can be a header value as it is: no control
// character that could end the header or start another.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// acceptsHTML reports whether the request is a browser's navigation.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

// originalRequest is the method and absolute URL of the request the proxy
// is asking about. Only a trusted proxy's X-Forwarded-* are believed; from
// any other peer they are ignored and the request's own are used.
func (s *Server) originalRequest(r *http.Request) (method, original string) {
	method = r.Method
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host, uri := r.Host, r.URL.RequestURI()
	if isTrusted(peerAddr(r.RemoteAddr), s.cfg.TrustedProxies) {
		if m := r.Header.Get("X-Forwarded-Method"); m != "" {
			method = m
		}
		if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); validHost(h) {
			host = h
		}
		if u := r.Header.Get("X-Forwarded-Uri"); strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && headerSafe(u) {
			uri = u
		}
	}
	return method, scheme + "://" + host + uri
}

// validHost accepts host[:port] and nothing that could change where the URL
// built from it points (userinfo, a path, a backslash, whitespace).
func validHost(h string) bool {
	if h == "" || !headerSafe(h) || strings.ContainsAny(h, "/\\@?# ") {
		return false
	}
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h
}

// publicBase is {public_url}: the public URL's origin and the base path,
// without a trailing slash; only the base path when there is no public URL
// (then links stay on the request's own host).
func (s *Server) publicBase() string {
	if s.cfg.PublicURL == nil {
		return s.base
	}
	return s.cfg.PublicURL.Scheme + "://" + s.cfg.PublicURL.Host + s.base
}
