package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/locale"
)

// The language of a page or an error: the one chosen with the chooser in
// every page's footer (a cookie), else the best match of Accept-Language,
// else the default. An API client says Accept-Language.

// languagePath is where the chooser's form posts: under settings, a first
// segment a base path may not take already.
const languagePath = "/settings/language"

// languageCookieLife is how long the browser remembers a choice.
const languageCookieLife = 365 * 24 * time.Hour

// language is the language to answer r in.
func (s *Server) language(r *http.Request) locale.Language {
	choice := ""
	if c, err := r.Cookie(s.cookie.lang); err == nil {
		choice = c.Value
	}
	return s.locale.Match(choice, r.Header.Get("Accept-Language"))
}

// languageSubmit remembers the language chosen and goes back to the page
// it was chosen on. It works signed in or out; the cross-origin check
// every form passes keeps another site from choosing for the person.
func (s *Server) languageSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	l, ok := s.locale.Lookup(r.PostForm.Get("language"))
	if !ok {
		return keyward.Errorf(keyward.CodeInvalidRequest, "Choose one of the languages offered.")
	}
	// The browser judges this cookie by its own clock.
	s.setCookie(w, s.cookie.lang, l.Code, time.Now().Add(languageCookieLife))
	// Signed in, the account's mails follow the choice too. A session
	// that does not check out chooses for this browser only.
	if p, err := s.authenticate(r); err == nil {
		if err := s.svc.SetLanguage(r.Context(), p.session, l.Code); err != nil && !keyward.IsCode(err, keyward.CodeUnauthenticated) {
			return err
		}
	}
	return seeOtherURL(w, r, s.chooserNext(r.PostForm.Get("next")))
}

// here is the page r asked for, for the chooser to come back to: a form's
// answer is its page again, by GET, without what was sent; a next the page
// refused is dropped, so that the page never repeats it.
func (s *Server) here(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return s.path(r.URL.Path)
	}
	q := r.URL.Query()
	if next, ok := q["next"]; ok {
		if len(next) != 1 {
			q.Del("next")
		} else if _, ok := checkNext(next[0], s.returnOrigins); !ok {
			q.Del("next")
		}
	}
	if len(q) == 0 {
		return s.path(r.URL.Path)
	}
	return s.path(r.URL.Path) + "?" + q.Encode()
}

// chooserNext is where the chooser goes back to: next when it is a page of
// keyward's on this origin (under the base path, answering GET), else the
// security overview. Nothing else: the chooser is no open redirect.
func (s *Server) chooserNext(next string) string {
	home := s.path(homeRoute)
	if !localPath(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return home
	}
	route := u.Path
	if s.base != "" {
		if !strings.HasPrefix(route, s.base+"/") {
			return home
		}
		route = strings.TrimPrefix(route, s.base)
	}
	_, pattern := s.mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: route}})
	if !strings.HasPrefix(pattern, http.MethodGet+" ") {
		return home // the catch-all's 404, or a route that takes only POST
	}
	return next
}
