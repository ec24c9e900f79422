package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
)

// clientCreate registers an OpenID Connect client and prints its id, and
// the secret of a confidential one, once.
func clientCreate(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	if c.clientName == "" {
		return errors.New("--name is required")
	}
	if len(c.clientRedirects) == 0 {
		return errors.New("--redirect-uri is required (repeat it for more than one)")
	}
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	cl, secret, err := a.Service.CreateOIDCClient(ctx, keyward.OIDCClientSpec{
		Name: c.clientName, RedirectURIs: c.clientRedirects, PostLogoutRedirectURIs: c.clientPostLogout,
		FirstParty: c.clientFirstParty, Public: c.clientPublic,
	})
	if err != nil {
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "client_id: %s\n", cl.ID)
	if secret != "" {
		fmt.Fprintf(stdout, "client_secret: %s\n", secret)
		fmt.Fprintln(stdout, "keep the secret: it is shown only now (only its SHA-256 is stored)")
	} else {
		fmt.Fprintln(stdout, "a public client: no secret, PKCE (S256) alone")
	}
	return nil
}

func clientList(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	return printTable(ctx, c, log, stdout, (*keyward.Service).OIDCClients,
		"no clients: keyward client create --name NAME --redirect-uri URI registers one",
		"ID\tNAME\tKIND\tREDIRECT URIS\tCREATED", func(cl keyward.OIDCClient) string {
			kind := "confidential"
			if cl.Public() {
				kind = "public"
			}
			if cl.FirstParty {
				kind += ", first-party"
			}
			return strings.Join([]string{cl.ID, cl.Name, kind, strings.Join(cl.RedirectURIs, " "), cl.CreatedAt.UTC().Format(time.RFC3339)}, "\t")
		})
}

func clientDelete(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Service.DeleteOIDCClient(ctx, c.operand); err != nil {
		if keyward.IsCode(err, keyward.CodeNotFound) {
			return fmt.Errorf("no client has the id %q (keyward client list shows them)", c.operand)
		}
		return operatorError(err)
	}
	fmt.Fprintf(stdout, "client %s is deleted: its grants and tokens end at once, on every node\n", c.operand)
	return nil
}
