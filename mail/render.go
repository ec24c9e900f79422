package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/keyward/keyward"
)

//go:embed templates
var templateFiles embed.FS

// renderer holds the parsed templates: for each kind of mail, "subject
// <kind>" and "text <kind>" in mails.txt and "html <kind>" in mails.html.
type renderer struct {
	cfg  Config
	from string
	text *texttemplate.Template
	html *htmltemplate.Template
	host string // of the public URL, for Message-IDs
}

func newRenderer(cfg Config) (*renderer, error) {
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	text, err := texttemplate.ParseFS(templateFiles, "templates/mails.txt")
	if err != nil {
		return nil, fmt.Errorf("mail: text templates: %w", err)
	}
	html, err := htmltemplate.ParseFS(templateFiles, "templates/mails.html")
	if err != nil {
		return nil, fmt.Errorf("mail: html templates: %w", err)
	}
	host := "keyward.invalid"
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return &renderer{cfg: cfg, from: from.String(), text: text, html: html, host: host}, nil
}

// view is what the templates see of a mail.
type view struct {
	Product      string
	To           string
	Link         string // the mail's action: reset, verify, confirm
	LockdownLink string // "This wasn't me"
	What         string // a notice's event, as a sentence
	Time         string
	IP           string
	Device       string
	NewEmail     string
	Remaining    int
	HasRemaining bool
	Expires      string // how long the link works, in words
}

// noticeWhat says each notice's event as a person reads it.
var noticeWhat = map[string]string{
	keyward.NoticeNewDevice:            "A new device signed in to your account",
	"password.changed":                 "Your password was changed",
	"password.reset":                   "Your password was reset",
	"2fa.enabled":                      "Two-factor authentication was turned on",
	"2fa.disabled":                     "Two-factor authentication was turned off",
	"2fa.backup_codes.regenerated":     "New backup codes were made",
	"2fa.backup_code.used":             "A backup code was used to sign in",
	"email.changed":                    "Your account's email address was changed",
	"passkey.added":                    "A passkey was added to your account",
	"passkey.removed":                  "A passkey was removed from your account",
	keyward.NoticeTOTPRemoved:          "The authenticator app was removed from your account's two-factor authentication",
	keyward.NoticeTOTPAdded:            "An authenticator app was added to your account's two-factor authentication",
	keyward.NoticeEmailChangeRequested: "A change of your account's email address was asked for",
}

func (r *renderer) view(c *keyward.MailContent) (*view, error) {
	v := &view{
		Product:  r.cfg.ProductName,
		To:       c.To,
		Time:     c.Time.UTC().Format("2 January 2006, 15:04 MST"),
		IP:       c.IP,
		Device:   c.Device,
		NewEmail: c.NewEmail,
	}
	if c.Remaining != nil {
		v.Remaining, v.HasRemaining = *c.Remaining, true
	}
	if !c.ExpiresAt.IsZero() {
		v.Expires = inWords(c.ExpiresAt.Sub(c.Time))
	}
	link := func(path, token string) string {
		return r.cfg.PublicURL + path + "?token=" + url.QueryEscape(token)
	}
	switch c.Kind {
	case keyward.MailPasswordReset:
		v.Link = link("/reset-password", c.Token)
	case keyward.MailVerifyEmail, keyward.MailConfirmChange:
		v.Link = link("/verify-email", c.Token)
	case keyward.MailNotice:
		what, ok := noticeWhat[c.Event]
		if !ok {
			return nil, fmt.Errorf("mail: no notice for event %q", c.Event)
		}
		v.What = what
	default:
		return nil, fmt.Errorf("mail: unknown kind %q", c.Kind)
	}
	if c.LockdownToken != "" {
		v.LockdownLink = link("/lockdown", c.LockdownToken)
	}
	return v, nil
}

// inWords says a link's life: "30 minutes", "7 days".
func inWords(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Round(time.Hour)/time.Hour))
	default:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Minute)/time.Minute))
	}
}

// message builds the multipart message of c.
func (r *renderer) message(id string, c *keyward.MailContent) (*gomail.Msg, error) {
	to, err := parseTo(c.To)
	if err != nil {
		return nil, err
	}
	v, err := r.view(c)
	if err != nil {
		return nil, err
	}
	kind := string(c.Kind)
	var subject, text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&subject, "subject "+kind, v); err != nil {
		return nil, fmt.Errorf("mail: subject of %s: %w", kind, err)
	}
	if err := r.text.ExecuteTemplate(&text, "text "+kind, v); err != nil {
		return nil, fmt.Errorf("mail: text of %s: %w", kind, err)
	}
	if err := r.html.ExecuteTemplate(&html, "html "+kind, v); err != nil {
		return nil, fmt.Errorf("mail: html of %s: %w", kind, err)
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(r.from); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	m.ToMailAddress(to)
	m.Subject(headerText(subject.String()))
	m.SetMessageIDWithValue(strings.TrimPrefix(id, "mail_") + "@" + r.host)
	m.SetDateWithValue(c.Time)
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, text.String())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	return m, nil
}
