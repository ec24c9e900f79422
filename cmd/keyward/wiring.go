package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/password"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/web"
)

// app is keyward opened for an operator command: the store, the keys and
// the service (server.Core), and the breached-password file the policy
// reads, if any.
type app struct {
	*server.Core
	policyFile io.Closer
}

func (a *app) Close() {
	_ = a.Core.Close()
	if a.policyFile != nil {
		_ = a.policyFile.Close()
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// wire opens keyward without its web face, for the operator commands.
func wire(ctx context.Context, c *config, log *slog.Logger) (*app, error) {
	cfg, policyFile, err := serverConfig(c, log)
	if err != nil {
		return nil, err
	}
	core, err := server.OpenCore(ctx, cfg)
	if err != nil {
		closeIfAny(policyFile)
		return nil, err
	}
	return &app{Core: core, policyFile: policyFile}, nil
}

// serverConfig turns the command line's settings into the server
// package's: the one place flags meet the wiring. The returned closer (nil
// when none) holds the breached-password file the policy reads; close it
// after the server.
func serverConfig(c *config, log *slog.Logger) (server.Config, io.Closer, error) {
	svc := keyward.DefaultConfig()
	svc.ProductName = c.productName
	svc.Issuer = c.issuer
	svc.SignupEnabled = c.signup
	svc.SessionIdleTimeout = c.sessionIdle
	svc.SessionLifetime = c.sessionLifetime
	svc.SudoWindow = c.sudoWindow
	svc.AuditRetention = c.auditRetention
	svc.RequireVerifiedEmail = c.requireVerified
	policy, closer, err := buildPolicy(c, log)
	if err != nil {
		return server.Config{}, nil, err
	}
	params := password.DefaultParams()
	params.Memory, params.Time, params.Threads = uint32(c.argonMemoryKiB), uint32(c.argonTime), uint8(c.argonThreads)
	return server.Config{
		DataDir:         c.dataDir,
		DatabaseURL:     c.databaseURL,
		SecretKey:       c.secretKey,
		SecretKeyFile:   c.secretKeyFile,
		ReadOnlyKeys:    c.readOnly,
		Service:         svc,
		PasswordHashing: params,
		HashConcurrency: c.hashConcurrency,
		PasswordPolicy:  policy,
		Config: web.Config{
			PublicURL:            c.parsedPublicURL,
			TrustedProxies:       c.parsedProxies,
			CORSOrigins:          c.parsedCORS,
			AllowedReturnOrigins: c.parsedOrigins,
			CookieDomain:         c.parsedDomain,
			BasePath:             c.parsedBasePath,
			CookiePath:           c.parsedCookiePath, // resolved: the base path unless --cookie-path says otherwise
			ProductName:          c.productName,
			AppURL:               c.parsedAppURL,
			AccentColor:          c.accentColor,
			DefaultLanguage:      c.language,
			// Answer times are counted only for a node that serves them.
			NoRequestDurations: c.metricsAddr == "",
		},
		Mail: server.Mail{SMTPURL: c.smtpURL, From: c.mailFrom},
		Webhook: server.Webhook{URL: c.webhookURL, Secret: c.webhookSecret, Events: c.webhookEvents,
			Timeout: c.webhookTimeout},
		Logger: log,
	}, closer, nil
}

func closeIfAny(c io.Closer) {
	if c != nil {
		_ = c.Close()
	}
}

// buildPolicy is the password policy the flags ask for.
func buildPolicy(c *config, log *slog.Logger) (password.Policy, io.Closer, error) {
	minScore := c.passwordMinScore
	if minScore == 0 {
		minScore = -1 // the policy reads 0 as "default"; an operator's 0 means "no minimum"
	}
	p := password.Policy{
		MinLength: c.passwordMinLength,
		MaxLength: 1024,
		MinScore:  minScore,
		Breached:  []password.BreachedChecker{password.CommonPasswords()},
		Logger:    log,
	}
	var closer io.Closer
	if c.breachedFile != "" {
		checker, f, err := password.OpenBreachedFile(c.breachedFile)
		if err != nil {
			return p, nil, fmt.Errorf("--breached-passwords-file: %w", err)
		}
		p.Breached = append(p.Breached, checker)
		closer = f
	}
	if c.hibpURL != "" {
		client := &http.Client{Timeout: 2 * time.Second}
		p.Breached = append(p.Breached, password.NewHIBPRange(c.hibpURL, client, 2*time.Second))
	}
	return p, closer, nil
}
