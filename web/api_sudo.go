package web

import (
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
)

// Sudo mode in the API: a client asks before a sensitive action whether
// the session may do it now, and proves again that it is the person when
// not (the action answers 403 reauthentication_required then).

type sudoJSON struct {
	// SudoUntil is the end of the session's sudo window; null while it is
	// closed.
	SudoUntil *time.Time `json:"sudo_until"`
}

// apiSudoStatus answers GET /api/v1/account/sudo from the store, never
// from the cached session.
func (s *Server) apiSudoStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	until, err := s.svc.SudoUntil(r.Context(), p.session)
	if err != nil {
		return err
	}
	var out sudoJSON
	if until.After(s.svc.Now()) {
		t := until.UTC()
		out.SudoUntil = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiGrantSudo answers POST /api/v1/account/sudo: {"password"} or
// {"code"} (a TOTP code or a backup code), one of them.
func (s *Server) apiGrantSudo(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Password *string `json:"password"`
		Code     *string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var proof keyward.SudoProof
	switch {
	case in.Password != nil && in.Code == nil:
		proof.Password = *in.Password
	case in.Code != nil && in.Password == nil:
		proof.Code = *in.Code
	default:
		return keyward.Errorf(keyward.CodeInvalidRequest, "Send one of %q or %q.", "password", "code")
	}
	if proof == (keyward.SudoProof{}) {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The password or code is empty.")
	}
	until, err := s.svc.GrantSudo(r.Context(), p.session, proof, s.client(r))
	if err != nil {
		return err
	}
	until = until.UTC()
	writeJSON(w, http.StatusOK, sudoJSON{SudoUntil: &until})
	return nil
}
