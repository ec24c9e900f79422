package web

import (
	"net/http"
	"strings"
)

// CORS is for bearer-token calls from a browser application on another
// origin: the preflight is answered for the configured origins on the API,
// and their answers may be read. Credentials are never allowed, so a
// cookie-authenticated call from another origin stays unreadable, and the
// cross-origin check still refuses it when it changes state.
var (
	corsAllowMethods  = []string{"GET, POST, PUT, PATCH, DELETE"}
	corsAllowHeaders  = []string{"Authorization, Content-Type"}
	corsExposeHeaders = []string{"Retry-After, X-Request-Id"}
	corsMaxAge        = []string{"600"}
	corsVary          = []string{"Origin"}
)

const apiPrefix = "/api/v1/"

// cors answers preflights and marks answers readable for the allowed
// origins. It does nothing when none is configured.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(s.cfg.CORSOrigins))
	for _, o := range s.cfg.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		// The admin API is for programs, not pages: no origin may read it.
		if origin == "" || !strings.HasPrefix(r.URL.Path, apiPrefix) || isAdminPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h["Vary"] = corsVary
		if !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h["Access-Control-Allow-Origin"] = []string{origin}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h["Access-Control-Allow-Methods"] = corsAllowMethods
			h["Access-Control-Allow-Headers"] = corsAllowHeaders
			h["Access-Control-Max-Age"] = corsMaxAge
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h["Access-Control-Expose-Headers"] = corsExposeHeaders
		next.ServeHTTP(w, r)
	})
}

// bearerExempt lets an API request that carries an Authorization header
// past the cross-origin check: it is judged by that header alone, never by
// a cookie beside it, and a browser sends one cross-origin only after a
// preflight keyward answered. A cookie-only request is still checked. The
// admin API never reads a cookie at all: its requests are let past
// whatever they carry, and answered 401 without a token.
func bearerExempt(checked, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" && strings.HasPrefix(r.URL.Path, apiPrefix) || isAdminPath(r.URL.Path) ||
			oauthBackChannel(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(w, r)
	})
}

// oauthBackChannel reports whether path is an OpenID Connect endpoint that
// clients call with their own credentials (a client secret, a code, a
// token), never with the browser's cookie: a page on another origin may
// call it, as a single-page application does.
func oauthBackChannel(path string) bool {
	switch path {
	case "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo":
		return true
	}
	return false
}
