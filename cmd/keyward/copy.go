package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/server"
)

// copyInstallation is `keyward copy --from <data dir> --to <postgres URL>`:
// it moves an installation into an empty database in one transaction (all
// of it or nothing), then checks what arrived: the same records, every
// audit chain verifying. Secrets are copied as they are: password hashes,
// token and code hashes, and TOTP seeds still sealed, so the new nodes must
// run with the installation's secret keys.
func copyInstallation(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	if c.copyFrom == "" || c.copyTo == "" {
		return errors.New("copy needs --from <data folder> and --to <postgres://... URL>")
	}
	if c.copyFrom == c.copyTo {
		return errors.New("--from and --to are the same")
	}
	// A copy is one long transaction: give it a deadline of its own, which
	// also lifts the stores' per-statement bound meant for requests.
	ctx, cancel := context.WithTimeout(ctx, 24*time.Hour)
	defer cancel()
	src, srcName, err := openCopyEnd(ctx, c.copyFrom, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	keys, keyOrigin, err := copyKeys(c)
	if err != nil {
		return err
	}
	dst, dstName, err := openCopyEnd(ctx, c.copyTo, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.Close()
	from, ok := src.(keyward.Snapshotter)
	if !ok {
		return fmt.Errorf("%s cannot be exported", srcName)
	}
	to, ok := dst.(keyward.Snapshotter)
	if !ok {
		return fmt.Errorf("%s cannot be imported into", dstName)
	}
	log.Info("copying", "from", srcName, "to", dstName)

	seeds := &seedCheck{keys: keys}
	counts, err := pipeSnapshot(ctx, from, to, seeds.check)
	if err != nil {
		if msg := seeds.problem(); msg != "" {
			return errors.New("nothing was copied: " + msg)
		}
		if keyward.IsCode(err, keyward.CodeConflict) {
			return fmt.Errorf("nothing was copied: %s", keyward.ErrorMessage(err))
		}
		return fmt.Errorf("nothing was copied: %w", err)
	}

	fmt.Fprintf(stdout, "copied %s into %s, in one transaction:\n", srcName, dstName)
	printCounts(stdout, counts)

	// Check what arrived: the same number of records of every kind, and
	// every audit chain verifying from its head (or pruning checkpoint).
	got, err := pipeSnapshot(ctx, to, nil, nil)
	if err != nil {
		return fmt.Errorf("reading the copy back: %w", err)
	}
	if !slices.Equal(got, counts) {
		fmt.Fprintln(stdout, "read back from the target:")
		printCounts(stdout, got)
		return errors.New("the target does not hold what was copied (see the counts above)")
	}
	chains, events, err := verifyChains(ctx, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked: the target holds every record; audit log intact there: %d chains, %d events verified\n", chains, events)

	n := counts[kindIndex("TOTP credentials")] + counts[kindIndex("pending 2FA setups")]
	signing := counts[kindIndex("OIDC signing keys")]
	fmt.Fprintln(stdout)
	if n+signing == 0 {
		fmt.Fprintln(stdout, "No TOTP seed and no OIDC signing key was copied. Give every keyward node on the new database the same KEYWARD_SECRET_KEY (any new key will do).")
		return nil
	}
	fmt.Fprintf(stdout, "TOTP seeds (%d) and OIDC signing keys (%d) were copied sealed, as they are: every keyward node on the new database must use the same secret key as this installation.\n", n, signing)
	// Every seed opened with keys (seedCheck), so keys came from somewhere.
	if keyOrigin == "env" {
		fmt.Fprintln(stdout, "  Give every node the KEYWARD_SECRET_KEY this command ran with (key ids "+keyIDs(keys)+").")
	} else {
		fmt.Fprintf(stdout, "  Set KEYWARD_SECRET_KEY on every node to the contents of %s, e.g.\n", keyOrigin)
		fmt.Fprintf(stdout, "    KEYWARD_SECRET_KEY=\"$(cat %s)\"\n", keyOrigin)
		fmt.Fprintln(stdout, "  and keep that file in your backups: without it the seeds cannot be read.")
	}
	fmt.Fprintln(stdout, "Without that key, two-factor sign-ins and single sign-on fail. Stop the old installation before the new nodes take its traffic.")
	return nil
}

// openCopyEnd opens one end of a copy: a postgres:// URL, or a data folder
// (SQLite). A source folder must hold a database already.
func openCopyEnd(ctx context.Context, spec string, target bool) (keyward.Store, string, error) {
	if isDatabaseURL(spec) {
		if target {
			// Creates the schema of an empty database.
			s, err := server.OpenStore(ctx, server.Config{DatabaseURL: spec})
			if err != nil {
				return nil, "", err
			}
			return s, describeURL(spec), nil
		}
		s, err := postgres.Connect(ctx, spec) // reads as it is: no migration
		if err != nil {
			return nil, "", err
		}
		return s, describeURL(spec), nil
	}
	file := filepath.Join(spec, "keyward.db")
	if _, err := os.Stat(file); err != nil {
		if !target || !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("no keyward database in %s: %w", spec, err)
		}
	}
	s, err := server.OpenStore(ctx, server.Config{DataDir: spec})
	if err != nil {
		return nil, "", err
	}
	return s, file, nil
}

func isDatabaseURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// describeURL names a database without its password.
func describeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the PostgreSQL database"
	}
	u.RawQuery = ""
	return u.Redacted()
}

// copyKeys returns the keys to check the seeds with, and where they came
// from: "env" for KEYWARD_SECRET_KEY, the key file of the source data
// folder, or "" with no keys when there is neither (the file is never
// created here).
func copyKeys(c *config) (*keyring.Keyring, string, error) {
	if c.secretKey != "" {
		k, err := keyring.Parse(c.secretKey)
		if err != nil {
			return nil, "", fmt.Errorf("KEYWARD_SECRET_KEY: %w", err)
		}
		return k, "env", nil
	}
	if isDatabaseURL(c.copyFrom) {
		return nil, "", nil
	}
	path := filepath.Join(c.copyFrom, "secret.keys")
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the source's secret keys: %w", err)
	}
	k, err := keyring.Parse(string(text))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return k, path, nil
}

func keyIDs(k *keyring.Keyring) string {
	s := k.String() // "keyring[k1 k2]": ids only
	return strings.TrimSuffix(strings.TrimPrefix(s, "keyring["), "]")
}

// seedCheck opens every sealed seed and OIDC signing key on its way, so
// that a copy made with the wrong key is refused instead of leaving
// accounts that cannot sign in and a provider that cannot sign tokens.
type seedCheck struct {
	keys    *keyring.Keyring
	seen    int
	failed  int
	missing map[string]bool // key ids not in the keyring
}

func (s *seedCheck) check(r keyward.Record) error {
	var (
		sealed string
		aad    []byte
	)
	switch {
	case r.TOTPCredential != nil:
		sealed, aad = r.TOTPCredential.SealedSecret, []byte(r.TOTPCredential.AccountID)
	case r.PendingTOTP != nil:
		sealed, aad = r.PendingTOTP.SealedSecret, []byte(r.PendingTOTP.AccountID)
	case r.OIDCSigningKey != nil:
		sealed, aad = r.OIDCSigningKey.Sealed, keyward.OIDCSigningKeyAAD(r.OIDCSigningKey.ID)
	default:
		return nil
	}
	s.seen++
	if s.keys == nil {
		s.failed++
		return errors.New("no key")
	}
	if _, err := s.keys.Open(sealed, aad); err != nil {
		s.failed++
		if errors.Is(err, keyring.ErrUnknownKey) {
			if s.missing == nil {
				s.missing = map[string]bool{}
			}
			s.missing[s.keys.KeyID(sealed)] = true
		}
		return err
	}
	return nil
}

// problem explains a refused seed, or returns "".
func (s *seedCheck) problem() string {
	if s.failed == 0 {
		return ""
	}
	if s.keys == nil {
		return "the installation has TOTP seeds or OIDC signing keys but no key to read them was found (no secret.keys in --from, no KEYWARD_SECRET_KEY): " +
			"run copy with the installation's key so the seeds can be checked"
	}
	msg := "a TOTP seed or OIDC signing key does not open with the secret key at hand (key ids " + keyIDs(s.keys) + ")"
	if len(s.missing) > 0 {
		msg += "; it is sealed with key " + strings.Join(slices.Sorted(maps.Keys(s.missing)), ", ") + ", which is missing"
	}
	return msg + ": run copy with the installation's key (its secret.keys file, or the KEYWARD_SECRET_KEY its nodes use)"
}

// pipeSnapshot streams from's snapshot into to's Import (or, with a nil to,
// only reads it), passing each record to check first, and returns how many
// records of each kind went through (indexed like keyward.RecordKinds).
func pipeSnapshot(ctx context.Context, from, to keyward.Snapshotter, check func(keyward.Record) error) ([]int, error) {
	counts := make([]int, len(keyward.RecordKinds()))
	count := func(r keyward.Record) error {
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		_, i := r.Kind()
		if i < 0 {
			return errors.New("an empty record")
		}
		counts[i]++
		return nil
	}
	if to == nil {
		return counts, from.Export(ctx, count)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := make(chan keyward.Record, 256)
	exported := make(chan error, 1)
	go func() {
		defer close(records)
		exported <- from.Export(ctx, func(r keyward.Record) error {
			select {
			case records <- r:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	var exportErr error
	exportDone := false
	next := func() (keyward.Record, error) {
		r, ok := <-records
		if !ok {
			exportErr, exportDone = <-exported, true
			if exportErr != nil {
				return keyward.Record{}, fmt.Errorf("reading the source: %w", exportErr)
			}
			return keyward.Record{}, io.EOF
		}
		if err := count(r); err != nil {
			return keyward.Record{}, err
		}
		return r, nil
	}
	err := to.Import(ctx, next)
	cancel()
	if !exportDone {
		for range records {
		}
		exportErr = <-exported
	}
	if err != nil {
		return nil, err
	}
	if exportErr != nil {
		return nil, exportErr
	}
	return counts, nil
}

func kindIndex(kind string) int { return slices.Index(keyward.RecordKinds(), kind) }

func printCounts(w io.Writer, counts []int) {
	for i, kind := range keyward.RecordKinds() {
		if kind == "invalidation position" {
			continue // not a count of rows
		}
		fmt.Fprintf(w, "  %-22s %d\n", kind, counts[i])
	}
}

// verifyChains checks every audit chain of store, as `keyward audit verify`
// does first: the hash chain. The MACs and seals are copied as they are,
// under the same keys, so `audit verify` on the target checks them too.
func verifyChains(ctx context.Context, store keyward.Store) (chains, events int, err error) {
	heads, err := store.AuditHeads(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, h := range heads {
		problem, n, err := audit.VerifyChain(h, func(fn func(*keyward.Event) error) error {
			return store.EachChainEvent(ctx, h.ChainID, fn)
		})
		if err != nil {
			return 0, 0, fmt.Errorf("verifying chain %s on the target: %w", h.ChainID, err)
		}
		if problem != nil {
			return 0, 0, fmt.Errorf("the copied audit log does not verify: %s", problem.Error())
		}
		chains++
		events += n
	}
	return chains, events, nil
}
