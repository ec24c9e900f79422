package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// The baseline is the trivial handler keyward's session check is compared
// with: net/http answering every GET with the JSON of GET
// /api/v1/sessions/current, encoded from a typed value at each request just
// as keyward encodes its answer, without authentication, store, cache,
// security headers or access log. The bench runs it in a process of its own
// (this binary with --baseline-server) with keyward's GOMAXPROCS, so both
// compete with wrk for the same cores.

type baselineDevice struct {
	Browser string `json:"browser"`
	OS      string `json:"os"`
	Type    string `json:"type"`
}

type baselineBody struct {
	Account struct {
		ID               string    `json:"id"`
		Email            string    `json:"email"`
		CreatedAt        time.Time `json:"created_at"`
		TwoFactorEnabled bool      `json:"two_factor_enabled"`
	} `json:"account"`
	Session struct {
		ID         string         `json:"id"`
		Current    bool           `json:"current"`
		CreatedAt  time.Time      `json:"created_at"`
		LastSeenAt time.Time      `json:"last_seen_at"`
		ExpiresAt  time.Time      `json:"expires_at"`
		IP         string         `json:"ip"`
		UserAgent  string         `json:"user_agent"`
		Device     baselineDevice `json:"device"`
		AAL        int            `json:"aal"`
	} `json:"session"`
}

// runBaselineServer serves the body in bodyFile at addr until SIGTERM or
// SIGINT. With cpuprofile it writes a CPU profile of its whole life there.
func runBaselineServer(addr, bodyFile, cpuprofile string) error {
	raw, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	var body baselineBody
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("baseline body: %w", err)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(&body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Println("baseline listening on", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
