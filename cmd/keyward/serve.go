package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/web"
)

func serve(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	a, err := wire(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.Close()
	// Before any request can append to a chain: see SealAudit.
	if _, err := a.svc.SealAudit(ctx); err != nil {
		return fmt.Errorf("sealing the audit log: %w", err)
	}
	srv, err := web.New(a.svc, web.Config{CORSOrigins: c.parsedCORS, PublicURL: c.parsedPublicURL, TrustedProxies: c.parsedProxies, AllowedReturnOrigins: c.parsedOrigins, CookieDomain: c.parsedDomain,
		ProductName: c.productName, AppURL: c.parsedAppURL, AccentColor: c.accentColor}, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	go a.svc.RunCacheWatcher(bg)
	go housekeeping(bg, a, log)
	go srv.LogSessionChecks(bg, time.Minute)

	mails, err := startMailWorker(bg, a, c, strings.TrimSuffix(openURL(c, ln.Addr()), "/"))
	if err != nil {
		ln.Close()
		return err
	}

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	fmt.Fprintf(stdout, "keyward is running: open %s in your browser\n", openURL(c, ln.Addr()))
	fmt.Fprintf(stdout, "%s\n", mails)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openURL is what the start-up line tells a person to open.
func openURL(c *config, addr net.Addr) string {
	if c.parsedPublicURL != nil {
		return c.parsedPublicURL.String()
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}

// housekeeping deletes what has expired and prunes the audit log past its
// retention, now and then. Each node does it; the work is idempotent.
func housekeeping(ctx context.Context, a *app, log *slog.Logger) {
	tick := time.NewTicker(5 * time.Minute)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		// Bulk deletes may take longer than a request's statement bound.
		work, cancel := context.WithTimeout(ctx, 10*time.Minute)
		if err := a.svc.CleanUp(work); err != nil && ctx.Err() == nil {
			log.Warn("cleaning up expired sessions", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			n, err := a.svc.PruneAudit(work)
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

// healthcheck asks the keyward listening on c.addr whether it is ready.
func healthcheck(ctx context.Context, c *config, stdout io.Writer) error {
	host, port, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", c.addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return exitError{code: 1, msg: fmt.Sprintf("not ready: %v", err)}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return exitError{code: 1, msg: fmt.Sprintf("not ready: %s answered %s", url, resp.Status)}
	}
	fmt.Fprintf(stdout, "ready: %s\n", url)
	return nil
}
