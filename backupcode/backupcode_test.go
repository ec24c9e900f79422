package backupcode

import (
	"bytes"
	crand "crypto/rand"
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
		{"canonical", "abcdefghjk", "abcdefghjk", true},
		{"formatted", "abcde-fghjk", "abcdefghjk", true},
		{"upper case", "ABCDE-FGHJK", "abcdefghjk", true},
		{"spaces", "abcde fghjk", "abcdefghjk", true},
		{"surrounding spaces", " abcdefghjk ", "abcdefghjk", true},
		{"pasted with newline", "abcde-fghjk\r\n", "abcdefghjk", true},
		{"grouped oddly", "a-b c-d e\tf-g h-j k", "abcdefghjk", true},
		{"mixed case", "AbCdE-fGhJk", "abcdefghjk", true},
		{"o is zero", "oO000-12345", "0000012345", true},
		{"i and l are one", "iIlL1-23456", "1111123456", true},
		{"digits", "01234-56789", "0123456789", true},
		{"last letters", "mnpqr-stvwx", "mnpqrstvwx", true},
		{"empty", "", "", false},
		{"only separators", " - - ", "", false},
		{"too short", "abcde-fghj", "", false},
		{"too long", "abcde-fghjkm", "", false},
		{"two codes", "abcde-fghjk abcde-fghjk", "", false},
		{"u is not in the alphabet", "abcde-fghju", "", false},
		{"punctuation", "abcde_fghjk", "", false},
		{"dot", "abcde.fghjk", "", false},
		{"kelvin sign", "abcde-fghj\u212a", "", false},
		{"full-width", "ａｂｃｄｅ-ｆｇｈｊｋ", "", false},
		{"accented", "abcdé-fghjk", "", false},
		{"zero-width space", "abcde\u200bfghjk", "", false},
		{"NUL", "abcde\x00fghjk", "", false},
		{"invalid UTF-8", "abcde\xfffghjk", "", false},
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
	tests := []struct{ in, want string }{
		{"abcdefghjk", "abcde-fghjk"},
		{"0123456789", "01234-56789"},
		{"short", "short"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	codes := mustGenerate(t, Count)
	if len(codes) != Count {
		t.Fatalf("Generate(Count) gave %d codes, want %d", len(codes), Count)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		n, ok := Normalize(c)
		if len(c) != 11 || c[5] != '-' || !ok || Format(n) != c {
			t.Errorf("code %q: want 5 + '-' + 5 alphabet chars that normalise back to itself", c)
		}
		if seen[c] {
			t.Errorf("code %q appears twice in one set", c)
		}
		seen[c] = true
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
	const total = sets * Count * 10
	const mean = total / len(alphabet) // 625
	for _, r := range alphabet {
		// Binomial sd is about 24.6 here; 6 sd either way never fails by chance.
		if n := counts[r]; n < mean-150 || n > mean+150 {
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
		{"same bytes forever", make([]byte, 10*100), Count},
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
	typed, _ := Normalize("ABCDE FGHJK")

	h := Hash("abcdefghjk", salt1)
	if len(h) != HashSize {
		t.Fatalf("len(Hash) = %d, want %d", len(h), HashSize)
	}
	tests := []struct {
		name      string
		code      string
		salt      []byte
		wantEqual bool
	}{
		{"same code, same salt", "abcdefghjk", salt1, true},
		{"typed loosely, normalised", typed, salt1, true},
		{"same code, other salt", "abcdefghjk", salt2, false},
		{"other code, same salt", "abcdefghjm", salt1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash(tt.code, tt.salt); bytes.Equal(got, h) != tt.wantEqual {
				t.Errorf("Hash(%q, %x) = %x vs Hash(abcdefghjk, %x) = %x; want equal %v",
					tt.code, tt.salt, got, salt1, h, tt.wantEqual)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "abcde-fghjk", "ABCDE FGHJK", "oil00-11111", "abcde-fghj\u212a", "\xff\x00", strings.Repeat("-", 100)} {
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
		if len(got) != 10 || strings.Trim(got, alphabet) != "" {
			t.Errorf("Normalize(%q) = %q: want 10 alphabet characters", in, got)
		}
		if again, ok := Normalize(Format(got)); !ok || again != got {
			t.Errorf("Normalize(Format(%q)) = %q, %v; want it unchanged", got, again, ok)
		}
	})
}

// BenchmarkHash is the slow part of checking one attempt.
func BenchmarkHash(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	b.ReportAllocs()
	for b.Loop() {
		Hash("abcdefghjk", salt)
	}
}
