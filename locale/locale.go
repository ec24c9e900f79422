// Package locale holds the words keyward shows people, in every language
// it speaks (English and Ukrainian), and picks the language of a request.
//
// The catalogues are JSON files we write, one a language, embedded under
// messages/. A message is a string, or an object of plural forms by CLDR
// category ("one", "few", "many", "other", or an exact "=0") chosen by the
// message's first argument. Messages are fmt formats: "%[2]s" reorders
// arguments where a language puts them elsewhere.
//
// It is built on golang.org/x/text rather than go-i18n: x/text is already
// keyward's dependency (for NFKC passwords), its language.Matcher is the one
// to read Accept-Language with, its plural rules are CLDR's, and its
// Printer keeps the fmt verbs the service's error messages are written in,
// so an error's format is its key and no call site changes.
//
// Keys are of two kinds. A page's or a mail's words have a dotted key
// ("layout.sign_out") whose English is in en.json. An error message's key is
// its English format as the code writes it ("The email or password is
// incorrect."): en.json need not repeat it, and a language without it shows
// the English. The tests hold every language to en.json's keys and to every
// message the code can answer with.
package locale

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/keyward/keyward"
)

//go:embed messages/*.json
var messageFiles embed.FS

// English and Ukrainian are the languages keyward speaks; English is the
// language of the code, the logs and the fallback.
var (
	English   = language.English
	Ukrainian = language.Ukrainian
)

// Language is one language a person can choose.
type Language struct {
	Tag  language.Tag
	Code string // "en", "uk": the cookie's value and <html lang>
	Name string // in the language itself: "English", "Українська"
}

// Catalogue is every message in every language, with the matcher that
// picks one for a request. Its messages are read-only once made: one value
// serves every request.
type Catalogue struct {
	builder   *catalog.Builder
	languages []Language // the default first
	matcher   language.Matcher
	keys      map[language.Tag]map[string]bool
	printers  map[language.Tag]*Printer
	// matched remembers the language of each Accept-Language header seen
	// (at most maxMatched of them): matching one costs microseconds, and
	// browsers send few different ones.
	matched      sync.Map // string → Language
	matchedCount atomic.Int64
}

// maxMatched bounds the headers whose match is remembered; past it, a new
// header is matched every time (a flood of made-up ones grows nothing).
const maxMatched = 1024

// Message is one entry of a catalogue file: its text, or its plural forms.
type Message struct {
	Text   string
	Plural map[string]string // by CLDR category, or "=N"
}

// UnmarshalJSONFrom reads a string or an object of plural forms.
func (m *Message) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	if d.PeekKind() == '"' {
		return jsonv2.UnmarshalDecode(d, &m.Text)
	}
	return jsonv2.UnmarshalDecode(d, &m.Plural)
}

// pluralOrder is the order x/text tries the cases in: exact values first.
var pluralOrder = []string{"=0", "=1", "zero", "one", "two", "few", "many", "other"}

// New reads the embedded catalogues. def is the language a request gets
// when it asks for none keyward speaks ("" for English).
func New(def string) (*Catalogue, error) {
	defTag := English
	if def != "" {
		t, err := language.Parse(def)
		if err != nil {
			return nil, fmt.Errorf("locale: default language %q: %w", def, err)
		}
		defTag = t
	}
	files, err := Files()
	if err != nil {
		return nil, err
	}
	c := &Catalogue{builder: catalog.NewBuilder(catalog.Fallback(English)), keys: map[language.Tag]map[string]bool{}, printers: map[language.Tag]*Printer{}}
	for _, l := range []Language{{English, "en", "English"}, {Ukrainian, "uk", "Українська"}} {
		msgs, ok := files[l.Code]
		if !ok {
			return nil, fmt.Errorf("locale: no catalogue for %s", l.Code)
		}
		keys := make(map[string]bool, len(msgs))
		for key, m := range msgs {
			if err := c.builder.Set(l.Tag, key, m.catalogMessage()); err != nil {
				return nil, fmt.Errorf("locale: %s: %q: %w", l.Code, key, err)
			}
			keys[key] = true
		}
		c.keys[l.Tag] = keys
		if l.Tag == defTag {
			c.languages = slices.Insert(c.languages, 0, l)
		} else {
			c.languages = append(c.languages, l)
		}
	}
	if c.languages[0].Tag != defTag {
		return nil, fmt.Errorf("locale: keyward does not speak %q", def)
	}
	tags := make([]language.Tag, len(c.languages))
	for i, l := range c.languages {
		tags[i] = l.Tag
		c.printers[l.Tag] = &Printer{lang: l, p: message.NewPrinter(l.Tag, message.Catalog(c.builder)), keys: c.keys[l.Tag]}
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// catalogMessage is m as x/text holds it.
func (m Message) catalogMessage() catalog.Message {
	if m.Plural == nil {
		return catalog.String(m.Text)
	}
	cases := make([]any, 0, 2*len(m.Plural))
	for _, sel := range pluralOrder {
		if text, ok := m.Plural[sel]; ok {
			cases = append(cases, sel, text)
		}
	}
	return plural.Selectf(1, "%d", cases...)
}

// Files reads the embedded catalogue files, by language code, as written
// (for the tests that hold them to each other).
func Files() (map[string]map[string]Message, error) {
	names, err := fs.Glob(messageFiles, "messages/*.json")
	if err != nil {
		return nil, err
	}
	files := make(map[string]map[string]Message, len(names))
	for _, name := range names {
		b, err := messageFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var msgs map[string]Message // duplicate keys are an error in json v2
		if err := jsonv2.Unmarshal(b, &msgs); err != nil {
			return nil, fmt.Errorf("locale: %s: %w", name, err)
		}
		files[strings.TrimSuffix(path.Base(name), ".json")] = msgs
	}
	return files, nil
}

// Languages are the languages keyward speaks, the default first.
func (c *Catalogue) Languages() []Language { return slices.Clone(c.languages) }

// Default is the language of a request that asks for none keyward speaks.
func (c *Catalogue) Default() Language { return c.languages[0] }

// Lookup returns the language code names ("en", "uk"), if keyward speaks it.
func (c *Catalogue) Lookup(code string) (Language, bool) {
	for _, l := range c.languages {
		if l.Code == code {
			return l, true
		}
	}
	return Language{}, false
}

// maxAcceptLanguage bounds the header the matcher reads: a real one is a
// few dozen bytes.
const maxAcceptLanguage = 512

// Match picks the language of a request: choice (a code from the
// language chooser's cookie, or an account's language) when keyward speaks
// it, else the best of Accept-Language by its q-values, else the default.
func (c *Catalogue) Match(choice, acceptLanguage string) Language {
	if l, ok := c.Lookup(choice); ok {
		return l
	}
	if acceptLanguage == "" || len(acceptLanguage) > maxAcceptLanguage {
		return c.languages[0]
	}
	if l, ok := c.matched.Load(acceptLanguage); ok {
		return l.(Language)
	}
	l := c.matchHeader(acceptLanguage)
	if c.matchedCount.Add(1) <= maxMatched {
		c.matched.Store(acceptLanguage, l)
	}
	return l
}

// matchHeader is the best language of Accept-Language by its q-values.
func (c *Catalogue) matchHeader(acceptLanguage string) Language {
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return c.languages[0]
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return c.languages[0]
	}
	return c.languages[i]
}

// Printer is the catalogue in one language.
func (c *Catalogue) Printer(l Language) *Printer {
	if p, ok := c.printers[l.Tag]; ok {
		return p
	}
	return c.printers[c.languages[0].Tag]
}

// Has reports whether the language l has a message for key.
func (c *Catalogue) Has(l Language, key string) bool { return c.keys[l.Tag][key] }

// Printer writes messages in one language.
type Printer struct {
	lang Language
	p    *message.Printer
	keys map[string]bool
}

// Language is the printer's language.
func (p *Printer) Language() Language { return p.lang }

// T is the message key in the printer's language, with args put in. A
// key the language lacks prints as its English (an error's format), or
// as English's own message.
func (p *Printer) T(key string, args ...any) string {
	return p.p.Sprintf(key, args...)
}

// N is the message key for a count: n chooses the plural form and is the
// message's first argument.
func (p *Printer) N(key string, n int, args ...any) string {
	return p.p.Sprintf(key, append([]any{n}, args...)...)
}

// ErrorMessage is the client-safe message of err in the printer's
// language: keyward.ErrorMessage, translated when the catalogue knows it.
func (p *Printer) ErrorMessage(err error) string {
	msg := keyward.ErrorMessage(err)
	var e *keyward.Error
	if !errors.As(err, &e) || e.Code == keyward.CodeInternal {
		return p.T(msg)
	}
	key, args := e.Key, e.Args
	if key == "" {
		key, args = e.Message, nil
	}
	// A message made elsewhere and passed through as "%s" is its own key.
	if key == "%s" && len(args) == 1 {
		if s, ok := args[0].(string); ok {
			key, args = s, nil
		}
	}
	if !p.keys[key] {
		return msg
	}
	return p.p.Sprintf(key, args...)
}
