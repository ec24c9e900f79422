package keyward

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxEmailLength is RFC 5321's limit on a forward path.
const maxEmailLength = 254

// ParseEmail validates an email address as a person types it and returns it
// trimmed. It accepts what mail systems deliver to (dot-atom local parts,
// internationalised text) and refuses display names, comments, quoted local
// parts and domains without a dot, which no sign-up form needs.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := Errorf(CodeInvalidEmail, "Enter a valid email address, like name@example.com.")
	if s == "" || len(s) > maxEmailLength || !utf8.ValidString(s) {
		return "", bad
	}
	for _, r := range s {
		// U+FFFD is what a lossy decoder leaves of invalid bytes: no one
		// types it, and an address holding it is another address mangled.
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError || r == '"' || r == '<' || r == '>' || r == '(' || r == ')' {
			return "", bad
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", bad
	}
	local, domain, ok := strings.Cut(s, "@")
	// No address literals (user@[192.0.2.1]): the mail relay would connect
	// to whatever host a person names.
	if !ok || local == "" || len(local) > 64 || strings.ContainsAny(domain, "@[]") {
		return "", bad
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", bad
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", bad
		}
	}
	return s, nil
}
