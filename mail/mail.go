// Package mail turns keyward's mails into messages and delivers them: by
// SMTP (on github.com/wneessen/go-mail) when an smtp:// or smtps:// URL is
// given, or as .eml files in a folder, which a person trying keyward out
// can open, when not.
//
// A message has a plain text part and an HTML part, rendered from embedded
// text/template and html/template files. Every header value keyward
// supplies (the product name, the addresses) is checked or cleaned of
// control characters first, so no text a person typed can add a header.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/locale"
)

// Config is what every message needs to know.
type Config struct {
	// ProductName names the product in subjects and bodies.
	ProductName string
	// PublicURL is where links point: the public URL with the base path,
	// without a trailing slash.
	PublicURL string
	// From is the sender, "Name <address>" or "address".
	From string
	// Locale holds the words mails share with the pages (dates, the
	// notices' events); nil reads the built-in catalogues with
	// DefaultLanguage, the language of a mail whose account has none
	// keyward speaks.
	Locale          *locale.Catalogue
	DefaultLanguage string
}

// Transport delivers a built message.
type Transport interface {
	Deliver(ctx context.Context, id string, m *gomail.Msg) error
	// Describe says, for the start-up line, where mails go.
	Describe() string
}

// Mailer renders keyward's mails and hands them to a Transport. It is a
// keyward.MailSender.
type Mailer struct {
	r *renderer
	t Transport
}

var _ keyward.MailSender = (*Mailer)(nil)

// New returns a Mailer for cfg delivering through t.
func New(cfg Config, t Transport) (*Mailer, error) {
	if _, err := parseFrom(cfg.From); err != nil {
		return nil, err
	}
	if _, err := url.Parse(cfg.PublicURL); err != nil || cfg.PublicURL == "" {
		return nil, fmt.Errorf("mail: the public URL %q is not a URL", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	cfg.ProductName = headerText(cfg.ProductName)
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	return &Mailer{r: r, t: t}, nil
}

// Describe says where mails go.
func (m *Mailer) Describe() string { return m.t.Describe() }

// SendMail renders c and delivers it. An address or content that can never
// be sent is a permanent error: the worker gives up on the mail at once.
func (m *Mailer) SendMail(ctx context.Context, id string, c *keyward.MailContent) error {
	msg, err := m.r.message(id, c)
	if err != nil {
		return permanentError{err}
	}
	return m.t.Deliver(ctx, id, msg)
}

// Message renders c as the message SendMail would deliver (for tests and
// previews).
func (m *Mailer) Message(id string, c *keyward.MailContent) (*gomail.Msg, error) {
	return m.r.message(id, c)
}

// permanentError is an error no retry can fix.
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (e permanentError) Unwrap() error { return e.error }

// ErrBadAddress is an address that cannot be put in a header or an SMTP
// command.
var ErrBadAddress = errors.New("mail: not a usable address")

// parseFrom reads --mail-from: "Name <address>" or a bare address.
func parseFrom(s string) (*mail.Address, error) {
	if hasControl(s) {
		return nil, fmt.Errorf("%w: the sender %q holds a control character", ErrBadAddress, s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the sender %q: %v", ErrBadAddress, s, err)
	}
	a.Name = headerText(a.Name)
	return a, nil
}

// parseTo checks a recipient: one bare address, no control characters.
func parseTo(s string) (*mail.Address, error) {
	if hasControl(s) || strings.ContainsAny(s, "<>\",;") {
		return nil, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return nil, fmt.Errorf("%w: %q", ErrBadAddress, s)
	}
	return a, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// headerText makes text safe for a header: control characters (CR and LF
// above all) become spaces, and runs of spaces one.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
