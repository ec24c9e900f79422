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
// The account and session are the caller's own copies.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	token, err := s.sessionToken(r)
	if err != nil {
		return nil, err
	}
	a, sess, err := s.svc.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	return &principal{account: a, session: sess}, nil
}

// authenticateShared is authenticate for the checks that only read the
// caller to answer (see keyward.Service.AuthenticateShared): the account
// and session are the node's cached ones, never to be changed.
func (s *Server) authenticateShared(r *http.Request) (principal, error) {
	token, err := s.sessionToken(r)
	if err != nil {
		return principal{}, err
	}
	a, sess, err := s.svc.AuthenticateShared(r.Context(), token)
	if err != nil {
		return principal{}, err
	}
	return principal{account: a, session: sess}, nil
}

// sessionToken is the request's session token: a bearer token when it
// carries an Authorization header, else the session cookie's.
func (s *Server) sessionToken(r *http.Request) (string, error) {
	token := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", keyward.Errorf(keyward.CodeUnauthenticated, "Use Authorization: Bearer <session token>.")
		}
		token = strings.TrimSpace(rest)
	} else if c, err := r.Cookie(s.cookie.session); err == nil {
		token = c.Value
	}
	if token == "" {
		return "", keyward.Errorf(keyward.CodeUnauthenticated, "Sign in to continue.")
	}
	return token, nil
}

// client is the request's client as the service records it.
func (s *Server) client(r *http.Request) keyward.Client {
	// The service cleans and bounds both before storing them.
	c := keyward.Client{IP: clientIP(r, s.cfg.TrustedProxies), UserAgent: r.UserAgent()}
	// A language only when the request says one: an account made without
	// keeps none, and follows the default the operator sets, now or later.
	if _, err := r.Cookie(s.cookie.lang); err == nil || r.Header.Get("Accept-Language") != "" {
		c.Language = s.language(r).Code
	}
	return c
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

// newCookie is a cookie with the attributes every one of keyward's has.
// Only the session cookie, which the application needs, has the Domain
// (when --cookie-domain is set) and --cookie-path; the others stay
// host-only under the base path, where only keyward's pages read them,
// except the flash, which holds no secret and is at Path=/ to be __Host-.
func (s *Server) newCookie(name, value string) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: s.cookie.ownPath, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	switch name {
	case s.cookie.session:
		c.Path = s.cookie.sessionPath
		c.Domain = s.cfg.CookieDomain
	case s.cookie.flash:
		c.Path = "/"
	}
	return c
}

// clearCookie must repeat the Path and Domain, or the browser keeps the
// cookie.
func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	c := s.newCookie(name, "")
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// homeRoute is where a person lands when no (usable) next says otherwise.
const homeRoute = "/settings/security"

// safeNext keeps a post-sign-in redirect on this site: a local path, or an
// absolute URL on one of the allowed return origins, never another origin;
// anything else is homeRoute (without a base path: Server.next adds it).
func safeNext(next string, allowed map[string]bool) string {
	if out, ok := checkNext(next, allowed); ok {
		return out
	}
	return homeRoute
}

// checkNext returns next as the browser will be sent to it, when it is a
// local path or an absolute URL on one of the allowed origins. The check is
// made on the result, after parsing and re-encoding, since that is what the
// browser will follow ("/%2Fevil.example/{" re-encodes to
// "//evil.example/..."). A local path is a path on this origin as the
// browser sees it, base path included, and need not be under the base path:
// an application beside keyward on the same host is a fine place to return
// to.
func checkNext(next string, allowed map[string]bool) (string, bool) {
	if out, ok := absoluteNext(next, allowed); ok {
		return out, true
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	out := u.RequestURI()
	if !localPath(out) || !localPath(u.Path) {
		return "", false
	}
	return out, true
}

// next is the request's next (from the query or the form) made safe, or
// the settings page under the base path.
func (s *Server) next(raw string) string {
	if out, ok := checkNext(raw, s.returnOrigins); ok {
		return out
	}
	return s.path(homeRoute)
}

// localPath reports whether p can only mean a path on this origin.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") &&
		!strings.ContainsAny(p, "\\\x00\r\n\t")
}
