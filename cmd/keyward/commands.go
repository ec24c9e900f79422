package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/sqlite"
)

func accountCreate(ctx context.Context, c *config, log *slog.Logger, stdin io.Reader, stdout io.Writer) error {
	if c.email == "" {
		return errors.New("--email is required")
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := sealAudit(ctx, a); err != nil {
		return err
	}
	acct, err := a.Service.CreateAccount(ctx, c.email, pw)
	if err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "created account %s for %s\n", acct.ID, acct.Email)
	return nil
}

// sealAudit seals a log written before sealing existed (SealAudit), as
// serve does at start-up, before a command appends to it: an event appended
// to an unsealed head would never verify.
func sealAudit(ctx context.Context, a *app) error {
	if _, err := a.Service.SealAudit(ctx); err != nil {
		return fmt.Errorf("sealing the audit log: %w", err)
	}
	return nil
}

// readPassword reads one line from standard input, so that a password
// never appears in a command line or the shell's history.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 8<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("give the password on standard input, e.g. printf '%s\\n' \"$PW\" | keyward account create --email E")
	}
	return pw, nil
}

func accountReset2FA(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	if c.email == "" {
		return errors.New("--email is required")
	}
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := sealAudit(ctx, a); err != nil {
		return err
	}
	if err := a.Service.ResetTwoFactor(ctx, c.email); err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "two-factor authentication is off for %s; the reset is in the audit log\n", c.email)
	return nil
}

// keysRotate adds a new secret key and makes it current. With the key file,
// running nodes pick the new key up by themselves, so every seed is
// re-encrypted at once. With KEYWARD_SECRET_KEY the new value must first
// reach every node; re-encrypting before that would leave nodes unable to
// read seeds, so it is a second step (keys reencrypt), and this command
// changes nothing stored: it says so, and what the operator does next.
func keysRotate(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.Keys.Rotate(rand.Reader)
	if err != nil {
		return fmt.Errorf("adding a key: %w", err)
	}
	if c.secretKey != "" {
		n, err := a.Service.SeedsUnderOlderKeys(ctx)
		if err != nil {
			return fmt.Errorf("counting seeds: %w", err)
		}
		fmt.Fprintf(stdout, "new key %s made. KEYWARD_SECRET_KEY is set, so nothing was stored and no seed was re-encrypted: %d seeds are still sealed under older keys.\n", id, n)
		fmt.Fprintln(stdout, "1. give every node this value of KEYWARD_SECRET_KEY (every old key and the new one, the new one last) and restart them one by one:")
		fmt.Fprintln(stdout, a.Keys.Format())
		fmt.Fprintln(stdout, "   or, as one line of an environment file (systemd's EnvironmentFile, or a shell's set -a; . file):")
		fmt.Fprintf(stdout, "KEYWARD_SECRET_KEY=\"%s\"\n\n", a.Keys.EnvValue())
		fmt.Fprintln(stdout, "2. then, with the new value, run: keyward keys reencrypt")
		return nil
	}
	r, err := a.Service.RotateKeys(ctx)
	if err != nil {
		return reencryptError(fmt.Sprintf("new key %s is current, but re-encrypting seeds under it failed", id), c, r, err)
	}
	fmt.Fprintf(stdout, "new key %s is current; older keys stay readable\n", id)
	if err := reencrypted(stdout, r); err != nil {
		return err
	}
	return rotateSigningKey(ctx, a.Service, stdout)
}

// rotateSigningKey starts a new OpenID Connect signing key, sealed under
// the current secret key; the old one stays published until the ID tokens
// it signed have expired.
func rotateSigningKey(ctx context.Context, svc *keyward.Service, stdout io.Writer) error {
	id, err := svc.RotateOIDCSigningKey(ctx)
	if err != nil {
		return fmt.Errorf("starting a new token signing key: %w", err)
	}
	fmt.Fprintf(stdout, "token signing key %s is current; the previous one is still published for the tokens it signed\n", id)
	return nil
}

// keysReencrypt seals every TOTP seed under the current key.
func keysReencrypt(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Service.RotateKeys(ctx)
	if err != nil {
		return reencryptError("re-encrypting seeds failed", c, r, err)
	}
	if err := reencrypted(stdout, r); err != nil {
		return err
	}
	return rotateSigningKey(ctx, a.Service, stdout)
}

// reencrypted reports a finished RotateKeys. It fails when seeds are left
// under older keys, so that success always means every seed is under the
// current key.
func reencrypted(stdout io.Writer, r keyward.KeyRotation) error {
	fmt.Fprintf(stdout, "%d seeds re-encrypted under key %s", r.Resealed, r.Current)
	if r.Changed > 0 {
		fmt.Fprintf(stdout, " (%d changed while this ran and were left as they are)", r.Changed)
	}
	fmt.Fprintln(stdout)
	if r.Left > 0 {
		return fmt.Errorf("%d seeds are still sealed under older keys (written meanwhile by a node without key %s): run keyward keys reencrypt again once every node has it", r.Left, r.Current)
	}
	fmt.Fprintf(stdout, "every TOTP seed is now sealed under key %s\n", r.Current)
	return nil
}

// reencryptError explains a failed RotateKeys. Keys that do not open the
// seeds are the operator's to fix, and running again will not help.
func reencryptError(what string, c *config, r keyward.KeyRotation, err error) error {
	if errors.Is(err, keyring.ErrUnknownKey) || errors.Is(err, keyring.ErrDecrypt) {
		hint := "the key file " + filepath.Join(c.dataDir, "secret.keys") + " is not the one these seeds were sealed with"
		if c.secretKey != "" {
			hint = "KEYWARD_SECRET_KEY must hold every key the seeds are sealed with (after keys rotate: the whole value it printed, old keys and the new one)"
		}
		done := "Nothing was changed"
		if r.Resealed > 0 {
			done = fmt.Sprintf("%d seeds were re-encrypted before this one", r.Resealed)
		}
		return fmt.Errorf("%s: wrong keys: %w. %s: %s", what, err, done, hint)
	}
	return fmt.Errorf("%s (%d re-encrypted; run keyward keys reencrypt to finish): %w", what, r.Resealed, err)
}

// auditVerify checks every chain: its hash chain, its keyed seal, the age
// of its pruning checkpoint, and that accounts and chains match. It never
// writes, not even to seal a log written before sealing existed (serve
// does that), so that what it reports is what it found.
func auditVerify(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	reports, err := a.Service.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	events, broken := 0, 0
	var first *audit.Problem
	for _, r := range reports {
		events += r.Events
		if r.Problem != nil {
			broken++
			fmt.Fprintf(stdout, "BROKEN %s\n", r.Problem.Error())
			if first == nil {
				first = r.Problem
			}
		}
	}
	if first != nil {
		return exitError{code: 3, msg: fmt.Sprintf("audit log tampered with: %d of %d chains broken; first: %s", broken, len(reports), first.Error())}
	}
	fmt.Fprintf(stdout, "audit log intact: %d chains, %d events verified, every head sealed under the keyring's keys\n", len(reports), events)
	return nil
}

func auditList(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	var q keyward.EventQuery
	if c.auditType != "" {
		q.Types = []audit.Type{audit.Type(c.auditType)}
	}
	if c.auditSince != "" {
		if q.Since, err = audit.ParseTimeBound(c.auditSince, false); err != nil {
			return fmt.Errorf("--since: want an RFC 3339 time or a YYYY-MM-DD date, got %q", c.auditSince)
		}
	}
	enc := json.NewEncoder(stdout)
	print := func(e *keyward.Event) error {
		rec := struct {
			Chain string `json:"chain"`
			audit.Record
		}{e.ChainID, audit.RecordOf(e)}
		return enc.Encode(rec)
	}
	chain := ""
	switch {
	case c.email == "system":
		chain = audit.SystemChain
	case c.email != "":
		acct, err := a.Store.AccountByEmail(ctx, c.email)
		if keyward.IsCode(err, keyward.CodeNotFound) {
			// No account: its failed sign-ins are in the system log, under
			// a keyed digest of the email.
			return a.Service.UnknownEmailEvents(ctx, c.email, q, print)
		}
		if err != nil {
			return operatorError(err)
		}
		chain = acct.ID
	}
	return a.Service.OperatorEvents(ctx, chain, q, print)
}

// migrator is what `keyward migrate` needs of a store.
type migrator interface {
	MigrationStatus(ctx context.Context) ([]keyward.Migration, error)
	Migrate(ctx context.Context) error
}

func migrate(ctx context.Context, c *config, sub string, stdout io.Writer) error {
	var status []keyward.Migration
	var err error
	switch {
	case sub == "up":
		var store keyward.Store
		if store, err = server.OpenStore(ctx, server.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL}); err != nil { // applies what is pending
			return err
		}
		defer store.Close()
		m, ok := store.(migrator)
		if !ok {
			return errors.New("this store has no migrations")
		}
		status, err = m.MigrationStatus(ctx)
	case c.databaseURL != "":
		// Connect, not Open: Open would apply pending migrations.
		var store *postgres.Store
		if store, err = postgres.Connect(ctx, c.databaseURL); err != nil {
			return err
		}
		defer store.Close()
		status, err = store.MigrationStatus(ctx)
	default:
		status, err = sqlite.MigrationStatusAt(ctx, filepath.Join(c.dataDir, "keyward.db"))
	}
	if err != nil {
		return err
	}
	pending := 0
	for _, s := range status {
		state := "pending"
		if s.AppliedAt != nil {
			state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		} else {
			pending++
		}
		fmt.Fprintf(stdout, "%04d %-40s %s\n", s.Version, s.Name, state)
	}
	if pending > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d migrations pending: keyward migrate up (or keyward serve) applies them", pending)}
	}
	return nil
}

// operatorError is what an operator command prints: the client's message
// for a client error, the whole cause for an internal one (on the command
// line the operator is the log).
func operatorError(err error) error {
	if keyward.IsCode(err, keyward.CodeInternal) {
		return err
	}
	return errors.New(keyward.ErrorMessage(err))
}
