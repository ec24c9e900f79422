package mail_test

import (
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
)

func render(t *testing.T, m *mail.Mailer, c *keyward.MailContent) *mailtest.Message {
	t.Helper()
	msg, err := m.Message("mail_1", c)
	if err != nil {
		t.Fatalf("Message: %v", err)
	}
	var b strings.Builder
	if _, err := msg.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return mailtest.Parse(t, []byte(b.String()))
}

// TestMailLanguage: a mail is written in its account's language, with
// the date and the link's life in that language's words; a language
// keyward does not speak, or none, is the default's.
func TestMailLanguage(t *testing.T) {
	m := newMailer(t, mail.Config{}, mail.Folder{Dir: t.TempDir()})
	ukDefault := newMailer(t, mail.Config{DefaultLanguage: "uk"}, mail.Folder{Dir: t.TempDir()})
	two := 2
	tests := []struct {
		name     string
		m        *mail.Mailer
		c        keyward.MailContent
		subject  string
		want     []string // in the text and the HTML part
		wantText []string
		lang     string // <html lang>
	}{
		{"reset in Ukrainian", m, keyward.MailContent{To: "olena@example.com", Kind: keyward.MailPasswordReset, Token: "kwr_1", Time: when,
			IP: "198.51.100.7", Device: "Chrome on macOS", ExpiresAt: when.Add(30 * time.Minute), Language: "uk"},
			"Скидання пароля Example",
			[]string{"скинути пароль облікового запису olena@example.com", "3 грудня 2026 о 12:00 UTC", "діє 30 хвилин", "Chrome on macOS", "198.51.100.7"},
			nil, "uk"},
		{"verification in Ukrainian, a day to open it", m, keyward.MailContent{To: "olena@example.com", Kind: keyward.MailVerifyEmail, Token: "kwv_1", Time: when,
			ExpiresAt: when.Add(24 * time.Hour), Language: "uk"},
			"Підтвердьте адресу електронної пошти для Example",
			[]string{"olena@example.com — ваша адреса", "діє 24 години"}, nil, "uk"},
		{"email change in Ukrainian", m, keyward.MailContent{To: "new@example.com", Kind: keyward.MailConfirmChange, Token: "kwc_1", Time: when,
			ExpiresAt: when.Add(21 * time.Hour), Language: "uk"},
			"Підтвердьте нову адресу електронної пошти для Example",
			[]string{"перенести обліковий запис Example на цю адресу", "діє 21 годину"}, nil, "uk"},
		{"notice in Ukrainian", m, keyward.MailContent{To: "olena@example.com", Kind: keyward.MailNotice, Event: "2fa.backup_code.used", LockdownToken: "kwl_1",
			Time: when, IP: "203.0.113.9", Device: "Firefox on Windows", ExpiresAt: when.Add(7 * 24 * time.Hour), Remaining: &two, Language: "uk"},
			"Example: Для входу використано резервний код",
			[]string{"Для входу використано резервний код", "3 грудня 2026 о 12:00 UTC", "воно діє 7 днів", "Firefox on Windows", "Це не я"},
			[]string{"Залишилося резервних кодів: 2"}, "uk"},
		{"notice in English", m, keyward.MailContent{To: "ann@example.com", Kind: keyward.MailNotice, Event: "password.changed", LockdownToken: "kwl_1",
			Time: when, ExpiresAt: when.Add(24 * time.Hour), Language: "en"},
			"Example: Your password was changed",
			[]string{"Your password was changed", "3 December 2026, 12:00 UTC", "24 hours"}, nil, "en"},
		{"no language: the default, English", m, keyward.MailContent{To: "ann@example.com", Kind: keyward.MailPasswordReset, Token: "kwr_1", Time: when,
			ExpiresAt: when.Add(time.Minute)},
			"Reset your Example password", []string{"within 1 minute"}, nil, "en"},
		{"a language keyward does not speak: the default", m, keyward.MailContent{To: "ann@example.com", Kind: keyward.MailPasswordReset, Token: "kwr_1", Time: when,
			ExpiresAt: when.Add(time.Hour), Language: "de"},
			"Reset your Example password", []string{"60 minutes"}, nil, "en"},
		{"no language, default Ukrainian", ukDefault, keyward.MailContent{To: "olena@example.com", Kind: keyward.MailPasswordReset, Token: "kwr_1", Time: when,
			ExpiresAt: when.Add(2 * time.Minute)},
			"Скидання пароля Example", []string{"діє 2 хвилини"}, nil, "uk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := render(t, tt.m, &tt.c)
			if p.Subject != tt.subject {
				t.Errorf("subject %q, want %q", p.Subject, tt.subject)
			}
			for _, s := range tt.want {
				if !strings.Contains(p.Text, s) {
					t.Errorf("the text lacks %q:\n%s", s, p.Text)
				}
				if !strings.Contains(p.HTML, s) {
					t.Errorf("the HTML lacks %q:\n%s", s, p.HTML)
				}
			}
			for _, s := range tt.wantText {
				if !strings.Contains(p.Text, s) {
					t.Errorf("the text lacks %q:\n%s", s, p.Text)
				}
			}
			if !strings.Contains(p.HTML, `<html lang="`+tt.lang+`">`) {
				t.Errorf("the HTML is not marked lang=%q:\n%s", tt.lang, p.HTML)
			}
		})
	}
}

// TestMailTemplatesInStep: every language writes the same mails, each with
// the same fields: a template or a link one language forgot fails here.
func TestMailTemplatesInStep(t *testing.T) {
	root := os.DirFS("templates")
	langs, err := fs.Glob(root, "*")
	if err != nil || len(langs) < 2 {
		t.Fatalf("languages %v: %v", langs, err)
	}
	define := regexp.MustCompile(`\{\{define "([^"]+)"\}\}`)
	field := regexp.MustCompile(`\{\{[^}]*?\.([A-Z]\w*)`)
	shape := func(lang, file string) (defs, fields []string) {
		b, err := fs.ReadFile(root, lang+"/"+file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range define.FindAllSubmatch(b, -1) {
			defs = append(defs, string(m[1]))
		}
		for _, m := range field.FindAllSubmatch(b, -1) {
			fields = append(fields, string(m[1]))
		}
		slices.Sort(defs)
		slices.Sort(fields)
		return defs, slices.Compact(fields)
	}
	for _, file := range []string{"mails.txt", "mails.html"} {
		wantDefs, wantFields := shape("en", file)
		for _, lang := range langs {
			defs, fields := shape(lang, file)
			if !slices.Equal(defs, wantDefs) {
				t.Errorf("%s/%s defines %v, en %v", lang, file, defs, wantDefs)
			}
			if !slices.Equal(fields, wantFields) {
				t.Errorf("%s/%s shows %v, en %v", lang, file, fields, wantFields)
			}
		}
	}
}
