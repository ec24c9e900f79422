package web

import (
	"net/http"
	"strconv"
	"strings"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// The admin API (docs/api.md, "Admin API"): /api/v1/admin/…, opened only by
// an admin token (Authorization: Bearer kwa_…), never by a session token
// or the session cookie; a session token opens no admin route and an admin
// token no other route. Each route's scope is checked by the service.

// adminPrefix starts every admin route.
const adminPrefix = "/api/v1/admin/"

// isAdminPath reports whether path (without the base path) is the admin
// API's. A path that is not clean ("/api/v1/admin/../account/password") is
// not: the mux sends it elsewhere, and it must not take the admin API's
// exemptions along.
func isAdminPath(path string) bool {
	return (strings.HasPrefix(path, adminPrefix) || path == strings.TrimSuffix(adminPrefix, "/")) && cleanPath(path) == path
}

// adminFunc is a handler of the admin API, given the admin its token names.
type adminFunc func(w http.ResponseWriter, r *http.Request, by keyward.Admin) error

// adminAuthed lets through only a request with a live admin token in its
// Authorization header; a cookie beside it is never read.
func (s *Server) adminAuthed(h adminFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return keyward.Errorf(keyward.CodeUnauthenticated, "Use Authorization: Bearer <admin token>, with a token from keyward admin token create.")
		}
		by, err := s.svc.AuthenticateAdmin(r.Context(), strings.TrimSpace(token), s.client(r))
		if err != nil {
			return err
		}
		return h(w, r, by)
	})
}

// adminAccountJSON is an Account with what only an admin sees of it.
type adminAccountDetailJSON struct {
	Account  accountJSON   `json:"account"`
	Sessions []sessionJSON `json:"sessions"`
	Passkeys int           `json:"passkeys"`
	Disabled bool          `json:"disabled"`
}

func (s *Server) apiAdminAccounts(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	v := r.URL.Query()
	q := keyward.AccountQuery{Q: v.Get("q"), Cursor: v.Get("cursor")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return keyward.Errorf(keyward.CodeInvalidRequest, "limit must be a whole number from 1 to 200.")
		}
		q.Limit = n
	}
	page, err := s.svc.FindAccounts(r.Context(), by, q)
	if err != nil {
		return err
	}
	out := make([]accountJSON, len(page.Accounts))
	for i := range page.Accounts {
		out[i] = accountOf(&page.Accounts[i])
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out, "next_cursor": next})
	return nil
}

func (s *Server) apiAdminAccount(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	d, err := s.svc.AccountDetail(r.Context(), by, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := adminAccountDetailJSON{Account: accountOf(d.Account), Sessions: make([]sessionJSON, len(d.Sessions)), Passkeys: d.Passkeys, Disabled: d.Account.Disabled()}
	for i := range d.Sessions {
		out.Sessions[i] = sessionOf(&d.Sessions[i], "")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiAdminCreateAccount(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	var in credentials
	if err := in.read(r); err != nil {
		return err
	}
	a, err := s.svc.AdminCreateAccount(r.Context(), by, *in.Email, *in.Password, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"account": accountOf(a)})
	return nil
}

func (s *Server) apiAdminDisable(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	a, n, err := s.svc.DisableAccount(r.Context(), by, r.PathValue("id"), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": accountOf(a), "disabled": true, "revoked_sessions": n})
	return nil
}

func (s *Server) apiAdminEnable(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	a, err := s.svc.EnableAccount(r.Context(), by, r.PathValue("id"), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": accountOf(a), "disabled": false})
	return nil
}

func (s *Server) apiAdminDelete(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	if err := s.svc.DeleteAccount(r.Context(), by, r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiAdminRevokeSessions(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	n, err := s.svc.RevokeAccountSessions(r.Context(), by, r.PathValue("id"), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

func (s *Server) apiAdminResetTwoFactor(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	if err := s.svc.AdminResetTwoFactor(r.Context(), by, r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminEventJSON is the Event object with the account whose log holds it
// (null for the system log's).
type adminEventJSON struct {
	audit.Record
	AccountID *string `json:"account_id"`
}

func (s *Server) apiAdminAudit(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	q, err := parseEventQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.svc.AdminEvents(r.Context(), by, r.URL.Query().Get("account_id"), q)
	if err != nil {
		return err
	}
	out := make([]adminEventJSON, len(page.Events))
	for i := range page.Events {
		e := &page.Events[i]
		out[i] = adminEventJSON{Record: audit.RecordOf(e)}
		if e.ChainID != audit.SystemChain {
			id := e.ChainID
			out[i].AccountID = &id
		}
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": next})
	return nil
}

// adminNotFound answers, on the admin listener, every path that is not an
// admin route: 405 when the path exists with another method, else 404,
// always as JSON.
func (s *Server) adminNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeErrorAs(w, r, notFoundOn(s.adminMux, w, r), false)
}
