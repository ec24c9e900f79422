package web

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
)

// OpenIDProvider is the OpenID Connect provider the web layer mounts (the
// openid package's Provider). It serves discovery and every endpoint under
// /oauth/; the sign-in and consent in between are keyward's own pages here.
type OpenIDProvider interface {
	http.Handler
	// WithSession hands the browser's session to the end_session endpoint.
	WithSession(ctx context.Context, sess *keyward.Session, c keyward.Client) context.Context
}

// The pages of an authorization request. The provider sends the browser to
// oidcContinuePath with the stored request's id.
const (
	oidcContinuePath = "/authorize/continue"
	oidcConsentPath  = "/authorize/consent"
	oidcCallbackPath = "/oauth/authorize/callback"
	oidcEndPath      = "/oauth/end_session"
)

// OIDCLoginPath is where the provider sends a browser with a stored
// request's id, under basePath.
func OIDCLoginPath(basePath, requestID string) string {
	return basePath + oidcContinuePath + "?id=" + url.QueryEscape(requestID)
}

// scopeWords say what each scope lets an application have, for the
// consent page.
var scopeWords = map[string]string{
	"openid":         "Know who you are when you sign in",
	"email":          "See your email address",
	"profile":        "See your user name",
	"offline_access": "Stay signed in while you are away, until you sign out of this device",
}

// consentView is the consent page of a third-party application.
type consentView struct {
	layout
	Product   string
	Client    string
	Scopes    []string // in words
	RequestID string
}

// oidcReturnView is the page that hands the browser back to the
// application.
type oidcReturnView struct {
	layout
	Client string
	Href   string
}

// handBack sends the browser on to the provider's callback, which
// redirects it to the application with the code. Not by a redirect: after
// a form (sign-in, consent) a browser holds every redirect of the
// navigation to the form page's form-action, which names keyward alone; a
// Refresh starts a navigation of its own. The page's link is for a browser
// that does not follow Refresh.
func (s *Server) handBack(w http.ResponseWriter, r *http.Request, p *principal, req *keyward.OIDCAuthRequest, c *keyward.OIDCClient) error {
	href := s.path(oidcCallbackPath) + "?id=" + url.QueryEscape(req.ID)
	w.Header().Set("Refresh", "0;url="+href)
	v := oidcReturnView{layout: layoutFor(p, "Signed in", ""), Client: c.Name, Href: href}
	return s.renderPage(w, r, http.StatusOK, "oidc_return.html", &v)
}

// oidcRequest reads the request the page is about and its client.
func (s *Server) oidcRequest(ctx context.Context, id string) (*keyward.OIDCAuthRequest, *keyward.OIDCClient, error) {
	req, err := s.svc.OIDCAuthRequest(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.svc.OIDCClient(ctx, req.ClientID)
	if keyward.IsCode(err, keyward.CodeNotFound) {
		return nil, nil, keyward.Errorf(keyward.CodeNotFound, "The application that sent you here is no longer registered.")
	}
	return req, c, err
}

// oidcErrorRedirect sends the browser back to the client with an OAuth
// error. The redirect URI is the request's, which the provider matched
// exactly against the client's registered ones.
func oidcErrorRedirect(w http.ResponseWriter, r *http.Request, req *keyward.OIDCAuthRequest, issuer, code, desc string) error {
	u, err := url.Parse(req.Params.RedirectURI)
	if err != nil {
		return keyward.Internal(err)
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if req.Params.State != "" {
		q.Set("state", req.Params.State)
	}
	q.Set("iss", issuer)
	u.RawQuery = q.Encode()
	// A Refresh rather than a redirect, as handBack: this may answer a
	// form, whose redirects a browser holds to keyward's form-action.
	href := u.String()
	w.Header().Set("Refresh", "0;url="+href)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>Back to the application</title>` +
		`<p><a href="` + template.HTMLEscapeString(href) + `">Back to the application</a></p>`))
	return err
}

// issuer is the provider's issuer: the public URL with the base path.
func (s *Server) issuer() string {
	if s.cfg.PublicURL == nil {
		return ""
	}
	return s.cfg.PublicURL.Scheme + "://" + s.cfg.PublicURL.Host + s.base
}

// sessionMeets reports whether the signed-in session p is good enough for
// req: fresh enough for prompt=login and max_age, and with a second factor
// when acr_values asks for aal2. It says so about the session only;
// whether the account could sign in with a second factor at all is the
// caller's question.
func (s *Server) sessionMeets(p *principal, req *keyward.OIDCAuthRequest) (fresh, strong bool) {
	fresh, strong = true, true
	// A sign-in made for this very request is fresh whatever max_age says:
	// prompt=login comes with max_age=0 (the library sets it), and a
	// session is always some milliseconds old by the time it comes back
	// here, which sent the browser back to the sign-in page forever.
	signedInForThis := !p.session.CreatedAt.Before(req.CreatedAt)
	if slices.Contains(req.Params.Prompt, "login") && !signedInForThis {
		fresh = false
	}
	if m := req.Params.MaxAge; m != nil && !signedInForThis && s.svc.Now().Sub(p.session.CreatedAt) > time.Duration(*m)*time.Second {
		fresh = false
	}
	if slices.Contains(req.Params.ACRValues, "aal2") && p.session.AAL < 2 {
		strong = false
	}
	return fresh, strong
}

// oidcContinue is where an authorization request comes after the
// provider stored it, and again after each sign-in: it signs the person
// in (again, when the request asks for a fresh or stronger sign-in), asks
// for consent when the client is a third party's, and hands the request
// back to the provider.
func (s *Server) oidcContinue(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("id")
	req, c, err := s.oidcRequest(r.Context(), id)
	if err != nil {
		return err
	}
	here := s.path(oidcContinuePath) + "?id=" + url.QueryEscape(id)
	promptNone := slices.Contains(req.Params.Prompt, "none")
	p, err := s.authenticateCookie(r)
	if err != nil {
		if !keyward.IsCode(err, keyward.CodeUnauthenticated) {
			return err
		}
		if promptNone {
			return oidcErrorRedirect(w, r, req, s.issuer(), "login_required", "Nobody is signed in.")
		}
		return seeOtherURL(w, r, s.signinFor(here, req.Params.LoginHint, false))
	}
	fresh, strong := s.sessionMeets(p, req)
	if !strong && p.account.TwoFactorEnabledAt == nil {
		return oidcErrorRedirect(w, r, req, s.issuer(), "access_denied",
			"The application asks for two-factor authentication, which this account has not turned on.")
	}
	if !fresh || !strong {
		if promptNone {
			return oidcErrorRedirect(w, r, req, s.issuer(), "login_required", "A new sign-in is needed.")
		}
		return seeOtherURL(w, r, s.signinFor(here, p.account.Email, true))
	}
	need, err := s.svc.OIDCConsentNeeded(r.Context(), c, p.account.ID, req.Params.Scopes)
	if err != nil {
		return err
	}
	// prompt=consent asks again, whatever was agreed before; a first-party
	// client has no consent page.
	need = need || !c.FirstParty && slices.Contains(req.Params.Prompt, "consent")
	if need {
		if promptNone || slices.Contains(req.Params.Prompt, "none") {
			return oidcErrorRedirect(w, r, req, s.issuer(), "consent_required", "The person has not agreed yet.")
		}
		v := consentView{
			layout: layoutFor(p, "Allow "+c.Name+"?", ""), Product: s.svc.Config().ProductName,
			Client: c.Name, RequestID: req.ID,
		}
		for _, sc := range req.Params.Scopes {
			if words, ok := scopeWords[sc]; ok {
				v.Scopes = append(v.Scopes, words)
			}
		}
		return s.renderPage(w, r, http.StatusOK, "consent.html", &v)
	}
	if err := s.svc.AuthorizeOIDCRequest(r.Context(), req, c, p.session, false, s.client(r)); err != nil {
		return err
	}
	return s.handBack(w, r, p, req, c)
}

// signinFor is the sign-in page that comes back to next, with the email
// filled in; again shows the form to a person signed in already.
func (s *Server) signinFor(next, email string, again bool) string {
	q := url.Values{"next": {next}}
	if email != "" {
		q.Set("email", email)
	}
	if again {
		q.Set("again", "1")
	}
	return s.path("/signin") + "?" + q.Encode()
}

// authenticateCookie finds the browser's session from its cookie alone:
// pages of the authorization request are navigations, never API calls.
func (s *Server) authenticateCookie(r *http.Request) (*principal, error) {
	c, err := r.Cookie(s.cookie.session)
	if err != nil || c.Value == "" {
		return nil, keyward.Errorf(keyward.CodeUnauthenticated, "Sign in to continue.")
	}
	a, sess, err := s.svc.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &principal{account: a, session: sess}, nil
}

// oidcConsentSubmit records the person's answer on the consent page.
func (s *Server) oidcConsentSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	id := r.PostForm.Get("id")
	req, c, err := s.oidcRequest(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := s.authenticateCookie(r)
	if err != nil {
		return seeOtherURL(w, r, s.path(oidcContinuePath)+"?id="+url.QueryEscape(id))
	}
	if r.PostForm.Get("answer") != "allow" {
		return oidcErrorRedirect(w, r, req, s.issuer(), "access_denied", "The person did not allow the application in.")
	}
	if fresh, strong := s.sessionMeets(p, req); !fresh || !strong {
		return seeOtherURL(w, r, s.path(oidcContinuePath)+"?id="+url.QueryEscape(id))
	}
	if err := s.svc.AuthorizeOIDCRequest(r.Context(), req, c, p.session, true, s.client(r)); err != nil {
		return err
	}
	return s.handBack(w, r, p, req, c)
}

// oidcCallback lets the provider issue the code only to the browser whose
// session signed in for the request: a request's id in another browser's
// address bar gets nothing.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	req, err := s.svc.OIDCAuthRequest(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	p, err := s.authenticateCookie(r)
	if err != nil || req.SessionID == "" || p.session.ID != req.SessionID {
		return keyward.Errorf(keyward.CodeForbidden, "This sign-in request belongs to another browser. Start again from the application.")
	}
	s.cfg.OpenID.ServeHTTP(w, r)
	return nil
}

// oidcEndSession hands the browser's session, if any, to the provider's
// end_session endpoint, which signs it out (RP-initiated logout).
func (s *Server) oidcEndSession(w http.ResponseWriter, r *http.Request) {
	var sess *keyward.Session
	if p, err := s.authenticateCookie(r); err == nil {
		sess = p.session
		// The cookie goes once the provider has signed the session out
		// (it may refuse: another person's id_token_hint, a return URI
		// not registered).
		w = &beforeHeader{ResponseWriter: w, fn: func() {
			if _, err := s.authenticateCookie(r); keyward.IsCode(err, keyward.CodeUnauthenticated) {
				s.clearCookie(w, s.cookie.session)
			}
		}}
	}
	s.cfg.OpenID.ServeHTTP(w, r.WithContext(s.cfg.OpenID.WithSession(r.Context(), sess, s.client(r))))
}

// beforeHeader runs fn just before the status line is written, while
// headers can still be set.
type beforeHeader struct {
	http.ResponseWriter
	fn   func()
	done bool
}

func (w *beforeHeader) WriteHeader(code int) {
	if !w.done {
		w.done = true
		w.fn()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *beforeHeader) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *beforeHeader) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// oidcAuthorize serves the provider's authorization endpoint, with
// keyward's error page in place of the library's plain-text one when the
// browser cannot be sent back to the client (an unknown client, a redirect
// URI not registered, a request_uri).
func (s *Server) oidcAuthorize(w http.ResponseWriter, r *http.Request) {
	rec := &plainErrorCatcher{ResponseWriter: w}
	s.cfg.OpenID.ServeHTTP(rec, r)
	if rec.caught {
		msg := strings.TrimSpace(rec.body.String())
		if len(msg) > 300 || msg == "" {
			msg = "This sign-in request cannot be answered. Start again from the application."
		}
		s.renderErrorPage(w, r, rec.status, msg)
	}
}

// plainErrorCatcher holds back a plain-text error answer (status 400 and
// up) for the caller to answer instead; anything else passes through.
type plainErrorCatcher struct {
	http.ResponseWriter
	status int
	caught bool
	passed bool
	body   bytes.Buffer
}

func (c *plainErrorCatcher) WriteHeader(status int) {
	if !c.caught && !c.passed {
		if status >= 400 && strings.HasPrefix(c.Header().Get("Content-Type"), "text/plain") {
			c.caught, c.status = true, status
			c.Header().Del("Content-Type")
			return
		}
		c.passed = true
	}
	if c.passed {
		c.ResponseWriter.WriteHeader(status)
	}
}

func (c *plainErrorCatcher) Write(b []byte) (int, error) {
	if !c.caught && !c.passed {
		c.WriteHeader(http.StatusOK)
	}
	if c.caught {
		if c.body.Len() < 4096 {
			c.body.Write(b)
		}
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

func (c *plainErrorCatcher) Unwrap() http.ResponseWriter { return c.ResponseWriter }
