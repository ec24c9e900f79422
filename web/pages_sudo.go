package web

import (
	"net/http"
	"net/url"
	"time"

	keyward "github.com/keyward/keyward"
)

// The sudo page: the one place a signed-in person confirms it is them
// before a sensitive action, and goes back to it. A sensitive action's
// form sends the person here (askSudo) when the session's sudo window is
// closed; confirming opens it and returns to the page the action is on.

const sudoPath = "/settings/security/confirm"

// askSudo sends the person to confirm it is them, then back to route (a
// page of keyward's).
func (s *Server) askSudo(w http.ResponseWriter, r *http.Request, route string) error {
	return s.seeOther(w, r, sudoPath+"?"+url.Values{"next": {s.path(route)}}.Encode())
}

// inSudo reports whether the caller's sudo window is open now, as stored.
func (s *Server) inSudo(r *http.Request, p *principal) (bool, error) {
	until, err := s.svc.SudoUntil(r.Context(), p.session)
	if err != nil {
		return false, err
	}
	return until.After(s.requestTime()), nil
}

// sudoNext is where the sudo page returns: a local path only, checked as a
// sign-in's next is (an absolute URL, even on an allowed origin, is not
// one), else the security overview.
func (s *Server) sudoNext(raw string) string {
	if out, ok := checkNext(raw, nil); ok {
		return out
	}
	return s.path(homeRoute)
}

func (s *Server) newSudoView(p *principal, next string, code bool) sudoView {
	v := sudoView{
		layout:     layoutFor(p, "Confirm it is you", ""),
		Next:       next,
		CanUseCode: p.account.TwoFactorEnabled(),
		Window:     durationWords(s.svc.Config().SudoWindow),
	}
	v.Code = code && v.CanUseCode
	q := url.Values{"next": {next}}
	if v.Code {
		v.SwitchHref, v.SwitchText = sudoPath+"?"+q.Encode(), "Use your password instead"
	} else {
		q.Set("method", "code")
		v.SwitchHref, v.SwitchText = sudoPath+"?"+q.Encode(), "Use a code from your authenticator app or a backup code instead"
	}
	return v
}

func (s *Server) sudoPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	v := s.newSudoView(p, s.sudoNext(q.Get("next")), q.Get("method") == "code")
	if err := s.offerPasskey(r, p, &v); err != nil {
		return err
	}
	return s.renderPage(w, r, http.StatusOK, "confirm.html", &v)
}

// offerPasskey adds "Use a passkey" to the sudo page of an account that
// has one (and a site where passkeys work).
func (s *Server) offerPasskey(r *http.Request, p *principal, v *sudoView) error {
	if s.svc.PasskeysOff() != "" {
		return nil
	}
	list, err := s.svc.Passkeys(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	if v.Passkey = len(list) > 0; v.Passkey {
		v.Scripts = append(v.Scripts, passkeyJS)
	}
	return nil
}

func (s *Server) sudoSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	f := r.PostForm
	v := s.newSudoView(p, s.sudoNext(f.Get("next")), f.Get("method") == "code")
	if err := s.offerPasskey(r, p, &v); err != nil {
		return err
	}
	const page = "confirm.html"
	var proof keyward.SudoProof
	field := "password"
	if f.Get("method") == "passkey" {
		// The form the page's script filled with a passkey's answer.
		field, proof.ChallengeID, proof.Credential = "", f.Get("challenge_id"), []byte(f.Get("credential"))
		if proof.ChallengeID == "" || len(proof.Credential) == 0 {
			return s.rerender(w, r, page, &v, invalid("Using a passkey needs JavaScript, and a browser that supports passkeys."), field)
		}
	} else if v.Code {
		field, proof.Code = "code", f.Get("code")
		if proof.Code == "" {
			return s.rerender(w, r, page, &v, invalid("Enter the code your authenticator app shows, or one of your backup codes."), field)
		}
	} else if proof.Password = f.Get("password"); proof.Password == "" {
		return s.rerender(w, r, page, &v, invalid("Enter your password."), field)
	}
	if _, err := s.svc.GrantSudo(r.Context(), p.session, proof, s.client(r)); err != nil {
		return s.rerender(w, r, page, &v, err, field)
	}
	s.setFlash(w, flashOK, "Thank you. You will not be asked again for "+v.Window+".")
	return seeOtherURL(w, r, v.Next)
}

// durationWords says a window's length as a person would: "10 minutes",
// "1 hour", "90 seconds".
func durationWords(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour", "hours")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute", "minutes")
	}
	return plural(int((d+time.Second-1)/time.Second), "second", "seconds")
}
