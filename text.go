package keyward

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a client can make keyward store about itself.
const (
	maxUserAgentBytes = 512
	maxIPBytes        = 64
)

// cleanText makes client-supplied text fit to store, hash and show: valid
// UTF-8, no control characters (NUL breaks PostgreSQL text; CR/LF could
// forge lines wherever it is printed), at most max bytes, cut on a
// character boundary.
func cleanText(s string, max int) string {
	if len(s) > 4*max {
		s = s[:4*max] // bound the work before looking at characters
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// clean returns c with its fields fit to store.
func (c Client) clean() Client {
	return Client{IP: cleanText(c.IP, maxIPBytes), UserAgent: cleanText(c.UserAgent, maxUserAgentBytes)}
}
