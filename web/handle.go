package web

import (
	"net/http"
	"net/url"

	keyward "github.com/keyward/keyward"
)

// Handlers return errors (the way tsweb does): the adapters here turn an
// error into the client's answer, JSON or a page, in one place (writeError).

// handlerFunc is a handler of the API or of a page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// signedInFunc is a handler that needs the signed-in caller.
type signedInFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// handle adapts h, answering any error it returns.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// apiAuthed answers with the error (401 for a caller not signed in) when
// the caller cannot be authenticated.
func (s *Server) apiAuthed(h signedInFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		return h(w, r, p)
	})
}

// pageAuthed sends a signed-out visitor to sign in, and back afterwards.
func (s *Server) pageAuthed(h signedInFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if keyward.IsCode(err, keyward.CodeUnauthenticated) {
			s.clearCookie(w, s.cookie.session)
			s.tellSessionEnded(w, r)
			next := s.path(r.URL.RequestURI())
			if r.Method != http.MethodGet {
				next = s.path(homeRoute)
			}
			return seeOtherURL(w, r, s.path("/signin")+"?next="+url.QueryEscape(next))
		}
		if err != nil {
			return err
		}
		return h(w, r, p)
	})
}
