package main

import (
	"context"
	"fmt"
	"net"
	"net/mail"
	"path/filepath"
	"strings"

	keyward "github.com/keyward/keyward"
	kwmail "github.com/keyward/keyward/mail"
)

// startMailWorker builds the mailer from the flags (SMTP with --smtp-url,
// else .eml files in DATA_DIR/outbox/) and runs this node's outbox worker
// until ctx ends. It returns where mails go, for the start-up line. Links
// in mails point at publicURL (the public URL with the base path).
func startMailWorker(ctx context.Context, a *app, c *config, publicURL string) (string, error) {
	var tr kwmail.Transport
	if c.smtpURL != "" {
		s, err := kwmail.NewSMTP(kwmail.SMTPConfig{URL: c.smtpURL, HELO: hostOf(publicURL)})
		if err != nil {
			return "", err
		}
		tr = s
	} else {
		dir, err := filepath.Abs(filepath.Join(c.dataDir, "outbox"))
		if err != nil {
			return "", err
		}
		tr = kwmail.Folder{Dir: dir}
	}
	from := c.mailFrom
	if from == "" {
		from = (&mail.Address{Name: c.productName, Address: "noreply@" + mailDomain(publicURL)}).String()
	}
	m, err := kwmail.New(kwmail.Config{ProductName: c.productName, PublicURL: publicURL, From: from}, tr)
	if err != nil {
		return "", fmt.Errorf("--mail-from: %w", err)
	}
	go a.svc.RunMailWorker(ctx, keyward.MailWorker{Sender: m})
	return m.Describe(), nil
}

func hostOf(rawURL string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(rawURL, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.Trim(host, "[]")
}

// mailDomain is the default sender's domain: the public host, or
// "localhost" for an address.
func mailDomain(publicURL string) string {
	host := hostOf(publicURL)
	if host == "" || net.ParseIP(host) != nil {
		return "localhost"
	}
	return host
}
