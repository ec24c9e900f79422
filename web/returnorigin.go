package web

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ParseReturnOrigins checks a comma list of origins (scheme://host[:port])
// that a post-sign-in `next` may point at, and returns them in canonical form
// (lower case, no default port). An origin has no path, query, userinfo or
// fragment, and its host is ASCII (IDNs in punycode), without a trailing dot.
// Plain http is allowed only for loopback hosts, or when keyward itself is
// served over http (publicURL): an https keyward never hands a signed-in
// browser to a page an attacker on the network can rewrite.
func ParseReturnOrigins(list string, publicURL *url.URL) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		o, err := parseOrigin(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an origin: %v", s, err)
		}
		if strings.HasPrefix(o, "http://") && !loopbackHost(o[len("http://"):]) &&
			(publicURL == nil || publicURL.Scheme != "http") {
			return nil, fmt.Errorf("%q: http is allowed only for loopback hosts or when --public-url is http too", s)
		}
		out = append(out, o)
	}
	return out, nil
}

// ParseCORSOrigins checks a comma list of origins whose pages may call the
// API with a bearer token, and returns them in the form a browser sends in
// Origin (lower case, no default port), by the same rules as
// ParseReturnOrigins but for plain http, which a page may well be served
// over. One trailing slash, as an origin is often copied, is dropped.
func ParseCORSOrigins(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		o, err := parseOrigin(strings.TrimSuffix(s, "/"))
		if err != nil {
			return nil, fmt.Errorf("%q is not an origin: %v", s, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// parseOrigin returns s in canonical form, or why it is not an origin.
func parseOrigin(s string) (string, error) {
	if !plainASCII(s) || strings.ContainsAny(s, "%\\") {
		return "", fmt.Errorf("want plain ASCII scheme://host[:port] (punycode for IDNs)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("want scheme://host[:port]")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("want an http or https scheme")
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("want scheme://host[:port]")
	case u.User != nil:
		return "", fmt.Errorf("no userinfo allowed")
	case u.Path != "" || u.RawPath != "":
		return "", fmt.Errorf("no path allowed (not even /)")
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("no query allowed")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("no fragment allowed")
	}
	return canonicalOrigin(u)
}

// canonicalOrigin is u's origin as a browser sees it: lower-case scheme and
// host, no default port. Hosts a browser would rewrite (trailing dot, empty
// or non-canonical port) are refused rather than guessed at.
func canonicalOrigin(u *url.URL) (string, error) {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.HasSuffix(host, ".") || strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("bad host")
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ':') {
			return "", fmt.Errorf("bad host")
		}
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("bad host")
		}
		host = "[" + host + "]"
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("bad port")
		}
		if (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
			port = ""
		}
	}
	o := strings.ToLower(u.Scheme) + "://" + host
	if port != "" {
		o += ":" + port
	}
	return o, nil
}

// plainASCII reports whether s is printable ASCII without spaces: browsers
// strip or rewrite whitespace, control characters and non-ASCII in URLs, so a
// string that has any is never compared as it stands.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, ok := strings.Cut(strings.TrimPrefix(hostport, "["), "]"); strings.HasPrefix(hostport, "[") && ok {
		host = h
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host = hostport[:i]
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// absoluteNext returns next when it is an absolute URL on one of the allowed
// origins, rebuilt from that origin so the browser cannot see another host.
// Userinfo is refused outright, even when the host after it is allowed.
func absoluteNext(next string, allowed map[string]bool) (string, bool) {
	if len(allowed) == 0 || !plainASCII(next) || strings.Contains(next, "\\") {
		return "", false
	}
	// A browser percent-decodes the host and reads "@" as the end of
	// userinfo; keyward compares neither, it refuses them.
	_, authority, ok := strings.Cut(next, "://")
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "%@") {
		return "", false
	}
	u, err := url.Parse(next)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	o, err := canonicalOrigin(u)
	if err != nil || !allowed[o] {
		return "", false
	}
	path := u.RequestURI()
	if !strings.HasPrefix(path, "/") {
		return "", false
	}
	out := o + path
	if u.Fragment != "" {
		out += "#" + u.EscapedFragment()
	}
	return out, true
}
