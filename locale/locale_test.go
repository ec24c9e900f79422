package locale

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func newCatalogue(t testing.TB) *Catalogue {
	t.Helper()
	c, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pluralForms are the CLDR categories each language's integers and
// fractions fall into: a plural message must give every one.
var pluralForms = map[string][]string{
	"en": {"one", "other"},
	"uk": {"one", "few", "many", "other"},
}

// verb finds fmt verbs, to hold a translation to its key's arguments.
var verb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

func verbs(s string) []string {
	var out []string
	for _, v := range verb.FindAllString(s, -1) {
		if v != "%%" {
			out = append(out, v[len(v)-1:])
		}
	}
	slices.Sort(out)
	return out
}

func forms(m Message) []string {
	if m.Plural == nil {
		return []string{m.Text}
	}
	var out []string
	for _, s := range m.Plural {
		out = append(out, s)
	}
	return out
}

// TestCatalogues holds every language to English and to the code: every
// key of en.json in every language, with every plural form the language
// needs and the same arguments; every message the code answers with in
// every language but English; every key used by a template or the code;
// every key the templates ask for present.
func TestCatalogues(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	en := files["en"]
	code, literals := codeMessages(t)
	templates := templateKeys(t, "web/templates", "mail/templates")
	if len(code) < 50 || len(templates) < 5 {
		t.Fatalf("found %d messages in the code and %d keys in templates: the search is broken", len(code), len(templates))
	}
	for lang, msgs := range files {
		need, ok := pluralForms[lang]
		if !ok {
			t.Errorf("%s.json: no plural forms known for %q (add them to pluralForms)", lang, lang)
		}
		for _, key := range sortedKeys(en) {
			m, ok := msgs[key]
			if !ok {
				t.Errorf("%s.json: no %q", lang, key)
				continue
			}
			if en[key].Plural != nil {
				for _, f := range need {
					if _, ok := m.Plural[f]; !ok {
						t.Errorf("%s.json: %q has no plural form %q", lang, key, f)
					}
				}
			}
		}
		for _, key := range sortedKeys(msgs) {
			m := msgs[key]
			want := verbs(key)
			if e, ok := en[key]; ok {
				want = verbs(forms(e)[0])
			}
			for _, f := range forms(m) {
				if got := verbs(f); !slices.Equal(got, want) {
					t.Errorf("%s.json: %q: %q has verbs %v, want %v", lang, key, f, got, want)
				}
				if strings.TrimSpace(f) == "" {
					t.Errorf("%s.json: %q is empty", lang, key)
				}
			}
			if m.Plural != nil && m.Plural["other"] == "" {
				t.Errorf("%s.json: %q has no \"other\" form", lang, key)
			}
			_, inEnglish := en[key]
			_, fromCode := code[key]
			if !inEnglish && !fromCode && !literals[key] {
				t.Errorf("%s.json: %q is used nowhere (not in en.json, not a message of the code)", lang, key)
			}
		}
		if lang == "en" {
			continue
		}
		for _, msg := range sortedKeys(code) {
			if _, ok := msgs[msg]; !ok {
				t.Errorf("%s.json: no translation of %q (%s)", lang, msg, code[msg][0])
			}
		}
	}
	for _, key := range sortedKeys(en) {
		if _, ok := templates[key]; !ok && !literals[key] {
			t.Errorf("en.json: %q is used nowhere (no template asks for it, no code names it)", key)
		}
	}
	for _, key := range sortedKeys(templates) {
		if _, ok := en[key]; !ok {
			t.Errorf("%s asks for %q, which en.json does not have", templates[key][0], key)
		}
	}
}

func TestPlurals(t *testing.T) {
	c := newCatalogue(t)
	en, uk := c.Printer(c.Match("en", "")), c.Printer(c.Match("uk", ""))
	tests := []struct {
		p    *Printer
		key  string
		n    int
		want string
	}{
		{en, "duration.minutes", 1, "1 minute"},
		{en, "duration.minutes", 2, "2 minutes"},
		{en, "duration.minutes", 0, "0 minutes"},
		{en, "duration.days", 21, "21 days"},
		{uk, "duration.minutes", 1, "1 хвилину"},
		{uk, "duration.minutes", 2, "2 хвилини"},
		{uk, "duration.minutes", 4, "4 хвилини"},
		{uk, "duration.minutes", 5, "5 хвилин"},
		{uk, "duration.minutes", 11, "11 хвилин"},
		{uk, "duration.minutes", 12, "12 хвилин"},
		{uk, "duration.minutes", 21, "21 хвилину"},
		{uk, "duration.minutes", 22, "22 хвилини"},
		{uk, "duration.minutes", 25, "25 хвилин"},
		{uk, "duration.minutes", 0, "0 хвилин"},
		{uk, "duration.days", 1, "1 день"},
		{uk, "duration.days", 3, "3 дні"},
		{uk, "duration.days", 7, "7 днів"},
		{uk, "duration.days", 31, "31 день"},
		{uk, "duration.hours", 24, "24 години"},
		{uk, "time.hours_ago", 21, "21 годину тому"},
		{uk, "time.in_days", 2, "через 2 дні"},
		{uk, "An account can have at most %d passkeys. Remove one you no longer use first.", 10,
			"Обліковий запис може мати щонайбільше 10 ключів доступу. Спершу видаліть той, яким більше не користуєтеся."},
		{uk, "An account can have at most %d passkeys. Remove one you no longer use first.", 2,
			"Обліковий запис може мати щонайбільше 2 ключі доступу. Спершу видаліть той, яким більше не користуєтеся."},
	}
	for _, tt := range tests {
		if got := tt.p.N(tt.key, tt.n); got != tt.want {
			t.Errorf("%s: N(%q, %d) = %q, want %q", tt.p.Language().Code, tt.key, tt.n, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	c := newCatalogue(t)
	ukDefault, err := New("uk")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		c              *Catalogue
		choice, accept string
		want           string
	}{
		{"nothing asked", c, "", "", "en"},
		{"English", c, "", "en-US,en;q=0.9", "en"},
		{"Ukrainian", c, "", "uk", "uk"},
		{"Ukrainian with a region", c, "", "uk-UA", "uk"},
		{"Ukrainian first", c, "", "uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7", "uk"},
		{"q-values decide, not order", c, "", "en;q=0.3, uk;q=0.9", "uk"},
		{"English preferred over Ukrainian", c, "", "uk;q=0.5, en", "en"},
		{"a language keyward lacks, then Ukrainian", c, "", "de-DE, uk;q=0.5", "uk"},
		{"only languages keyward lacks", c, "", "de, fr;q=0.8", "en"},
		{"only languages keyward lacks, default uk", ukDefault, "", "de, fr;q=0.8", "uk"},
		{"nothing asked, default uk", ukDefault, "", "", "uk"},
		{"English asked, default uk", ukDefault, "", "en-GB", "en"},
		{"wildcard", c, "", "*", "en"},
		{"refused Ukrainian", c, "", "uk;q=0, en;q=0.1", "en"},
		{"malformed header", c, "", "uk;q=zz,,;;", "en"},
		{"the chooser wins", c, "uk", "en-US,en;q=0.9", "uk"},
		{"the chooser's English wins", c, "en", "uk", "en"},
		{"an unknown choice is ignored", c, "de", "uk", "uk"},
		{"a forged choice is ignored", c, "uk\r\nX: y", "en", "en"},
		{"a header too long to read", c, "", strings.Repeat("en;q=0.1,", 100) + "uk", "en"},
	}
	for _, tt := range tests {
		if got := tt.c.Match(tt.choice, tt.accept).Code; got != tt.want {
			t.Errorf("%s: Match(%q, %q) = %q, want %q", tt.name, tt.choice, tt.accept, got, tt.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	c := newCatalogue(f)
	for _, s := range []string{"", "uk", "en-US,en;q=0.9", "uk;q=0.5, en", "*", "x-klingon;q=1.0", "uk;q=", "en-u-rg-uazzzz"} {
		f.Add("", s)
	}
	f.Add("uk", "en")
	f.Fuzz(func(t *testing.T, choice, accept string) {
		l := c.Match(choice, accept)
		if _, ok := c.Lookup(l.Code); !ok {
			t.Fatalf("Match(%q, %q) = %+v, a language keyward does not speak", choice, accept, l)
		}
	})
}

func TestDates(t *testing.T) {
	c := newCatalogue(t)
	en, uk := c.Printer(c.Match("en", "")), c.Printer(c.Match("uk", ""))
	kyiv := time.FixedZone("EET", 2*3600)
	tests := []struct {
		p              *Printer
		t              time.Time
		date, dateTime string
	}{
		{en, time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC), "3 December 2026", "3 December 2026, 15:04 UTC"},
		{uk, time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC), "3 грудня 2026", "3 грудня 2026 о 15:04 UTC"},
		{uk, time.Date(2026, 1, 31, 0, 30, 0, 0, time.UTC), "31 січня 2026", "31 січня 2026 о 00:30 UTC"},
		{uk, time.Date(2026, 3, 1, 1, 0, 0, 0, kyiv), "28 лютого 2026", "28 лютого 2026 о 23:00 UTC"},
		{uk, time.Date(2026, 5, 9, 12, 0, 0, 0, time.UTC), "9 травня 2026", "9 травня 2026 о 12:00 UTC"},
		{uk, time.Date(2026, 8, 24, 12, 0, 0, 0, time.UTC), "24 серпня 2026", "24 серпня 2026 о 12:00 UTC"},
		{uk, time.Date(10000, 11, 2, 12, 0, 0, 0, time.UTC), "2 листопада 10000", "2 листопада 10000 о 12:00 UTC"},
	}
	for _, tt := range tests {
		if got := tt.p.Date(tt.t); got != tt.date {
			t.Errorf("%s: Date(%v) = %q, want %q", tt.p.Language().Code, tt.t, got, tt.date)
		}
		if got := tt.p.DateTime(tt.t); got != tt.dateTime {
			t.Errorf("%s: DateTime(%v) = %q, want %q", tt.p.Language().Code, tt.t, got, tt.dateTime)
		}
	}
}

func TestDurationAndRelative(t *testing.T) {
	c := newCatalogue(t)
	en, uk := c.Printer(c.Match("en", "")), c.Printer(c.Match("uk", ""))
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		p    *Printer
		got  string
		want string
	}{
		{en, en.Duration(30 * time.Minute), "30 minutes"},
		{uk, uk.Duration(30 * time.Minute), "30 хвилин"},
		{uk, uk.Duration(time.Hour), "60 хвилин"},
		{uk, uk.Duration(2 * time.Hour), "2 години"},
		{uk, uk.Duration(7 * 24 * time.Hour), "7 днів"},
		{en, en.Relative(now.Add(-10*time.Second), now), "just now"},
		{uk, uk.Relative(now.Add(-10*time.Second), now), "щойно"},
		{en, en.Relative(now.Add(-time.Minute), now), "1 minute ago"},
		{uk, uk.Relative(now.Add(-time.Minute), now), "1 хвилину тому"},
		{uk, uk.Relative(now.Add(-5*time.Minute), now), "5 хвилин тому"},
		{uk, uk.Relative(now.Add(-3*time.Hour), now), "3 години тому"},
		{uk, uk.Relative(now.Add(10*time.Minute), now), "через 10 хвилин"},
		{uk, uk.Relative(now.Add(-30*time.Hour), now), "учора"},
		{uk, uk.Relative(now.Add(30*time.Hour), now), "завтра"},
		{uk, uk.Relative(now.Add(-21*24*time.Hour), now), "21 день тому"},
		{en, en.Relative(now.Add(-60*24*time.Hour), now), "on 4 October 2026"},
		{uk, uk.Relative(now.Add(-60*24*time.Hour), now), "4 жовтня 2026"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.p.Language().Code, tt.got, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	c := newCatalogue(t)
	en, uk := c.Printer(c.Match("en", "")), c.Printer(c.Match("uk", ""))
	tests := []struct {
		name   string
		err    error
		en, uk string
	}{
		{"a constant message", keyward.Errorf(keyward.CodeInvalidCredentials, "The email or password is incorrect."),
			"The email or password is incorrect.", "Неправильна адреса електронної пошти або пароль."},
		{"wrapped", fmt.Errorf("signing in: %w", keyward.Errorf(keyward.CodeInvalidCredentials, "The email or password is incorrect.")),
			"The email or password is incorrect.", "Неправильна адреса електронної пошти або пароль."},
		{"with an argument", keyward.Errorf(keyward.CodeInvalidRequest, "The field %q is required.", "email"),
			`The field "email" is required.`, `Поле "email" обов’язкове.`},
		{"with a count", keyward.Errorf(keyward.CodeTooManyPasskeys, "An account can have at most %d passkeys. Remove one you no longer use first.", 5),
			"An account can have at most 5 passkeys. Remove one you no longer use first.",
			"Обліковий запис може мати щонайбільше 5 ключів доступу. Спершу видаліть той, яким більше не користуєтеся."},
		{"built by hand", &keyward.Error{Code: keyward.CodeUnavailable, Message: "The server is busy. Try again in a moment."},
			"The server is busy. Try again in a moment.", "Сервер зайнятий. Спробуйте ще раз за мить."},
		{"passed through", keyward.Errorf(keyward.CodeInvalidRequest, "%s", "Enter your password."),
			"Enter your password.", "Введіть пароль."},
		{"internal", keyward.Internal(errors.New("disk on fire")),
			"Something went wrong on our side. Please try again.", "У нас щось пішло не так. Спробуйте ще раз."},
		{"not an *Error", errors.New("secret cause"),
			"Something went wrong on our side. Please try again.", "У нас щось пішло не так. Спробуйте ще раз."},
		{"no translation: English", keyward.Errorf(keyward.CodeConflict, "A message no catalogue has, %d.", 7),
			"A message no catalogue has, 7.", "A message no catalogue has, 7."},
	}
	for _, tt := range tests {
		if got := en.ErrorMessage(tt.err); got != tt.en {
			t.Errorf("%s: en: got %q, want %q", tt.name, got, tt.en)
		}
		if got := uk.ErrorMessage(tt.err); got != tt.uk {
			t.Errorf("%s: uk: got %q, want %q", tt.name, got, tt.uk)
		}
	}
}

// BenchmarkMatch is what every answer in a language costs to choose it
// (an error's message, a page).
func BenchmarkMatch(b *testing.B) {
	c := newCatalogue(b)
	for _, accept := range []string{"", "uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7"} {
		b.Run("accept="+accept, func(b *testing.B) {
			for b.Loop() {
				c.Match("", accept)
			}
		})
	}
}
