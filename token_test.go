package keyward

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// FuzzParseToken: parseToken accepts exactly what decodes as a token (the
// reference it replaced, which allocated), except CR and LF, which the
// decoder skips but no token keyward issues contains; and it returns the
// token's SHA-256.
func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{
		"kws_" + strings.Repeat("A", tokenLen),
		"kws_" + strings.Repeat("_-", tokenLen/2) + "z",
		"kws_" + strings.Repeat("A", tokenLen-1) + "=",
		"kws_" + strings.Repeat("A", tokenLen-1) + "\n",
		"kws_" + strings.Repeat("A", tokenLen+1),
		"kwm_" + strings.Repeat("9", tokenLen),
		"kws_", "", "kws_ü",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, ok := parseToken(sessionTokenPrefix, token)
		rest, hasPrefix := strings.CutPrefix(token, sessionTokenPrefix)
		_, err := tokenEncoding.DecodeString(rest)
		want := hasPrefix && len(rest) == tokenLen && err == nil && !strings.ContainsAny(rest, "\r\n")
		if ok != want {
			t.Fatalf("parseToken(%q) ok = %v, want %v (decode: %v)", token, ok, want, err)
		}
		if ok && got != sha256.Sum256([]byte(token)) {
			t.Fatalf("parseToken(%q) hash is not the token's SHA-256", token)
		}
	})
}
