package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
)

// principal is the signed-in caller of a request.
type principal struct {
	account *keyward.Account
	session *keyward.Session
}

// authenticate finds the caller: a bearer token when the request carries an
// Authorization header (never falling back to the cookie), else the cookie.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, keyward.Errorf(keyward.CodeUnauthenticated, "Use Authorization: Bearer <session token>.")
		}
		token = strings.TrimSpace(rest)
	} else if c, err := r.Cookie(s.cookie.session); err == nil {
		token = c.Value
	}
	if token == "" {
		return nil, keyward.Errorf(keyward.CodeUnauthenticated, "Sign in to continue.")
	}
	a, sess, err := s.svc.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	return &principal{account: a, session: sess}, nil
}

// client is the request's client as the service records it.
func (s *Server) client(r *http.Request) keyward.Client {
	// The service cleans and bounds both before storing them.
	return keyward.Client{IP: clientIP(r, s.cfg.TrustedProxies), UserAgent: r.UserAgent()}
}

// setCookie sets one of keyward's cookies with the attributes every one of
// them must have.
func (s *Server) setCookie(w http.ResponseWriter, name, value string, expires time.Time) {
	c := s.newCookie(name, value)
	if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// newCookie is a cookie with the attributes every one of keyward's has; the
// Domain (when --cookie-domain is set) goes on all but the flash message.
func (s *Server) newCookie(name, value string) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if name != s.cookie.flash {
		c.Domain = s.cfg.CookieDomain
	}
	return c
}

// clearCookie must repeat the Domain, or the browser keeps the cookie.
func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	c := s.newCookie(name, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// safeNext keeps a post-sign-in redirect on this site: a local path, or an
// absolute URL on one of the allowed return origins, never another origin. The check is made on the result, after parsing and
// re-encoding, since that is what the browser will follow ("/%2Fevil.example/{"
// re-encodes to "//evil.example/...").
func safeNext(next string, allowed map[string]bool) string {
	const home = "/settings/security"
	if out, ok := absoluteNext(next, allowed); ok {
		return out
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	out := u.RequestURI()
	if !localPath(out) || !localPath(u.Path) {
		return home
	}
	return out
}

// localPath reports whether p can only mean a path on this origin.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") &&
		!strings.ContainsAny(p, "\\\x00\r\n\t")
}
