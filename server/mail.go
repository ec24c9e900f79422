package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"

	"github.com/keyward/keyward/locale"
	kwmail "github.com/keyward/keyward/mail"
)

// Mail says how keyward's mails (address confirmation, password reset,
// security notices) leave. Each is written to an outbox in the transaction
// of the change that causes it, and Run's worker sends it.
type Mail struct {
	// SMTPURL is smtp://user:password@host:587 (STARTTLS whenever the
	// server offers it) or smtps://user:password@host:465 (TLS from the
	// first byte). Empty writes each mail as an .eml file to
	// DataDir/outbox/, which needs nothing installed.
	SMTPURL string
	// From is the sender, "Name <address>". Empty is the product name at
	// noreply@ the public URL's host (noreply@localhost for an address).
	From string
	// LinkBase is the absolute URL the links in mails start with. Empty is
	// PublicURL with the base path. With neither, nothing is sent: mails
	// wait in the outbox (and say so in the log) until one is set.
	LinkBase string
}

// errNoLinkBase: mails carry links, and there is nothing to start them with.
var errNoLinkBase = errors.New("mails wait in the outbox: their links need keyward's address (set PublicURL, or Mail.LinkBase)")

// newMailer builds the mailer cfg.Mail describes; errNoLinkBase when links
// in mails could not point anywhere.
func newMailer(cfg Config, productName string, cat *locale.Catalogue) (*kwmail.Mailer, error) {
	links := cfg.Mail.LinkBase
	if links == "" && cfg.PublicURL != nil {
		links = cfg.PublicURL.Scheme + "://" + cfg.PublicURL.Host + cfg.BasePath
	}
	if links == "" {
		return nil, errNoLinkBase
	}
	u, err := url.Parse(links)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mail: links would start with %q, not an absolute http(s) URL", links)
	}
	var tr kwmail.Transport
	if cfg.Mail.SMTPURL != "" {
		s, err := kwmail.NewSMTP(kwmail.SMTPConfig{URL: cfg.Mail.SMTPURL, HELO: u.Hostname()})
		if err != nil {
			return nil, err
		}
		tr = s
	} else {
		if cfg.DataDir == "" {
			return nil, errors.New("mail: set Mail.SMTPURL, or DataDir for the .eml outbox folder")
		}
		dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "outbox"))
		if err != nil {
			return nil, err
		}
		tr = kwmail.Folder{Dir: dir}
	}
	from := cfg.Mail.From
	if from == "" {
		domain := u.Hostname()
		if net.ParseIP(domain) != nil {
			domain = "localhost"
		}
		from = (&mail.Address{Name: productName, Address: "noreply@" + cmp.Or(domain, "localhost")}).String()
	}
	m, err := kwmail.New(kwmail.Config{ProductName: productName, PublicURL: links, From: from, Locale: cat}, tr)
	if err != nil {
		return nil, fmt.Errorf("mail sender: %w", err)
	}
	return m, nil
}
