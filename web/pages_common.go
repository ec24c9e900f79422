package web

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
)

// What every page handler shares: the request time, rendering with the
// flash, reading forms, and the flash cookie itself.

// flashLifetime bounds how long a flash waits for the page that shows it:
// it is set on a redirect and read by the very next page.
const flashLifetime = 2 * time.Minute

// maxFlashLen keeps the flash cookie well under any cookie size limit.
const maxFlashLen = 600

// requestTime is "now" for what a page shows (relative times, the date in a
// backup codes file). The rules' own clock is the Service's.
func (s *Server) requestTime() time.Time { return s.svc.Now() }

// layoutFor is the frame of a signed-in page.
func layoutFor(p *principal, title, section string) layout {
	return layout{Title: title, Email: p.account.Email, Section: section}
}

// renderPage renders a page view, showing (and clearing) a pending flash.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, v layouter) error {
	l := v.frame()
	if text, kind, ok := s.takeFlash(w, r); ok {
		l.Flash, l.FlashKind = text, kind
	}
	s.render(w, r, status, name, v)
	return nil
}

// seeOther ends a successful POST (POST/redirect/GET) or sends a visitor on
// to one of keyward's routes, under the base path.
func (s *Server) seeOther(w http.ResponseWriter, r *http.Request, route string) error {
	return seeOtherURL(w, r, s.path(route))
}

// seeOtherURL sends the visitor to a location that is already what the
// browser must follow: a next made safe by Server.next.
func seeOtherURL(w http.ResponseWriter, r *http.Request, location string) error {
	http.Redirect(w, r, location, http.StatusSeeOther)
	return nil
}

// withNext is route with next in its query, unless next is the default
// landing page (then the route alone says the same, shorter).
func (s *Server) withNext(route, next string) string {
	if next == "" || next == s.path(homeRoute) {
		return route
	}
	sep := "?"
	if strings.Contains(route, "?") {
		sep = "&"
	}
	return route + sep + url.Values{"next": {next}}.Encode()
}

// readForm parses a POSTed form (application/x-www-form-urlencoded).
func readForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The form could not be read. Reload the page and try again.")
	}
	return nil
}

// invalid is a form error the person fixes by typing something else.
func invalid(msg string) *keyward.Error {
	return keyward.Errorf(keyward.CodeInvalidRequest, "%s", msg)
}

// formError reports whether err is the person's to fix on the same form (a
// 4xx), so the page is shown again with the message; anything else becomes
// the error page.
func formError(err error) bool {
	st := status(err)
	return st >= 400 && st < 500
}

// showError puts err's message on the page, about field.
// A wait is nobody's typing mistake, so it is about no field, and the page
// says how long it is.
func (l *layout) showError(err error, field string) {
	msg := keyward.ErrorMessage(err)
	if keyward.IsCode(err, keyward.CodeTooManyAttempts) {
		field = ""
		var ke *keyward.Error
		if errors.As(err, &ke) && ke.RetryAfter > 0 {
			msg = "Too many attempts. Try again in " + waitText(ke.RetryAfter) + "."
		}
	}
	l.Error, l.ErrorField = msg, field
	if field != "" {
		l.Errors = append(l.Errors, fieldErr{Field: field, Message: msg})
	}
}

// rerenderFields shows a form's page again with every error found in it at
// once (400), each next to its field.
func (s *Server) rerenderFields(w http.ResponseWriter, r *http.Request, name string, v layouter, errs []fieldErr) error {
	l := v.frame()
	l.Errors = errs
	l.Error, l.ErrorField = errs[0].Message, errs[0].Field
	return s.renderPage(w, r, http.StatusBadRequest, name, v)
}

// waitText says a wait the way a person would: "30 seconds", "2 minutes"
// (rounded up, so that trying after it works).
func waitText(d time.Duration) string {
	secs := int(math.Ceil(d.Seconds()))
	if secs < 60 {
		return plural(max(secs, 1), "second", "seconds")
	}
	return plural((secs+59)/60, "minute", "minutes")
}

// rerender shows a form's page again with err's message about field, with
// err's status (and Retry-After when err says to wait). An error that is
// not the person's to fix is returned instead, for the error page.
func (s *Server) rerender(w http.ResponseWriter, r *http.Request, name string, v layouter, err error, field string) error {
	if !formError(err) {
		return err
	}
	st := status(err)
	setRetryAfter(w, err, st)
	v.frame().showError(err, field)
	return s.renderPage(w, r, st, name, v)
}

// Flash: a one-line message that survives one redirect, in an HttpOnly
// cookie holding "<kind>.<base64url of the text>". It is read and cleared by
// the next page that renders.

func (s *Server) setFlash(w http.ResponseWriter, kind, text string) {
	if len(text) > maxFlashLen {
		text = strings.ToValidUTF8(text[:maxFlashLen], "")
	}
	// The browser judges this short-lived cookie by its own clock.
	s.setCookie(w, s.cookie.flash, kind+"."+base64.RawURLEncoding.EncodeToString([]byte(text)), time.Now().Add(flashLifetime))
}

func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) (text, kind string, ok bool) {
	c, err := r.Cookie(s.cookie.flash)
	if err != nil {
		return "", "", false
	}
	s.clearCookie(w, s.cookie.flash)
	return decodeFlash(c.Value)
}

// decodeFlash reads a flash cookie's value; anything malformed is dropped.
func decodeFlash(v string) (text, kind string, ok bool) {
	kind, enc, found := strings.Cut(v, ".")
	if !found || len(enc) > base64.RawURLEncoding.EncodedLen(maxFlashLen) {
		return "", "", false
	}
	switch kind {
	case flashOK, flashWarning, flashError:
	default:
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 {
		return "", "", false
	}
	text = strings.ToValidUTF8(string(b), "")
	if text == "" { // only invalid bytes: nothing to show
		return "", "", false
	}
	return text, kind, true
}
