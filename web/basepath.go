package web

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// maxBasePathLen bounds --base-path: it rides on every link and cookie.
const maxBasePathLen = 200

// reservedFirstSegments are the first segments of keyward's own routes. A
// base path may not start with one: keyward serves both the paths that
// still carry the base path and the ones a proxy stripped it from, and under
// /api a stripped "/api/v1/accounts" could not be told from an unstripped
// "/api" + "/v1/accounts". TestReservedFirstSegmentsCoverRoutes holds the
// list to routes.go.
var reservedFirstSegments = map[string]bool{
	"api": true, "static": true, "healthz": true, "readyz": true,
	"signin": true, "signup": true, "signout": true, "settings": true,
	// Routes the contract names for later; reserved now so that a base path
	// chosen today keeps working then.
	"forgot-password": true, "reset-password": true, "verify-email": true,
	"lockdown": true, ".well-known": true, "oauth": true, "metrics": true,
}

// ParseBasePath checks a --base-path and returns it in canonical form: ""
// for none ("" or "/"), else "/seg[/seg...]" without a trailing slash. A
// segment holds only letters, digits and - . _ ~ (no percent-encoding, so
// the path a browser sends is the path compared), and is neither "." nor
// "..". A public URL that carries a path must carry exactly this one: it
// cannot say one thing while the base path says another.
func ParseBasePath(basePath string, publicURL *url.URL) (string, error) {
	base, err := parseBasePath(basePath)
	if err != nil {
		return "", err
	}
	if publicURL != nil {
		p := strings.TrimSuffix(publicURL.EscapedPath(), "/")
		if p != "" && p != base {
			if base == "" {
				return "", fmt.Errorf("--public-url %q has the path %q: set --base-path %s as well (or drop the path)", publicURL, p, p)
			}
			return "", fmt.Errorf("--public-url %q has the path %q, but the base path is %q: give the public URL without a path, or with the base path", publicURL, p, base)
		}
	}
	return base, nil
}

func parseBasePath(s string) (string, error) {
	if s == "" || s == "/" {
		return "", nil
	}
	switch {
	case !strings.HasPrefix(s, "/"):
		return "", fmt.Errorf("%q must start with / (like /auth)", s)
	case strings.HasSuffix(s, "/"):
		return "", fmt.Errorf("%q must not end with / (write %s)", s, strings.TrimRight(s, "/"))
	case len(s) > maxBasePathLen:
		return "", fmt.Errorf("%q is longer than %d characters", s, maxBasePathLen)
	case strings.Contains(s, "//"):
		return "", fmt.Errorf("%q has an empty segment (//)", s)
	case strings.ContainsAny(s, "?#"):
		return "", fmt.Errorf("%q has a query or fragment (? or #); a base path is a path only", s)
	case strings.Contains(s, "%"):
		return "", fmt.Errorf("%q is percent-encoded; write the path as it reads, in letters, digits and - . _ ~", s)
	}
	segs := strings.Split(s[1:], "/")
	for _, seg := range segs {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%q has a %q segment; give the path in its plain form", s, seg)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
				return "", fmt.Errorf("%q may hold only letters, digits and - . _ ~ between its slashes (no spaces, control or other characters)", s)
			}
		}
	}
	if reservedFirstSegments[strings.ToLower(segs[0])] {
		return "", fmt.Errorf("%q starts with /%s, one of keyward's own paths; choose another first segment (like /auth)", s, segs[0])
	}
	return s, nil
}

// ParseCookiePath checks a --cookie-path against the (canonical) base path
// and returns the session cookie's Path: the base path when empty, else "/"
// or a prefix of the base path that ends on a segment boundary. A path the
// base path is not under would keep the cookie from keyward's own pages.
func ParseCookiePath(cookiePath, basePath string) (string, error) {
	root := basePath
	if root == "" {
		root = "/"
	}
	if cookiePath == "" {
		return root, nil
	}
	if cookiePath == "/" || cookiePath == basePath ||
		(strings.HasPrefix(basePath, cookiePath) && basePath[len(cookiePath)] == '/' && !strings.HasSuffix(cookiePath, "/")) {
		return cookiePath, nil
	}
	return "", fmt.Errorf("%q must be / or the base path %q or a parent of it on a segment boundary (like /auth for /auth/x), without a trailing slash", cookiePath, root)
}

// path is the public path of one of keyward's routes ("/signin" becomes
// "/auth/signin" under the base path /auth). Every link, form action and
// redirect to keyward itself goes through it.
func (s *Server) path(route string) string { return s.base + route }

// underBase returns r as the routes see it: without the base path when the
// request still carries it (a proxy that passes /auth/... through, or
// mux.Handle("/auth/", srv)), as it is when it was already stripped (nginx's
// proxy_pass http://k/; or http.StripPrefix). Paths outside the base path
// are therefore served as if stripped: what matches no route is a 404 (JSON
// under /api/, a page elsewhere). ok is false when the answer was given
// here: a path that is not in clean form is sent to its clean form under
// the base path, where ServeMux would send it off the base path.
func (s *Server) underBase(w http.ResponseWriter, r *http.Request) (_ *http.Request, ok bool) {
	p := r.URL.Path
	stripped, rawStripped := p, r.URL.RawPath
	if rest, found := strings.CutPrefix(p, s.base); found && (rest == "" || rest[0] == '/') {
		stripped = rest
		if stripped == "" {
			stripped = "/"
		}
		if raw, found := strings.CutPrefix(r.URL.RawPath, s.base); found && (raw == "" || raw[0] == '/') {
			rawStripped = raw
		} else {
			rawStripped = ""
		}
	}
	if strings.Contains(stripped, "//") || strings.Contains(stripped, "/.") {
		if clean := cleanPath(stripped); clean != stripped {
			u := url.URL{Path: s.base + clean, RawQuery: r.URL.RawQuery}
			w.Header().Set("Location", u.String())
			w.WriteHeader(http.StatusMovedPermanently)
			return nil, false
		}
	}
	if stripped == p {
		return r, true
	}
	// As http.StripPrefix does: a shallow copy, the URL copied too.
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = stripped, rawStripped
	return r2, true
}

// cleanPath is p as ServeMux would redirect to it: path.Clean, keeping a
// trailing slash.
func cleanPath(p string) string {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}
