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
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages holds every page's template, parsed once at start: each page file
// defines "content" (and may define "title") inside the shared layout.
// Files whose names start with "_" are parts, parsed with every page: each
// defines templates that pages include.
type pages struct {
	byName map[string]*template.Template
}

// parsePages parses the pages for one server: the "path" function puts its
// base path before a route of keyward's, so no link can be written without.
func parsePages(base string) (*pages, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: make(map[string]*template.Template)}
	for _, f := range files {
		name := path.Base(f)
		if name == "layout.html" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(template.FuncMap{"path": func(route string) string { return base + route }}).
			ParseFS(templateFS, "templates/layout.html", "templates/_*.html", f)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
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
	t, ok := s.pages.byName[name]
	if !ok {
		s.writeError(w, r, keyward.Internal(fmt.Errorf("no template %q", name)))
		return
	}
	if l, ok := view.(layouter); ok {
		l.frame().Brand = s.brand()
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

func (s *Server) renderErrorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	heading := http.StatusText(status)
	if heading == "" {
		heading = "Error"
	}
	v := errorView{layout: layout{Title: heading, Brand: s.brand()}, Status: status, Heading: heading, Message: msg}
	t, ok := s.pages.byName["error.html"]
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
