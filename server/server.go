// Package server is keyward wired and ready to serve or mount.
//
// Open opens the store (SQLite in a data folder, or PostgreSQL), loads the
// secret keys, builds the service and the web pages and API, and returns a
// Server. A Server is an http.Handler: serve it on its own, or mount it in
// an application's mux. Its RequireSession and RequireTwoFactor middleware
// let only signed-in people through to the application's own handlers,
// which read who they are with keyward.FromContext. Run does the background
// work a Server needs for as long as it serves.
//
// The keyward command is built on this package: `keyward serve` is Open, an
// http.Server and Run.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/locale"
	kwmail "github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/openid"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/web"
)

// Config says where keyward keeps its data and how it behaves. The zero
// Config (with a DataDir) is keyward's defaults on SQLite.
type Config struct {
	// DataDir is the folder of the SQLite database (keyward.db) and of the
	// secret-key file (secret.keys), created 0700 when missing.
	DataDir string
	// DatabaseURL, when set, is a PostgreSQL database (postgres://...)
	// used instead of SQLite. Several keyward nodes may share one.
	DatabaseURL string
	// SecretKey is the secret keys' text, as the KEYWARD_SECRET_KEY
	// environment variable of the keyward command holds it; every node of
	// one database needs the same. Empty uses SecretKeyFile, or on SQLite
	// the key file in DataDir, created on first Open.
	SecretKey string
	// SecretKeyFile, when set, is a key file to use instead of the one in
	// DataDir; it is never created. With a DatabaseURL, SecretKey or
	// SecretKeyFile is required: every node of one database needs the
	// same keys, and a key file made by one node would hold its own.
	SecretKeyFile string
	// ReadOnlyKeys never creates a key file: for a program that only reads
	// (listing or verifying the audit log), a missing file is an error,
	// not a fresh key that nothing was sealed with.
	ReadOnlyKeys bool

	// Service holds the rules: sign-up, session timeouts, throttling,
	// audit retention. The zero value is keyward.DefaultConfig(). A Config
	// that is not all zero is taken as it is, so start from
	// keyward.DefaultConfig() to change one rule; an empty PasskeyOrigin
	// becomes the origin of PublicURL, whose host is the passkeys'
	// relying party id (passkeys are off without one).
	Service keyward.Config
	// PasswordHashing are the argon2id parameters; zero fields take
	// password.DefaultParams().
	PasswordHashing password.Params
	// HashConcurrency bounds the passwords hashed at once, and so the
	// memory a flood of sign-ins can take (0: one per CPU, at least 2).
	HashConcurrency int
	// PasswordPolicy says which passwords are accepted. The zero value is
	// password.DefaultPolicy().
	PasswordPolicy password.Policy

	// Config is the web server's: public URL, base path, cookie settings,
	// trusted proxies, branding. A ProductName set here names the product
	// for the service too when Service is the zero value. Unlike web.New,
	// Open gives the session cookie the Path "/" when CookiePath is empty,
	// so that the application's routes behind RequireSession receive it; a
	// CookiePath that does not cover them would send the browser to sign
	// in again and again.
	web.Config

	// Mail says how mails leave: SMTP, or .eml files in DataDir/outbox/.
	Mail Mail

	// Webhook sends the audit events to a receiver, signed in the
	// Standard Webhooks format; off when its URL is empty.
	Webhook Webhook

	// Logger receives keyward's log; nil discards it.
	Logger *slog.Logger
}

// Server is keyward ready to serve: the pages and the JSON API as an
// http.Handler, the service behind them, and the middleware an application
// puts in front of its own handlers.
type Server struct {
	core   *Core
	web    *web.Server
	mailer *kwmail.Mailer
	log    *slog.Logger
}

// Open opens everything cfg names and returns keyward ready to serve. It
// applies pending schema migrations, seals an audit log written before
// sealing existed, and starts no goroutine: call Run for the background
// work, and Close when done.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	core, err := OpenCore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Before any request can append to a chain: see keyward.Service.SealAudit.
	if _, err := core.Service.SealAudit(ctx); err != nil {
		core.Close()
		return nil, fmt.Errorf("sealing the audit log: %w", err)
	}
	log := logger(cfg)
	// A node whose keys do not open the seeds starts, but is not ready
	// (/readyz 503) until it is given keys that do.
	if err := core.Service.CheckKeys(ctx); err != nil {
		log.Error("the secret keys do not open the stored seeds: this node answers /readyz with 503", "err", err)
	}
	if why := core.Service.PasskeysOff(); why != "" {
		log.Info("passkeys are off", "why", why)
	}
	webCfg := cfg.Config
	if webCfg.ProductName == "" {
		webCfg.ProductName = serviceConfig(cfg).ProductName
	}
	if webCfg.CookiePath == "" {
		// The application's own routes behind RequireSession need the
		// session cookie, not only keyward's under the base path.
		webCfg.CookiePath = "/"
	}
	if webCfg.OpenID == nil && webCfg.PublicURL != nil {
		provider, err := newOpenID(core.Service, webCfg)
		if err != nil {
			core.Close()
			return nil, err
		}
		webCfg.OpenID = provider
	}
	if webCfg.Locale == nil {
		// One catalogue for the pages and the mails.
		if webCfg.Locale, err = locale.New(webCfg.DefaultLanguage); err != nil {
			core.Close()
			return nil, err
		}
	}
	srv, err := web.New(core.Service, webCfg, log)
	if err != nil {
		core.Close()
		return nil, err
	}
	mailer, err := newMailer(cfg, serviceConfig(cfg).ProductName, webCfg.Locale)
	if errors.Is(err, errNoLinkBase) {
		log.Warn(err.Error())
	} else if err != nil {
		core.Close()
		return nil, err
	}
	return &Server{core: core, web: srv, mailer: mailer, log: log}, nil
}

// MailDestination says where mails go (a mail server, or a folder of .eml
// files), or why they wait, for a start-up line. It never shows a password.
func (s *Server) MailDestination() string {
	if s.mailer == nil {
		return errNoLinkBase.Error()
	}
	return s.mailer.Describe()
}

// ServeHTTP serves keyward's pages, JSON API, static files and health
// checks. Mounted in an application's mux under a prefix, it expects that
// prefix as Config.BasePath; see the package example.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.web.ServeHTTP(w, r) }

// AdminHandler serves the admin API alone, for a listener of its own that
// the public network does not reach (keyward serve --admin-addr); nil
// unless Config.SeparateAdmin is set, in which case the Server itself
// answers the admin API's paths with 404.
func (s *Server) AdminHandler() http.Handler { return s.web.AdminHandler() }

// RoutePatterns are the http.ServeMux patterns of every route keyward
// serves, without the base path.
func (s *Server) RoutePatterns() []string { return s.web.RoutePatterns() }

// Service returns the service behind the Server, for an application that
// creates accounts, ends sessions or reads the audit log itself.
func (s *Server) Service() *keyward.Service { return s.core.Service }

// RequireSession returns a handler that lets a request through to next
// only with a valid session, read as keyward's API reads it (the session
// cookie, or an Authorization: Bearer token). next finds the account and
// session with keyward.FromContext.
//
// Without a session, a browser's navigation (a GET or HEAD that accepts
// text/html) is sent to keyward's sign-in page and back afterwards; any
// other request gets 401 with keyward's JSON error. A state-changing
// request authenticated by the cookie must come from the same origin, as
// keyward's own forms must (403 otherwise); a bearer-token call need not.
// The browser sends the cookie to next's paths only if the cookie's path
// covers them (see web.Config).
func (s *Server) RequireSession(next http.Handler) http.Handler { return s.web.RequireSession(next) }

// RequireTwoFactor is RequireSession for sessions signed in with a second
// factor. A session without one gets 403: a page that points a browser to
// the two-factor settings, or keyward's JSON error (code mfa_required).
func (s *Server) RequireTwoFactor(next http.Handler) http.Handler {
	return s.web.RequireTwoFactor(next)
}

// Run does the Server's background work until ctx ends: it follows other
// nodes' changes so that the session cache stays correct (without Run
// every check reads the store), sends the mails and webhooks waiting in
// their outboxes, deletes expired sessions and prunes the audit log past
// its retention, and logs the session checks once a minute. An
// application runs it for as long as it serves, typically in a goroutine
// of its own; it returns nil once ctx has ended and the work has stopped.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.core.Service.RunCacheWatcher(ctx) })
	wg.Go(func() { housekeeping(ctx, s.core.Service, s.log) })
	wg.Go(func() { s.web.LogSessionChecks(ctx, time.Minute) })
	if s.mailer != nil {
		wg.Go(func() { s.core.Service.RunMailWorker(ctx, keyward.MailWorker{Sender: s.mailer}) })
	}
	if h := s.core.webhook; h != nil {
		wg.Go(func() {
			s.core.Service.RunWebhookWorker(ctx, keyward.WebhookWorker{Sender: h.sender, SendTimeout: h.timeout})
		})
	}
	wg.Go(func() { watchKeys(ctx, s.core, s.log, 30*time.Second) })
	wg.Wait()
	return nil
}

// Close closes the store and what else Open opened. Call it after the
// http.Server serving s has shut down and Run has returned.
func (s *Server) Close() error { return s.core.Close() }

// Core is keyward without its web face: the store, the secret keys and the
// service that holds every rule. Open builds one under every Server;
// OpenCore gives one to a program that needs no web server, such as an
// operator's command line.
type Core struct {
	Store   keyward.Store
	Keys    *keyring.Keyring
	Service *keyward.Service
	closers []io.Closer
	hasher  *password.Hasher // for the hashes-in-flight gauge
	webhook *webhookSetup    // nil without a receiver
}

// OpenCore opens the store (applying pending migrations), loads the
// secret keys and builds the service, as Open does. It neither seals the
// audit log nor serves anything; the web part of cfg is not used.
func OpenCore(ctx context.Context, cfg Config) (*Core, error) {
	log := logger(cfg)
	params, err := hashing(cfg)
	if err != nil {
		return nil, err
	}
	// Before anything is opened: never half-configured.
	hook, err := newWebhook(cfg.Webhook)
	if err != nil {
		return nil, err
	}
	keys, err := openKeys(cfg)
	if err != nil {
		return nil, fmt.Errorf("loading secret keys: %w", err)
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	c := &Core{Store: store, Keys: keys, closers: []io.Closer{store}, webhook: hook}
	policy := cfg.PasswordPolicy
	if reflect.ValueOf(policy).IsZero() {
		policy = password.DefaultPolicy()
	}
	if policy.Logger == nil {
		policy.Logger = log
	}
	concurrency := cfg.HashConcurrency
	if concurrency <= 0 {
		concurrency = max(2, runtime.NumCPU())
	}
	c.hasher = password.NewHasher(params, concurrency, 2*time.Second)
	svcCfg := serviceConfig(cfg)
	svcCfg.WebhookEvents = nil // from cfg.Webhook only: no deliveries without a receiver to send them
	if hook != nil {
		svcCfg.WebhookEvents = &hook.events
	}
	c.Service, err = keyward.New(svcCfg, keyward.Deps{
		Store:  store,
		Hasher: c.hasher,
		Policy: policy,
		Keys:   c.Keys,
		Now:    time.Now,
		Rand:   rand.Reader,
		Logger: log,
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the store.
func (c *Core) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i].Close())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// OpenStore opens the store cfg names, PostgreSQL at DatabaseURL or else
// SQLite in DataDir, and applies pending schema migrations: the store
// alone, for a program that moves or migrates data.
func OpenStore(ctx context.Context, cfg Config) (keyward.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	if err := makeDataDir(cfg); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "keyward.db"))
}

// openKeys loads the secret keys: cfg.SecretKey when set (several nodes
// share it), else the key file in the data folder, created on first start.
func openKeys(cfg Config) (*keyring.Keyring, error) {
	switch {
	case cfg.SecretKey != "" && cfg.SecretKeyFile != "":
		return nil, errors.New("both a secret key (KEYWARD_SECRET_KEY) and a secret key file are set: give one")
	case cfg.SecretKey != "":
		return keyring.Parse(cfg.SecretKey)
	case cfg.SecretKeyFile != "":
		return keyring.ReadFile(cfg.SecretKeyFile)
	case cfg.DatabaseURL != "":
		return nil, ErrNoSharedKey
	}
	path := filepath.Join(cfg.DataDir, "secret.keys")
	if cfg.ReadOnlyKeys {
		if cfg.DataDir == "" {
			return nil, errors.New("no data folder: set Config.DataDir")
		}
		k, err := keyring.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no key file at %s, and this only reads: no key is made here (set KEYWARD_SECRET_KEY, or the data folder of the installation): %w", path, err)
		}
		return k, err
	}
	if err := makeDataDir(cfg); err != nil {
		return nil, err
	}
	return keyring.LoadFile(path, rand.Reader)
}

// ErrNoSharedKey is Open's and OpenCore's error on PostgreSQL without a
// secret key given: a key file made by this node would be its own, and
// the seeds other nodes sealed would not open here.
var ErrNoSharedKey = errors.New("on PostgreSQL every node needs the same secret key, and none was given: " +
	"set KEYWARD_SECRET_KEY (or --secret-key-file) to the value the other nodes use " +
	"(for a new installation, make one as the deployment guide shows, in \"The secret key\")")

func makeDataDir(cfg Config) error {
	if cfg.DataDir == "" {
		// The working directory is no place to create a secret by accident.
		return errors.New("no data folder: set Config.DataDir")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data folder: %w", err)
	}
	return nil
}

// serviceConfig is cfg.Service, or the defaults named after the product.
// Passkeys are made for the public URL's origin unless Service names one.
func serviceConfig(cfg Config) keyward.Config {
	s := cfg.Service
	if reflect.ValueOf(s).IsZero() {
		s = keyward.DefaultConfig()
		s.ProductName = cmp.Or(cfg.ProductName, s.ProductName)
	}
	if s.PasskeyOrigin == "" && cfg.PublicURL != nil {
		s.PasskeyOrigin = cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host
	}
	return s
}

// hashing is cfg.PasswordHashing with defaults for its zero fields,
// checked before anything is opened.
func hashing(cfg Config) (password.Params, error) {
	p, d := cfg.PasswordHashing, password.DefaultParams()
	p.Memory, p.Time, p.Threads = cmp.Or(p.Memory, d.Memory), cmp.Or(p.Time, d.Time), cmp.Or(p.Threads, d.Threads)
	p.SaltLen, p.KeyLen = cmp.Or(p.SaltLen, d.SaltLen), cmp.Or(p.KeyLen, d.KeyLen)
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("argon2 parameters: %w", err)
	}
	return p, nil
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return cfg.Logger
}

// watchKeys checks the keys again against the seeds when they change (a
// key file rotated by keys rotate), and while the last check failed.
func watchKeys(ctx context.Context, core *Core, log *slog.Logger, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	checked := core.Keys.String() // ids only
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := core.Keys.Refresh(); err != nil {
			log.Warn("re-reading the key file", "err", err)
		}
		ids := core.Keys.String()
		if ids == checked && core.Service.KeysReady() == nil {
			continue
		}
		err := core.Service.CheckKeys(ctx)
		switch {
		case err != nil && core.Service.KeysReady() != nil:
			log.Error("the secret keys do not open the stored seeds: this node answers /readyz with 503", "keys", ids, "err", err)
		case err != nil:
			log.Warn("checking the secret keys against the seeds", "err", err)
		default:
			checked = ids
			log.Info("secret keys checked against the seeds", "keys", ids)
		}
	}
}

// housekeeping deletes what has expired and prunes the audit log past its
// retention, now and then. Each node does it; the work is idempotent.
func housekeeping(ctx context.Context, svc *keyward.Service, log *slog.Logger) {
	tick := time.NewTicker(5 * time.Minute)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		// Bulk deletes may take longer than a request's statement bound.
		work, cancel := context.WithTimeout(ctx, 10*time.Minute)
		if err := svc.CleanUp(work); err != nil && ctx.Err() == nil {
			log.Warn("cleaning up expired sessions", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			n, err := svc.PruneAudit(work)
			if err != nil && ctx.Err() == nil {
				log.Warn("pruning the audit log", "err", err)
			} else if n > 0 {
				log.Info("pruned audit events past retention", "events", n)
			}
			lastPrune = time.Now()
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// newOpenID builds the OpenID Connect provider, whose issuer is the public
// URL with the base path.
func newOpenID(svc *keyward.Service, cfg web.Config) (*openid.Provider, error) {
	base, err := web.ParseBasePath(cfg.BasePath, cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	return openid.New(svc, openid.Config{
		Issuer:    cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host + base,
		LoginPath: func(id string) string { return web.OIDCLoginPath(base, id) },
	})
}
