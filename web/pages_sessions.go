package web

import (
	"net/http"
	"net/url"
	"strings"

	keyward "github.com/keyward/keyward"
)

// The sessions page (the seed's "Sessions"): every signed-in device, ended
// one by one or all at once.

const sessionsPath = "/settings/security/sessions"

// showSessions renders the list, with err's message when err is set.
func (s *Server) showSessions(w http.ResponseWriter, r *http.Request, p *principal, list []keyward.Session, err error, confirming bool) error {
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
	if confirming && v.Others > 0 {
		v.ConfirmEndOthers = plural(v.Others, "other session", "other sessions")
	}
	return s.renderPage(w, r, http.StatusOK, "sessions.html", &v)
}

// tellSessionEnded, for a browser whose session is gone, says on the next
// page why when it was ended from elsewhere ("You were signed out from
// another device"), rather than showing sign-in with no word. A session
// that expired or signed out says nothing.
func (s *Server) tellSessionEnded(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(s.cookie.sessionRef)
	if err != nil {
		return
	}
	s.clearCookie(w, s.cookie.sessionRef)
	accountID, sessionID, ok := strings.Cut(c.Value, ".")
	if !ok {
		return
	}
	ended, reason, err := s.svc.SessionEnded(r.Context(), accountID, sessionID)
	if err != nil {
		s.log.WarnContext(r.Context(), "reading why a session ended", "request_id", requestID(w), "err", err)
		return
	}
	if ended {
		s.setFlash(w, flashWarning, sessionEndedFlash(reason))
	}
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.Sessions(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	return s.showSessions(w, r, p, list, nil, false)
}

func (s *Server) endOtherSessionsSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readForm(r); err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		// Ending every other device at once is asked about first (a
		// page of its own, so that it needs no script).
		list, err := s.svc.Sessions(r.Context(), p.account.ID)
		if err != nil {
			return err
		}
		return s.showSessions(w, r, p, list, nil, true)
	}
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
		return s.showSessions(w, r, p, list, err, false)
	}
	msg := "Session ended. That device is signed out."
	if name != "" {
		msg = "Session ended: " + name + " is signed out."
	}
	s.setFlash(w, flashOK, msg)
	return s.seeOther(w, r, sessionsPath)
}
