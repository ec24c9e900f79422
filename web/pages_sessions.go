package web

import (
	"net/http"
	"net/url"

	keyward "github.com/keyward/keyward"
)

// The sessions page (the seed's "Sessions"): every signed-in device, ended
// one by one or all at once.

const sessionsPath = "/settings/security/sessions"

// showSessions renders the list, with err's message when err is set.
func (s *Server) showSessions(w http.ResponseWriter, r *http.Request, p *principal, list []keyward.Session, err error) error {
	now := s.requestTime()
	v := sessionsView{layout: layoutFor(p, "Sessions", sectionSessions)}
	apps, appsErr := s.svc.OIDCApplications(r.Context(), p.account.ID)
	if appsErr != nil {
		return appsErr
	}
	// The current session first, then the others, newest activity first
	// (the order the service returns).
	for _, x := range list {
		row := sessionRow{
			ID:           x.ID,
			Device:       x.Device.String(),
			Type:         deviceType(x.Device),
			IP:           x.IP,
			Current:      x.ID == p.session.ID,
			SignedInWith: signedInWith(x.AMR),
			Started:      newTimeView(x.CreatedAt, now),
			LastActive:   newTimeView(x.LastSeenAt, now),
			EndAction:    sessionsPath + "/" + url.PathEscape(x.ID) + "/end",
			Applications: apps[x.ID],
		}
		if row.IP == "" {
			row.IP = "Unknown"
		}
		if row.Current {
			row.LastActive.Relative = "now"
			v.Sessions = append([]sessionRow{row}, v.Sessions...)
			continue
		}
		v.Sessions = append(v.Sessions, row)
		v.Others++
	}
	if err != nil {
		return s.rerender(w, r, "sessions.html", &v, err, "")
	}
	return s.renderPage(w, r, http.StatusOK, "sessions.html", &v)
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.Sessions(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	return s.showSessions(w, r, p, list, nil)
}

func (s *Server) endOtherSessionsSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	n, err := s.svc.RevokeOtherSessions(r.Context(), p.session, s.client(r))
	if err != nil {
		return err
	}
	s.setFlash(w, flashOK, endedOthersFlash(n))
	return s.seeOther(w, r, sessionsPath)
}

func (s *Server) endSessionSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if id == p.session.ID {
		// Ending the session in use is signing out.
		return s.signoutSubmit(w, r, p)
	}
	list, err := s.svc.Sessions(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	name := ""
	for _, x := range list {
		if x.ID == id {
			name = x.Device.String()
		}
	}
	if err := s.svc.RevokeSession(r.Context(), p.session, id, s.client(r)); err != nil {
		if keyward.IsCode(err, keyward.CodeNotFound) {
			err = keyward.Errorf(keyward.CodeNotFound, "That session has already ended.")
		}
		return s.showSessions(w, r, p, list, err)
	}
	msg := "Session ended. That device is signed out."
	if name != "" {
		msg = "Session ended: " + name + " is signed out."
	}
	s.setFlash(w, flashOK, msg)
	return s.seeOther(w, r, sessionsPath)
}
