package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"

	gomail "github.com/wneessen/go-mail"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/locale"
)

//go:embed templates
var templateFiles embed.FS

// renderer holds the parsed templates, in each language's folder: for
// each kind of mail, "subject <kind>" and "text <kind>" in mails.txt and
// "html <kind>" in mails.html. A mail is written in its account's language;
// a language with no templates is written in the default's.
type renderer struct {
	cfg    Config
	from   string
	locale *locale.Catalogue
	text   map[string]*texttemplate.Template // by language code
	html   map[string]*htmltemplate.Template
	host   string // of the public URL, for Message-IDs
}

func newRenderer(cfg Config) (*renderer, error) {
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	cat := cfg.Locale
	if cat == nil {
		if cat, err = locale.New(cfg.DefaultLanguage); err != nil {
			return nil, err
		}
	}
	r := &renderer{cfg: cfg, from: from.String(), locale: cat, host: "keyward.invalid",
		text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, l := range cat.Languages() {
		text, err := texttemplate.ParseFS(templateFiles, "templates/"+l.Code+"/mails.txt")
		if err != nil {
			return nil, fmt.Errorf("mail: %s text templates: %w", l.Code, err)
		}
		html, err := htmltemplate.ParseFS(templateFiles, "templates/"+l.Code+"/mails.html")
		if err != nil {
			return nil, fmt.Errorf("mail: %s html templates: %w", l.Code, err)
		}
		r.text[l.Code], r.html[l.Code] = text, html
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
		r.host = u.Hostname()
	}
	return r, nil
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

// noticeWhat is the catalogue's key of each notice's event, as a person
// reads it.
var noticeWhat = map[string]string{
	keyward.NoticeNewDevice:            "mail.notice.signin.new_device",
	"password.changed":                 "mail.notice.password.changed",
	"password.reset":                   "mail.notice.password.reset",
	"2fa.enabled":                      "mail.notice.2fa.enabled",
	"2fa.disabled":                     "mail.notice.2fa.disabled",
	"2fa.backup_codes.regenerated":     "mail.notice.2fa.backup_codes.regenerated",
	"2fa.backup_code.used":             "mail.notice.2fa.backup_code.used",
	"email.changed":                    "mail.notice.email.changed",
	"passkey.added":                    "mail.notice.passkey.added",
	"passkey.removed":                  "mail.notice.passkey.removed",
	keyward.NoticeTOTPRemoved:          "mail.notice.totp.removed",
	keyward.NoticeTOTPAdded:            "mail.notice.totp.added",
	keyward.NoticeEmailChangeRequested: "mail.notice.email.change_requested",
}

func (r *renderer) view(c *keyward.MailContent, p *locale.Printer) (*view, error) {
	v := &view{
		Product:  r.cfg.ProductName,
		To:       c.To,
		Time:     p.DateTime(c.Time),
		IP:       c.IP,
		Device:   c.Device,
		NewEmail: c.NewEmail,
	}
	if c.Remaining != nil {
		v.Remaining, v.HasRemaining = *c.Remaining, true
	}
	if !c.ExpiresAt.IsZero() {
		v.Expires = p.Duration(c.ExpiresAt.Sub(c.Time))
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
		v.What = p.T(what)
	default:
		return nil, fmt.Errorf("mail: unknown kind %q", c.Kind)
	}
	if c.LockdownToken != "" {
		v.LockdownLink = link("/lockdown", c.LockdownToken)
	}
	return v, nil
}

// message builds the multipart message of c.
func (r *renderer) message(id string, c *keyward.MailContent) (*gomail.Msg, error) {
	to, err := parseTo(c.To)
	if err != nil {
		return nil, err
	}
	// The account's language; one keyward does not speak is the default.
	lang := r.locale.Match(c.Language, "")
	v, err := r.view(c, r.locale.Printer(lang))
	if err != nil {
		return nil, err
	}
	kind := string(c.Kind)
	var subject, text, html bytes.Buffer
	if err := r.text[lang.Code].ExecuteTemplate(&subject, "subject "+kind, v); err != nil {
		return nil, fmt.Errorf("mail: subject of %s: %w", kind, err)
	}
	if err := r.text[lang.Code].ExecuteTemplate(&text, "text "+kind, v); err != nil {
		return nil, fmt.Errorf("mail: text of %s: %w", kind, err)
	}
	if err := r.html[lang.Code].ExecuteTemplate(&html, "html "+kind, v); err != nil {
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
