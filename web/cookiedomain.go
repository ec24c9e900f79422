package web

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ParseCookieDomain checks a --cookie-domain against the public URL and
// returns it in canonical form (lower case, no leading dot: RFC 6265 ignores
// one). The domain must cover the public URL's host, or the browser would
// drop every cookie; it must have two labels at least (a single label is a
// top-level domain, whose cookies browsers refuse) and not be an IP address
// (a Domain attribute on an address never reaches another host). Browsers
// also refuse other public suffixes (co.uk); keyward does not carry the list.
func ParseCookieDomain(domain string, publicURL *url.URL) (string, error) {
	if domain == "" {
		return "", nil
	}
	d := strings.ToLower(strings.TrimPrefix(domain, "."))
	if publicURL == nil {
		return "", fmt.Errorf("%q needs --public-url, to know the host it must cover", domain)
	}
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		return "", fmt.Errorf("%q is an IP address; cookies on an address stay host-only, leave it empty", domain)
	}
	if !plainASCII(d) || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return "", fmt.Errorf("%q is not a domain name (ASCII, punycode for IDNs, no trailing dot)", domain)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "", fmt.Errorf("%q is not a domain name (ASCII, punycode for IDNs, no trailing dot)", domain)
		}
	}
	if !strings.Contains(d, ".") {
		return "", fmt.Errorf("%q is a single label (a top-level domain); browsers refuse cookies for it", domain)
	}
	host := strings.ToLower(publicURL.Hostname())
	if host != d && !strings.HasSuffix(host, "."+d) {
		return "", fmt.Errorf("%q does not cover the public URL's host %q; use that host or a parent of it", domain, host)
	}
	return d, nil
}
