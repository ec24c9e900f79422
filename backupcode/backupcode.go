// Package backupcode implements recovery codes, NIST SP 800-63B look-up
// secrets: ten single-use codes of 50 random bits each, shown once as
// "abcde-fghjk" and stored only as salted argon2id hashes.
//
// One random salt serves a whole set (one account), so checking an attempt
// costs exactly one slow hash: the caller normalises the attempt, hashes it
// with the set's salt, and consumes the matching stored hash with a
// conditional UPDATE, which also settles concurrent uses of one code.
package backupcode

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

const (
	// Count is how many codes a set has.
	Count = 10
	// length is the characters in a code: 10 × 5 bits = 50 bits, well above
	// the 20 bits ASVS asks of look-up secrets; below 64, so attempts must
	// be throttled (standards.md 16, 18).
	length = 10
	// alphabet is Crockford's base32 in lower case: no i, l, o or u, so
	// nothing reads as another character.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// SaltSize is the bytes in a set's salt.
	SaltSize = 16
	// HashSize is the bytes in a code's hash.
	HashSize = 32
)

// Argon2id parameters. A code is 50 random bits, not a password, so the
// hash does not have to make a guessable secret expensive: with a leaked
// table and salt, finding one of ten codes still takes ~2^46 hashes, years
// of GPU time even at this setting. It only has to keep offline search
// infeasible while an attempt stays cheap for the server (a few ms), which
// also keeps generating a set of ten quick. Changing them invalidates every
// stored set, so they are constants.
const (
	argonTime    = 1
	argonMemory  = 7 * 1024 // KiB = 7 MiB, OWASP's smallest listed memory
	argonThreads = 1
)

// Generate returns n distinct codes read from rand (crypto/rand.Reader in
// production), formatted "abcde-fghjk".
func Generate(rand io.Reader, n int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("backupcode: cannot generate %d codes", n)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	buf := make([]byte, length)
	// A repeat from a sound source is a 2^-44 event; a few in a row mean the
	// reader is broken, and looping forever on it would hide that.
	for tries := 0; len(codes) < n; tries++ {
		if tries >= n+8 {
			return nil, errors.New("backupcode: random source keeps repeating")
		}
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("backupcode: read random: %w", err)
		}
		for i, b := range buf {
			buf[i] = alphabet[b&31] // 32 divides 256: no modulo bias
		}
		code := string(buf)
		if seen[code] {
			continue
		}
		seen[code] = true
		codes = append(codes, Format(code))
	}
	return codes, nil
}

// NewSalt returns a new SaltSize-byte salt for a set, read from rand.
func NewSalt(rand io.Reader) ([]byte, error) {
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("backupcode: read random salt: %w", err)
	}
	return salt, nil
}

// Normalize turns what a person typed into the 10-character form that Hash
// takes. It forgives case, spaces and dashes, and reads o as 0 and i or l
// as 1, as Crockford's base32 does; ok is false unless exactly ten alphabet
// characters remain.
func Normalize(input string) (string, bool) {
	var out [length]byte
	n := 0
	// Byte by byte on purpose: no Unicode case folding, so lookalikes such
	// as the Kelvin sign (which lower-cases to 'k') are refused.
	for i := 0; i < len(input); i++ {
		c := input[i]
		switch c {
		case ' ', '\t', '\r', '\n', '-':
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if !isAlphabet(c) || n == length {
			return "", false
		}
		out[n] = c
		n++
	}
	if n != length {
		return "", false
	}
	return string(out[:]), true
}

func isAlphabet(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u'
}

// Hash returns the HashSize-byte argon2id hash of a normalised code under
// its set's salt: what is stored, and what an attempt is looked up by.
func Hash(normalized string, salt []byte) []byte {
	return argon2.IDKey([]byte(normalized), salt, argonTime, argonMemory, argonThreads, HashSize)
}

// Format shows a normalised code as "abcde-fghjk"; anything else is
// returned unchanged.
func Format(normalized string) string {
	if len(normalized) != length {
		return normalized
	}
	return normalized[:length/2] + "-" + normalized[length/2:]
}
