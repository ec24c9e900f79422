package keyring

import (
	"bytes"
	cryptorand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// seed is a TOTP seed's size, the plaintext this package exists for.
var seed = []byte("12345678901234567890")

// testRand returns a deterministic reader for key generation.
func testRand(n byte) io.Reader { return rand.NewChaCha8([32]byte{n}) }

// keyLine returns an entry "<id> <base64>" whose key is 32 copies of b.
func keyLine(id string, b byte) string {
	return id + " " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize))
}

func mustParse(t testing.TB, s string) *Keyring {
	t.Helper()
	k, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return k
}

func mustLoad(t testing.TB, path string, r io.Reader) *Keyring {
	t.Helper()
	k, err := LoadFile(path, r)
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	return k
}

func mustSeal(t testing.TB, k *Keyring, plaintext, aad []byte) string {
	t.Helper()
	s, err := k.Seal(plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

func mustRotate(t testing.TB, k *Keyring, r io.Reader) string {
	t.Helper()
	id, err := k.Rotate(r)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return id
}

// wantOpen checks that sealed opens to want under aad.
func wantOpen(t testing.TB, k *Keyring, sealed string, aad, want []byte) {
	t.Helper()
	got, err := k.Open(sealed, aad)
	if err != nil {
		t.Fatalf("Open(%q): %v", sealed, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open(%q) = %q, want %q", sealed, got, want)
	}
}

// keyPath returns a key file path in a fresh directory.
func keyPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "secret.key")
}

func TestSealOpen(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1)+";"+keyLine("k2", 2))
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"totp seed", seed, []byte("account-42")},
		{"empty plaintext", []byte{}, []byte("account-42")},
		{"no aad", seed, nil},
		{"large", bytes.Repeat([]byte("x"), 1<<16), []byte("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSeal(t, k, tt.plaintext, tt.aad)
			if got, want := k.KeyID(s), "k2"; got != want {
				t.Errorf("KeyID(%q) = %q, want %q (the current key)", s, got, want)
			}
			if strings.ContainsAny(s, "=+/") {
				t.Errorf("Seal = %q, want unpadded base64url", s)
			}
			wantOpen(t, k, s, tt.aad, tt.plaintext)
			if again := mustSeal(t, k, tt.plaintext, tt.aad); again == s {
				t.Errorf("two Seals of one plaintext both gave %q, want different nonces", s)
			}
		})
	}
}

func TestOpenFails(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1)+"\n"+keyLine("k2", 2))
	aad := []byte("account-42")
	good := mustSeal(t, k, seed, aad)
	payload := strings.TrimPrefix(good, "k2:")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatalf("decoding %q: %v", payload, err)
	}
	// flip returns good with one bit flipped at byte i of nonce|ciphertext|tag.
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return "k2:" + base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name   string
		sealed string
		aad    []byte
		want   error
	}{
		{"other account", good, []byte("account-43"), ErrDecrypt},
		{"no aad", good, nil, ErrDecrypt},
		{"tampered nonce", flip(0), aad, ErrDecrypt},
		{"tampered ciphertext", flip(12), aad, ErrDecrypt},
		{"tampered tag", flip(len(raw) - 1), aad, ErrDecrypt},
		{"truncated", good[:len(good)-4], aad, ErrDecrypt},
		{"other key's id", "k1:" + payload, aad, ErrDecrypt},
		{"unknown newer id", "k3:" + payload, aad, ErrUnknownKey},
		{"unknown older id", "k9:" + payload, aad, ErrUnknownKey},
		{"no colon", "k2" + payload, aad, ErrDecrypt},
		{"empty", "", aad, ErrDecrypt},
		{"empty payload", "k2:", aad, ErrDecrypt},
		{"shorter than overhead", "k2:AAAA", aad, ErrDecrypt},
		{"padded base64", good + "==", aad, ErrDecrypt},
		{"std base64", "k2:+/+/" + payload[4:], aad, ErrDecrypt},
		{"bad id", "key2:" + payload, aad, ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.sealed, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open(%q) = %q, %v; want error %v", tt.sealed, got, err, tt.want)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1))
	tests := []struct {
		name   string
		sealed string
		want   string
	}{
		{"sealed", mustSeal(t, k, seed, nil), "k1"},
		{"other id", "k12:abc", "k12"},
		{"no colon", "k1abc", ""},
		{"empty payload", "k1:", ""},
		{"bad id", "x1:abc", ""},
		{"leading zero", "k01:abc", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.KeyID(tt.sealed); got != tt.want {
				t.Errorf("KeyID(%q) = %q, want %q", tt.sealed, got, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	tests := []struct {
		name string
		open func(t testing.TB) *Keyring
		// reopen returns the keyring as a restarted process would see it.
		reopen func(t testing.TB, k *Keyring) *Keyring
	}{
		{
			name:   "environment",
			open:   func(t testing.TB) *Keyring { return mustParse(t, keyLine("k1", 1)) },
			reopen: func(t testing.TB, k *Keyring) *Keyring { return mustParse(t, k.Format()) },
		},
		{
			name: "file",
			open: func(t testing.TB) *Keyring { return mustLoad(t, keyPath(t), testRand(1)) },
			reopen: func(t testing.TB, k *Keyring) *Keyring {
				return mustLoad(t, k.path, errReader{})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.open(t)
			aad := []byte("account-42")
			old := mustSeal(t, k, seed, aad)
			before := k.CurrentID()
			id := mustRotate(t, k, testRand(2))
			if n, ok := ParseID(id); !ok || n < minRandomID || id == before || k.CurrentID() != id {
				t.Errorf("Rotate = %q, CurrentID = %q; want a new random id, current", id, k.CurrentID())
			}
			wantOpen(t, k, old, aad, seed)
			fresh := mustSeal(t, k, seed, aad)
			if got := k.KeyID(fresh); got != id {
				t.Errorf("KeyID of a Seal after Rotate = %q, want %s", got, id)
			}
			again := tt.reopen(t, k)
			if got := again.CurrentID(); got != id {
				t.Errorf("reopened CurrentID = %q, want %s", got, id)
			}
			wantOpen(t, again, old, aad, seed)
			wantOpen(t, again, fresh, aad, seed)
		})
	}
}

// TestRotateNextID: an old ring of sequential ids keeps working, and a
// rotation gives it a random id it does not hold, whatever the order.
func TestRotateNextID(t *testing.T) {
	tests := []struct {
		name        string
		keys        string
		wantCurrent string
	}{
		{"one key", keyLine("k1", 1), "k1"},
		{"gap", keyLine("k1", 1) + ";" + keyLine("k7", 7), "k7"},
		{"current not highest", keyLine("k3", 3) + ";" + keyLine("k1", 1), "k1"},
		{"random ids", keyLine("k2860486313", 3) + ";" + keyLine("k4294967295", 1), "k4294967295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustParse(t, tt.keys)
			if got := k.CurrentID(); got != tt.wantCurrent {
				t.Errorf("CurrentID = %q, want %q", got, tt.wantCurrent)
			}
			held := k.IDs()
			got := mustRotate(t, k, testRand(9))
			if n, ok := ParseID(got); !ok || n < minRandomID || slices.Contains(held, got) {
				t.Errorf("Rotate = %q, want a random id not in %v", got, held)
			}
		})
	}
}

// TestNewKeyIDsAreUniqueInTheRing: a random source that repeats itself
// cannot give two keys of one ring the same id.
func TestNewKeyIDsAreUniqueInTheRing(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1))
	seen := map[string]bool{"k1": true}
	for range 5 {
		id := mustRotate(t, k, testRand(4)) // the same bytes each time
		if seen[id] {
			t.Fatalf("Rotate gave %s twice in one ring: %v", id, k.IDs())
		}
		seen[id] = true
	}
}

func TestRotateKeepsKeysAddedElsewhere(t *testing.T) {
	path := keyPath(t)
	a := mustLoad(t, path, testRand(1))
	b := mustLoad(t, path, testRand(1))
	first := a.CurrentID()
	second := mustRotate(t, a, testRand(2))
	third := mustRotate(t, b, testRand(3))
	if got, want := mustLoad(t, path, errReader{}).String(), "keyring["+first+" "+second+" "+third+"]"; got != want {
		t.Errorf("file holds %s, want %s", got, want)
	}
}

func TestReloadOnUnknownKey(t *testing.T) {
	path := keyPath(t)
	server := mustLoad(t, path, testRand(1))
	cli := mustLoad(t, path, testRand(1))
	aad := []byte("account-42")
	id := mustRotate(t, cli, testRand(2))
	sealed := mustSeal(t, cli, seed, aad)
	if got := cli.KeyID(sealed); got != id {
		t.Fatalf("KeyID = %q, want %s", got, id)
	}
	wantOpen(t, server, sealed, aad, seed)
	if got := server.CurrentID(); got != id {
		t.Errorf("server CurrentID after reload = %q, want %s", got, id)
	}
	// Still unknown after the reload: an id no one made.
	if _, err := server.Open("k3"+strings.TrimPrefix(sealed, id), aad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with id k3 = %v, want %v", err, ErrUnknownKey)
	}
}

// A running server must seal with the key a rotation made, or its new
// ciphertexts would be left under a key that is about to be retired.
func TestSealFollowsFile(t *testing.T) {
	path := keyPath(t)
	server := mustLoad(t, path, testRand(1))
	cli := mustLoad(t, path, testRand(1))
	id := mustRotate(t, cli, testRand(2))
	s := mustSeal(t, server, seed, nil)
	if got := server.KeyID(s); got != id {
		t.Errorf("server sealed under %q after a rotation elsewhere, want %s", got, id)
	}
	wantOpen(t, cli, s, nil, seed)
}

func TestLoadFileCreates(t *testing.T) {
	path := keyPath(t)
	k := mustLoad(t, path, testRand(1))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("new key file mode = %v, want %v", got, want)
		}
	}
	if n, ok := ParseID(k.CurrentID()); !ok || n < minRandomID {
		t.Errorf("CurrentID = %q, want a random id", k.CurrentID())
	}
	// A second load reads the same key instead of making one.
	s := mustSeal(t, k, seed, nil)
	wantOpen(t, mustLoad(t, path, errReader{}), s, nil, seed)
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestLoadFileErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits on Windows")
	}
	tests := []struct {
		name    string
		setup   func(t testing.TB) string
		rand    io.Reader
		wantErr string
	}{
		{
			name:    "world readable",
			setup:   func(t testing.TB) string { return writeKeyFile(t, keyLine("k1", 1), 0o644) },
			wantErr: "readable by group or others",
		},
		{
			name:    "group readable",
			setup:   func(t testing.TB) string { return writeKeyFile(t, keyLine("k1", 1), 0o640) },
			wantErr: "readable by group or others",
		},
		{
			name:    "bad key",
			setup:   func(t testing.TB) string { return writeKeyFile(t, "k1 c2hvcnQ=\n", 0o600) },
			wantErr: "32 bytes",
		},
		{
			name:    "empty",
			setup:   func(t testing.TB) string { return writeKeyFile(t, "# nothing\n", 0o600) },
			wantErr: "no key",
		},
		{
			name:    "directory",
			setup:   func(t testing.TB) string { return t.TempDir() },
			wantErr: "not a regular file",
		},
		{
			name:    "no parent directory",
			setup:   func(t testing.TB) string { return filepath.Join(t.TempDir(), "missing", "secret.key") },
			rand:    testRand(1),
			wantErr: "no such file",
		},
		{
			name:    "random fails",
			setup:   keyPath,
			rand:    errReader{},
			wantErr: "reading random key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.setup(t)
			r := tt.rand
			if r == nil {
				r = errReader{}
			}
			k, err := LoadFile(path, r)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadFile = %v, %v; want error containing %q", k, err, tt.wantErr)
			}
		})
	}
}

// A server whose key file became readable by others stops sealing rather
// than carry on as if nothing were wrong.
func TestSealRefusesLooseFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits on Windows")
	}
	path := keyPath(t)
	k := mustLoad(t, path, testRand(1))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Seal(seed, nil); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Errorf("Seal after chmod 644 = %v, want a mode error", err)
	}
}

func writeKeyFile(t testing.TB, content string, mode os.FileMode) string {
	t.Helper()
	path := keyPath(t)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
	return path
}

func TestParse(t *testing.T) {
	k1, k2, k3 := keyLine("k1", 1), keyLine("k2", 2), keyLine("k3", 3)
	tests := []struct {
		name string
		in   string
		want string // String(): the ids in order, current last
	}{
		{"one key", k1, "keyring[k1]"},
		{"file", "# header; with, separators\n" + k1 + "\n" + k2 + "\n", "keyring[k1 k2]"},
		{"semicolons", k1 + ";" + k2 + ";" + k3, "keyring[k1 k2 k3]"},
		{"commas", k1 + "," + k2, "keyring[k1 k2]"},
		{"spaces around", "  " + k1 + " ; \t" + k2 + " ;", "keyring[k1 k2]"},
		{"crlf", k1 + "\r\n" + k2 + "\r\n", "keyring[k1 k2]"},
		{"tab inside", "k1\t" + strings.Fields(k1)[1], "keyring[k1]"},
		{"blank lines", "\n\n" + k1 + "\n\n", "keyring[k1]"},
		{"current not highest", k2 + ";" + k1, "keyring[k2 k1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := k.String(); got != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if got := mustParse(t, k.Format()).Format(); got != k.Format() {
				t.Errorf("Format does not round-trip:\ngot  %q\nwant %q", got, k.Format())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	secret := strings.Fields(keyLine("k1", 1))[1]
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty", "", "no key"},
		{"only comments", "# a\n# b\n", "no key"},
		{"only separators", " ; , ;", "no key"},
		{"short key", "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 16)), "32 bytes"},
		{"long key", "k1 " + base64.StdEncoding.EncodeToString(make([]byte, 33)), "32 bytes"},
		{"url base64", "k1 " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), "32 bytes"},
		{"unpadded", "k1 " + strings.TrimRight(secret, "="), "32 bytes"},
		{"duplicate id", keyLine("k1", 1) + ";" + keyLine("k1", 2), "duplicate key id k1"},
		{"no id", secret, "want"},
		{"extra field", keyLine("k1", 1) + " extra", "want"},
		{"id zero", "k0 " + secret, "key id"},
		{"leading zero", "k01 " + secret, "key id"},
		{"other letter", "x1 " + secret, "key id"},
		{"too long id", "k12345678901 " + secret, "key id"},
		{"colon in id", "k1: " + secret, "key id"},
		{"second entry bad", keyLine("k1", 1) + ";k2 AAAA", "entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tt.in, k, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "AAAA") {
				t.Errorf("error %q contains key text", err)
			}
		})
	}
}

func TestRetire(t *testing.T) {
	tests := []struct {
		name string
		open func(t testing.TB) *Keyring
	}{
		{"environment", func(t testing.TB) *Keyring { return mustParse(t, keyLine("k1", 1)) }},
		{"file", func(t testing.TB) *Keyring { return mustLoad(t, keyPath(t), testRand(1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.open(t)
			old := mustSeal(t, k, seed, nil)
			oldID := k.CurrentID()
			id := mustRotate(t, k, testRand(2))
			fresh := mustSeal(t, k, seed, nil)
			if err := k.Retire(); err != nil {
				t.Fatalf("Retire: %v", err)
			}
			if got, want := k.String(), "keyring["+id+"]"; got != want {
				t.Errorf("after Retire: %s, want %s", got, want)
			}
			if _, err := k.Open(old, nil); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Open of a retired key's value = %v, want %v", err, ErrUnknownKey)
			}
			wantOpen(t, k, fresh, nil, seed)
			if k.path != "" {
				if got, want := mustLoad(t, k.path, errReader{}).String(), "keyring["+id+"]"; got != want {
					t.Errorf("file after Retire holds %s, want %s", got, want)
				}
			}
			if got := mustRotate(t, k, testRand(3)); got == id || got == oldID {
				t.Errorf("Rotate after Retire = %q, an id this ring had", got)
			}
		})
	}
}

func TestRetireRefusesAfterRotationElsewhere(t *testing.T) {
	path := keyPath(t)
	a := mustLoad(t, path, testRand(1))
	first := a.CurrentID()
	second := mustRotate(t, a, testRand(2))
	b := mustLoad(t, path, errReader{})
	third := mustRotate(t, b, testRand(3))
	if err := a.Retire(); err == nil || !strings.Contains(err.Error(), third) {
		t.Errorf("Retire with %s added since = %v, want an error naming it", third, err)
	}
	if got, want := mustLoad(t, path, errReader{}).String(), "keyring["+first+" "+second+" "+third+"]"; got != want {
		t.Errorf("file holds %s, want %s untouched", got, want)
	}
}

func TestDerive(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1))
	cursor := k.Derive("pagination cursor")
	tests := []struct {
		name  string
		got   []byte
		equal bool
	}{
		{"same purpose", k.Derive("pagination cursor"), true},
		{"same key elsewhere", mustParse(t, k.Format()).Derive("pagination cursor"), true},
		{"other purpose", k.Derive("csrf"), false},
		{"the key itself", bytes.Repeat([]byte{1}, KeySize), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.got) != 32 {
				t.Errorf("len = %d, want 32", len(tt.got))
			}
			if bytes.Equal(tt.got, cursor) != tt.equal {
				t.Errorf("got %x, cursor subkey %x; want equal = %v", tt.got, cursor, tt.equal)
			}
		})
	}
	// Documented: a rotation changes every subkey.
	mustRotate(t, k, testRand(2))
	if got := k.Derive("pagination cursor"); bytes.Equal(got, cursor) {
		t.Errorf("Derive after Rotate = %x, want a new subkey", got)
	}
}

func TestZeroKeyring(t *testing.T) {
	var k Keyring
	if _, err := k.Seal(seed, nil); err == nil {
		t.Error("Seal on the zero Keyring succeeded, want an error")
	}
	if _, err := k.Open("k1:AAAA", nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open on the zero Keyring = %v, want %v", err, ErrUnknownKey)
	}
	if got := k.CurrentID(); got != "" {
		t.Errorf("CurrentID = %q, want \"\"", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Derive on the zero Keyring did not panic")
		}
	}()
	k.Derive("x")
}

func TestPrintingLeaksNoKey(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1))
	secret := strings.Fields(keyLine("k1", 1))[1]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		got := fmt.Sprintf(verb, k)
		if strings.Contains(got, secret) || strings.Contains(got, strings.Repeat("\x01", 4)) || strings.Contains(got, "01010101") {
			t.Errorf("Sprintf(%q) = %q, contains the key", verb, got)
		}
	}
	if !strings.Contains(k.Format(), secret) {
		t.Errorf("Format() = %q, want the key in it", k.Format())
	}
}

// Run with -race: rotation and reload while others seal and open.
func TestConcurrent(t *testing.T) {
	path := keyPath(t)
	server := mustLoad(t, path, testRand(1))
	cli := mustLoad(t, path, testRand(1))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			aad := fmt.Appendf(nil, "account-%d", g)
			for range 50 {
				s := mustSeal(t, server, seed, aad)
				wantOpen(t, server, s, aad, seed)
				server.Derive("cursor")
			}
		})
	}
	wg.Go(func() {
		r := testRand(2)
		for range 5 {
			s := mustSeal(t, cli, seed, nil)
			mustRotate(t, cli, r)
			wantOpen(t, server, s, nil, seed)
		}
	})
	wg.Wait()
}

// errReader fails every read: a load that must not create a key uses it.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no randomness here") }

func FuzzOpen(f *testing.F) {
	k := mustParse(f, keyLine("k1", 1)+";"+keyLine("k2", 2))
	f.Add(mustSeal(f, k, seed, []byte("a")), []byte("a"))
	f.Add("k1:", []byte(nil))
	f.Add(":", []byte(nil))
	f.Add("k3:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []byte(nil))
	f.Add("k99999999999:AAAA", []byte(nil))
	f.Add("k1:k2:AAAA", []byte("x"))
	f.Fuzz(func(t *testing.T, sealed string, aad []byte) {
		got, err := k.Open(sealed, aad)
		if err != nil && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Open(%q) = %v, want ErrDecrypt or ErrUnknownKey", sealed, err)
		}
		if err == nil && k.KeyID(sealed) == "" {
			t.Errorf("Open(%q) = %q, but KeyID calls it malformed", sealed, got)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add(keyLine("k1", 1))
	f.Add("# header\n" + keyLine("k1", 1) + "\n" + keyLine("k2", 2) + "\n")
	f.Add(keyLine("k1", 1) + ";" + keyLine("k2", 2) + "," + keyLine("k3", 3))
	f.Add("k1 AAAA")
	f.Add(";;,\r\n#")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(k.Format())
		if err != nil {
			t.Fatalf("Parse(Format()) of %q: %v", s, err)
		}
		if again.Format() != k.Format() || again.CurrentID() != k.CurrentID() {
			t.Errorf("Format does not round-trip for %q:\ngot  %q\nwant %q", s, again.Format(), k.Format())
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for _, bb := range []struct {
		name string
		open func(b *testing.B) *Keyring
	}{
		{"env", func(b *testing.B) *Keyring { return mustParse(b, keyLine("k1", 1)) }},
		// A file keyring stats its file on every Seal to follow rotations.
		{"file", func(b *testing.B) *Keyring { return mustLoad(b, keyPath(b), testRand(1)) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			k := bb.open(b)
			aad := []byte("01HZX3K8Q6V2M4N7P9R1S3T5W7")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Seal(seed, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	k := mustParse(b, keyLine("k1", 1))
	aad := []byte("01HZX3K8Q6V2M4N7P9R1S3T5W7")
	s := mustSeal(b, k, seed, aad)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(s, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDeriveWith: a subkey made under one key is found again by its id after
// a rotation, which is what keeps the audit log's MACs verifiable.
func TestDeriveWith(t *testing.T) {
	k := mustParse(t, keyLine("k1", 1))
	before := k.Derive("audit chain")
	id := mustRotate(t, k, testRand(2))
	tests := []struct {
		name    string
		id      string
		want    []byte
		wantErr error
	}{
		{"the old key", "k1", before, nil},
		{"the current key", id, k.Derive("audit chain"), nil},
		{"an unknown key", "k9", nil, ErrUnknownKey},
		{"a malformed id", "k01", nil, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.DeriveWith(tt.id, "audit chain")
			if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want) {
				t.Errorf("DeriveWith(%q) = %x, %v; want %x, %v", tt.id, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if got, want := k.IDs(), []string{"k1", id}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
}

// TestKeysSurviveAnEnvironmentFile: the value `keys rotate` prints, and the
// key file's whole text, put in an environment file as the deployment guide
// shows (KEYWARD_SECRET_KEY="…"), come back unchanged from a shell's
// `set -a; . file`, which reads the file as systemd's EnvironmentFile does.
func TestKeysSurviveAnEnvironmentFile(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	k := mustLoad(t, keyPath(t), cryptorand.Reader)
	mustRotate(t, k, cryptorand.Reader)
	mustRotate(t, k, cryptorand.Reader)
	sealed := mustSeal(t, k, seed, nil)
	for _, tt := range []struct{ name, value string }{
		{"one line", k.EnvValue()},
		{"the key file's text", k.Format()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := filepath.Join(t.TempDir(), "keyward.env")
			text := "# /etc/keyward/keyward.env\nKEYWARD_PUBLIC_URL=\"https://id.example.com\"\nKEYWARD_SECRET_KEY=\"" + tt.value + "\"\n"
			if err := os.WriteFile(env, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bash, "-c", `set -a; . "$1"; set +a; printf '%s' "$KEYWARD_SECRET_KEY"`, "bash", env)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bash sourcing the file: %v\n%s", err, out)
			}
			got, err := Parse(string(out))
			if err != nil {
				t.Fatalf("the sourced value does not parse: %v", err)
			}
			if got.String() != k.String() {
				t.Errorf("sourced keys %s, want %s", got, k)
			}
			wantOpen(t, got, sealed, nil, seed)
		})
	}
}
