package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/locale"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds every page's template, parsed once at start: each page file
// defines "content" (and may define "title") inside the shared layout.
// Files whose names start with "_" are parts, parsed with every page: each
// defines templates that pages include. Each page is cloned for every
// language, with the translation functions of that language.
type pages struct {
	byName map[string]map[string]*template.Template // by page, then language code
}

// pageFuncs are the functions every page may call. The "path" function
// puts the base path before a route of keyward's, so no link can be
// written without. The words are the catalogue's in the page's language:
//
//	{{t "layout.sign_out"}}            a message
//	{{t "layout.back" .Brand.Product}} a message with arguments
//	{{tn "duration.days" 3}}           a message for a count (its plural form)
//	{{date .When}}  {{datetime .When}} a time.Time as "3 грудня 2026" (and "о 15:04 UTC")
func pageFuncs(base string, p *locale.Printer) template.FuncMap {
	return template.FuncMap{
		"path":     func(route string) string { return base + route },
		"t":        p.T,
		"tn":       p.N,
		"date":     p.Date,
		"datetime": p.DateTime,
	}
}

// parsePages parses the pages for one server, in every language of cat.
func parsePages(base string, cat *locale.Catalogue) (*pages, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	langs := cat.Languages()
	p := &pages{byName: make(map[string]map[string]*template.Template)}
	for _, f := range files {
		name := path.Base(f)
		if name == "layout.html" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(pageFuncs(base, cat.Printer(langs[0]))).
			ParseFS(templateFS, "templates/layout.html", "templates/_*.html", f)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		p.byName[name] = make(map[string]*template.Template, len(langs))
		for _, l := range langs {
			c, err := t.Clone()
			if err != nil {
				return nil, fmt.Errorf("parsing %s: %w", name, err)
			}
			p.byName[name][l.Code] = c.Funcs(pageFuncs(base, cat.Printer(l)))
		}
	}
	return p, nil
}

// page is the template of the page name in the language l.
func (p *pages) page(name string, l locale.Language) (*template.Template, bool) {
	t, ok := p.byName[name][l.Code]
	return t, ok
}

// layout is what every page's view carries for the shared frame.
type layout struct {
	Title   string
	Email   string // the signed-in person; "" when signed out
	Section string // the Security section shown, for the navigation
	Flash   string // a one-line confirmation after a redirect
	Error   string // a one-line error shown above the form
	// FlashKind styles Flash: "ok" (default), "warning" or "error".
	FlashKind string
	// ErrorField names the form field Error is about (usually its name
	// attribute), so the field is marked with aria-invalid and points at the
	// error with aria-describedby (layout.Invalid, layout.DescribedBy).
	ErrorField string
	// Errors are every error about a field, in the form's order, each
	// shown next to its field; Error and ErrorField are the first. An
	// error about no field is shown above the form.
	Errors []fieldErr
	// Scripts are the page's own scripts under /static/ (progressive
	// enhancement only: every page works without them).
	Scripts []string
	// Brand is the deployment's product name, application link and accent,
	// filled in by render.
	Brand brand
	// Lang is the page's language, and Languages and Here the footer's
	// language chooser (the current page, to come back to); filled in by
	// render.
	Lang      locale.Language
	Languages []locale.Language
	Here      string
}

// brand is what the operator's branding flags put in every page's frame.
type brand struct {
	Product string
	AppURL  string // "" shows no "Back to" link
	Accent  bool   // link /static/brand.css
}

func (s *Server) brand() brand {
	b := brand{Product: s.cfg.ProductName, Accent: s.cfg.AccentColor != ""}
	if s.cfg.AppURL != nil {
		b.AppURL = s.cfg.AppURL.String()
	}
	return b
}

// render writes a page. It renders into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, view any) {
	lang := s.language(r)
	t, ok := s.pages.page(name, lang)
	if !ok {
		s.writeError(w, r, keyward.Internal(fmt.Errorf("no template %q", name)))
		return
	}
	if l, ok := view.(layouter); ok {
		s.frame(l.frame(), r, lang)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, view); err != nil {
		s.log.ErrorContext(r.Context(), "rendering page", "page", name, "request_id", requestID(w), "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorView is the friendly page a person sees instead of an error body.
type errorView struct {
	layout
	Status  int
	Heading string
	Message string
}

// twoFactorRequiredView is the answer of RequireTwoFactor to a browser
// whose session was signed in without a second factor.
type twoFactorRequiredView struct {
	layout
	Enabled     bool   // the account has two-factor on: sign in again with it
	SettingsURL string // the two-factor settings page
}

// frame fills in what render knows of every page: the brand, the
// language and the chooser's way back here.
func (s *Server) frame(l *layout, r *http.Request, lang locale.Language) {
	l.Brand = s.brand()
	l.Lang, l.Languages = lang, s.locale.Languages()
	l.Here = s.here(r)
}

// statusHeadings are the error page's headings, by status.
var statusHeadings = map[int]string{
	400: "status.400", 401: "status.401", 403: "status.403", 404: "status.404", 405: "status.405", 409: "status.409",
	413: "status.413", 415: "status.415", 429: "status.429", 500: "status.500", 501: "status.501", 503: "status.503",
}

func (s *Server) renderErrorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	lang := s.language(r)
	p := s.locale.Printer(lang)
	heading := p.T("error.heading")
	if key, ok := statusHeadings[status]; ok {
		heading = p.T(key)
	}
	v := errorView{layout: layout{Title: heading}, Status: status, Heading: heading, Message: msg}
	s.frame(&v.layout, r, lang)
	t, ok := s.pages.page("error.html", lang)
	var buf bytes.Buffer
	if !ok || t.Execute(&buf, v) != nil {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// brandCSS is the stylesheet that sets the accent colour. A stylesheet of
// its own keeps the Content-Security-Policy's style-src at 'self': an inline
// style would need 'unsafe-inline' or a per-response hash. New checked the
// colour is #rgb or #rrggbb, so it cannot end the declaration.
func (s *Server) brandCSS() http.Handler {
	// White on the accent in both schemes: the operator chose the colour
	// for the buttons' white text.
	css := []byte(":root {\n  --primary: " + s.cfg.AccentColor + ";\n  --primary-dark: " + s.cfg.AccentColor + ";\n  --on-primary: #ffffff;\n}\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AccentColor == "" {
			s.writeError(w, r, keyward.Errorf(keyward.CodeNotFound, "There is nothing at this address."))
			return
		}
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(css)
	})
}

// isHexColor reports whether c is #rgb or #rrggbb.
func isHexColor(c string) bool {
	if len(c) != 4 && len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			s.writeError(w, r, keyward.Errorf(keyward.CodeNotFound, "There is nothing at this address."))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
