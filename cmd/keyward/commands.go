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
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/postgres"
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
	acct, err := a.svc.CreateAccount(ctx, c.email, pw)
	if err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "created account %s for %s\n", acct.ID, acct.Email)
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
	if err := a.svc.ResetTwoFactor(ctx, c.email); err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "two-factor authentication is off for %s; the reset is in the audit log\n", c.email)
	return nil
}

// keysRotate adds a new secret key and makes it current. With the key file,
// running nodes pick the new key up by themselves, so every seed is
// re-encrypted at once. With KEYWARD_SECRET_KEY the new value must first
// reach every node; re-encrypting before that would leave nodes unable to
// read seeds, so it is a second step (keys reencrypt).
func keysRotate(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.keys.Rotate(rand.Reader)
	if err != nil {
		return fmt.Errorf("adding a key: %w", err)
	}
	if c.secretKey != "" {
		fmt.Fprintf(stdout, "new key %s. KEYWARD_SECRET_KEY is set, so nothing was changed yet:\n", id)
		fmt.Fprintln(stdout, "1. give every node this value of KEYWARD_SECRET_KEY and restart them one by one:")
		fmt.Fprintln(stdout, a.keys.Format())
		fmt.Fprintln(stdout, "2. then, with the new value, run: keyward keys reencrypt")
		return nil
	}
	n, err := a.svc.RotateKeys(ctx)
	if err != nil {
		return fmt.Errorf("re-encrypting seeds under %s (%d done; run keys reencrypt to finish): %w", id, n, err)
	}
	fmt.Fprintf(stdout, "new key %s is current; %d seeds re-encrypted; older keys stay readable\n", id, n)
	return nil
}

// keysReencrypt seals every TOTP seed under the current key.
func keysReencrypt(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.svc.RotateKeys(ctx)
	if err != nil {
		return fmt.Errorf("re-encrypting seeds (%d done; run again to finish): %w", n, err)
	}
	fmt.Fprintf(stdout, "%d seeds re-encrypted under key %s\n", n, a.keys.CurrentID())
	return nil
}

func auditVerify(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	reports, err := a.svc.VerifyAudit(ctx)
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
	fmt.Fprintf(stdout, "audit log intact: %d chains, %d events verified\n", len(reports), events)
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
		if q.Since, err = parseSince(c.auditSince); err != nil {
			return err
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
		acct, err := a.store.AccountByEmail(ctx, c.email)
		if keyward.IsCode(err, keyward.CodeNotFound) {
			// No account: its failed sign-ins are in the system log, under
			// a keyed digest of the email.
			return a.svc.UnknownEmailEvents(ctx, c.email, q, print)
		}
		if err != nil {
			return operatorError(err)
		}
		chain = acct.ID
	}
	return a.svc.OperatorEvents(ctx, chain, q, print)
}

func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since must be an RFC 3339 time or YYYY-MM-DD, got %q", s)
	}
	return t, nil
}

func migrate(ctx context.Context, c *config, sub string, stdout io.Writer) error {
	var (
		store keyward.Store
		err   error
	)
	if c.databaseURL != "" {
		// Connect, not Open: Open would apply pending migrations before
		// status could show them.
		store, err = postgres.Connect(ctx, c.databaseURL)
	} else {
		store, err = openStore(ctx, c)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	m, ok := store.(migrator)
	if !ok {
		return errors.New("this store has no migrations")
	}
	if sub == "up" {
		if err := m.Migrate(ctx); err != nil {
			return err
		}
	}
	status, err := m.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, s := range status {
		state := "pending"
		if s.AppliedAt != nil {
			state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%04d %-40s %s\n", s.Version, s.Name, state)
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
