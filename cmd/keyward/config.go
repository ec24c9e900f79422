package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keyward/keyward/password"
)

// config is every setting, from flags with KEYWARD_* environment twins
// (--session-lifetime <-> KEYWARD_SESSION_LIFETIME). A flag on the command
// line wins over the environment.
type config struct {
	addr              string
	dataDir           string
	databaseURL       string
	publicURL         string
	signup            bool
	issuer            string
	sessionIdle       time.Duration
	sessionLifetime   time.Duration
	trustedProxies    string
	logFormat         string
	passwordMinLength int
	passwordMinScore  int
	breachedFile      string
	hibpURL           string
	argonMemoryKiB    uint
	argonTime         uint
	argonThreads      uint
	hashConcurrency   int
	auditRetention    time.Duration
	shutdownGrace     time.Duration
	email             string // account commands
	auditType         string // audit list
	auditSince        string // audit list
	copyFrom          string // copy: the source installation
	copyTo            string // copy: the empty target database
	secretKey         string // KEYWARD_SECRET_KEY only: a secret never goes on a command line
	parsedPublicURL   *url.URL
	parsedProxies     []netip.Prefix
}

func (c *config) flags(fs *flag.FlagSet) {
	d := password.DefaultParams()
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.dataDir, "data-dir", "./keyward-data", "folder for the SQLite database and the secret-key file (created 0700)")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); empty uses embedded SQLite in --data-dir")
	fs.StringVar(&c.publicURL, "public-url", "", "URL people reach keyward at; with https, cookies are Secure and __Host- prefixed and HSTS is sent")
	fs.BoolVar(&c.signup, "signup", true, "allow anyone to create an account")
	fs.StringVar(&c.issuer, "issuer", "keyward", "name shown in authenticator apps")
	fs.DurationVar(&c.sessionIdle, "session-idle-timeout", 30*time.Minute, "end a session unused this long")
	fs.DurationVar(&c.sessionLifetime, "session-lifetime", 12*time.Hour, "end a session this long after sign-in")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.IntVar(&c.passwordMinLength, "password-min-length", 8, "shortest password accepted (at least 8)")
	fs.IntVar(&c.passwordMinScore, "password-min-score", 2, "lowest zxcvbn score (0-4) accepted")
	fs.StringVar(&c.breachedFile, "breached-passwords-file", "", "extra list of refused passwords: plain, or Have I Been Pwned SHA1:count sorted by hash")
	fs.StringVar(&c.hibpURL, "hibp-url", "", "Have I Been Pwned range API base URL (e.g. https://api.pwnedpasswords.com); off when empty")
	fs.UintVar(&c.argonMemoryKiB, "argon2-memory", uint(d.Memory), "argon2id memory in KiB")
	fs.UintVar(&c.argonTime, "argon2-time", uint(d.Time), "argon2id passes")
	fs.UintVar(&c.argonThreads, "argon2-parallelism", uint(d.Threads), "argon2id lanes")
	fs.IntVar(&c.hashConcurrency, "hash-concurrency", 0, "password hashes computed at once (0: one per CPU, at least 2)")
	fs.DurationVar(&c.auditRetention, "audit-retention", 400*24*time.Hour, "delete audit events older than this (0 keeps everything)")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "time in-flight requests get to finish on SIGTERM")
	fs.StringVar(&c.email, "email", "", "the account's email (account and audit commands)")
	fs.StringVar(&c.auditType, "type", "", "audit list: only events of this type")
	fs.StringVar(&c.auditSince, "since", "", "audit list: only events since this RFC 3339 time or YYYY-MM-DD date")
	fs.StringVar(&c.copyFrom, "from", "", "copy: the installation to copy, a data folder (SQLite) or a postgres:// URL")
	fs.StringVar(&c.copyTo, "to", "", "copy: the empty database to copy into, a postgres:// URL (or a data folder)")
}

// parseConfig reads flags, then fills unset ones from the environment.
func parseConfig(name string, args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	c.secretKey = os.Getenv("KEYWARD_SECRET_KEY")
	return c, c.validate()
}

func (c *config) validate() error {
	if c.publicURL != "" {
		u, err := url.Parse(c.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url must be an http or https URL, got %q", c.publicURL)
		}
		c.parsedPublicURL = u
	}
	for _, p := range strings.Split(c.trustedProxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("--trusted-proxies: %q is not a CIDR or address", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.parsedProxies = append(c.parsedProxies, prefix.Masked())
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, got %q", c.logFormat)
	}
	if c.passwordMinLength < 8 {
		return fmt.Errorf("--password-min-length must be at least 8")
	}
	if c.passwordMinScore < 0 || c.passwordMinScore > 4 {
		return fmt.Errorf("--password-min-score must be from 0 to 4")
	}
	if c.issuer == "" || strings.Contains(c.issuer, ":") {
		// Authenticator apps split the label at the first colon.
		return fmt.Errorf("--issuer must be set and must not contain a colon")
	}
	if c.sessionIdle <= 0 || c.sessionLifetime <= 0 {
		return fmt.Errorf("session timeouts must be positive")
	}
	if c.argonMemoryKiB < 8*uint(c.argonThreads) || c.argonTime < 1 || c.argonThreads < 1 || c.argonThreads > 255 {
		return fmt.Errorf("argon2 parameters out of range")
	}
	return nil
}
