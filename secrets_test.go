package keyward_test

import (
	"bytes"
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/backupcode"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/sqlite"
)

// TestSecretsNeverReachTheDatabaseFile reads the SQLite files byte by byte
// after a full 2FA journey: no seed, backup code, password or token may be
// in them, in any of the forms they are typed or shown in.
func TestSecretsNeverReachTheDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := keywardtest.New(t, keywardtest.Options{Store: store})
	signUp(t, e, "ada@example.com")
	me := signIn(t, e, "ada@example.com", laptop)
	secret, codes := enableTOTP(t, e, me)
	step := signIn(t, e, "ada@example.com", phone)
	done, err := e.Svc.CompleteSignIn(ctx, step.MFAToken, codes[0], phone)
	if err != nil {
		t.Fatal(err)
	}
	pending := signIn(t, e, "ada@example.com", phone) // an mfa_token left waiting

	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"seed (base32)":       []byte(secret),
		"seed (raw)":          seed,
		"password":            []byte(goodPassword),
		"session token":       []byte(me.Token),
		"second session":      []byte(done.Token),
		"mfa token":           []byte(pending.MFAToken),
		"session token value": []byte(strings.TrimPrefix(me.Token, "kws_")),
	}
	for _, c := range codes {
		norm, _ := backupcode.Normalize(c)
		secrets["backup code "+c] = []byte(c)
		secrets["backup code normalised "+norm] = []byte(norm)
	}
	if err := store.Close(); err != nil { // flush the WAL into the main file too
		t.Fatal(err)
	}
	var all []byte
	files, _ := filepath.Glob(filepath.Join(dir, "keyward.db*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatal("read nothing from the database files")
	}
	for name, secret := range secrets {
		if bytes.Contains(all, secret) {
			t.Errorf("the database files contain the %s", name)
		}
	}
	// The check can fail: the email, which is stored, is found.
	if !bytes.Contains(all, []byte("ada@example.com")) {
		t.Fatal("the email is not found either: the files were not read")
	}
}
