package password

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func sha1Hex(pw string) string {
	sum := sha1.Sum([]byte(pw))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// dumpOptions describe a generated HIBP SHA-1 dump.
type dumpOptions struct {
	crlf           bool
	noFinalNewline bool
	lowerCase      bool
	fillers        int // extra passwords "filler-N"
}

// writeDump writes the known passwords and o.fillers others as a HIBP dump
// sorted by hash, and returns its path and every password in file order.
func writeDump(tb testing.TB, known []string, o dumpOptions) (path string, inOrder []string) {
	tb.Helper()
	type entry struct{ hash, pw string }
	entries := make([]entry, 0, len(known)+o.fillers)
	for _, pw := range known {
		entries = append(entries, entry{sha1Hex(pw), pw})
	}
	for i := range o.fillers {
		pw := fmt.Sprintf("filler-%d", i)
		entries = append(entries, entry{sha1Hex(pw), pw})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.hash, b.hash) })

	path = filepath.Join(tb.TempDir(), "pwned-passwords-sha1-ordered-by-hash.txt")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	eol := "\n"
	if o.crlf {
		eol = "\r\n"
	}
	for i, e := range entries {
		if o.lowerCase {
			e.hash = strings.ToLower(e.hash)
		}
		fmt.Fprintf(w, "%s:%d", e.hash, i%1000+1)
		if i < len(entries)-1 || !o.noFinalNewline {
			w.WriteString(eol)
		}
		inOrder = append(inOrder, e.pw)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, inOrder
}

func openChecker(tb testing.TB, path string) BreachedChecker {
	tb.Helper()
	c, closer, err := OpenBreachedFile(path)
	if err != nil {
		tb.Fatalf("OpenBreachedFile: %v", err)
	}
	tb.Cleanup(func() { closer.Close() })
	return c
}

func breached(tb testing.TB, c BreachedChecker, pw string) bool {
	tb.Helper()
	found, err := c.Breached(context.Background(), pw)
	if err != nil {
		tb.Fatalf("Breached(%q): %v", pw, err)
	}
	return found
}

func TestCommonPasswords(t *testing.T) {
	c := CommonPasswords()
	if n := len(c.(set).m); n < 10000 {
		t.Errorf("CommonPasswords has %d entries, want at least 10000", n)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"123456789", true},
		{"qwerty123", true},
		{"PASSWORD", true},
		{"Trustno1", true},
		{"correct horse 🐎 battery", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := breached(t, c, tc.pw); got != tc.want {
			t.Errorf("Breached(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
}

func TestHIBPFile(t *testing.T) {
	known := []string{"password", "123456789", "qwerty123", "correct horse 🐎 battery", "Ünïcödé"}
	absent := []string{"not in the dump", "Password", "", "filler-100000", "filler--1"}
	tests := []struct {
		name string
		o    dumpOptions
	}{
		{"LF", dumpOptions{fillers: 100_000}},
		{"CRLF", dumpOptions{crlf: true, fillers: 100_000}},
		{"no final newline", dumpOptions{noFinalNewline: true, fillers: 100_000}},
		{"CRLF, no final newline", dumpOptions{crlf: true, noFinalNewline: true, fillers: 1000}},
		{"lower-case hex", dumpOptions{lowerCase: true, fillers: 1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, inOrder := writeDump(t, known, tc.o)
			c := openChecker(t, path)
			if _, ok := c.(*hibpFile); !ok {
				t.Fatalf("OpenBreachedFile = %T, want the in-place HIBP search", c)
			}
			present := append(slices.Clone(known), inOrder[0], inOrder[len(inOrder)-1])
			for i := 0; i < len(inOrder); i += 997 {
				present = append(present, inOrder[i])
			}
			for _, pw := range present {
				if !breached(t, c, pw) {
					t.Errorf("Breached(%q) = false, want true", pw)
				}
			}
			for _, pw := range absent {
				if breached(t, c, pw) {
					t.Errorf("Breached(%q) = true, want false", pw)
				}
			}
		})
	}
}

// TestHIBPFileSmall looks up every line of every dump of 1 to 12 lines,
// where the binary search's edge cases are.
func TestHIBPFileSmall(t *testing.T) {
	for n := 1; n <= 12; n++ {
		for _, crlf := range []bool{false, true} {
			path, inOrder := writeDump(t, nil, dumpOptions{fillers: n, crlf: crlf})
			c := openChecker(t, path)
			for _, pw := range inOrder {
				if !breached(t, c, pw) {
					t.Errorf("%d lines, crlf %v: Breached(%q) = false, want true", n, crlf, pw)
				}
			}
			for i := range 50 {
				if pw := fmt.Sprintf("absent-%d", i); breached(t, c, pw) {
					t.Errorf("%d lines, crlf %v: Breached(%q) = true, want false", n, crlf, pw)
				}
			}
		}
	}
}

func TestHIBPFileMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dump.txt")
	data := sha1Hex("a") + ":1\n" + strings.Repeat("x", 300) + "\n" + sha1Hex("b") + ":1\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openChecker(t, path)
	if _, err := c.Breached(context.Background(), "c"); err == nil {
		t.Error("Breached in a corrupt dump: nil error, want one")
	}
}

func TestPlainFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.txt")
	data := "password\r\nhunter2\n\nCorrect Horse\r\n🐎 pony\nlast line"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c := openChecker(t, path)
	tests := []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"hunter2", true},
		{"Correct Horse", true},
		{"correct horse", false}, // a breach list is exact
		{"🐎 pony", true},
		{"last line", true},
		{"", false},
		{"password\r", false},
	}
	for _, tc := range tests {
		if got := breached(t, c, tc.pw); got != tc.want {
			t.Errorf("Breached(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
}

func TestOpenBreachedFileErrors(t *testing.T) {
	dir := t.TempDir()
	ntlm := filepath.Join(dir, "ntlm.txt")
	if err := os.WriteFile(ntlm, []byte(strings.Repeat("A", 32)+":5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.txt"), ntlm, dir} {
		if _, _, err := OpenBreachedFile(path); err == nil {
			t.Errorf("OpenBreachedFile(%s): nil error, want one", path)
		}
	}
}

// fakeHIBP serves the range API for the given passwords and counts, with
// padding lines (count 0) as the real one adds.
func fakeHIBP(tb testing.TB, counts map[string]int) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if !ok || len(prefix) != 5 || r.Header.Get("Add-Padding") != "true" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("F", 35)) // padding
		for pw, n := range counts {
			if h := sha1Hex(pw); h[:5] == prefix {
				fmt.Fprintf(w, "%s:%d\r\n", h[5:], n)
			}
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func TestHIBPRange(t *testing.T) {
	srv := fakeHIBP(t, map[string]int{"password": 10_000_000, "padded": 0})
	c := NewHIBPRange(srv.URL+"/", srv.Client(), time.Second)
	tests := []struct {
		pw   string
		want bool
	}{
		{"password", true},
		{"padded", false}, // its suffix is there, with count 0
		{"correct horse 🐎 battery", false},
	}
	for _, tc := range tests {
		if got := breached(t, c, tc.pw); got != tc.want {
			t.Errorf("Breached(%q) = %v, want %v", tc.pw, got, tc.want)
		}
	}
}

func TestHIBPRangeErrors(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct{ name, url string }{
		{"status 503", failing.URL},
		{"unreachable", closed.URL},
		{"bad URL", "://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHIBPRange(tc.url, nil, time.Second).Breached(context.Background(), "password")
			if err == nil {
				t.Fatal("Breached: nil error, want one")
			}
			if strings.Contains(err.Error(), sha1Hex("password")[:5]) {
				t.Errorf("error %q contains the hash prefix", err)
			}
		})
	}
}

func TestPolicySkipsUnreachableHIBP(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	var logs bytes.Buffer
	p := Policy{
		Breached: []BreachedChecker{NewHIBPRange(closed.URL, nil, time.Second)},
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	}
	if err := p.Check(context.Background(), "correct horse 🐎 battery", ""); err != nil {
		t.Errorf("Check = %v, want nil (HIBP skipped)", err)
	}
	if !strings.Contains(logs.String(), "HIBP") {
		t.Errorf("log = %q, want the HIBP failure", logs.String())
	}
}

func BenchmarkBreachedFileLookup(b *testing.B) {
	path, inOrder := writeDump(b, nil, dumpOptions{fillers: 1_000_000, crlf: true})
	c := openChecker(b, path)
	ctx := context.Background()
	pws := []string{inOrder[123_456], "not in the dump", inOrder[0], inOrder[len(inOrder)-1]}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Breached(ctx, pws[i%len(pws)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
