package web

import (
	"net/http"
	"net/url"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/metrics"
)

// RequireSession returns a handler that lets a request through to next
// only with a valid session, authenticated exactly as the API does: the
// Authorization: Bearer token when there is one, else the session cookie,
// through the same session cache, timeouts and revocation. next reads the
// account and session with keyward.FromContext.
//
// Without a session, a browser's navigation (GET or HEAD accepting
// text/html) is sent (303) to the sign-in page with the page it asked for
// as next; anything else gets 401 and the API's JSON error. A
// state-changing request that a bearer token does not authenticate passes
// the cross-origin check keyward's own forms pass, or gets 403.
//
// The security headers of next's answers stay the application's; the ones
// the middleware writes itself carry keyward's.
func (s *Server) RequireSession(next http.Handler) http.Handler { return s.require(1, next) }

// RequireTwoFactor is RequireSession for sessions signed in with a second
// factor (aal 2). A one-factor session gets 403: a browser's navigation a
// page that points to the two-factor settings, anything else the JSON
// error mfa_required.
func (s *Server) RequireTwoFactor(next http.Handler) http.Handler { return s.require(2, next) }

func (s *Server) require(aal int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer := r.Header.Get("Authorization") != ""
		// Before reading the session: a cross-site form must not even
		// touch it (its last-seen time).
		if !bearer && s.crossOrigin.Check(r) != nil {
			s.refuse(w, r, keyward.Errorf(keyward.CodeForbidden, "This request came from another site and was refused."))
			return
		}
		// Counted like the session checks: it is one, made in-process.
		p, err := s.authenticate(r)
		if err != nil {
			if keyward.IsCode(err, keyward.CodeUnauthenticated) && !bearer && isNavigation(r) {
				s.metrics.SessionChecks.Inc(metrics.CheckRedirect)
				s.sendToSignIn(w, r)
				return
			}
			if keyward.IsCode(err, keyward.CodeUnauthenticated) {
				s.metrics.SessionChecks.Inc(metrics.CheckUnauthorized)
			} else {
				s.metrics.SessionChecks.Inc(metrics.CheckOther)
			}
			s.refuse(w, r, err)
			return
		}
		s.metrics.SessionChecks.Inc(metrics.CheckValid)
		if p.session.AAL < aal {
			s.refuseOneFactor(w, r, p)
			return
		}
		ctx := keyward.NewContext(r.Context(), keyward.Identity{Account: *p.account, Session: *p.session})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isNavigation reports whether r is a browser loading a page, which can be
// redirected to sign in and shown a page, rather than a program's call.
func isNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && acceptsHTML(r)
}

// sendToSignIn redirects a signed-out browser to sign in, and back to the
// page it asked for afterwards.
func (s *Server) sendToSignIn(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(s.cookie.session); err == nil {
		// An ended session's cookie is of no more use.
		s.clearCookie(w, s.cookie.session)
		s.tellSessionEnded(w, r)
	}
	target := s.path("/signin")
	if back := requestedPath(r); back != "" {
		target += "?next=" + url.QueryEscape(back)
	}
	s.setSecurityHeaders(w.Header(), true)
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// requestedPath is the local path and query the browser asked for: the
// request line's own when it has one, since an application may have
// stripped a prefix from r.URL before the middleware. Anything that is not
// a plain local path is dropped, and the sign-in goes to its default.
func requestedPath(r *http.Request) string {
	p := r.RequestURI
	if !localPath(p) {
		p = r.URL.RequestURI()
	}
	if !localPath(p) {
		return ""
	}
	return p
}

// refuseOneFactor answers a session below aal 2.
func (s *Server) refuseOneFactor(w http.ResponseWriter, r *http.Request, p *principal) {
	if !isNavigation(r) || r.Header.Get("Authorization") != "" {
		s.refuse(w, r, keyward.Errorf(keyward.CodeMFARequired, "This needs a session signed in with a second factor."))
		return
	}
	v := &twoFactorRequiredView{
		layout:      layout{Title: "Two-factor authentication needed", Email: p.account.Email},
		Enabled:     p.account.TwoFactorEnabled(),
		SettingsURL: s.path("/settings/security/two-factor"),
	}
	s.setSecurityHeaders(w.Header(), true)
	s.render(w, r, http.StatusForbidden, "two_factor_required.html", v)
}

// refuse answers err as a page to a browser (a request that accepts
// text/html and carries no token) and as the API's JSON error to anything
// else, with keyward's security headers: this answer is keyward's, not the
// application's.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	page := acceptsHTML(r) && r.Header.Get("Authorization") == ""
	s.setSecurityHeaders(w.Header(), page)
	s.writeErrorAs(w, r, err, page)
}
