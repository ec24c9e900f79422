// Command keyward runs the keyward service and its operator commands.
//
// main turns flags and the environment into a config and wires the parts;
// every rule lives in the keyward package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `keyward: self-hosted account security

Usage:
  keyward serve [flags]                      run the web pages and the JSON API
  keyward version                            print the version
  keyward account create --email E           create an account (password on standard input)
  keyward account reset-2fa --email E        turn off two-factor for a person who lost device and codes
  keyward keys rotate                        add a new secret key and re-encrypt every TOTP seed under it
  keyward keys reencrypt                     re-encrypt every TOTP seed under the current key
  keyward audit verify                       check every audit chain and its seal; non-zero exit names each problem
  keyward audit list [--email E|system] [--type T] [--since D]
  keyward migrate status|up                  show or apply database migrations
  keyward copy --from DIR --to URL           copy an installation (SQLite data folder) into an empty PostgreSQL database

Every flag has an environment twin: --session-lifetime is KEYWARD_SESSION_LIFETIME.
Run "keyward serve -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: testable with its own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	switch cmd {
	case "account", "keys", "audit", "migrate":
		if len(rest) == 0 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		sub, rest = rest[0], rest[1:]
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, "keyward", version)
		return 0
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	c, err := parseConfig("keyward "+cmd, rest, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyward:", err)
		return 2
	}
	log := newLogger(c.logFormat, stderr)
	var runErr error
	switch cmd + " " + sub {
	case "serve ":
		runErr = serve(ctx, c, log, stdout)
	case "account create":
		runErr = accountCreate(ctx, c, log, stdin, stdout)
	case "account reset-2fa":
		runErr = accountReset2FA(ctx, c, log, stdout)
	case "keys rotate":
		runErr = keysRotate(ctx, c, log, stdout)
	case "keys reencrypt":
		runErr = keysReencrypt(ctx, c, log, stdout)
	case "audit verify":
		runErr = auditVerify(ctx, c, log, stdout)
	case "audit list":
		runErr = auditList(ctx, c, log, stdout)
	case "migrate status", "migrate up":
		runErr = migrate(ctx, c, sub, stdout)
	case "copy ":
		runErr = copyInstallation(ctx, c, log, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if runErr != nil {
		var ex exitError
		if errors.As(runErr, &ex) {
			fmt.Fprintln(stderr, "keyward:", ex.msg)
			return ex.code
		}
		fmt.Fprintln(stderr, "keyward:", runErr)
		return 1
	}
	return 0
}

// exitError ends a command with a particular exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
