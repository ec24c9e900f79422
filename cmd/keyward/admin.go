package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	keyward "github.com/keyward/keyward"
)

// The operator's account and admin-token commands: each one is a service
// call made as CommandLineAdmin, the same calls the admin API makes.

// accountByEmail wires keyward for a command that changes the account of
// --email, sealing a log written before sealing existed first (see
// sealAudit).
func accountByEmail(ctx context.Context, c *config, log *slog.Logger) (*app, *keyward.Account, error) {
	if c.email == "" {
		return nil, nil, errors.New("--email is required")
	}
	a, err := wire(ctx, c, log)
	if err != nil {
		return nil, nil, err
	}
	if err := sealAudit(ctx, a); err != nil {
		a.Close()
		return nil, nil, err
	}
	acct, err := a.Store.AccountByEmail(ctx, c.email)
	if keyward.IsCode(err, keyward.CodeNotFound) {
		a.Close()
		return nil, nil, fmt.Errorf("no account has the email %q", c.email)
	}
	if err != nil {
		a.Close()
		return nil, nil, operatorError(err)
	}
	return a, acct, nil
}

func accountDisable(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, acct, err := accountByEmail(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if acct.Disabled() {
		fmt.Fprintf(stdout, "account %s (%s) is disabled already\n", acct.ID, acct.Email)
		return nil
	}
	_, n, err := a.Service.DisableAccount(ctx, keyward.CommandLineAdmin(), acct.ID, keyward.Client{})
	if err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "account %s (%s) is disabled; %d sessions ended; keyward account enable lets it sign in again\n", acct.ID, acct.Email, n)
	return nil
}

func accountEnable(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, acct, err := accountByEmail(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if !acct.Disabled() {
		fmt.Fprintf(stdout, "account %s (%s) is not disabled\n", acct.ID, acct.Email)
		return nil
	}
	if _, err := a.Service.EnableAccount(ctx, keyward.CommandLineAdmin(), acct.ID, keyward.Client{}); err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "account %s (%s) can sign in again\n", acct.ID, acct.Email)
	return nil
}

func accountDelete(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	if !c.yes {
		return errors.New("deleting an account cannot be undone: add --yes to delete it")
	}
	a, acct, err := accountByEmail(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Service.DeleteAccount(ctx, keyward.CommandLineAdmin(), acct.ID, keyward.Client{}); err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "account %s is deleted, with its sessions, factors and audit log; the system log keeps account.deleted\n", acct.ID)
	return nil
}

func adminTokenCreate(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	if c.tokenName == "" {
		return errors.New("--name is required")
	}
	scopes, err := keyward.ParseScopes(c.tokenScopes)
	if err != nil {
		return fmt.Errorf("--scope: %s", keyward.ErrorMessage(err))
	}
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := sealAudit(ctx, a); err != nil {
		return err
	}
	token, t, err := a.Service.CreateAdminToken(ctx, c.tokenName, scopes)
	if err != nil {
		return operatorError(err)
	}
	// The token alone on the first line, for a script to read.
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stdout, "admin token %s with scopes %s: keep the line above, it is shown only now (only its SHA-256 is stored)\n", t.Name, scopeNames(t.Scopes))
	return nil
}

func adminTokenList(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	return printTable(ctx, c, log, stdout, (*keyward.Service).ListAdminTokens,
		"no admin tokens: keyward admin token create --name NAME --scope SCOPES makes one",
		"NAME\tSCOPES\tCREATED\tLAST USED", func(t keyward.AdminToken) string {
			used := "never"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.UTC().Format(time.RFC3339)
			}
			return strings.Join([]string{t.Name, scopeNames(t.Scopes), t.CreatedAt.UTC().Format(time.RFC3339), used}, "\t")
		})
}

// printTable lists what list (a method expression of the service) finds on
// the keyward c names, one row a line
// under header (tab-separated columns, aligned), or says empty when there
// is nothing to list.
func printTable[T any](ctx context.Context, c *config, log *slog.Logger, stdout io.Writer,
	list func(*keyward.Service, context.Context) ([]T, error), empty, header string, row func(T) string) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	items, err := list(a.Service, ctx)
	if err != nil {
		return operatorError(err)
	}
	if len(items) == 0 {
		fmt.Fprintln(stdout, empty)
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, it := range items {
		fmt.Fprintln(w, row(it))
	}
	return w.Flush()
}

func adminTokenRevoke(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := sealAudit(ctx, a); err != nil {
		return err
	}
	if err := a.Service.RevokeAdminToken(ctx, c.operand); err != nil {
		if keyward.IsCode(err, keyward.CodeNotFound) {
			return fmt.Errorf("no admin token is named %q (keyward admin token list shows them)", c.operand)
		}
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "admin token %s is revoked: it opens nothing from now on, on every node\n", c.operand)
	return nil
}

func scopeNames(scopes []keyward.AdminScope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}
