// Package keyring holds the AES-256 keys that seal secrets at rest (TOTP
// seeds). The keys live outside the database: in a key file in the data
// folder, or in the KEYWARD_SECRET_KEY environment variable when several
// nodes share them. Every key has an id, so keys can be rotated.
//
// # Key format
//
// The file is text: comment lines starting with '#', then one key per line,
//
//	# keyward keyring ...
//	k1 3q2+7w...base64...=
//	k2 Zm9vYmFy...base64...=
//
// an id and 32 bytes in standard base64 (with padding). The LAST key is the
// current one, the one Seal uses. Ids are "k" and a decimal number from 1 to
// 4294967295 without leading zeros (it fits the four bytes a device token
// names its key with). A new key gets a random number not used in its ring,
// so that two rings made apart (two nodes that each rotated, a key file and
// an environment value) do not give one id to two keys; rings made before
// ids were random (k1, k2, …) keep working as they are. The environment variable
// holds the same text, or the same entries on one line separated by ';' or
// ',' ("k1 AAAA...=;k2 BBBB...="). The file must not be readable by group or
// others.
//
// # Sealed format
//
// Seal returns "<id>:<base64url, no padding, of nonce | ciphertext | tag>":
// AES-256-GCM with a random 96-bit nonce and the caller's additional data
// (e.g. the account id) bound in, so a ciphertext moved to another account
// does not open. The id is in the clear so Open picks the key, and a
// rotation finds what to re-encrypt (KeyID).
//
// # Rotation
//
// Rotate adds a key and makes it current; old keys stay, so everything
// sealed before still opens. Re-encrypt every value whose KeyID is not
// CurrentID, then Retire drops the old keys. A server running on the same
// key file sees a rotation without a restart: Seal and Open (for an id newer
// than any it holds) re-read the file when it has changed.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// KeySize is the bytes in a key (AES-256).
const KeySize = 32

// maxFileSize bounds what LoadFile reads: a key line is under 60 bytes, so
// this is thousands of keys, and a wrong path cannot fill memory.
const maxFileSize = 1 << 20

var (
	// ErrUnknownKey is returned by Open when no key has the sealed value's id.
	ErrUnknownKey = errors.New("keyring: unknown key id")
	// ErrDecrypt is returned by Open when the sealed value is malformed, was
	// altered, or was sealed with other additional data.
	ErrDecrypt = errors.New("keyring: cannot decrypt")
)

// b64url encodes Seal's output: URL-safe and unpadded, so it sits in any
// column, JSON string or URL without escaping.
var b64url = base64.RawURLEncoding

// keyText is the encoding of a key in the file. Strict refuses non-zero
// trailing bits, so one key has exactly one text.
var keyText = base64.StdEncoding.Strict()

// key is one immutable key.
type key struct {
	id   string
	raw  []byte
	aead cipher.AEAD // safe for concurrent use: GCM keeps no per-call state
}

// Keyring holds the AES-256 keys that seal secrets at rest (TOTP seeds), each
// with an id; one is current. It is safe for concurrent use.
//
// The zero Keyring holds no key: Seal fails and Derive panics. Use LoadFile
// or Parse.
type Keyring struct {
	path string // "" when the keys did not come from a file; fixed at creation

	mu   sync.RWMutex
	keys []*key      // the last is current; replaced, never changed in place
	file fs.FileInfo // what keys were read from, to notice a rewrite
}

// LoadFile loads the key file at path, creating it (mode 0600; the parent
// directory must exist) with one fresh key read from rand (crypto/rand.Reader
// in production) when it does not exist. It refuses a file readable by group
// or others.
func LoadFile(path string, rand io.Reader) (*Keyring, error) {
	keys, fi, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = create(path, rand); err == nil {
			// Read back what is there: another process may have created it first.
			keys, fi, err = readFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	return &Keyring{path: path, keys: keys, file: fi}, nil
}

// ReadFile loads the key file at path like LoadFile, but never creates
// it: for a command that only reads, a missing file is an error, not a
// new key that nothing was sealed with.
func ReadFile(path string) (*Keyring, error) {
	keys, fi, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return &Keyring{path: path, keys: keys, file: fi}, nil
}

// Parse reads keys from a string in the file's format, such as the
// KEYWARD_SECRET_KEY environment variable. Entries may also be separated by
// ';' or ',' on one line.
func Parse(s string) (*Keyring, error) {
	keys, err := parse(s)
	if err != nil {
		return nil, err
	}
	return &Keyring{keys: keys}, nil
}

// Seal encrypts plaintext with AES-256-GCM under the current key and a random
// 96-bit nonce, binding aad (e.g. the account id) so the result opens only
// with the same aad. The result is "<keyid>:<base64url>".
//
// The nonce comes from crypto/rand inside GCM, not from a reader passed in: a
// repeated nonce under one key breaks GCM, so no test reader may reach it.
// For a file keyring, Seal first re-reads the file if it has changed, so a
// running server seals with a key `keyward keys rotate` just added.
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	if err := k.refresh(); err != nil {
		return "", err
	}
	k.mu.RLock()
	cur := current(k.keys)
	k.mu.RUnlock()
	if cur == nil {
		return "", errors.New("keyring: no key")
	}
	ct := cur.aead.Seal(nil, nil, plaintext, aad)
	out := make([]byte, 0, len(cur.id)+1+b64url.EncodedLen(len(ct)))
	out = append(out, cur.id...)
	out = append(out, ':')
	out = b64url.AppendEncode(out, ct)
	return string(out), nil
}

// Open decrypts what Seal returned, with the same aad. It returns
// ErrUnknownKey when no key has the sealed id (after re-reading a changed key
// file, when the id is newer than every key held), and ErrDecrypt when the
// value is malformed or does not authenticate.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, payload, ok := strings.Cut(sealed, ":")
	_, validID := parseID(id)
	if !ok || !validID || payload == "" {
		return nil, ErrDecrypt
	}
	c, err := k.find(id)
	if err != nil {
		return nil, err
	}
	raw, err := b64url.AppendDecode(nil, []byte(payload))
	if err != nil || len(raw) < c.aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := c.aead.Open(raw[:0], nil, raw, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// find returns the key with id. For an id it does not hold, a file keyring
// looks whether the file changed (a stat; it is read only when it did): a
// rotation by another process may have added the key.
func (k *Keyring) find(id string) (*key, error) {
	k.mu.RLock()
	c := lookup(k.keys, id)
	k.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	if k.path == "" {
		return nil, ErrUnknownKey
	}
	if err := k.refresh(); err != nil {
		return nil, fmt.Errorf("%w (%w)", ErrUnknownKey, err)
	}
	k.mu.RLock()
	c = lookup(k.keys, id)
	k.mu.RUnlock()
	if c == nil {
		return nil, ErrUnknownKey
	}
	return c, nil
}

// lookup returns the key with id, or nil.
func lookup(keys []*key, id string) *key {
	for _, x := range keys {
		if x.id == id {
			return x
		}
	}
	return nil
}

// Refresh re-reads a file keyring's file if it changed since it was read
// (a stat otherwise); an environment keyring has nothing to re-read.
func (k *Keyring) Refresh() error { return k.refresh() }

// CurrentID returns the id of the key Seal uses.
func (k *Keyring) CurrentID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if cur := current(k.keys); cur != nil {
		return cur.id
	}
	return ""
}

// KeyID returns the key id of a value Seal returned, or "" when it is
// malformed (a bad id or nothing after it; the ciphertext is not checked).
func (k *Keyring) KeyID(sealed string) string {
	id, payload, ok := strings.Cut(sealed, ":")
	if _, valid := parseID(id); !ok || !valid || payload == "" {
		return ""
	}
	return id
}

// Rotate adds a fresh key read from rand and makes it current, keeping the
// old keys so existing ciphertexts still open. A file keyring re-reads the
// file first (it is the record: keep what another process added) and
// rewrites it atomically; otherwise the change is in memory only, and Format
// gives the new value to set in the environment.
func (k *Keyring) Rotate(rand io.Reader) (newID string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, fi := k.keys, k.file
	if k.path != "" {
		if keys, fi, err = readFile(k.path); err != nil {
			return "", err
		}
	}
	c, err := newKey(keys, rand)
	if err != nil {
		return "", err
	}
	keys = append(slices.Clip(keys), c)
	if k.path != "" {
		if fi, err = writeFile(k.path, keys); err != nil {
			return "", err
		}
	}
	k.keys, k.file = keys, fi
	return c.id, nil
}

// Retire removes every key but the current one; call it once everything has
// been re-encrypted under CurrentID. MACs that name a retired key (the audit
// log's, see DeriveWith) no longer verify: keep a key while they exist. A file keyring rewrites the file, and
// refuses when the file's current key is no longer this keyring's (a rotation
// happened since): re-encrypt again first, or values sealed with the key
// about to be dropped would be lost.
func (k *Keyring) Retire() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := current(k.keys)
	if cur == nil {
		return errors.New("keyring: no key")
	}
	keys := []*key{cur}
	if k.path == "" {
		k.keys = keys
		return nil
	}
	onFile, _, err := readFile(k.path)
	if err != nil {
		return err
	}
	if fc := current(onFile); fc.id != cur.id {
		return fmt.Errorf("keyring: %s now has current key %s, not %s: re-encrypt under it before retiring", k.path, fc.id, cur.id)
	}
	fi, err := writeFile(k.path, keys)
	if err != nil {
		return err
	}
	k.keys, k.file = keys, fi
	return nil
}

// Derive returns a 32-byte subkey for purpose (e.g. "pagination cursor"),
// HKDF-SHA256 of the current key with the purpose as info, so subkeys for
// different purposes are independent of each other and of sealing.
//
// It follows the current key: after a rotation every subkey changes, and
// whatever was MACed with the old one no longer verifies. That suits
// short-lived values such as pagination cursors (a client starts again from
// the first page); for anything that must outlive a rotation, record the
// key id and use DeriveWith.
func (k *Keyring) Derive(purpose string) []byte {
	k.mu.RLock()
	cur := current(k.keys)
	k.mu.RUnlock()
	if cur == nil {
		// A nil subkey would make every MAC forgeable; failing loudly is safer.
		panic("keyring: Derive on a keyring with no key")
	}
	return derive(cur, purpose)
}

// DeriveWith returns the subkey Derive gives for purpose when the key with
// id is current, whichever key is current now. A MAC made under one key
// thus still verifies after a rotation, for as long as that key is held
// (until Retire): record the key id beside the MAC. It returns
// ErrUnknownKey when no key has id (after re-reading a changed key file,
// when the id is newer than every key held).
func (k *Keyring) DeriveWith(id, purpose string) ([]byte, error) {
	if _, ok := parseID(id); !ok {
		return nil, ErrUnknownKey
	}
	c, err := k.find(id)
	if err != nil {
		return nil, err
	}
	return derive(c, purpose), nil
}

// IDs returns the id of every key held, the current one last.
func (k *Keyring) IDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, len(k.keys))
	for i, c := range k.keys {
		ids[i] = c.id
	}
	return ids
}

func derive(c *key, purpose string) []byte {
	sub, err := hkdf.Key(sha256.New, c.raw, nil, "keyward keyring derive: "+purpose, KeySize)
	if err != nil {
		panic("keyring: hkdf: " + err.Error()) // only for lengths far above 32
	}
	return sub
}

// Format returns the keys in the file format, the current one last: what
// to set KEYWARD_SECRET_KEY to after rotating an environment keyring. It
// contains the keys; String does not.
func (k *Keyring) Format() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return format(k.keys)
}

// EnvValue returns the keys on one line, separated by ';', the current one
// last, without the comment: the value of KEYWARD_SECRET_KEY for an
// environment file (KEYWARD_SECRET_KEY="…"), where systemd and a shell's
// `set -a; . file` read it alike. It contains the keys.
func (k *Keyring) EnvValue() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	entries := make([]string, len(k.keys))
	for i, c := range k.keys {
		entries[i] = c.id + " " + keyText.EncodeToString(c.raw)
	}
	return strings.Join(entries, ";")
}

// String describes the keyring by key ids only, so logging one by mistake
// (%v) leaks no key.
func (k *Keyring) String() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var b strings.Builder
	b.WriteString("keyring[")
	for i, c := range k.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.id)
	}
	b.WriteString("]")
	return b.String()
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

func current(keys []*key) *key {
	if len(keys) == 0 {
		return nil
	}
	return keys[len(keys)-1]
}

// parseID returns the number in an id "k<n>", 1 ≤ n ≤ 4294967295 without
// leading zeros (so "k1" and "k01" cannot both name a key), and whether id
// is one.
func parseID(id string) (uint32, bool) {
	if len(id) < 2 || len(id) > 11 || id[0] != 'k' || id[1] == '0' {
		return 0, false
	}
	for _, r := range id[1:] {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(id[1:], 10, 32)
	return uint32(n), err == nil
}

// ParseID returns the number of a key id ("k1", "k2860486313"): what a
// device token records to name its key. ok is false for anything else.
func ParseID(id string) (n uint32, ok bool) { return parseID(id) }

// FormatID is the key id of number n, ParseID's inverse.
func FormatID(n uint32) string { return "k" + strconv.FormatUint(uint64(n), 10) }

// minRandomID keeps random ids out of the small numbers of the sequential
// ids rings had before (k1, k2, …), so that an id tells which kind it is.
const minRandomID = 1 << 24

// newKey makes a key with a random id that no key of ring has.
func newKey(ring []*key, rand io.Reader) (*key, error) {
	var b [4]byte
	var n uint32
	for tries := 0; ; tries++ {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("keyring: reading random key id: %w", err)
		}
		n = binary.BigEndian.Uint32(b[:])
		if n >= minRandomID && lookup(ring, FormatID(n)) == nil {
			break
		}
		if tries > 100 {
			return nil, errors.New("keyring: no fresh key id from the random source")
		}
	}
	raw := make([]byte, KeySize)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return nil, fmt.Errorf("keyring: reading random key: %w", err)
	}
	return makeKey(n, raw)
}

func makeKey(n uint32, raw []byte) (*key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &key{id: FormatID(n), raw: raw, aead: aead}, nil
}

// parse reads the key format. Errors name the entry and id, never key text.
func parse(s string) ([]*key, error) {
	var keys []*key
	entry := 0
	for line := range strings.Lines(s) {
		// Whole comment lines go first: the header may contain ';' and ','.
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for field := range strings.FieldsFuncSeq(line, isSeparator) {
			if field = strings.TrimSpace(field); field == "" {
				continue
			}
			entry++
			c, err := parseEntry(field)
			if err != nil {
				return nil, fmt.Errorf("keyring: entry %d: %w", entry, err)
			}
			if slices.ContainsFunc(keys, func(o *key) bool { return o.id == c.id }) {
				return nil, fmt.Errorf("keyring: entry %d: duplicate key id %s", entry, c.id)
			}
			keys = append(keys, c)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("keyring: no key (want lines \"<id> <base64 of 32 bytes>\")")
	}
	return keys, nil
}

func isSeparator(r rune) bool { return r == ';' || r == ',' || r == '\n' || r == '\r' }

func parseEntry(field string) (*key, error) {
	parts := strings.Fields(field)
	if len(parts) != 2 {
		return nil, errors.New("want \"<id> <base64 of 32 bytes>\"")
	}
	n, ok := parseID(parts[0])
	if !ok {
		return nil, errors.New("key id must be \"k\" and a number from 1 to 4294967295, like k1")
	}
	raw, err := keyText.DecodeString(parts[1])
	if err != nil || len(raw) != KeySize {
		return nil, fmt.Errorf("key %s: want %d bytes in standard base64", parts[0], KeySize)
	}
	return makeKey(n, raw)
}

func format(keys []*key) string {
	var b strings.Builder
	// No character a shell or systemd treats specially inside double
	// quotes ($ ` \ "): the whole text may be the quoted value of
	// KEYWARD_SECRET_KEY in an environment file.
	b.WriteString("# keyward keyring: one key per line, <id> <base64 of a 32-byte AES key>; the last line is the current key. Keep secret, mode 0600.\n")
	for _, c := range keys {
		b.WriteString(c.id)
		b.WriteByte(' ')
		b.WriteString(keyText.EncodeToString(c.raw))
		b.WriteByte('\n')
	}
	return b.String()
}

// refresh re-reads a file keyring's file when it has been replaced or
// changed since it was read. Rotate and Retire always replace it (rename),
// so a stat is enough to notice them: no read on the common path.
func (k *Keyring) refresh() error {
	if k.path == "" {
		return nil
	}
	fi, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	k.mu.RLock()
	old := k.file
	k.mu.RUnlock()
	// The mode too, so a key file made readable by others stops being used,
	// as it would at start-up.
	same := old != nil && os.SameFile(old, fi) && old.ModTime().Equal(fi.ModTime()) &&
		old.Size() == fi.Size() && old.Mode() == fi.Mode()
	if same {
		return nil
	}
	// Read under the write lock, as Rotate and Retire do, so an older read
	// can never replace a newer one.
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, fi, err := readFile(k.path)
	if err != nil {
		return err
	}
	k.keys, k.file = keys, fi
	return nil
}

// readFile reads and checks a key file, returning its keys and what was read.
func readFile(path string) ([]*key, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the checks hold for what is read.
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("keyring: %s is not a regular file", path)
	}
	// Windows has no such mode bits (files report 0666); its ACLs are the
	// operator's to set.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, nil, fmt.Errorf("keyring: %s is readable by group or others (mode %#o); it holds the keys that decrypt every TOTP seed: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, nil, fmt.Errorf("keyring: %s is larger than %d bytes", path, maxFileSize)
	}
	keys, err := parse(string(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, fi, nil
}

// create makes a key file with one fresh key, unless one appears first.
// It links a complete temporary file into place: a plain create would let
// another process read it half-written, and a rename would replace a file
// another process had just created, with the keys it already sealed with.
func create(path string, rand io.Reader) error {
	c, err := newKey(nil, rand)
	if err != nil {
		return err
	}
	tmp, _, err := writeTemp(path, []*key{c})
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keyring: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// writeFile replaces the key file atomically: a crash leaves the old file or
// the new one, never a torn file without the keys.
func writeFile(path string, keys []*key) (fs.FileInfo, error) {
	tmp, fi, err := writeTemp(path, keys)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return fi, syncDir(filepath.Dir(path))
}

// writeTemp writes keys to a new 0600 file beside path and syncs it.
func writeTemp(path string, keys []*key) (name string, fi fs.FileInfo, err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*") // 0600
	if err != nil {
		return "", nil, fmt.Errorf("keyring: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("keyring: %w", cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = f.WriteString(format(keys)); err == nil {
		err = f.Sync()
	}
	if err == nil {
		fi, err = f.Stat()
	}
	if err != nil {
		return "", nil, fmt.Errorf("keyring: %w", err)
	}
	return f.Name(), fi, nil
}

// syncDir makes a rename or link durable; losing the key file loses every seed.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("keyring: syncing %s: %w", dir, err)
	}
	return nil
}
