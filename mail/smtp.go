package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	// URL is smtp://[user:pass@]host[:port] (port 587 by default; STARTTLS
	// whenever the server offers it) or smtps://[user:pass@]host[:port]
	// (port 465; TLS from the first byte). With a user the client
	// authenticates, with the best mechanism both sides know; a password
	// is never sent in the clear (PLAIN and LOGIN only over TLS).
	URL string
	// Timeout bounds connecting and each command (default 10 s); the
	// context of a delivery bounds it all.
	Timeout time.Duration
	// TLS, when set, replaces the default TLS settings (tests trust their
	// own certificate with it); its ServerName is filled in.
	TLS *tls.Config
	// HELO is the name the client greets with (default "localhost").
	HELO string
}

// SMTP delivers by SMTP on go-mail.
type SMTP struct {
	host    string
	port    int
	scheme  string
	timeout time.Duration
	opts    []gomail.Option
}

// NewSMTP reads cfg. A URL that is not smtp:// or smtps://, or has no host,
// is an error, and so is one whose password would be lost (a user without a
// password).
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("--smtp-url: %v", redact(err))
	}
	if u.Hostname() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("--smtp-url: want smtp://[user:password@]host[:port] or smtps://…, got %s", u.Redacted())
	}
	s := &SMTP{host: u.Hostname(), scheme: u.Scheme}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tlsConf = cfg.TLS.Clone()
	}
	tlsConf.ServerName = s.host
	s.timeout = timeout
	s.opts = []gomail.Option{gomail.WithTLSConfig(tlsConf)}
	if cfg.HELO != "" {
		s.opts = append(s.opts, gomail.WithHELO(cfg.HELO))
	}
	switch u.Scheme {
	case "smtp":
		s.port = 587
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "smtps":
		s.port = 465
		s.opts = append(s.opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("--smtp-url: the scheme must be smtp or smtps, got %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("--smtp-url: bad port %q", p)
		}
	}
	s.opts = append(s.opts, gomail.WithPort(s.port))
	if u.User != nil {
		pass, ok := u.User.Password()
		if !ok {
			return nil, errors.New("--smtp-url: a user needs a password (smtp://user:password@host)")
		}
		s.opts = append(s.opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	if _, err := s.client(timeout); err != nil {
		return nil, fmt.Errorf("--smtp-url: %w", err)
	}
	return s, nil
}

// redact keeps a URL's password out of a parse error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *SMTP) client(timeout time.Duration) (*gomail.Client, error) {
	return gomail.NewClient(s.host, append(s.opts, gomail.WithTimeout(timeout))...)
}

// Describe names the server, never the credentials.
func (s *SMTP) Describe() string {
	return "mails are sent by " + s.scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Deliver sends m on a connection of its own. An address the server refuses
// for good (a 5xx to RCPT TO), or an internationalised address a server
// without SMTPUTF8 cannot carry, is a permanent error; anything else
// (the server down, slow, busy) may pass on a later try.
func (s *SMTP) Deliver(ctx context.Context, _ string, m *gomail.Msg) error {
	// go-mail bounds each command by its timeout, not by ctx: the time
	// ctx has left becomes that bound.
	timeout := s.timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}
	c, err := s.client(timeout)
	if err != nil {
		return permanentError{err}
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connecting to the mail server: %w", err)
	}
	defer func() { _ = c.CloseWithSMTPClient(sc) }()
	if needsUTF8(m) {
		if ok, _ := sc.Extension("SMTPUTF8"); !ok {
			return permanentError{errors.New("the mail server does not accept internationalised addresses (no SMTPUTF8): this mail cannot be sent through it")}
		}
	}
	if err := c.SendWithSMTPClient(sc, m); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return permanentError{err}
		}
		return err
	}
	return nil
}

// needsUTF8 reports whether an envelope address holds more than ASCII.
func needsUTF8(m *gomail.Msg) bool {
	rcpts, _ := m.GetRecipients()
	from, _ := m.GetSender(false)
	for _, a := range append(rcpts, from) {
		for i := 0; i < len(a); i++ {
			if a[i] >= utf8.RuneSelf {
				return true
			}
		}
	}
	return false
}
