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
	"slices"
	"strings"
	"syscall"
	"time"
)

// The baselines are what keyward's checks are compared with: net/http
// answering every request with a precomputed answer, without
// authentication, store, cache, routing, request id or access log. The
// bench runs them in a process of its own (this binary with
// --baseline-server), with keyward's GOMAXPROCS, on keyward's CPUs and with
// the http.Server settings `keyward serve` uses (its timeouts are part of
// what any server on the internet must pay), each on a listener of its own:
//
//   - the ceiling: the session check's JSON body with Content-Type only,
//     what answering at all costs on this machine;
//   - the mirrors: the exact headers (Date and Content-Length aside, which
//     net/http writes) and body of keyward's answer to each check, what
//     keyward's headers cost on top of the ceiling.

// answer is a captured HTTP answer: the headers as keyward wrote them and
// the body.
type answer struct {
	Headers map[string][]string `json:"headers"`
	Body    []byte              `json:"body"`
}

// capturedAnswer turns a response into the answer a mirror repeats: the
// headers net/http writes itself are left to it.
func capturedAnswer(h http.Header, body []byte) answer {
	a := answer{Headers: map[string][]string{}, Body: body}
	for k, v := range h {
		if k == "Date" || k == "Content-Length" {
			continue
		}
		a.Headers[k] = slices.Clone(v)
	}
	return a
}

// serverSettings are keyward serve's http.Server settings (cmd/keyward),
// which the baselines share so that the comparison is of the handlers.
func serverSettings(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// ceilingHandler answers every request with body as JSON: one header.
func ceilingHandler(body []byte) http.Handler {
	ct := []string{"application/json; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ct
		_, _ = w.Write(body)
	})
}

// mirrorHandler answers every request with a's headers and body.
func mirrorHandler(a answer) http.Handler {
	type kv struct {
		k string
		v []string
	}
	var headers []kv
	for k, v := range a.Headers {
		headers = append(headers, kv{k, v[:len(v):len(v)]})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, x := range headers {
			h[x.k] = x.v
		}
		w.WriteHeader(http.StatusOK)
		if len(a.Body) > 0 {
			_, _ = w.Write(a.Body)
		}
	})
}

// baselineSpec is what one baseline process serves: listen address →
// handler kind ("ceiling" or "mirror") and the answer file.
type baselineSpec struct {
	addr, kind, file string
}

// parseBaselineSpec reads "addr=kind:file".
func parseBaselineSpec(s string) (baselineSpec, error) {
	addr, rest, ok := strings.Cut(s, "=")
	kind, file, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || addr == "" || file == "" || (kind != "ceiling" && kind != "mirror") {
		return baselineSpec{}, fmt.Errorf("--serve %q: want addr=ceiling:file or addr=mirror:file", s)
	}
	return baselineSpec{addr, kind, file}, nil
}

// runBaselineServer serves every spec until SIGTERM or SIGINT. With
// cpuprofile it writes a CPU profile of its whole life there.
func runBaselineServer(specs []baselineSpec, cpuprofile string) error {
	if len(specs) == 0 {
		return errors.New("nothing to serve")
	}
	var servers []*http.Server
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, sp := range specs {
		raw, err := os.ReadFile(sp.file)
		if err != nil {
			return err
		}
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("%s: %w", sp.file, err)
		}
		h := mirrorHandler(a)
		if sp.kind == "ceiling" {
			h = ceilingHandler(a.Body)
		}
		ln, err := net.Listen("tcp", sp.addr)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		servers = append(servers, serverSettings(h))
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { served <- srv.Serve(lns[i]) }()
	}
	fmt.Println("baselines listening")
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(sctx))
	}
	return errors.Join(errs...)
}
