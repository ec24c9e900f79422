// Command keyward runs the keyward service and its operator commands.
//
// main turns flags and the environment into a config and wires the parts;
// every rule lives in the keyward package. The commands are one table
// (commands below): the usage, each command's help and its flags come from it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	// Mozilla's root certificates, used only where the system has none (the
	// container image is FROM scratch), so that TLS to an SMTP server or a
	// breached-password service verifies without a CA bundle in the image.
	_ "golang.org/x/crypto/x509roots/fallback"
)

// version may be set at build time with -ldflags "-X main.version=v1.2.3";
// without it the module version and VCS revision Go recorded are printed.
var version = ""

// env is what a command runs with besides its config.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

// command is one line of keyward's command table, in the manner of cmd/go's
// base.Command.
type command struct {
	name string // "serve", "account create"
	args string // the usage line's arguments, e.g. "--email E"
	// operand, when set, names the one argument the command takes besides
	// its flags ("NAME"); it is read into config.operand.
	operand string
	short   string      // one line for the list of commands
	long    string      // what -h adds, or ""
	flags   []flagGroup // the flags it takes; the environment twins follow
	run     func(ctx context.Context, c *config, e env) error
}

// commands is keyward's command table.
func commands() []*command {
	return []*command{
		{name: "serve", short: "run the web pages and the JSON API",
			long:  "Serves the pages and the JSON API on --addr, on embedded SQLite in --data-dir or on PostgreSQL (--database-url).",
			flags: []flagGroup{storeFlags, addrFlags, metricsFlags, serveFlags, mailFlags, webhookFlags, sessionFlags, retentionFlags, passwordFlags},
			run:   func(ctx context.Context, c *config, e env) error { return serve(ctx, c, e.log, e.stdout) }},
		{name: "healthcheck", short: "ask the keyward on --addr whether it is ready; exit 0 if so, else 1",
			long:  "GETs /readyz on --addr (an unspecified host such as 0.0.0.0 means this machine): what a container's HEALTHCHECK runs, where there is no curl.",
			flags: []flagGroup{addrFlags},
			run:   func(ctx context.Context, c *config, e env) error { return healthcheck(ctx, c, e.stdout) }},
		{name: "version", short: "print the version and the revision it was built from",
			run: func(_ context.Context, _ *config, e env) error { fmt.Fprintln(e.stdout, versionLine()); return nil }},
		{name: "account create", args: "--email E", short: "create an account (password on standard input)",
			long:  "Reads the password from the first line of standard input, so that it never appears in a command line or a shell's history. Works with sign-up turned off; recorded as an admin action.",
			flags: []flagGroup{emailFlags, storeFlags, webhookFlags, sessionFlags, passwordFlags},
			run: func(ctx context.Context, c *config, e env) error {
				return accountCreate(ctx, c, e.log, e.stdin, e.stdout)
			}},
		{name: "account reset-2fa", args: "--email E", short: "turn off two-factor for a person who lost device and codes",
			long:  "Ends every session of the account too; recorded in its audit log as an admin action.",
			flags: []flagGroup{emailFlags, storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return accountReset2FA(ctx, c, e.log, e.stdout) }},
		{name: "account disable", args: "--email E", short: "disable an account: every session ends at once and sign-in is refused",
			long:  "Nothing is deleted: account enable lets it sign in again. Sign-in answers account_disabled only after a correct password, reset and email-change links stop working, and no reset link is mailed while it is disabled. Recorded in its audit log as an admin action.",
			flags: []flagGroup{emailFlags, storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return accountDisable(ctx, c, e.log, e.stdout) }},
		{name: "account enable", args: "--email E", short: "let a disabled account sign in again",
			flags: []flagGroup{emailFlags, storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return accountEnable(ctx, c, e.log, e.stdout) }},
		{name: "account delete", args: "--email E --yes", short: "delete an account for good, with its sessions, factors and audit log",
			long:  "One transaction: the account, its sessions (ended on every node), TOTP, backup codes, mailed links, mails waiting and its audit chain are gone; the system audit log keeps account.deleted with the account's id. There is no undo: --yes says so.",
			flags: []flagGroup{emailFlags, yesFlags, storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return accountDelete(ctx, c, e.log, e.stdout) }},
		{name: "admin token create", args: "--name NAME --scope SCOPES", short: "make a token for the admin API; it is printed once",
			long:  "SCOPES is a comma-separated list of accounts:read, accounts:write, sessions:write and audit:read. Only the token's SHA-256 is stored: keep the printed token, nobody can show it again. Recorded in the system audit log, as is its revocation.",
			flags: []flagGroup{adminTokenFlags, storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return adminTokenCreate(ctx, c, e.log, e.stdout) }},
		{name: "admin token list", short: "list the admin tokens: name, scopes, created, last used (never the tokens)",
			flags: []flagGroup{storeFlags},
			run:   readOnly(func(ctx context.Context, c *config, e env) error { return adminTokenList(ctx, c, e.log, e.stdout) })},
		{name: "admin token revoke", args: "NAME", operand: "NAME", short: "revoke an admin token: it stops working at once, on every node",
			flags: []flagGroup{storeFlags, webhookFlags},
			run:   func(ctx context.Context, c *config, e env) error { return adminTokenRevoke(ctx, c, e.log, e.stdout) }},
		{name: "client create", args: "--name NAME --redirect-uri URI", short: "register an OpenID Connect client; its secret is printed once",
			long:  "Each URI flag may be repeated; redirect URIs match exactly (no wildcards), https or http on a loopback host. --public makes a client without a secret (PKCE alone); --first-party skips the consent page. Only the secret's SHA-256 is stored.",
			flags: []flagGroup{clientFlags, storeFlags},
			run:   func(ctx context.Context, c *config, e env) error { return clientCreate(ctx, c, e.log, e.stdout) }},
		{name: "client list", short: "list the OpenID Connect clients (never their secrets)",
			flags: []flagGroup{storeFlags},
			run:   readOnly(func(ctx context.Context, c *config, e env) error { return clientList(ctx, c, e.log, e.stdout) })},
		{name: "client delete", args: "ID", operand: "ID", short: "delete an OpenID Connect client: its grants and tokens end at once",
			flags: []flagGroup{storeFlags},
			run:   func(ctx context.Context, c *config, e env) error { return clientDelete(ctx, c, e.log, e.stdout) }},
		{name: "keys rotate", short: "add a new secret key; with the key file, re-encrypt every TOTP seed under it and start a new token signing key",
			long:  "With KEYWARD_SECRET_KEY nothing is stored and nothing re-encrypted: it prints the new value, which must reach every node first; then run keys reencrypt with it.",
			flags: []flagGroup{storeFlags},
			run:   func(ctx context.Context, c *config, e env) error { return keysRotate(ctx, c, e.log, e.stdout) }},
		{name: "keys reencrypt", short: "re-encrypt every TOTP seed under the current key",
			flags: []flagGroup{storeFlags},
			run:   func(ctx context.Context, c *config, e env) error { return keysReencrypt(ctx, c, e.log, e.stdout) }},
		{name: "audit verify", short: "check every audit chain and its seal; a non-zero exit names each problem",
			flags: []flagGroup{storeFlags, retentionFlags},
			run:   readOnly(func(ctx context.Context, c *config, e env) error { return auditVerify(ctx, c, e.log, e.stdout) })},
		{name: "audit list", args: "[--email E|system] [--type T] [--since D]", short: "print audit events as JSON lines",
			flags: []flagGroup{auditListFlags, storeFlags},
			run:   readOnly(func(ctx context.Context, c *config, e env) error { return auditList(ctx, c, e.log, e.stdout) })},
		{name: "migrate status", short: "list the schema migrations; exit 1 while any is pending",
			flags: []flagGroup{storeFlags},
			run:   readOnly(func(ctx context.Context, c *config, e env) error { return migrate(ctx, c, "status", e.stdout) })},
		{name: "migrate up", short: "apply the pending schema migrations",
			flags: []flagGroup{storeFlags},
			run:   func(ctx context.Context, c *config, e env) error { return migrate(ctx, c, "up", e.stdout) }},
		{name: "copy", args: "--from DIR --to URL", short: "copy an installation (SQLite data folder) into an empty PostgreSQL database",
			flags: []flagGroup{copyFlags, logFlags},
			run:   func(ctx context.Context, c *config, e env) error { return copyInstallation(ctx, c, e.log, e.stdout) }},
	}
}

// readOnly marks a command that only reads: it never creates a key file
// (nor anything else) where none is.
func readOnly(run func(context.Context, *config, env) error) func(context.Context, *config, env) error {
	return func(ctx context.Context, c *config, e env) error {
		c.readOnly = true
		return run(ctx, c, e)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: testable with its own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	table := commands()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(table))
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage(table))
		return 0
	case "-version", "--version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	cmd, rest := findCommand(table, args)
	if cmd == nil {
		fmt.Fprintf(stderr, "keyward: unknown command %q\n\n%s", strings.Join(args[:min(2, len(args))], " "), usage(table))
		return 2
	}
	for _, name := range unknownEnv(table, os.Environ()) {
		fmt.Fprintf(stderr, "keyward: warning: %s is not a keyward setting and is ignored%s\n", name, suggestEnv(table, name))
	}
	c, err := parseConfig(cmd, rest, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward:", err)
		fmt.Fprintf(stderr, "Run \"keyward %s -h\" for its flags.\n", cmd.name)
		return 2
	}
	log := newLogger(c.logFormat, stderr)
	runErr := cmd.run(ctx, c, env{stdin: stdin, stdout: stdout, stderr: stderr, log: log})
	if runErr == nil {
		return 0
	}
	msg, code := runErr.Error(), 1
	var ex exitError
	if errors.As(runErr, &ex) {
		msg, code = ex.msg, ex.code
	}
	if c.logFormat == "json" {
		// One more JSON line in the log, where a collector parses every line.
		log.Error("keyward stopped", "command", cmd.name, "err", msg, "exit_code", code)
		return code
	}
	fmt.Fprintln(stderr, "keyward:", msg)
	return code
}

// findCommand finds the command named by the first one or two words of args
// and returns it with the arguments that follow its name.
func findCommand(table []*command, args []string) (*command, []string) {
	for _, cmd := range table {
		words := strings.Fields(cmd.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmd.name {
			return cmd, args[len(words):]
		}
	}
	return nil, nil
}

// usage lists the commands.
func usage(table []*command) string {
	var b strings.Builder
	b.WriteString("keyward: self-hosted account security\n\nUsage:\n")
	for _, cmd := range table {
		line := "keyward " + cmd.name
		if cmd.args != "" {
			line += " " + cmd.args
		}
		fmt.Fprintf(&b, "  %-44s %s\n", line, cmd.short)
	}
	b.WriteString("\nEvery flag has an environment twin: --session-lifetime is KEYWARD_SESSION_LIFETIME.\n")
	b.WriteString("Run \"keyward COMMAND -h\" for a command's flags.\n")
	return b.String()
}

// versionLine is what `keyward version` prints: the version, and the VCS
// revision and time Go recorded in the binary.
func versionLine() string {
	info, ok := debug.ReadBuildInfo()
	line := "keyward " + versionString()
	if !ok {
		return line
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		line += fmt.Sprintf(", revision %s of %s%s", rev[:min(12, len(rev))], at, modified)
	}
	return line + ", built with " + info.GoVersion
}

// versionString is the version alone: set at build time, else the module's.
func versionString() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); v == "" && ok {
		v = info.Main.Version // "(devel)" when built inside the module
	}
	if v == "" {
		v = "(unknown)"
	}
	return v
}

// exitError ends a command with a particular exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
