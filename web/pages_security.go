package web

import (
	"net/http"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// The Security overview and the password page (the seed's "Passwords
// management").

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	now := s.requestTime()

	password := securityCard{
		Title:   "Password",
		Href:    "/settings/security/password",
		Summary: "Change the password you sign in with.",
	}
	changed, err := s.svc.Events(ctx, p.account.ID, keyward.EventQuery{Types: []audit.Type{audit.PasswordChanged}, Limit: 1})
	if err != nil {
		return err
	}
	if len(changed.Events) > 0 {
		t := newTimeView(changed.Events[0].Time, now)
		password.Status, password.When, password.StatusEnd = "Last changed", &t, "."
	} else {
		t := newTimeView(p.account.CreatedAt, now)
		password.Status, password.When, password.StatusEnd = "Set when the account was created,", &t, "."
	}

	twoFactor := securityCard{
		Title:   "Two-factor authentication",
		Href:    "/settings/security/two-factor",
		Summary: "Ask for a code from your phone as well as your password.",
	}
	st, err := s.svc.TwoFactor(ctx, p.account)
	if err != nil {
		return err
	}
	if st.Enabled {
		left, low := backupCodesLeft(st.BackupCodesRemaining)
		twoFactor.Status, twoFactor.Warning = "On. "+left, low
		if low {
			// Where the codes are regenerated: the app's section, or the
			// passkeys' when the account has no app.
			twoFactor.FixHref, twoFactor.FixText = "/settings/security/two-factor#passkey-codes", "Generate new codes"
			if st.TOTP {
				twoFactor.FixHref = "/settings/security/two-factor#backup-codes-section"
			}
		}
	} else {
		twoFactor.Status, twoFactor.Warning = "Off. Turn it on to protect your account even if your password leaks.", true
	}

	sessions := securityCard{
		Title:   "Sessions",
		Href:    "/settings/security/sessions",
		Summary: "See where you are signed in, and sign out devices you do not recognise.",
	}
	list, err := s.svc.Sessions(ctx, p.account.ID)
	if err != nil {
		return err
	}
	if n := len(list); n <= 1 {
		sessions.Status = "Signed in on this device only."
	} else {
		sessions.Status = plural(n, "active session", "active sessions") + ", including this device."
	}

	auditCard := securityCard{
		Title:   "Audit log",
		Href:    "/settings/security/audit",
		Summary: "Every sign-in and security change on your account.",
	}
	latest, err := s.svc.Events(ctx, p.account.ID, keyward.EventQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(latest.Events) > 0 {
		e := &latest.Events[0]
		t := newTimeView(e.Time, now)
		auditCard.Status, auditCard.When, auditCard.StatusEnd = "Latest event", &t, ": "+audit.Describe(e)+"."
		auditCard.Warning = e.Outcome == audit.Failure
	} else {
		auditCard.Status = "No events yet."
	}

	notes, err := s.svc.Notifications(ctx, p.session)
	if err != nil {
		return err
	}
	v := securityView{
		layout:        layoutFor(p, "Security", sectionOverview),
		Cards:         []securityCard{password, twoFactor, sessions, auditCard},
		EmailVerified: p.account.EmailVerified(),
		NewDeviceMail: notes.NewDeviceSignIn,
	}
	return s.renderPage(w, r, http.StatusOK, "security.html", &v)
}

func newPasswordView(p *principal) passwordView {
	l := layoutFor(p, "Password", sectionPassword)
	l.Scripts = []string{passwordMeterJS}
	return passwordView{layout: l, SignOutOthers: true}
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v := newPasswordView(p)
	return s.renderPage(w, r, http.StatusOK, "password.html", &v)
}

func (s *Server) passwordSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	f := r.PostForm
	current, next, confirm := f.Get("current_password"), f.Get("new_password"), f.Get("new_password_confirmation")
	// An unticked checkbox sends nothing.
	signOut := f.Get("sign_out_other_sessions") != ""
	v := newPasswordView(p)
	v.SignOutOthers = signOut
	const page = "password.html"
	var errs []fieldErr
	if current == "" {
		errs = append(errs, fieldErr{"current_password", "Enter your current password."})
	}
	if next == "" {
		errs = append(errs, fieldErr{"new_password", "Enter a new password."})
	}
	if next != confirm {
		errs = append(errs, fieldErr{"new_password_confirmation", "The new passwords do not match. Nothing was changed."})
	}
	if len(errs) > 0 {
		return s.rerenderFields(w, r, page, &v, errs)
	}
	n, err := s.svc.ChangePassword(r.Context(), p.session, current, next, signOut, s.client(r))
	if err != nil {
		field := "new_password"
		if keyward.IsCode(err, keyward.CodeInvalidCurrentPass) {
			field = "current_password"
		}
		return s.rerender(w, r, page, &v, err, field)
	}
	s.setFlash(w, flashOK, passwordChangedFlash(n, signOut))
	return s.seeOther(w, r, "/settings/security/password")
}
