package mail_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
)

var when = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func resetMail(to string) *keyward.MailContent {
	return &keyward.MailContent{To: to, Kind: keyward.MailPasswordReset, Token: "kwr_tok-en_1", Time: when,
		IP: "198.51.100.7", Device: "Chrome on macOS", ExpiresAt: when.Add(30 * time.Minute)}
}

func newMailer(t testing.TB, cfg mail.Config, tr mail.Transport) *mail.Mailer {
	t.Helper()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://id.example.com/auth/"
	}
	if cfg.From == "" {
		cfg.From = "Example Accounts <accounts@example.com>"
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "Example"
	}
	m, err := mail.New(cfg, tr)
	if err != nil {
		t.Fatalf("mail.New: %v", err)
	}
	return m
}

func newSMTP(t testing.TB, srv *mailtest.Server, timeout time.Duration) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(mail.SMTPConfig{URL: srv.URL(), TLS: srv.TLSConfig(), Timeout: timeout})
	if err != nil {
		t.Fatalf("NewSMTP(%s): %v", srv.URL(), err)
	}
	return s
}

func isPermanent(err error) bool {
	var p keyward.PermanentMailError
	return errors.As(err, &p) && p.Permanent()
}

// TestSMTP sends over the wire to a real SMTP server in each of the ways
// the URL allows and reads the mail back.
func TestSMTP(t *testing.T) {
	cases := []struct {
		name     string
		opts     mailtest.Options
		wantTLS  bool
		wantAuth string
	}{
		{"STARTTLS offered", mailtest.Options{STARTTLS: true}, true, ""},
		{"AUTH after STARTTLS", mailtest.Options{STARTTLS: true, User: "keyward", Password: "s3cret:/@pass"}, true, "keyward"},
		{"AUTH on implicit TLS", mailtest.Options{ImplicitTLS: true, User: "keyward", Password: "pw"}, true, "keyward"},
		{"implicit TLS", mailtest.Options{ImplicitTLS: true}, true, ""},
		{"no TLS offered", mailtest.Options{}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := mailtest.Start(t, c.opts)
			m := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second))
			if err := m.SendMail(t.Context(), "mail_0123", resetMail("ann@example.com")); err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			got := srv.Wait(t, 1, 5*time.Second)[0]
			if got.TLS != c.wantTLS || got.Authed != c.wantAuth {
				t.Errorf("session: TLS %v, authenticated as %q; want %v, %q", got.TLS, got.Authed, c.wantTLS, c.wantAuth)
			}
			if got.From != "accounts@example.com" || strings.Join(got.To, ",") != "ann@example.com" {
				t.Errorf("envelope: from %q to %q", got.From, got.To)
			}
			msg := mailtest.Parse(t, got.Data)
			checkResetMail(t, msg)
			if id := msg.Header.Get("Message-Id"); id != "<0123@id.example.com>" {
				t.Errorf("Message-ID %q, want <0123@id.example.com>", id)
			}
		})
	}
}

func checkResetMail(t testing.TB, msg *mailtest.Message) {
	t.Helper()
	if msg.Subject != "Reset your Example password" {
		t.Errorf("subject %q", msg.Subject)
	}
	want := "https://id.example.com/auth/reset-password?token=kwr_tok-en_1"
	if got := msg.Link(t, "/reset-password"); got != want {
		t.Errorf("link %q, want %q", got, want)
	}
	for _, part := range []string{msg.Text, msg.HTML} {
		for _, s := range []string{"Chrome on macOS", "198.51.100.7", "3 December 2026, 12:00 UTC", "30 minutes"} {
			if !strings.Contains(part, s) {
				t.Errorf("a part lacks %q:\n%s", s, part)
			}
		}
	}
	if !strings.Contains(msg.HTML, `href="https://id.example.com/auth/reset-password?token=kwr_tok-en_1"`) {
		t.Errorf("the HTML part lacks the link:\n%s", msg.HTML)
	}
}

// TestSMTPFailures: what the worker may try again, and what it must give up.
func TestSMTPFailures(t *testing.T) {
	t.Run("server down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		s, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://" + addr, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = newMailer(t, mail.Config{}, s).SendMail(t.Context(), "mail_1", resetMail("ann@example.com"))
		if err == nil || isPermanent(err) {
			t.Errorf("got %v, want an error to retry", err)
		}
	})
	t.Run("slow server", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Delay: 3 * time.Second})
		m := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second))
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := m.SendMail(ctx, "mail_1", resetMail("ann@example.com"))
		if err == nil || isPermanent(err) {
			t.Errorf("got %v, want an error to retry", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s past a 300ms deadline", d)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{STARTTLS: true, User: "keyward", Password: "right"})
		s, err := mail.NewSMTP(mail.SMTPConfig{URL: strings.Replace(srv.URL(), "right", "wrong", 1), TLS: srv.TLSConfig()})
		if err != nil {
			t.Fatal(err)
		}
		err = newMailer(t, mail.Config{}, s).SendMail(t.Context(), "mail_1", resetMail("ann@example.com"))
		if err == nil || isPermanent(err) {
			t.Errorf("got %v, want an error to retry (the operator may fix the password)", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("AUTH without TLS", func(t *testing.T) {
		// The server would take PLAIN in the clear; the client does not
		// send the password so.
		srv := mailtest.Start(t, mailtest.Options{User: "keyward", Password: "pw"})
		err := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second)).SendMail(t.Context(), "mail_1", resetMail("ann@example.com"))
		if err == nil || isPermanent(err) {
			t.Errorf("got %v, want an error to retry", err)
		}
		if n := len(srv.Mails()); n != 0 {
			t.Errorf("the server got %d mails", n)
		}
	})
	t.Run("recipient refused", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Refuse: func(string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}})
		err := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second)).SendMail(t.Context(), "mail_1", resetMail("nobody@example.com"))
		if !isPermanent(err) {
			t.Errorf("got %v, want a permanent error", err)
		}
	})
	t.Run("recipient deferred", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{Refuse: func(string) error {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try later"}
		}})
		err := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second)).SendMail(t.Context(), "mail_1", resetMail("ann@example.com"))
		if err == nil || isPermanent(err) {
			t.Errorf("got %v, want an error to retry", err)
		}
	})
}

// TestUnicodeAddress: an internationalised address goes out with SMTPUTF8
// where the server has it, and is refused for good, clearly, where not.
func TestUnicodeAddress(t *testing.T) {
	const to = "jürgen@exämple.de"
	t.Run("server with SMTPUTF8", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{SMTPUTF8: true})
		if err := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second)).SendMail(t.Context(), "mail_1", resetMail(to)); err != nil {
			t.Fatalf("SendMail: %v", err)
		}
		got := srv.Wait(t, 1, 5*time.Second)[0]
		if !got.UTF8 || strings.Join(got.To, ",") != to {
			t.Errorf("envelope: SMTPUTF8 %v, to %q; want true, %q", got.UTF8, got.To, to)
		}
		msg := mailtest.Parse(t, got.Data)
		if !strings.Contains(msg.Header.Get("To"), "exämple.de") && !strings.Contains(msg.Header.Get("To"), "=?") {
			t.Errorf("To header %q", msg.Header.Get("To"))
		}
	})
	t.Run("server without SMTPUTF8", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		err := newMailer(t, mail.Config{}, newSMTP(t, srv, 5*time.Second)).SendMail(t.Context(), "mail_1", resetMail(to))
		if !isPermanent(err) || !strings.Contains(err.Error(), "SMTPUTF8") {
			t.Errorf("got %v, want a permanent error naming SMTPUTF8", err)
		}
		if n := len(srv.Mails()); n != 0 {
			t.Errorf("the server got %d mails", n)
		}
	})
}

// TestHeaderInjection: CR and LF in the product name or an address never
// make a header of their own.
func TestHeaderInjection(t *testing.T) {
	dir := t.TempDir()
	m := newMailer(t, mail.Config{ProductName: "Evil\r\nBcc: victim@example.net\r\n"}, mail.Folder{Dir: dir})
	if err := m.SendMail(t.Context(), "mail_1", resetMail("ann@example.com")); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mail_1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	msg := mailtest.Parse(t, raw)
	if bcc := msg.Header.Get("Bcc"); bcc != "" {
		t.Errorf("a Bcc header got in: %q", bcc)
	}
	if msg.Subject != "Reset your Evil Bcc: victim@example.net password" {
		t.Errorf("subject %q", msg.Subject)
	}
	for _, to := range []string{"ann@example.com\r\nBcc: victim@example.net", "ann@example.com\nX: y", "Ann <ann@example.com>", "a@example.com, b@example.com"} {
		err := m.SendMail(t.Context(), "mail_2", resetMail(to))
		if !isPermanent(err) || !errors.Is(err, mail.ErrBadAddress) {
			t.Errorf("recipient %q: got %v, want a permanent ErrBadAddress", to, err)
		}
	}
	for _, from := range []string{"a@example.com\r\nBcc: v@example.net", "Name\n <a@example.com>"} {
		if _, err := mail.New(mail.Config{From: from, PublicURL: "https://x.example"}, mail.Folder{Dir: dir}); !errors.Is(err, mail.ErrBadAddress) {
			t.Errorf("sender %q: got %v, want ErrBadAddress", from, err)
		}
	}
}

// TestFolder: without a mail server, each mail is an .eml file only its
// owner can read; a repeat replaces it.
func TestFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	m := newMailer(t, mail.Config{}, mail.Folder{Dir: dir})
	for range 2 {
		if err := m.SendMail(t.Context(), "mail_abc", resetMail("ann@example.com")); err != nil {
			t.Fatalf("SendMail: %v", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "mail_abc.eml" {
		t.Fatalf("folder holds %v, want mail_abc.eml", entries)
	}
	info, _ := entries[0].Info()
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "mail_abc.eml"))
	checkResetMail(t, mailtest.Parse(t, raw))
	if !strings.Contains(m.Describe(), dir) {
		t.Errorf("Describe() = %q, want the folder", m.Describe())
	}
}

// TestNotices renders every notice the service sends, with its "This
// wasn't me" link.
func TestNotices(t *testing.T) {
	dir := t.TempDir()
	m := newMailer(t, mail.Config{}, mail.Folder{Dir: dir})
	two := 2
	events := []string{keyward.NoticeNewDevice, "password.changed", "password.reset", "2fa.enabled", "2fa.disabled",
		"2fa.backup_codes.regenerated", "2fa.backup_code.used", "email.changed", "passkey.added", "passkey.removed",
		keyward.NoticeTOTPRemoved, keyward.NoticeTOTPAdded}
	for _, ev := range events {
		t.Run(ev, func(t *testing.T) {
			c := &keyward.MailContent{To: "ann@example.com", Kind: keyward.MailNotice, Event: ev, LockdownToken: "kwl_x", Time: when,
				IP: "203.0.113.9", Device: "Firefox on Windows", ExpiresAt: when.Add(7 * 24 * time.Hour), Remaining: &two}
			msg, err := m.Message("mail_1", c)
			if err != nil {
				t.Fatalf("Message: %v", err)
			}
			var b strings.Builder
			if _, err := msg.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			p := mailtest.Parse(t, []byte(b.String()))
			if got := p.Link(t, "/lockdown"); got != "https://id.example.com/auth/lockdown?token=kwl_x" {
				t.Errorf("lockdown link %q", got)
			}
			for _, s := range []string{"Firefox on Windows", "203.0.113.9", "7 days"} {
				if !strings.Contains(p.Text, s) || !strings.Contains(p.HTML, s) {
					t.Errorf("the mail lacks %q:\n%s", s, p.Text)
				}
			}
			if ev == "2fa.backup_code.used" && !strings.Contains(p.Text, "Backup codes left: 2") {
				t.Errorf("the count left is missing:\n%s", p.Text)
			}
		})
	}
	if _, err := m.Message("mail_1", &keyward.MailContent{To: "a@example.com", Kind: keyward.MailNotice, Event: "nope", Time: when}); err == nil {
		t.Error("a notice of an unknown event rendered")
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	for _, u := range []string{"http://host", "smtp://", "smtp://user@host", "smtp://host:99999", "smtp://host/path", "smtp://host?x=1", "::"} {
		if _, err := mail.NewSMTP(mail.SMTPConfig{URL: u}); err == nil {
			t.Errorf("NewSMTP(%q): no error", u)
		}
	}
	_, err := mail.NewSMTP(mail.SMTPConfig{URL: "smtp://user:topsecret@host:bad"})
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("a bad URL with a password: %v", err)
	}
}
