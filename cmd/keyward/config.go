package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/locale"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/web"
	"github.com/keyward/keyward/webhook"
)

// config is every setting, from flags with KEYWARD_* environment twins
// (--session-lifetime <-> KEYWARD_SESSION_LIFETIME). A flag on the command
// line wins over the environment.
type config struct {
	addr              string
	metricsAddr       string
	adminAddr         string
	dataDir           string
	databaseURL       string
	publicURL         string
	signup            bool
	issuer            string // "" follows productName
	productName       string
	language          string // the default language of pages and mails
	appURL            string
	accentColor       string
	sessionIdle       time.Duration
	sessionLifetime   time.Duration
	sudoWindow        time.Duration
	trustedProxies    string
	corsOrigins       string
	returnOrigins     string
	cookieDomain      string
	basePath          string
	cookiePath        string
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
	smtpURL           string // with its password: never logged
	webhookURL        string // may hold credentials: logged redacted only
	webhookSecret     string // never logged, never in an error
	webhookSecretFile string
	webhookEvents     string
	webhookTimeout    time.Duration
	mailFrom          string
	requireVerified   bool
	email             string   // account commands
	yes               bool     // account delete: the operator means it
	tokenName         string   // admin token create
	tokenScopes       string   // admin token create
	clientName        string   // client create
	clientRedirects   []string // client create: --redirect-uri, repeatable
	clientPostLogout  []string // client create: --post-logout-redirect-uri, repeatable
	clientFirstParty  bool     // client create
	clientPublic      bool     // client create
	operand           string   // the command's one argument besides its flags (command.operand)
	auditType         string   // audit list
	auditSince        string   // audit list
	copyFrom          string   // copy: the source installation
	copyTo            string   // copy: the empty target database
	secretKey         string   // KEYWARD_SECRET_KEY only: a secret never goes on a command line
	secretKeyFile     string   // a key file elsewhere than --data-dir; never created
	readOnly          bool     // set by commands that only read: no key file is created
	parsedPublicURL   *url.URL
	parsedProxies     []netip.Prefix
	parsedCORS        []string
	parsedOrigins     []string
	parsedDomain      string
	parsedBasePath    string
	parsedCookiePath  string
	parsedAppURL      *url.URL
}

// defaultConfig is every setting before flags and the environment.
func defaultConfig() *config {
	d := password.DefaultParams()
	return &config{
		addr:              "127.0.0.1:8080",
		dataDir:           "./keyward-data",
		signup:            true,
		productName:       "keyward",
		language:          "en",
		sessionIdle:       30 * time.Minute,
		sessionLifetime:   12 * time.Hour,
		sudoWindow:        10 * time.Minute,
		logFormat:         "text",
		passwordMinLength: 8,
		passwordMinScore:  2,
		argonMemoryKiB:    uint(d.Memory),
		argonTime:         uint(d.Time),
		argonThreads:      uint(d.Threads),
		auditRetention:    400 * 24 * time.Hour,
		shutdownGrace:     10 * time.Second,
	}
}

// A flagGroup registers related flags on fs, bound to c's fields with their
// current values as defaults. A command lists the groups it takes.
type flagGroup func(fs *flag.FlagSet, c *config)

func logFlags(fs *flag.FlagSet, c *config) {
	fs.Var(choiceFlag{&c.logFormat, []string{"text", "json"}}, "log-format", "log format: text or json")
}

// storeFlags say where the installation is.
func storeFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.dataDir, "data-dir", c.dataDir, "folder for the SQLite database and the secret-key file (created 0700)")
	fs.StringVar(&c.databaseURL, "database-url", c.databaseURL, "PostgreSQL URL (postgres://...); empty uses embedded SQLite in --data-dir")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", c.secretKeyFile, "key file to use instead of KEYWARD_SECRET_KEY or --data-dir's secret.keys (mode 0600; never created); on PostgreSQL one of the two is required")
	logFlags(fs, c)
}

func addrFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.addr, "addr", c.addr, "address keyward listens on")
}

// metricsFlags are serve's own: the healthcheck command has no use for them.
func metricsFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.metricsAddr, "metrics-addr", c.metricsAddr, "address of a listener of its own serving Prometheus metrics at /metrics, such as 127.0.0.1:9464; off when empty")
	fs.StringVar(&c.adminAddr, "admin-addr", c.adminAddr, "address of a listener of its own serving the admin API (/api/v1/admin/…), such as 127.0.0.1:8081, which then answers 404 on --addr; empty serves it on --addr")
}

func serveFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.publicURL, "public-url", c.publicURL, "URL people reach keyward at (its path, if any, must be --base-path); with https, cookies are Secure, __Host- or __Secure- prefixed, and HSTS is sent")
	fs.StringVar(&c.basePath, "base-path", c.basePath, "path keyward is served under, like /auth: pages, API, static files, health checks, links, redirects and cookies carry it; requests are served with it or already stripped by the proxy")
	fs.StringVar(&c.cookiePath, "cookie-path", c.cookiePath, "Path of the session cookie: / or a parent of --base-path, so an application on the same host outside the base path receives it (default: --base-path)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", c.trustedProxies, "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.corsOrigins, "cors-origins", c.corsOrigins, "comma-separated origins (scheme://host[:port]) whose pages may call the API with a bearer token; credentials are never allowed")
	fs.StringVar(&c.returnOrigins, "allowed-return-origins", c.returnOrigins, "comma-separated origins (scheme://host[:port]) a sign-in's next may return to; http only for loopback unless --public-url is http")
	fs.StringVar(&c.cookieDomain, "cookie-domain", c.cookieDomain, "domain (example.com) that shares the session cookie with its subdomains; must cover --public-url's host; empty keeps cookies host-only")
	fs.Var(durationFlag{&c.shutdownGrace}, "shutdown-grace", "time in-flight requests get to finish on SIGTERM")
	fs.StringVar(&c.productName, "product-name", c.productName, "the product's name, in page titles and (unless --issuer) authenticator apps")
	fs.StringVar(&c.appURL, "app-url", c.appURL, "absolute http(s) URL of the application; settings pages link \"Back to <product>\" to it")
	fs.StringVar(&c.accentColor, "accent-color", c.accentColor, "accent colour of the pages, as #rgb or #rrggbb")
	fs.StringVar(&c.language, "language", c.language, "language of pages, API messages and mails for a person who asks for none keyward speaks: en or uk")
}

// sessionFlags are the rules of accounts and sessions.
func sessionFlags(fs *flag.FlagSet, c *config) {
	fs.Var(boolFlag{&c.signup}, "signup", "allow anyone to create an account")
	fs.StringVar(&c.issuer, "issuer", c.issuer, "name shown in authenticator apps (default: --product-name)")
	fs.Var(durationFlag{&c.sessionIdle}, "session-idle-timeout", "end a session unused this long")
	fs.Var(durationFlag{&c.sessionLifetime}, "session-lifetime", "end a session this long after sign-in")
	fs.Var(durationFlag{&c.sudoWindow}, "sudo-window", "how long after signing in, or confirming it is them, a person may change factors or the email address without proving it again")
}

// mailFlags say how mails leave: by SMTP, or as files in the data folder.
func mailFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.smtpURL, "smtp-url", c.smtpURL, "mail server, smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465 (TLS); empty writes each mail as an .eml file to DATA_DIR/outbox/ (prefer the environment variable: it holds a password)")
	fs.StringVar(&c.mailFrom, "mail-from", c.mailFrom, "sender of mails, \"Name <address>\" (default: the product name at noreply@ the public URL's host)")
	fs.Var(boolFlag{&c.requireVerified}, "require-verified-email", "refuse sign-in (after a correct password) until the account's email address is confirmed by mail")
}

// webhookFlags send audit events to a receiver. The commands that record
// events take them too: a process without them writes no deliveries.
func webhookFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.webhookURL, "webhook-url", c.webhookURL, "receiver of the audit events, https://host/path, POSTed in the Standard Webhooks format; off when empty")
	fs.StringVar(&c.webhookSecret, "webhook-secret", c.webhookSecret, "the receiver's signing secret, whsec_ and the base64 of 24 to 64 random bytes (prefer the environment variable or --webhook-secret-file: a command line is visible to other users)")
	fs.StringVar(&c.webhookSecretFile, "webhook-secret-file", c.webhookSecretFile, "file holding the webhook secret, instead of --webhook-secret")
	fs.StringVar(&c.webhookEvents, "webhook-events", c.webhookEvents, "comma-separated event types and prefixes ending in a dot to send, such as signin.,password.changed (default: every event)")
	fs.Var(durationFlag{&c.webhookTimeout}, "webhook-timeout", "time one delivery attempt may take, up to 5m (default 10s)")
}

func retentionFlags(fs *flag.FlagSet, c *config) {
	fs.Var(durationFlag{&c.auditRetention}, "audit-retention", "delete audit events older than this (0 keeps everything)")
}

// passwordFlags are the password policy and hashing.
func passwordFlags(fs *flag.FlagSet, c *config) {
	fs.Var(intFlag{&c.passwordMinLength}, "password-min-length", "shortest password accepted (at least 8)")
	fs.Var(intFlag{&c.passwordMinScore}, "password-min-score", "lowest zxcvbn score (0-4) accepted")
	fs.StringVar(&c.breachedFile, "breached-passwords-file", c.breachedFile, "extra list of refused passwords: plain, or Have I Been Pwned SHA1:count sorted by hash")
	fs.StringVar(&c.hibpURL, "hibp-url", c.hibpURL, "Have I Been Pwned range API base URL (e.g. https://api.pwnedpasswords.com); off when empty")
	fs.Var(uintFlag{&c.argonMemoryKiB}, "argon2-memory", "argon2id memory in KiB")
	fs.Var(uintFlag{&c.argonTime}, "argon2-time", "argon2id passes")
	fs.Var(uintFlag{&c.argonThreads}, "argon2-parallelism", "argon2id lanes")
	fs.Var(intFlag{&c.hashConcurrency}, "hash-concurrency", "password hashes computed at once (0: one per CPU, at least 2)")
}

func emailFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.email, "email", c.email, "the account's email")
}

func yesFlags(fs *flag.FlagSet, c *config) {
	fs.Var(boolFlag{&c.yes}, "yes", "confirm: the deletion cannot be undone")
}

func adminTokenFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.tokenName, "name", c.tokenName, "the token's name, 1 to 64 letters, digits, '.', '_' or '-': recorded with everything done with it")
	fs.StringVar(&c.tokenScopes, "scope", c.tokenScopes, "comma-separated scopes: accounts:read, accounts:write, sessions:write, audit:read, clients:write")
}

func clientFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.clientName, "name", c.clientName, "the application's name, shown on the consent and Sessions pages")
	fs.Var(listFlag{&c.clientRedirects}, "redirect-uri", "a redirect URI, matched exactly: https, or http on a loopback host (repeatable)")
	fs.Var(listFlag{&c.clientPostLogout}, "post-logout-redirect-uri", "where end_session may send the browser back to (repeatable)")
	fs.Var(boolFlag{&c.clientFirstParty}, "first-party", "the product's own application: no consent page")
	fs.Var(boolFlag{&c.clientPublic}, "public", "no secret (a mobile or single-page app): PKCE alone")
}

// listFlag is a flag that may be given more than once.
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(v string) error {
	*f.list = append(*f.list, v)
	return nil
}

func auditListFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.email, "email", c.email, "only this account's events, or \"system\" for the system log")
	fs.StringVar(&c.auditType, "type", c.auditType, "only events of this type")
	fs.StringVar(&c.auditSince, "since", c.auditSince, "only events since this RFC 3339 time or YYYY-MM-DD date")
}

func copyFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.copyFrom, "from", c.copyFrom, "the installation to copy, a data folder (SQLite) or a postgres:// URL")
	fs.StringVar(&c.copyTo, "to", c.copyTo, "the empty database to copy into, a postgres:// URL (or a data folder)")
}

// flagSet returns cmd's flags bound to c.
func (cmd *command) flagSet(c *config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keyward "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run; -h by help
	for _, g := range cmd.flags {
		g(fs, c)
	}
	fs.Usage = func() { cmd.help(fs, out) }
	return fs
}

// envName is the environment twin of a flag.
func envName(flagName string) string {
	return "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// secretKeyEnv is read from the environment only: a secret never goes on a
// command line, where other users of the machine can read it.
const secretKeyEnv = "KEYWARD_SECRET_KEY"

// parseConfig reads cmd's flags, then fills unset ones from the environment.
func parseConfig(cmd *command, args []string, out io.Writer) (*config, error) {
	c := defaultConfig()
	fs := cmd.flagSet(c, out)
	if err := fs.Parse(args); err != nil {
		return nil, err // for -h, fs.Usage has printed the help
	}
	if cmd.operand != "" {
		// The operand may come before flags or after them.
		if fs.NArg() == 0 {
			return nil, fmt.Errorf("give the %s: keyward %s %s", cmd.operand, cmd.name, cmd.args)
		}
		c.operand = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	c.secretKey = os.Getenv(secretKeyEnv)
	return c, c.validate()
}

// help prints what `keyward COMMAND -h` shows: the command's own flags only,
// each with its environment twin.
func (cmd *command) help(fs *flag.FlagSet, w io.Writer) {
	line := "keyward " + cmd.name
	if cmd.args != "" {
		line += " " + cmd.args
	}
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s.\n", line, strings.ToUpper(cmd.short[:1])+cmd.short[1:])
	if cmd.long != "" {
		fmt.Fprintf(w, "%s\n", cmd.long)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlags (each also read from the environment variable under it; a flag wins):\n")
	fs.VisitAll(func(f *flag.Flag) {
		head := "--" + f.Name
		if kind := valueKind(f.Value); kind != "" {
			head += " " + kind
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n      %s\n", head, f.Usage, def, envName(f.Name))
	})
	if fs.Lookup("data-dir") != nil {
		fmt.Fprintf(w, "\nThe secret key comes from %s when it is set, else from the key file in --data-dir.\n", secretKeyEnv)
	}
}

// valueKind names what a flag takes, for the help.
func valueKind(v flag.Value) string {
	switch v := v.(type) {
	case boolFlag:
		return ""
	case durationFlag:
		return "duration"
	case intFlag, uintFlag:
		return "number"
	case choiceFlag:
		return strings.Join(v.choices, "|")
	default:
		return "text"
	}
}

// knownEnv is every environment variable some command reads.
func knownEnv(table []*command) map[string]bool {
	known := map[string]bool{secretKeyEnv: true}
	for _, cmd := range table {
		cmd.flagSet(defaultConfig(), io.Discard).VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	}
	return known
}

// unknownEnv returns the KEYWARD_* variables of environ that no command
// reads, such as a misspelt one, which would otherwise be silently ignored.
// KEYWARD_TEST_* belong to the test suites.
func unknownEnv(table []*command, environ []string) []string {
	known := knownEnv(table)
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KEYWARD_") && !strings.HasPrefix(name, "KEYWARD_TEST_") && !known[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// suggestEnv names the known variable closest to a misspelt one.
func suggestEnv(table []*command, name string) string {
	best, bestDist := "", 4 // more than three edits away is no suggestion
	for known := range knownEnv(table) {
		if d := editDistance(name, known); d < bestDist {
			best, bestDist = known, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance of two short ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Flag values whose errors say what form is expected ("banana" for a
// duration is "want a duration such as 30m or 12h", not "parse error").
type (
	durationFlag struct{ p *time.Duration }
	boolFlag     struct{ p *bool }
	intFlag      struct{ p *int }
	uintFlag     struct{ p *uint }
	choiceFlag   struct {
		p       *string
		choices []string
	}
)

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 30m, 12h or 9600h")
	}
	*f.p = d
	return nil
}

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*f.p = v
	return nil
}

func (f boolFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatBool(*f.p)
}

func (f boolFlag) IsBoolFlag() bool { return true }

func (f intFlag) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number such as 8")
	}
	*f.p = v
	return nil
}

func (f intFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f uintFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return errors.New("want a whole number of 0 or more, such as 19456")
	}
	*f.p = uint(v)
	return nil
}

func (f uintFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatUint(uint64(*f.p), 10)
}

func (f choiceFlag) Set(s string) error {
	if !slices.Contains(f.choices, s) {
		return fmt.Errorf("want one of %s", strings.Join(f.choices, ", "))
	}
	*f.p = s
	return nil
}

func (f choiceFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
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
	cors, err := web.ParseCORSOrigins(c.corsOrigins)
	if err != nil {
		return fmt.Errorf("--cors-origins: %v", err)
	}
	c.parsedCORS = cors
	origins, err := web.ParseReturnOrigins(c.returnOrigins, c.parsedPublicURL)
	if err != nil {
		return fmt.Errorf("--allowed-return-origins: %v", err)
	}
	c.parsedOrigins = origins
	base, err := web.ParseBasePath(c.basePath, c.parsedPublicURL)
	if err != nil {
		return fmt.Errorf("--base-path: %v", err)
	}
	c.parsedBasePath = base
	cookiePath, err := web.ParseCookiePath(c.cookiePath, base)
	if err != nil {
		return fmt.Errorf("--cookie-path: %v", err)
	}
	c.parsedCookiePath = cookiePath
	domain, err := web.ParseCookieDomain(c.cookieDomain, c.parsedPublicURL)
	if err != nil {
		return fmt.Errorf("--cookie-domain: %v", err)
	}
	c.parsedDomain = domain
	if c.passwordMinLength < 8 {
		return fmt.Errorf("--password-min-length must be at least 8")
	}
	if c.passwordMinScore < 0 || c.passwordMinScore > 4 {
		return fmt.Errorf("--password-min-score must be from 0 to 4")
	}
	if err := c.checkBranding(); err != nil {
		return err
	}
	if c.sessionIdle <= 0 || c.sessionLifetime <= 0 {
		return fmt.Errorf("session timeouts must be positive")
	}
	if c.sudoWindow <= 0 {
		return fmt.Errorf("--sudo-window must be positive")
	}
	if c.argonMemoryKiB < 8*uint(c.argonThreads) || c.argonTime < 1 || c.argonThreads < 1 || c.argonThreads > 255 {
		return fmt.Errorf("argon2 parameters out of range")
	}
	return c.checkWebhook()
}

// maxSecretFile bounds what --webhook-secret-file reads: a secret is a line.
const maxSecretFile = 4 << 10

// checkWebhook refuses a webhook set up in part or wrongly, before
// anything starts. Its errors never hold the secret, nor the URL's
// credentials or query.
func (c *config) checkWebhook() error {
	if c.webhookSecretFile != "" {
		if c.webhookSecret != "" {
			return errors.New("both --webhook-secret (or KEYWARD_WEBHOOK_SECRET) and --webhook-secret-file are set: give one")
		}
		f, err := os.Open(c.webhookSecretFile)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		f.Close()
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		if len(b) > maxSecretFile {
			return errors.New("--webhook-secret-file: the file is larger than a secret")
		}
		c.webhookSecret = strings.TrimSpace(string(b))
		if c.webhookSecret == "" {
			return errors.New("--webhook-secret-file: the file is empty")
		}
	}
	if c.webhookURL == "" {
		switch {
		case c.webhookSecret != "":
			return errors.New("a webhook secret is set but no --webhook-url: set the receiver too, or remove the secret")
		case c.webhookEvents != "":
			return errors.New("--webhook-events is set but no --webhook-url")
		}
		return nil
	}
	if _, err := webhook.ParseURL(c.webhookURL); err != nil {
		return fmt.Errorf("--webhook-url: %v", err)
	}
	if c.webhookSecret == "" {
		return errors.New("--webhook-url needs the receiver's secret: set KEYWARD_WEBHOOK_SECRET, --webhook-secret-file or --webhook-secret (whsec_ and the base64 of 24 to 64 random bytes)")
	}
	if _, err := webhook.ParseSecret(c.webhookSecret); err != nil {
		return fmt.Errorf("--webhook-secret: %v", err)
	}
	if _, err := audit.ParseSelector(c.webhookEvents); err != nil {
		return fmt.Errorf("--webhook-events: %v", err)
	}
	if c.webhookTimeout < 0 || c.webhookTimeout > 5*time.Minute {
		return errors.New("--webhook-timeout must be positive and at most 5m")
	}
	return nil
}

// checkBranding refuses a product name, issuer, application URL or accent
// colour that would not show as meant, before anything is served.
func (c *config) checkBranding() error {
	name := strings.TrimSpace(c.productName)
	if name == "" || len(name) > 64 || strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("--product-name must be 1 to 64 characters without control characters")
	}
	c.productName = name
	if _, err := locale.New(c.language); err != nil {
		return fmt.Errorf("--language must be en or uk")
	}
	if c.issuer != "" && strings.Contains(c.issuer, ":") {
		// Authenticator apps split the label at the first colon.
		return fmt.Errorf("--issuer must not contain a colon")
	}
	if c.issuer == "" && strings.Contains(c.productName, ":") {
		return fmt.Errorf("--product-name is the authenticator apps' issuer and must not contain a colon (or set --issuer)")
	}
	if c.appURL != "" {
		u, err := url.Parse(c.appURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return fmt.Errorf("--app-url must be an absolute http or https URL without user information")
		}
		c.parsedAppURL = u
	}
	if c.accentColor != "" && !isHexColor(c.accentColor) {
		return fmt.Errorf("--accent-color must be #rgb or #rrggbb, e.g. #1d4ed8")
	}
	return nil
}

// isHexColor reports whether s is #rgb or #rrggbb: nothing else reaches the
// stylesheet, so an accent can never end a declaration or a rule.
func isHexColor(s string) bool {
	if len(s) != 4 && len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, r := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
