package backupcode

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// mustGenerate is Generate for test set-up, failing the test on error.
func mustGenerate(t testing.TB, n int) []string {
	t.Helper()
	codes, err := Generate(crand.Reader, n)
	if err != nil {
		t.Fatalf("Generate(%d): %v", n, err)
	}
	return codes
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		// Codes issued now: 13 characters, shown "abcde-fghj-kmnp".
		{"canonical", "abcdefghjkmnp", "abcdefghjkmnp", true},
		{"formatted", "abcde-fghj-kmnp", "abcdefghjkmnp", true},
		{"upper case", "ABCDE-FGHJ-KMNP", "abcdefghjkmnp", true},
		{"mixed case", "AbCdE-fGhJ-kMnP", "abcdefghjkmnp", true},
		{"spaces for dashes", "abcde fghj kmnp", "abcdefghjkmnp", true},
		{"one dash only", "abcde-fghjkmnp", "abcdefghjkmnp", true},
		{"surrounding spaces", " abcde-fghj-kmnp ", "abcdefghjkmnp", true},
		{"pasted with newline", "abcde-fghj-kmnp\r\n", "abcdefghjkmnp", true},
		{"grouped in fours", "abcd-efgh-jkmn-p", "abcdefghjkmnp", true},
		{"doubled separators", "abcde--fghj -- kmnp", "abcdefghjkmnp", true},
		{"grouped oddly", "a-b c-d e\tf-g h-j k-m n-p", "abcdefghjkmnp", true},
		{"o is zero", "oO000-1234-5678", "0000012345678", true},
		{"i and l are one", "iIlL1-2345-6789", "1111123456789", true},
		{"all digits", "01234-5678-9012", "0123456789012", true},
		{"last letters", "mnpqr-stvw-xyz0", "mnpqrstvwxyz0", true},
		// Codes issued before 65 bits: 10 characters, shown "abcde-fghjk".
		{"legacy canonical", "abcdefghjk", "abcdefghjk", true},
		{"legacy formatted", "abcde-fghjk", "abcdefghjk", true},
		{"legacy upper case", "ABCDE-FGHJK", "abcdefghjk", true},
		{"legacy spaces", "abcde fghjk", "abcdefghjk", true},
		{"legacy pasted with newline", "abcde-fghjk\r\n", "abcdefghjk", true},
		{"legacy grouped like a new code", "abcd-efg-hjk", "abcdefghjk", true},
		{"legacy o, i and l", "oOiIl-L0123", "0011110123", true},
		// Neither length.
		{"empty", "", "", false},
		{"only separators", " - - ", "", false},
		{"9 characters", "abcde-fghj", "", false},
		{"11 characters", "abcde-fghjk-m", "", false},
		{"12 characters", "abcde-fghj-kmn", "", false},
		{"14 characters", "abcde-fghj-kmnpq", "", false},
		{"13 then more", "abcde-fghj-kmnp-qrstv", "", false},
		{"two legacy codes", "abcde-fghjk abcde-fghjk", "", false},
		{"two codes", "abcde-fghj-kmnp abcde-fghj-kmnp", "", false},
		// Not the alphabet, or not ASCII.
		{"u is not in the alphabet", "abcde-fghj-kmnu", "", false},
		{"legacy with u", "abcde-fghju", "", false},
		{"underscore", "abcde_fghj_kmnp", "", false},
		{"dot", "abcde.fghj.kmnp", "", false},
		{"en dash", "abcde\u2013fghj\u2013kmnp", "", false},
		{"non-breaking space", "abcde\u00a0fghj-kmnp", "", false},
		{"kelvin sign", "abcde-fghj-\u212amnp", "", false},
		{"legacy with kelvin sign", "abcde-fghj\u212a", "", false},
		{"full-width", "ａｂｃｄｅ-ｆｇｈｊ-ｋｍｎｐ", "", false},
		{"Cyrillic a", "\u0430bcde-fghj-kmnp", "", false},
		{"accented", "abcdé-fghj-kmnp", "", false},
		{"zero-width space", "abcde\u200bfghj-kmnp", "", false},
		{"NUL", "abcde\x00fghj-kmnp", "", false},
		{"invalid UTF-8", "abcde\xfffghj-kmnp", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Normalize(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"new", "abcdefghjkmnp", "abcde-fghj-kmnp"},
		{"new digits", "0123456789012", "01234-5678-9012"},
		{"legacy", "abcdefghjk", "abcde-fghjk"},
		{"legacy digits", "0123456789", "01234-56789"},
		{"12 characters unchanged", "abcdefghjkmn", "abcdefghjkmn"},
		{"14 characters unchanged", "abcdefghjkmnpq", "abcdefghjkmnpq"},
		{"short unchanged", "short", "short"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Format(tt.in); got != tt.want {
				t.Errorf("Format(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"a set", Count},
		{"one", 1},
		{"many", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codes := mustGenerate(t, tt.n)
			if len(codes) != tt.n {
				t.Fatalf("Generate(%d) gave %d codes", tt.n, len(codes))
			}
			seen := map[string]bool{}
			for _, c := range codes {
				groups := strings.Split(c, "-")
				n, ok := Normalize(c)
				if len(c) != 15 || len(groups) != 3 || len(groups[0]) != 5 || len(groups[1]) != 4 || len(groups[2]) != 4 ||
					strings.Trim(n, alphabet) != "" || !ok || len(n) != length || Format(n) != c {
					t.Errorf("code %q: want 5-4-4 groups of 13 alphabet characters that normalise back to itself (got %q, %v)", c, n, ok)
				}
				if seen[c] {
					t.Errorf("code %q appears twice in one set", c)
				}
				seen[c] = true
			}
		})
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, errA := Generate(rand.NewChaCha8([32]byte{1}), Count)
	b, errB := Generate(rand.NewChaCha8([32]byte{1}), Count)
	c, errC := Generate(rand.NewChaCha8([32]byte{2}), Count)
	if errA != nil || errB != nil || errC != nil {
		t.Fatalf("Generate errors: %v, %v, %v", errA, errB, errC)
	}
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("same seed gave\n%v\n%v", a, b)
	}
	if strings.Join(a, " ") == strings.Join(c, " ") {
		t.Errorf("different seeds both gave %v", a)
	}
}

// TestGenerateAlphabet checks that over many codes every alphabet character
// turns up, roughly evenly, and nothing else does: 5 full bits per character.
func TestGenerateAlphabet(t *testing.T) {
	const sets = 200
	counts := map[rune]int{}
	for range sets {
		for _, c := range mustGenerate(t, Count) {
			for _, r := range strings.ReplaceAll(c, "-", "") {
				counts[r]++
			}
		}
	}
	const total = sets * Count * length
	const mean = total / len(alphabet) // 812
	for _, r := range alphabet {
		// Binomial sd is about 28 here; 6 sd either way never fails by chance.
		if n := counts[r]; n < mean-170 || n > mean+170 {
			t.Errorf("character %q appeared %d times in %d, want about %d", r, n, total, mean)
		}
	}
	if len(counts) != len(alphabet) {
		t.Errorf("saw %d distinct characters, want the %d of %q", len(counts), len(alphabet), alphabet)
	}
}

func TestGenerateBadReader(t *testing.T) {
	tests := []struct {
		name string
		rand []byte
		n    int
	}{
		{"short read", []byte("abc"), Count},
		{"same bytes forever", make([]byte, length*100), Count},
		{"zero codes", make([]byte, 100), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Generate(bytes.NewReader(tt.rand), tt.n); err == nil {
				t.Errorf("Generate = %v, nil; want error", got)
			}
		})
	}
}

func TestNewSalt(t *testing.T) {
	a, errA := NewSalt(rand.NewChaCha8([32]byte{1}))
	b, errB := NewSalt(rand.NewChaCha8([32]byte{1}))
	if errA != nil || errB != nil || len(a) != SaltSize || !bytes.Equal(a, b) {
		t.Errorf("NewSalt = %x, %v and %x, %v; want two equal %d-byte salts", a, errA, b, errB, SaltSize)
	}
	if got, err := NewSalt(bytes.NewReader(make([]byte, SaltSize-1))); err == nil {
		t.Errorf("NewSalt(short reader) = %x, nil; want error", got)
	}
}

func TestHash(t *testing.T) {
	salt1 := bytes.Repeat([]byte{1}, SaltSize)
	salt2 := bytes.Repeat([]byte{2}, SaltSize)
	typed, _ := Normalize("ABCDE FGHJ KMNP")
	typedLegacy, _ := Normalize("ABCDE FGHJK")

	h := Hash("abcdefghjkmnp", salt1)
	if len(h) != HashSize {
		t.Fatalf("len(Hash) = %d, want %d", len(h), HashSize)
	}
	tests := []struct {
		name      string
		code      string
		salt      []byte
		wantEqual bool
	}{
		{"same code, same salt", "abcdefghjkmnp", salt1, true},
		{"typed loosely, normalised", typed, salt1, true},
		{"same code, other salt", "abcdefghjkmnp", salt2, false},
		{"other code, same salt", "abcdefghjkmnq", salt1, false},
		{"its first ten characters", "abcdefghjk", salt1, false},
		{"legacy code typed loosely", typedLegacy, salt1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.code, tt.salt); bytes.Equal(got, h) != tt.wantEqual {
				t.Errorf("Hash(%q, %x) = %x vs Hash(abcdefghjkmnp, %x) = %x; want equal %v",
					tt.code, tt.salt, got, salt1, h, tt.wantEqual)
			}
		})
	}
}

// TestHashStored pins Hash's output: stored sets, including those of legacy
// 10-character codes, only keep working while these stay the same. The
// legacy vector was computed with the 50-bit code's version of the package.
func TestHashStored(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	tests := []struct{ name, typed, want string }{
		{"legacy code", "ABCDE-FGHJK", "3f71fc5749df4f7dbc08067b9f6199390f37a3245e2e05cd4f68839444269539"},
		{"new code", "ABCDE-FGHJ-KMNP", "84c17f82280248493b05eac65c45a28bbf5e30e908e12c4406e4c711f00bd0c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			norm, ok := Normalize(tt.typed)
			if !ok {
				t.Fatalf("Normalize(%q) refused", tt.typed)
			}
			if got := hex.EncodeToString(Hash(norm, salt)); got != tt.want {
				t.Errorf("Hash(%q, %x) = %s, want %s", norm, salt, got, tt.want)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "abcde-fghj-kmnp", "ABCDE FGHJ KMNP", "oil00-1111-1111", "abcde-fghj-\u212amnp",
		"abcde-fghjk", "ABCDE FGHJK", "oil00-11111", "abcde-fghj-kmn", "abcde-fghj-kmnpq",
		"\xff\x00", strings.Repeat("-", 100), strings.Repeat("a", 13) + "\u0301",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := Normalize(in)
		if !ok {
			if got != "" {
				t.Errorf("Normalize(%q) = %q, false; want empty when refused", in, got)
			}
			return
		}
		if len(got) != length && len(got) != legacyLength || strings.Trim(got, alphabet) != "" {
			t.Errorf("Normalize(%q) = %q: want 13 or 10 alphabet characters", in, got)
		}
		if again, ok := Normalize(Format(got)); !ok || again != got {
			t.Errorf("Normalize(Format(%q)) = %q, %v; want it unchanged", got, again, ok)
		}
		if again, ok := Normalize(got); !ok || again != got {
			t.Errorf("Normalize(%q) = %q, %v; want a normalised code unchanged", got, again, ok)
		}
	})
}

// BenchmarkHash is the slow part of checking one attempt.
func BenchmarkHash(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	b.ReportAllocs()
	for b.Loop() {
		Hash("abcdefghjkmnp", salt)
	}
}
