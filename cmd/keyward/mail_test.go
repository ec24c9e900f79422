package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/mail/mailtest"
)

// TestMailSurvivesKill9: a sign-up answered 201 while the mail server is
// down (the node stays ready), then kill -9: the restarted node sends the
// verification mail once the server is up. A committed mail is never lost.
func TestMailSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildKeyward(t)
	dir := t.TempDir()
	addr := freePort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a mail server that is down: nothing answers
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	var out bytes.Buffer
	cmd := startServeOut(t, bin, dir, addr, &out, "--smtp-url", "smtp://"+down, "--public-url", "http://"+addr)
	body := fmt.Sprintf(`{"email":"ada@example.com","password":%q}`, testPassword)
	if st := postJSON(t, "http://"+addr+"/api/v1/accounts", "", body); st != 201 {
		t.Fatalf("sign-up = %d", st)
	}
	// The worker tried, failed and keeps the mail; the node stays ready.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "it will be tried again") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "it will be tried again") {
		t.Errorf("no log line about the failed mail:\n%s", out.String())
	}
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz with the mail server down = %d, want 200", res.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !strings.Contains(out.String(), "mails are sent by smtp://"+down) {
		t.Errorf("the start-up lines do not say where mails go:\n%s", out.String())
	}

	srv := mailtest.Start(t, mailtest.Options{})
	out.Reset()
	startServeOut(t, bin, dir, addr, &out, "--smtp-url", srv.URL(), "--public-url", "http://"+addr)
	// At once when the first node never tried; after the 30 s retry
	// wait when it tried and failed.
	msg := srv.WaitFor(t, "ada@example.com", "Confirm your email address", 45*time.Second)
	if link := msg.Link(t, "/verify-email"); !strings.HasPrefix(link, "http://"+addr+"/verify-email?token=kwv_") {
		t.Errorf("link %q", link)
	}
}
