package web

import (
	"net/http"
	"net/url"

	keyward "github.com/keyward/keyward"
)

// The signed-out pages: home, sign-up, sign-in with its second step, and
// signing out.

const passwordMeterJS = "/static/password-meter.js"

// home sends a visitor to their settings, or to sign in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	if s.signedIn(r) {
		return s.seeOther(w, r, homeRoute)
	}
	return s.seeOther(w, r, "/signin")
}

// signedIn reports whether the request carries a working session. A store
// failure counts as signed out here: the page that needs the session will
// report it.
func (s *Server) signedIn(r *http.Request) bool {
	if _, err := r.Cookie(s.cookie.session); err != nil {
		return false
	}
	p, err := s.authenticate(r)
	return err == nil && p != nil
}

// startSession hands the browser its session cookie, and the device
// cookie that lets its next sign-ins to the account past the per-email
// throttle. Signing out leaves the device cookie: it marks the browser, not
// the session.
func (s *Server) startSession(w http.ResponseWriter, res *keyward.SignInResult) {
	s.setCookie(w, s.cookie.session, res.Token, res.Session.ExpiresAt)
	s.setCookie(w, s.cookie.sessionRef, res.Session.AccountID+"."+res.Session.ID, res.Session.ExpiresAt)
	if res.DeviceToken != "" {
		life := s.svc.Config().DeviceTokenLifetime
		c := s.newCookie(s.cookie.device, res.DeviceToken)
		c.MaxAge, c.Expires = int(life.Seconds()), s.requestTime().Add(life)
		http.SetCookie(w, c)
	}
}

func (s *Server) newSignupView(next string) signupView {
	return signupView{
		layout:     layout{Title: "Create your account", Scripts: []string{passwordMeterJS}},
		Disabled:   !s.svc.Config().SignupEnabled,
		Next:       next,
		SigninHref: s.withNext("/signin", next),
	}
}

func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) error {
	next := s.next(r.URL.Query().Get("next"))
	if s.signedIn(r) {
		return seeOtherURL(w, r, next)
	}
	v := s.newSignupView(next)
	return s.renderPage(w, r, http.StatusOK, "signup.html", &v)
}

func (s *Server) signupSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	email, pw, confirm := r.PostForm.Get("email"), r.PostForm.Get("password"), r.PostForm.Get("password_confirmation")
	next := s.next(r.PostForm.Get("next"))
	v := s.newSignupView(next)
	v.EmailValue = email
	const page = "signup.html"
	if v.Disabled {
		return s.rerender(w, r, page, &v, keyward.Errorf(keyward.CodeSignupDisabled, "Sign-up is turned off here. Ask the operator for an account."), "")
	}
	// Every mistake at once, each next to its field.
	var errs []fieldErr
	if email == "" {
		errs = append(errs, fieldErr{"email", "Enter your email address."})
	}
	if pw == "" {
		errs = append(errs, fieldErr{"password", "Choose a password."})
	}
	if pw != confirm {
		errs = append(errs, fieldErr{"password_confirmation", "The passwords do not match. Type the same password twice."})
	}
	if len(errs) > 0 {
		return s.rerenderFields(w, r, page, &v, errs)
	}
	res, err := s.svc.SignUpAndSignIn(r.Context(), email, pw, s.client(r))
	if keyward.IsCode(err, keyward.CodeEmailNotVerified) {
		// The account exists; the session waits for the mailed link.
		s.setFlash(w, flashOK, keyward.ErrorMessage(err))
		return seeOtherURL(w, r, s.withNext(s.path("/signin"), next))
	}
	if err != nil {
		field := "password"
		if keyward.IsCode(err, keyward.CodeInvalidEmail) || keyward.IsCode(err, keyward.CodeEmailTaken) {
			field = "email"
		}
		if keyward.IsCode(err, keyward.CodeSignupDisabled) {
			v.Disabled = true // turned off since the form was shown
		}
		return s.rerender(w, r, page, &v, err, field)
	}
	s.startSession(w, res)
	s.setFlash(w, flashOK, "Your account is ready. Welcome to keyward.")
	return seeOtherURL(w, r, next)
}

func (s *Server) newSigninView(email, next string) signinView {
	v := signinView{
		layout:     layout{Title: "Sign in"},
		EmailValue: email,
		Next:       next,
		CanSignUp:  s.svc.Config().SignupEnabled,
		SignupHref: s.withNext("/signup", next),
		Passkeys:   s.svc.PasskeysOff() == "",
	}
	if v.Passkeys {
		v.Scripts = []string{passkeyJS}
	}
	return v
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) error {
	next := s.next(r.URL.Query().Get("next"))
	// again: an application asked for a fresh or stronger sign-in (OpenID
	// Connect's prompt=login, max_age, acr_values), so a person signed in
	// already signs in once more.
	if s.signedIn(r) && r.URL.Query().Get("again") != "1" {
		return seeOtherURL(w, r, next)
	}
	email := r.URL.Query().Get("email") // a login_hint, or the signed-in person's
	if len(email) > 320 {
		email = ""
	}
	v := s.newSigninView(email, next)
	return s.renderPage(w, r, http.StatusOK, "signin.html", &v)
}

func (s *Server) signinSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	email, pw := r.PostForm.Get("email"), r.PostForm.Get("password")
	next := s.next(r.PostForm.Get("next"))
	v := s.newSigninView(email, next)
	const page = "signin.html"
	var errs []fieldErr
	if email == "" {
		errs = append(errs, fieldErr{"email", "Enter your email address."})
	}
	if pw == "" {
		errs = append(errs, fieldErr{"password", "Enter your password."})
	}
	if len(errs) > 0 {
		return s.rerenderFields(w, r, page, &v, errs)
	}
	c := s.client(r)
	if dc, err := r.Cookie(s.cookie.device); err == nil {
		c.DeviceToken = dc.Value
	}
	res, err := s.svc.SignIn(r.Context(), email, pw, c)
	if err != nil {
		return s.rerender(w, r, page, &v, err, "password")
	}
	if res.MFARequired() {
		// The mfa token travels only in its cookie, never in a URL.
		s.setCookie(w, s.cookie.mfa, res.MFAToken, s.requestTime().Add(s.svc.Config().MFATokenTTL))
		q := url.Values{"next": {next}}
		if res.TOTPSuspended {
			q.Set("method", "backup")
			s.setFlash(w, flashWarning, totpSuspendedFlash)
		}
		return s.seeOther(w, r, "/signin/2fa?"+q.Encode())
	}
	s.startSession(w, res)
	return seeOtherURL(w, r, next)
}

// mfaExpired sends the person back to the password step with the reason.
func (s *Server) mfaExpired(w http.ResponseWriter, r *http.Request, next, msg string) error {
	s.clearCookie(w, s.cookie.mfa)
	s.setFlash(w, flashError, msg)
	return seeOtherURL(w, r, s.withNext(s.path("/signin"), next))
}

const mfaMissing = "Your sign-in has expired. Sign in again with your password."

const totpSuspendedFlash = "Codes from your authenticator app are turned off for this account after too many wrong codes. Sign in with one of your backup codes."

func (s *Server) signinMFAPage(w http.ResponseWriter, r *http.Request) error {
	next := s.next(r.URL.Query().Get("next"))
	c, err := r.Cookie(s.cookie.mfa)
	if err != nil || c.Value == "" {
		if s.signedIn(r) {
			return seeOtherURL(w, r, next)
		}
		return s.mfaExpired(w, r, next, mfaMissing)
	}
	methods, err := s.svc.SecondStepMethods(r.Context(), c.Value)
	if keyward.IsCode(err, keyward.CodeMFATokenExpired) {
		return s.mfaExpired(w, r, next, keyward.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	v := newSigninMFAView(next, methods, r.URL.Query().Get("method") == "backup")
	return s.renderPage(w, r, http.StatusOK, "signin_2fa.html", &v)
}

func (s *Server) signinMFASubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	next := s.next(r.PostForm.Get("next"))
	c, err := r.Cookie(s.cookie.mfa)
	if err != nil || c.Value == "" {
		return s.mfaExpired(w, r, next, mfaMissing)
	}
	methods, err := s.svc.SecondStepMethods(r.Context(), c.Value)
	if keyward.IsCode(err, keyward.CodeMFATokenExpired) {
		return s.mfaExpired(w, r, next, keyward.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	v := newSigninMFAView(next, methods, r.PostForm.Get("method") == "backup")
	const page = "signin_2fa.html"
	code := r.PostForm.Get("code")
	if code == "" {
		msg := "Enter the 6-digit code from your authenticator app."
		if v.Backup {
			msg = "Enter one of your backup codes."
		}
		return s.rerender(w, r, page, &v, invalid(msg), "code")
	}
	cl := s.client(r)
	if dc, err := r.Cookie(s.cookie.device); err == nil {
		cl.DeviceToken = dc.Value // a known device is not news to its owner
	}
	res, err := s.svc.CompleteSignIn(r.Context(), c.Value, code, cl)
	if keyward.IsCode(err, keyward.CodeMFATokenExpired) {
		return s.mfaExpired(w, r, next, keyward.ErrorMessage(err))
	}
	if err != nil {
		return s.rerender(w, r, page, &v, err, "code")
	}
	s.clearCookie(w, s.cookie.mfa)
	s.startSession(w, res)
	if res.UsedBackupCode {
		text, kind := backupCodeFlash(res.BackupCodesRemaining)
		s.setFlash(w, kind, text)
	}
	return seeOtherURL(w, r, next)
}

func (s *Server) signoutSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SignOut(r.Context(), p.session, s.client(r)); err != nil {
		return err
	}
	s.clearCookie(w, s.cookie.session)
	s.clearCookie(w, s.cookie.sessionRef)
	s.clearCookie(w, s.cookie.codes)
	s.setFlash(w, flashOK, "You are signed out.")
	return s.seeOther(w, r, "/signin")
}

func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request) error {
	return keyward.Errorf(keyward.CodeNotFound, "There is nothing at this address. Check the link, or go back to your security settings.")
}
