// Package backupcode implements recovery codes, NIST SP 800-63B look-up
// secrets and rev 4's saved recovery codes: ten single-use codes of 65
// random bits each, shown once as "abcde-fghj-kmnp" and stored only as
// salted argon2id hashes.
//
// Codes issued before the move to 65 bits have 10 characters (50 bits,
// shown as "abcde-fghjk"). Sets of them are still stored, so Normalize
// accepts both lengths and Hash has not changed: an old code keeps matching
// its stored hash until its owner generates a new set. An attempt of one
// length never matches a code of the other, so accepting both adds nothing
// to an attacker's odds against any one set.
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
	// length is the characters in a new code: 13 × 5 bits = 65 bits, the
	// 64 that NIST SP 800-63B rev 4 asks of saved recovery codes (4.2.1.1).
	// At 64 bits or more, rate limiting is no longer a SHALL for look-up
	// secrets (3.1.2.1); keyward throttles second-factor attempts anyway:
	// legacy sets are still stored, the same per-account count guards TOTP
	// codes (which need it), and every attempt costs a slow hash
	// (standards.md 16, 18).
	length = 13
	// legacyLength is the characters in a code issued before 65 bits:
	// 10 × 5 = 50 bits, above the 20 ASVS asks of look-up secrets but below
	// 64, so attempts SHALL be throttled while such sets exist. Normalize
	// and Format accept it; Generate never makes it.
	legacyLength = 10
	// alphabet is Crockford's base32 in lower case: no i, l, o or u, so
	// nothing reads as another character.
	alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// SaltSize is the bytes in a set's salt.
	SaltSize = 16
	// HashSize is the bytes in a code's hash.
	HashSize = 32
)

// Argon2id parameters. A code is random, not a password, so the hash does
// not have to make a guessable secret expensive: with a leaked table and
// salt, finding one of ten 65-bit codes takes ~2^61 hashes, 2^15 times the
// ~2^46 of a legacy 50-bit set, which was already years of GPU time at this
// setting. Below 112 bits NIST and ASVS still ask for a salted password
// hash, and this one only has to keep offline search infeasible while an
// attempt stays cheap for the server (a few ms), which also keeps
// generating a set of ten quick. Changing them invalidates every stored
// set, so they are constants.
const (
	argonTime    = 1
	argonMemory  = 7 * 1024 // KiB = 7 MiB, OWASP's smallest listed memory
	argonThreads = 1
)

// Generate returns n distinct codes read from rand (crypto/rand.Reader in
// production), formatted "abcde-fghj-kmnp".
func Generate(rand io.Reader, n int) ([]string, error) {
	if n < 1 {
		return nil, fmt.Errorf("backupcode: cannot generate %d codes", n)
	}
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	buf := make([]byte, length)
	// A repeat from a sound source is a 2^-59 event; a few in a row mean the
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

// Normalize turns what a person typed into the form that Hash takes: 13
// characters for a code issued now, 10 for one issued before 65 bits. It
// forgives case, spaces and dashes, and reads o as 0 and i or l as 1, as
// Crockford's base32 does; ok is false unless exactly 10 or exactly 13
// alphabet characters remain.
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
	if n != length && n != legacyLength {
		return "", false
	}
	return string(out[:n]), true
}

func isAlphabet(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u'
}

// Hash returns the HashSize-byte argon2id hash of a normalised code under
// its set's salt: what is stored, and what an attempt is looked up by.
func Hash(normalized string, salt []byte) []byte {
	return argon2.IDKey([]byte(normalized), salt, argonTime, argonMemory, argonThreads, HashSize)
}

// Format shows a normalised code in groups: "abcde-fghj-kmnp" for a code
// of today, "abcde-fghjk" for a legacy one; anything else is returned
// unchanged.
//
// Thirteen is prime, so the groups cannot be equal: 5-4-4 keeps three
// groups, none longer than five characters, which is about what a person
// holds at a glance while copying from paper or reading out over the phone,
// and no more dashes than needed. The longer group comes first, where the
// eye starts, as the five did in the legacy codes. The dashes are only for
// reading: Normalize does not need them.
func Format(normalized string) string {
	switch len(normalized) {
	case length:
		return normalized[:5] + "-" + normalized[5:9] + "-" + normalized[9:]
	case legacyLength:
		return normalized[:5] + "-" + normalized[5:]
	}
	return normalized
}
