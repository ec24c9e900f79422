package web

import (
	"net/http"

	keyward "github.com/keyward/keyward"
)

// The pages of mailed links: forgot password and reset.

func (s *Server) forgotPasswordPage(w http.ResponseWriter, r *http.Request) error {
	v := forgotPasswordView{layout: layout{Title: "Reset your password"}}
	return s.renderPage(w, r, http.StatusOK, "forgot_password.html", &v)
}

func (s *Server) forgotPasswordSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	email := r.PostForm.Get("email")
	v := forgotPasswordView{layout: layout{Title: "Reset your password"}, EmailValue: email}
	const page = "forgot_password.html"
	if email == "" {
		return s.rerender(w, r, page, &v, invalid("Enter the email address of your account."), "email")
	}
	if err := s.svc.ForgotPassword(r.Context(), email, s.client(r)); err != nil {
		return s.rerender(w, r, page, &v, err, "email")
	}
	// The same page whether or not the email has an account.
	v.Sent = true
	return s.renderPage(w, r, http.StatusOK, page, &v)
}

func (s *Server) newResetView(token string) resetPasswordView {
	return resetPasswordView{layout: layout{Title: "Choose a new password", Scripts: []string{passwordMeterJS}}, Token: token}
}

func (s *Server) resetPasswordPage(w http.ResponseWriter, r *http.Request) error {
	v := s.newResetView(r.URL.Query().Get("token"))
	email, needsCode, err := s.svc.ResetLink(r.Context(), v.Token, s.client(r))
	if keyward.IsCode(err, keyward.CodeInvalidToken) {
		v.Dead = true
		v.Error = keyward.ErrorMessage(err)
		return s.renderPage(w, r, http.StatusBadRequest, "reset_password.html", &v)
	}
	if err != nil {
		return err
	}
	v.NeedsCode, v.Account = needsCode, email
	return s.renderPage(w, r, http.StatusOK, "reset_password.html", &v)
}

func (s *Server) resetPasswordSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	f := r.PostForm
	v := s.newResetView(f.Get("token"))
	v.NeedsCode = f.Get("needs_code") == "1"
	v.Account = f.Get("username") // the page's own hidden field, for the form shown again
	const page = "reset_password.html"
	pw, confirm, code := f.Get("new_password"), f.Get("new_password_confirmation"), f.Get("code")
	switch {
	case pw == "":
		return s.rerender(w, r, page, &v, invalid("Choose a new password."), "new_password")
	case pw != confirm:
		return s.rerender(w, r, page, &v, invalid("The passwords do not match. Type the same password twice."), "new_password_confirmation")
	}
	_, err := s.svc.ResetPassword(r.Context(), v.Token, pw, code, s.client(r))
	switch {
	case keyward.IsCode(err, keyward.CodeInvalidToken):
		v.Dead = true
		return s.rerender(w, r, page, &v, err, "")
	case keyward.IsCode(err, keyward.CodeMFARequired):
		v.NeedsCode = true
		return s.rerender(w, r, page, &v, err, "code")
	case keyward.IsCode(err, keyward.CodeInvalidCode), keyward.IsCode(err, keyward.CodeTooManyAttempts):
		return s.rerender(w, r, page, &v, err, "code")
	case err != nil:
		return s.rerender(w, r, page, &v, err, "new_password")
	}
	// Every session ended, this browser's too.
	s.clearCookie(w, s.cookie.session)
	s.clearCookie(w, s.cookie.sessionRef)
	s.setFlash(w, flashOK, "Your password is reset and every session is signed out. Sign in with your new password.")
	return s.seeOther(w, r, "/signin")
}

// verifyEmailPage asks for one press before the link acts: mail scanners
// and link previews open links, and must not confirm anything.
func (s *Server) verifyEmailPage(w http.ResponseWriter, r *http.Request) error {
	v := linkView{layout: layout{Title: "Confirm your email address"}, Token: r.URL.Query().Get("token")}
	return s.renderPage(w, r, http.StatusOK, "verify_email.html", &v)
}

func (s *Server) verifyEmailSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	v := linkView{layout: layout{Title: "Confirm your email address"}, Token: r.PostForm.Get("token")}
	a, err := s.svc.VerifyEmail(r.Context(), v.Token, s.client(r))
	if err != nil {
		v.Dead = keyward.IsCode(err, keyward.CodeInvalidToken)
		return s.rerender(w, r, "verify_email.html", &v, err, "")
	}
	s.setFlash(w, flashOK, "Your email address "+a.Email+" is confirmed.")
	if s.signedIn(r) {
		return s.seeOther(w, r, "/settings/security")
	}
	return s.seeOther(w, r, "/signin")
}

// lockdownPage asks for one press before the link acts (see verifyEmailPage).
func (s *Server) lockdownPage(w http.ResponseWriter, r *http.Request) error {
	v := linkView{layout: layout{Title: "This wasn't me"}, Token: r.URL.Query().Get("token")}
	return s.renderPage(w, r, http.StatusOK, "lockdown.html", &v)
}

func (s *Server) lockdownSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	v := linkView{layout: layout{Title: "This wasn't me"}, Token: r.PostForm.Get("token")}
	if _, err := s.svc.Lockdown(r.Context(), v.Token, s.client(r)); err != nil {
		v.Dead = keyward.IsCode(err, keyward.CodeInvalidToken)
		return s.rerender(w, r, "lockdown.html", &v, err, "")
	}
	s.clearCookie(w, s.cookie.session)
	s.clearCookie(w, s.cookie.sessionRef)
	v.Done = true
	return s.renderPage(w, r, http.StatusOK, "lockdown.html", &v)
}

func (s *Server) resendVerificationSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	err := s.svc.ResendVerification(r.Context(), p.session, s.client(r))
	switch {
	case err == nil:
		s.setFlash(w, flashOK, "A new link is on its way to "+p.account.Email+".")
	case keyward.IsCode(err, keyward.CodeAlreadyVerified), keyward.IsCode(err, keyward.CodeTooManyAttempts):
		s.setFlash(w, flashWarning, keyward.ErrorMessage(err))
	default:
		return err
	}
	return s.seeOther(w, r, "/settings/security")
}

func (s *Server) notificationsSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	on := r.PostForm.Get("new_device_signin") == "on"
	if err := s.svc.SetNotifications(r.Context(), p.session, keyward.Notifications{NewDeviceSignIn: on}, s.client(r)); err != nil {
		return err
	}
	s.setFlash(w, flashOK, "Your mail settings are saved.")
	return s.seeOther(w, r, "/settings/security")
}

// emailPath is the page to move the account to another address: a
// sensitive action, so the page itself asks for the sudo window first
// (what is typed into it then is never lost to the detour).
const emailPath = "/settings/security/email"

func (s *Server) emailPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	switch ok, err := s.inSudo(r, p); {
	case err != nil:
		return err
	case !ok:
		return s.askSudo(w, r, emailPath)
	}
	v := emailView{layout: layoutFor(p, "Email address", sectionOverview)}
	return s.renderPage(w, r, http.StatusOK, "email.html", &v)
}

func (s *Server) emailSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	f := r.PostForm
	v := emailView{layout: layoutFor(p, "Email address", sectionOverview), NewEmailValue: f.Get("new_email")}
	const page = "email.html"
	if v.NewEmailValue == "" {
		return s.rerender(w, r, page, &v, invalid("Enter the new email address."), "new_email")
	}
	err := s.svc.RequestEmailChange(r.Context(), p.session, v.NewEmailValue, "", s.client(r))
	if keyward.NeedsSudo(err) {
		return s.askSudo(w, r, emailPath)
	}
	if err != nil {
		return s.rerender(w, r, page, &v, err, "new_email")
	}
	s.setFlash(w, flashOK, "We mailed a link to "+v.NewEmailValue+". Your address changes when you open it.")
	return s.seeOther(w, r, "/settings/security")
}
