package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	keyward "github.com/keyward/keyward"
)

// Passkeys on the pages: the "Passkeys and security keys" section of the
// two-factor page (templates/_passkeys.html), "Sign in with a passkey" on
// the sign-in page, "Use a passkey" at the second step. The ceremonies
// need JavaScript (static/passkey.js): the script asks for the options,
// lets the browser make or use the passkey, and sends its answer with an
// ordinary form post, so that the server sets cookies and shows results
// as for every other form. Without it the rest of each page works.

const passkeyJS = "/static/passkey.js"

// passkeysView is the passkeys section of the two-factor page.
type passkeysView struct {
	Off  string // why passkeys are off ("" when they are on)
	List []passkeyRow
	Full bool // the account has as many as it may
	// Confirm is the passkey whose removal waits for the person to
	// confirm that two-factor authentication goes with it.
	Confirm *passkeyRow
	// Codes is set when two-factor is on without the authenticator app:
	// the backup codes are managed here, since the app's section is not.
	Codes *codesView
	// SudoHref is where the script sends the person to confirm it is
	// them before adding a passkey, and back.
	SudoHref string
}

// passkeyRow is one passkey as the list shows it.
type passkeyRow struct {
	ID       string
	Name     string
	Kind     string // "Synced passkey", "Passkey on this device or a security key"
	Created  timeView
	LastUsed *timeView
	// Last: it is the account's only second factor.
	Last bool
}

// codesView is the backup codes' state, where the passkeys section shows it.
type codesView struct {
	Left string
	Low  bool
}

func passkeyRowOf(p *keyward.Passkey, last bool, now time.Time) passkeyRow {
	row := passkeyRow{ID: p.ID, Name: p.Name, Created: newTimeView(p.CreatedAt, now), Last: last}
	row.Kind = "Passkey kept on one device, or a security key"
	if p.BackupEligible {
		row.Kind = "Synced passkey (kept by your password manager or phone)"
	}
	if p.LastUsedAt != nil {
		t := newTimeView(*p.LastUsedAt, now)
		row.LastUsed = &t
	}
	return row
}

// passkeysSection builds the section for the account's state.
func (s *Server) passkeysSection(r *http.Request, p *principal, st *keyward.TwoFactorStatus) (passkeysView, error) {
	v := passkeysView{Off: s.svc.PasskeysOff(), SudoHref: s.path(sudoPath) + "?" + url.Values{"next": {s.path(twoFactorPath)}}.Encode()}
	list, err := s.svc.Passkeys(r.Context(), p.account.ID)
	if err != nil {
		return v, err
	}
	last := len(list) == 1 && !st.TOTP
	for i := range list {
		v.List = append(v.List, passkeyRowOf(&list[i], last, s.requestTime()))
	}
	v.Full = len(list) >= keyward.MaxPasskeys
	if st.Enabled && !st.TOTP {
		left, low := backupCodesLeft(st.BackupCodesRemaining)
		v.Codes = &codesView{Left: left, Low: low}
	}
	return v, nil
}

const passkeysAnchor = "#passkeys"

func (s *Server) passkeyAddSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	credential := r.PostForm.Get("credential")
	if credential == "" {
		return s.showTwoFactor(w, r, p, invalid("Adding a passkey needs JavaScript, and a browser that supports passkeys."), "passkey_name")
	}
	added, err := s.svc.FinishPasskeyRegistration(r.Context(), p.session, r.PostForm.Get("name"), []byte(credential), s.client(r))
	if keyward.NeedsSudo(err) {
		// The window closed while the browser made the passkey.
		return s.askSudo(w, r, twoFactorPath)
	}
	if err != nil {
		return s.showTwoFactor(w, r, p, registrationError(err), "passkey_name")
	}
	if added.BackupCodes != nil {
		// The passkey turned two-factor on: its codes are shown now.
		return s.newCodesShown(w, r, p, codesOnScreen{Heading: "Two-factor authentication is on", Note: turnedOnNote(added.RevokedSessions), Codes: added.BackupCodes})
	}
	s.setFlash(w, flashOK, "Passkey \u201c"+added.Passkey.Name+"\u201d added.")
	return s.seeOther(w, r, twoFactorPath+passkeysAnchor)
}

func (s *Server) passkeyRenameSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	pk, err := s.svc.RenamePasskey(r.Context(), p.session, r.PathValue("id"), r.PostForm.Get("name"), s.client(r))
	if err != nil {
		return s.showTwoFactor(w, r, p, err, "rename_"+r.PathValue("id"))
	}
	s.setFlash(w, flashOK, "Passkey renamed to \u201c"+pk.Name+"\u201d.")
	return s.seeOther(w, r, twoFactorPath+passkeysAnchor)
}

// passkeyRemoveSubmit removes a passkey. Removing the last second factor
// turns two-factor authentication off: the page first says so, and asks
// again (confirm=yes).
func (s *Server) passkeyRemoveSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	// Confirm it is the person first, then whether to turn two-factor off.
	if ok, err := s.inSudo(r, p); err != nil || !ok {
		if err != nil {
			return err
		}
		return s.askSudo(w, r, twoFactorPath)
	}
	if r.PostForm.Get("confirm") != "yes" {
		effect, err := s.svc.PasskeyRemovalEffect(r.Context(), p.account.ID, id)
		if err != nil {
			return s.showTwoFactor(w, r, p, err, "")
		}
		if effect.TwoFactorOff {
			return s.showTwoFactorConfirming(w, r, p, id)
		}
	}
	removed, err := s.svc.RemovePasskey(r.Context(), p.session, id, s.client(r))
	if keyward.NeedsSudo(err) {
		return s.askSudo(w, r, twoFactorPath)
	}
	if err != nil {
		return s.showTwoFactor(w, r, p, err, "")
	}
	msg := "Passkey removed."
	if removed.TwoFactorOff {
		msg = "Passkey removed. Two-factor authentication is off: signing in now needs only your password."
	}
	if removed.RevokedSessions > 0 {
		msg += " " + strconv.Itoa(removed.RevokedSessions) + " other " + pluralWord(removed.RevokedSessions, "session was", "sessions were") + " signed out."
	}
	s.setFlash(w, flashOK, msg)
	return s.seeOther(w, r, twoFactorPath+passkeysAnchor)
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// The sign-in pages.

// signinPasskeySubmit finishes a sign-in without a password: the form the
// script filled with the ceremony's id and the browser's answer.
func (s *Server) signinPasskeySubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	next := s.next(r.PostForm.Get("next"))
	v := s.newSigninView("", next)
	const page = "signin.html"
	c := s.client(r)
	if dc, err := r.Cookie(s.cookie.device); err == nil {
		c.DeviceToken = dc.Value
	}
	res, err := s.svc.FinishPasskeySignIn(r.Context(), r.PostForm.Get("challenge_id"), []byte(r.PostForm.Get("credential")), "", c)
	if err != nil {
		return s.rerender(w, r, page, &v, err, "")
	}
	s.startSession(w, res)
	if res.Session.AAL < 2 {
		s.setFlash(w, flashWarning, "You are signed in, but your device did not check that it is you (no PIN, fingerprint or face): your security settings ask for more before they change.")
	}
	return seeOtherURL(w, r, next)
}

// signinMFAPasskeyOptions begins the second step with a passkey for the
// sign-in of the page's mfa cookie (which the page's script cannot read).
// It answers JSON, like the API.
func (s *Server) signinMFAPasskeyOptions(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(s.cookie.mfa)
	if err != nil || c.Value == "" {
		s.writeErrorAs(w, r, keyward.Errorf(keyward.CodeMFATokenExpired, "%s", mfaMissing), false)
		return
	}
	options, id, err := s.svc.BeginPasskeySignIn(r.Context(), c.Value, s.client(r))
	if err != nil {
		s.writeErrorAs(w, r, err, false)
		return
	}
	writeJSON(w, http.StatusOK, passkeyOptionsJSON{Options: options, ChallengeID: id})
}

func (s *Server) signinMFAPasskeySubmit(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(r); err != nil {
		return err
	}
	next := s.next(r.PostForm.Get("next"))
	c, err := r.Cookie(s.cookie.mfa)
	if err != nil || c.Value == "" {
		return s.mfaExpired(w, r, next, mfaMissing)
	}
	cl := s.client(r)
	if dc, err := r.Cookie(s.cookie.device); err == nil {
		cl.DeviceToken = dc.Value
	}
	res, err := s.svc.FinishPasskeySignIn(r.Context(), r.PostForm.Get("challenge_id"), []byte(r.PostForm.Get("credential")), c.Value, cl)
	if keyward.IsCode(err, keyward.CodeMFATokenExpired) {
		return s.mfaExpired(w, r, next, keyward.ErrorMessage(err))
	}
	if err != nil {
		methods, merr := s.svc.SecondStepMethods(r.Context(), c.Value)
		if merr != nil {
			return s.mfaExpired(w, r, next, keyward.ErrorMessage(merr))
		}
		v := newSigninMFAView(next, methods, false)
		return s.rerender(w, r, "signin_2fa.html", &v, err, "")
	}
	s.clearCookie(w, s.cookie.mfa)
	s.startSession(w, res)
	return seeOtherURL(w, r, next)
}

// secondStepHref is the second step's page with its method and next.
func secondStepHref(next string, backup bool) string {
	q := url.Values{"next": {next}}
	if backup {
		q.Set("method", "backup")
	}
	return "/signin/2fa?" + q.Encode()
}

func hasMethod(methods []string, m string) bool { return slices.Contains(methods, m) }
