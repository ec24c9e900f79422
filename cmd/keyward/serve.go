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

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/webhook"
)

func serve(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	cfg, policyFile, err := serverConfig(c, log)
	if err != nil {
		return err
	}
	defer closeIfAny(policyFile)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	// Links in mails: the public URL, or where this node listens.
	cfg.Mail.LinkBase = strings.TrimSuffix(openURL(c, ln.Addr()), "/")
	if c.parsedPublicURL == nil {
		// Someone trying keyward on their own machine: passkeys refuse IP
		// addresses, so they are made for http://localhost:PORT, the
		// address the start-up line gives.
		cfg.Service.PasskeyOrigin = localhostOrigin(ln.Addr())
	}
	var adminLn net.Listener
	if c.adminAddr != "" {
		// Listening before anything is opened: a taken address fails fast.
		if adminLn, err = net.Listen("tcp", c.adminAddr); err != nil {
			return fmt.Errorf("--admin-addr: %w", err)
		}
		defer adminLn.Close()
		cfg.SeparateAdmin = true
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bg, stopBackground := context.WithCancel(context.Background())
	background := make(chan error, 1)
	go func() { background <- srv.Run(bg) }()
	defer func() {
		stopBackground()
		<-background // before the store closes
	}()

	var metricsSrv *http.Server
	var metricsLn net.Listener
	if c.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", c.metricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}

	var adminSrv *http.Server
	if adminLn != nil {
		// The public server's limits, on the admin API's own handler.
		adminSrv = &http.Server{
			Handler:           srv.AdminHandler(),
			ReadHeaderTimeout: httpSrv.ReadHeaderTimeout,
			ReadTimeout:       httpSrv.ReadTimeout,
			IdleTimeout:       httpSrv.IdleTimeout,
			MaxHeaderBytes:    httpSrv.MaxHeaderBytes,
			ErrorLog:          httpSrv.ErrorLog,
		}
	}

	served := make(chan error, 1)
	metricsServed := make(chan error, 1)
	adminServed := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	if metricsSrv != nil {
		go func() { metricsServed <- metricsSrv.Serve(metricsLn) }()
	}
	if adminSrv != nil {
		go func() { adminServed <- adminSrv.Serve(adminLn) }()
	}
	log.Info("keyward started", startupAttrs(c, cfg, ln.Addr(), metricsLn, adminLn)...)
	fmt.Fprintf(stdout, "keyward is running: open %s in your browser\n", openURL(c, ln.Addr()))
	fmt.Fprintf(stdout, "%s\n", srv.MailDestination())
	if d := srv.WebhookDestination(); d != "" {
		fmt.Fprintf(stdout, "%s\n", d)
	}

	closeOthers := func(keep *http.Server) {
		for _, s := range []*http.Server{httpSrv, metricsSrv, adminSrv} {
			if s != nil && s != keep {
				_ = s.Close()
			}
		}
	}
	select {
	case err := <-served:
		closeOthers(httpSrv)
		return err
	case err := <-metricsServed:
		closeOthers(metricsSrv)
		return fmt.Errorf("metrics listener: %w", err)
	case err := <-adminServed:
		closeOthers(adminSrv)
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	if metricsSrv != nil {
		// Scrapes are short: no grace for them.
		_ = metricsSrv.Close()
	}
	log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	var adminErr error
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		if adminSrv != nil {
			adminErr = adminSrv.Shutdown(shutdownCtx)
		}
	}()
	err = httpSrv.Shutdown(shutdownCtx)
	<-adminDone
	if err = errors.Join(err, adminErr); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openURL is what the start-up line tells a person to open: keyward's home
// under the base path. A node on a loopback address is given by the name
// localhost, at which passkeys work (see localhostOrigin).
func openURL(c *config, addr net.Addr) string {
	if u := c.parsedPublicURL; u != nil {
		return u.Scheme + "://" + u.Host + c.parsedBasePath + "/"
	}
	if o := localhostOrigin(addr); o != "" {
		return o + c.parsedBasePath + "/"
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + c.parsedBasePath + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + c.parsedBasePath + "/"
}

// localhostOrigin is http://localhost:PORT for a listener on a loopback
// address, and "" for any other: one on every interface is reached by
// names this node cannot know, which --public-url gives.
func localhostOrigin(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return ""
	}
	return "http://localhost:" + fmt.Sprint(tcp.Port)
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

// startupAttrs are the start-up line's facts: what runs, on what, where.
// Never a secret: the database URL is not in it (it may carry a password),
// only its engine.
func startupAttrs(c *config, cfg server.Config, addr net.Addr, metrics, admin net.Listener) []any {
	engine := "sqlite"
	if cfg.DatabaseURL != "" {
		engine = "postgres"
	}
	attrs := []any{"version", versionString(), "engine", engine, "addr", addr.String()}
	if metrics != nil {
		attrs = append(attrs, "metrics_addr", metrics.Addr().String())
	}
	if admin != nil {
		attrs = append(attrs, "admin_addr", admin.Addr().String())
	}
	attrs = append(attrs, "public_url", openURL(c, addr), "base_path", c.parsedBasePath)
	if engine == "sqlite" {
		attrs = append(attrs, "data_dir", cfg.DataDir)
	}
	if c.webhookURL != "" {
		u, _ := webhook.ParseURL(c.webhookURL) // checked at parse time
		attrs = append(attrs, "webhook_url", webhook.Redact(u))
	}
	return attrs
}
