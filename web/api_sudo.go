package web

import (
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"

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

// apiGrantSudo answers POST /api/v1/account/sudo: {"password"}, {"code"}
// (a TOTP code or a backup code), or {"challenge_id", "credential"} (a
// passkey's answer to POST /api/v1/account/sudo/options): one of them.
func (s *Server) apiGrantSudo(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Password    *string        `json:"password"`
		Code        *string        `json:"code"`
		ChallengeID *string        `json:"challenge_id"`
		Credential  jsontext.Value `json:"credential"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	passkey := in.ChallengeID != nil || len(in.Credential) > 0
	var proof keyward.SudoProof
	switch {
	case in.Password != nil && in.Code == nil && !passkey:
		proof.Password = *in.Password
	case in.Code != nil && in.Password == nil && !passkey:
		proof.Code = *in.Code
	case passkey && in.Password == nil && in.Code == nil:
		if err := required(namedField{"challenge_id", in.ChallengeID}); err != nil {
			return err
		}
		if err := credentialField(in.Credential); err != nil {
			return err
		}
		proof.ChallengeID, proof.Credential = *in.ChallengeID, in.Credential
	default:
		return keyward.Errorf(keyward.CodeInvalidRequest, "Send one of %q, %q, or %q with %q.", "password", "code", "challenge_id", "credential")
	}
	if proof.Password == "" && proof.Code == "" && proof.ChallengeID == "" {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The password, code or challenge_id is empty.")
	}
	until, err := s.svc.GrantSudo(r.Context(), p.session, proof, s.client(r))
	if err != nil {
		return err
	}
	until = until.UTC()
	writeJSON(w, http.StatusOK, sudoJSON{SudoUntil: &until})
	return nil
}

// apiSudoPasskeyOptions answers POST /api/v1/account/sudo/options: a
// passkey ceremony to confirm it is the person, for this session.
func (s *Server) apiSudoPasskeyOptions(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct{}
	if err := optionalBody(r, &in); err != nil {
		return err
	}
	options, id, err := s.svc.BeginPasskeySudo(r.Context(), p.session, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, passkeyOptionsJSON{Options: options, ChallengeID: id})
	return nil
}
