package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// migrator is what `keyward migrate` needs of a store.
type migrator interface {
	MigrationStatus(ctx context.Context) ([]keyward.Migration, error)
	Migrate(ctx context.Context) error
}

// app is a wired keyward: the store, the keys and the service.
type app struct {
	cfg     *config
	log     *slog.Logger
	store   keyward.Store
	keys    *keyring.Keyring
	svc     *keyward.Service
	closers []io.Closer
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i].Close()
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// openStore opens PostgreSQL when a URL is given, else SQLite in the data folder.
func openStore(ctx context.Context, c *config) (keyward.Store, error) {
	if c.databaseURL != "" {
		return postgres.Open(ctx, c.databaseURL)
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data folder: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(c.dataDir, "keyward.db"))
}

// openKeys loads the secret keys: KEYWARD_SECRET_KEY when set (several nodes
// share it), else the key file in the data folder, created on first start.
func openKeys(c *config) (*keyring.Keyring, error) {
	if c.secretKey != "" {
		return keyring.Parse(c.secretKey)
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data folder: %w", err)
	}
	return keyring.LoadFile(filepath.Join(c.dataDir, "secret.keys"), rand.Reader)
}

func wire(ctx context.Context, c *config, log *slog.Logger) (*app, error) {
	a := &app{cfg: c, log: log}
	store, err := openStore(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	a.store = store
	a.closers = append(a.closers, store)
	if a.keys, err = openKeys(c); err != nil {
		a.Close()
		return nil, fmt.Errorf("loading secret keys: %w", err)
	}
	policy, err := buildPolicy(c, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	if policy.closer != nil {
		a.closers = append(a.closers, policy.closer)
	}
	conc := c.hashConcurrency
	if conc <= 0 {
		conc = max(2, runtime.NumCPU())
	}
	params := password.DefaultParams()
	params.Memory, params.Time, params.Threads = uint32(c.argonMemoryKiB), uint32(c.argonTime), uint8(c.argonThreads)
	if err := params.Validate(); err != nil {
		a.Close()
		return nil, fmt.Errorf("argon2 parameters: %w", err)
	}
	cfg := keyward.DefaultConfig()
	cfg.ProductName = c.productName
	cfg.Issuer = c.issuer
	cfg.SignupEnabled = c.signup
	cfg.SessionIdleTimeout = c.sessionIdle
	cfg.SessionLifetime = c.sessionLifetime
	cfg.AuditRetention = c.auditRetention
	cfg.RequireVerifiedEmail = c.requireVerified
	a.svc, err = keyward.New(cfg, keyward.Deps{
		Store:  store,
		Hasher: password.NewHasher(params, conc, 2*time.Second),
		Policy: policy.Policy,
		Keys:   a.keys,
		Now:    time.Now,
		Rand:   rand.Reader,
		Logger: log,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

type builtPolicy struct {
	password.Policy
	closer io.Closer
}

func buildPolicy(c *config, log *slog.Logger) (builtPolicy, error) {
	minScore := c.passwordMinScore
	if minScore == 0 {
		minScore = -1 // the policy reads 0 as "default"; an operator's 0 means "no minimum"
	}
	p := builtPolicy{Policy: password.Policy{
		MinLength: c.passwordMinLength,
		MaxLength: 1024,
		MinScore:  minScore,
		Breached:  []password.BreachedChecker{password.CommonPasswords()},
		Logger:    log,
	}}
	if c.breachedFile != "" {
		checker, closer, err := password.OpenBreachedFile(c.breachedFile)
		if err != nil {
			return p, fmt.Errorf("--breached-passwords-file: %w", err)
		}
		p.Breached = append(p.Breached, checker)
		p.closer = closer
	}
	if c.hibpURL != "" {
		client := &http.Client{Timeout: 2 * time.Second}
		p.Breached = append(p.Breached, password.NewHIBPRange(c.hibpURL, client, 2*time.Second))
	}
	return p, nil
}
