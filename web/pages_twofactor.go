package web

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/totp"
)

// The two-factor page follows the seed's steps: install an app, add
// keyward to it (QR code or the key by hand), enter a code; then shows the
// backup codes once, and, while on, lets the person generate new codes or
// turn it off.

const twoFactorPath = "/settings/security/two-factor"

// Every action of the page is a sensitive one: outside the session's sudo
// window it sends the person to the sudo page (askSudo), which comes back
// here. None has a password field of its own.

func (s *Server) newTwoFactorView(p *principal, st *keyward.TwoFactorStatus, setup *keyward.TOTPSetup, now time.Time, sudoNeeded bool) twoFactorView {
	l := layoutFor(p, "Two-factor authentication", sectionTwoFactor)
	l.Scripts = []string{"/static/copy.js", "/static/print.js", passkeyJS}
	v := twoFactorView{layout: l, Enabled: st.TOTP, TwoFactorOn: st.Enabled, SudoNeeded: sudoNeeded}
	if st.TOTP {
		if st.TOTPEnabledAt != nil {
			v.EnabledOn = newTimeView(*st.TOTPEnabledAt, now)
		}
		v.CodesLeft, v.CodesLow = backupCodesLeft(st.BackupCodesRemaining)
		return v
	}
	if ps := setup; ps != nil {
		v.Setup = &setupView{
			QR:         template.URL(pngDataURL(ps.QRPNG)),
			GroupedKey: totp.GroupKey(ps.Secret),
			Account:    ps.Account,
			Issuer:     ps.Issuer,
			Type:       "Time-based",
			Algorithm:  "SHA-1",
			Digits:     totp.Digits,
			Period:     strconv.Itoa(int(totp.Period/time.Second)) + " seconds",
			Expires:    newTimeView(ps.ExpiresAt, now),
		}
	}
	return v
}

// sessionsEndedByTurningOn is how many of p's other sessions turning
// two-factor authentication on would end: all of them while it is off.
func (s *Server) sessionsEndedByTurningOn(r *http.Request, p *principal) (int, error) {
	if p.account.TwoFactorEnabled() {
		return 0, nil
	}
	list, err := s.svc.Sessions(r.Context(), p.account.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range list {
		if x.ID != p.session.ID {
			n++
		}
	}
	return n, nil
}

// showTwoFactor renders the page in its current state, with err's message
// about field when err is set.
func (s *Server) showTwoFactor(w http.ResponseWriter, r *http.Request, p *principal, err error, field string) error {
	if err != nil && !formError(err) {
		return err // for the error page: no need to load the state
	}
	st, serr := s.svc.TwoFactor(r.Context(), p.account)
	if serr != nil {
		return serr
	}
	var setup *keyward.TOTPSetup
	if !st.TOTP {
		if setup, serr = s.svc.PendingSetup(r.Context(), p.account, p.session); serr != nil {
			return serr
		}
	}
	inSudo, serr := s.inSudo(r, p)
	if serr != nil {
		return serr
	}
	v := s.newTwoFactorView(p, st, setup, s.requestTime(), !inSudo)
	if v.Passkeys, serr = s.passkeysSection(r, p, st); serr != nil {
		return serr
	}
	if !st.Enabled {
		// Said before the step that turns it on: the app's, or a first passkey.
		if v.OthersEnding, serr = s.sessionsEndedByTurningOn(r, p); serr != nil {
			return serr
		}
	}
	if err != nil {
		return s.rerender(w, r, "two_factor.html", &v, err, field)
	}
	return s.renderPage(w, r, http.StatusOK, "two_factor.html", &v)
}

// showTwoFactorConfirming renders the page asking the person to confirm
// removing the passkey id, the account's last second factor.
func (s *Server) showTwoFactorConfirming(w http.ResponseWriter, r *http.Request, p *principal, id string) error {
	st, err := s.svc.TwoFactor(r.Context(), p.account)
	if err != nil {
		return err
	}
	inSudo, err := s.inSudo(r, p)
	if err != nil {
		return err
	}
	v := s.newTwoFactorView(p, st, nil, s.requestTime(), !inSudo)
	if v.Passkeys, err = s.passkeysSection(r, p, st); err != nil {
		return err
	}
	for i := range v.Passkeys.List {
		if v.Passkeys.List[i].ID == id {
			v.Passkeys.Confirm = &v.Passkeys.List[i]
		}
	}
	return s.renderPage(w, r, http.StatusOK, "two_factor.html", &v)
}

// showBackupCodes renders a new set of codes. The page can be reloaded
// while their window lasts (codesonscreen.go); "I have saved them" ends it.
func (s *Server) showBackupCodes(w http.ResponseWriter, r *http.Request, p *principal, c codesOnScreen) error {
	now := s.requestTime()
	l := layoutFor(p, "Your backup codes", sectionTwoFactor)
	l.Scripts = []string{"/static/copy.js", "/static/print.js", "/static/codes.js"}
	if c.Note != "" {
		l.Flash, l.FlashKind = c.Note, flashOK
	}
	issuer := s.svc.Config().Issuer
	file := backupCodesFile(issuer, p.account.Email, c.Codes, now)
	v := twoFactorView{
		layout:  l,
		Enabled: true,
		BackupCodes: &backupCodesView{
			Heading:  c.Heading,
			For:      issuer + " backup codes for " + p.account.Email + ", " + now.Format("2 January 2006"),
			Codes:    c.Codes,
			Download: textDataURL(file),
		},
	}
	// Rendered without taking a pending flash: the page shows its own
	// note, and a flash waits for the next page.
	s.render(w, r, http.StatusOK, "two_factor.html", &v)
	return nil
}

// newCodesShown keeps new codes on screen for p's session and sends the
// browser to see them: a GET it can reload, never a POST it would send
// again (and so make another set).
func (s *Server) newCodesShown(w http.ResponseWriter, r *http.Request, p *principal, c codesOnScreen) error {
	if err := s.keepCodesOnScreen(w, r, p, c); err != nil {
		return err
	}
	return s.seeOther(w, r, twoFactorPath)
}

func (s *Server) backupCodesSavedSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	s.clearCookie(w, s.cookie.codes)
	s.setFlash(w, flashOK, "Your backup codes are saved. Each works once; when you run low, generate new ones here.")
	return s.seeOther(w, r, twoFactorPath)
}

func (s *Server) twoFactorPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	// Codes of a two-factor authentication turned off since mean nothing.
	if c, ok := s.codesStillOnScreen(w, r, p); ok && p.account.TwoFactorEnabled() {
		return s.showBackupCodes(w, r, p, c)
	}
	return s.showTwoFactor(w, r, p, nil, "")
}

func (s *Server) twoFactorSetupSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	if _, err := s.svc.BeginTOTPSetup(r.Context(), p.session, "", s.client(r)); err != nil {
		if keyward.NeedsSudo(err) {
			return s.askSudo(w, r, twoFactorPath)
		}
		return s.showTwoFactor(w, r, p, err, "")
	}
	return s.seeOther(w, r, twoFactorPath+"#step-2")
}

func (s *Server) twoFactorEnableSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	code := r.PostForm.Get("code")
	if code == "" {
		return s.showTwoFactor(w, r, p, invalid("Enter the 6-digit code your authenticator app shows."), "code")
	}
	// Turning two-factor on ends the other sessions (the service's rule),
	// unless a passkey already had it on: counted first, to say so after.
	others, err := s.sessionsEndedByTurningOn(r, p)
	if err != nil {
		return err
	}
	codes, err := s.svc.EnableTOTP(r.Context(), p.session, code, s.client(r))
	if keyward.NeedsSudo(err) {
		// The code was neither counted nor used: it still works on return.
		return s.askSudo(w, r, twoFactorPath)
	}
	if err != nil {
		return s.showTwoFactor(w, r, p, enableError(err), "code")
	}
	return s.newCodesShown(w, r, p, codesOnScreen{Heading: "Two-factor authentication is on", Note: turnedOnNote(others), Codes: codes})
}

func (s *Server) backupCodesSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	codes, err := s.svc.RegenerateBackupCodes(r.Context(), p.session, "", s.client(r))
	if keyward.NeedsSudo(err) {
		return s.askSudo(w, r, twoFactorPath)
	}
	if err != nil {
		return s.showTwoFactor(w, r, p, err, "")
	}
	return s.newCodesShown(w, r, p, codesOnScreen{Heading: "Your new backup codes", Codes: codes})
}

func (s *Server) twoFactorDisableSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	err := s.svc.DisableTOTP(r.Context(), p.session, "", s.client(r))
	if keyward.NeedsSudo(err) {
		return s.askSudo(w, r, twoFactorPath)
	}
	if err != nil {
		return s.showTwoFactor(w, r, p, err, "")
	}
	s.clearCookie(w, s.cookie.codes)
	s.setFlash(w, flashOK, "Two-factor authentication is off. Signing in now needs only your password.")
	return s.seeOther(w, r, twoFactorPath)
}
