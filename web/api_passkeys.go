package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	keyward "github.com/keyward/keyward"
)

// passkeyJSON is API.md's Passkey object.
type passkeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	AAGUID     string     `json:"aaguid"`
}

func passkeyOf(p *keyward.Passkey) passkeyJSON {
	out := passkeyJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), AAGUID: aaguidString(p.AAGUID)}
	if p.LastUsedAt != nil {
		t := p.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

// aaguidString writes an authenticator model's id as a UUID (all zeros
// when the authenticator tells none, as most passkeys do).
func aaguidString(b []byte) string {
	if len(b) != 16 {
		b = make([]byte, 16)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// optionalBody decodes a JSON body that may be left out: no body (or an
// empty one without a declared type) is the same as {}.
func optionalBody(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(r, v)
}

// credentialField is the WebAuthn response of a body, as the browser's
// credential.toJSON() gave it: kept raw for package passkey to read.
func credentialField(v jsontext.Value) error {
	if len(v) == 0 {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q is required.", "credential")
	}
	if v.Kind() != '{' {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q must be the object credential.toJSON() gives.", "credential")
	}
	return nil
}

func (s *Server) apiPasskeyOptions(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct{}
	if err := optionalBody(r, &in); err != nil {
		return err
	}
	options, err := s.svc.BeginPasskeyRegistration(r.Context(), p.session, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]jsontext.Value{"options": options})
	return nil
}

func (s *Server) apiAddPasskey(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name       *string        `json:"name"`
		Credential jsontext.Value `json:"credential"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := credentialField(in.Credential); err != nil {
		return err
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	added, err := s.svc.FinishPasskeyRegistration(r.Context(), p.session, name, in.Credential, s.client(r))
	if err != nil {
		return registrationError(err)
	}
	out := struct {
		Passkey passkeyJSON `json:"passkey"`
		// BackupCodes come with the passkey that turned two-factor
		// authentication on (keyward's extension: see docs/api.md).
		BackupCodes []string `json:"backup_codes,omitempty"`
	}{passkeyOf(added.Passkey), added.BackupCodes}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// registrationError: API.md answers a passkey refused while adding it with
// 400, not the 401 of a sign-in (the caller is signed in; the response is
// bad input).
func registrationError(err error) error {
	if keyward.IsCode(err, keyward.CodeInvalidCredential) {
		return &statusError{status: http.StatusBadRequest, err: err}
	}
	return err
}

func (s *Server) apiListPasskeys(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.Passkeys(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	out := make([]passkeyJSON, len(list))
	for i := range list {
		out[i] = passkeyOf(&list[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": out})
	return nil
}

func (s *Server) apiRenamePasskey(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name *string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"name", in.Name}); err != nil {
		return err
	}
	pk, err := s.svc.RenamePasskey(r.Context(), p.session, r.PathValue("id"), *in.Name, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]passkeyJSON{"passkey": passkeyOf(pk)})
	return nil
}

func (s *Server) apiRemovePasskey(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, err := s.svc.RemovePasskey(r.Context(), p.session, r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type passkeyOptionsJSON struct {
	Options     jsontext.Value `json:"options"`
	ChallengeID string         `json:"challenge_id"`
}

func (s *Server) apiPasskeySignInOptions(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MFAToken *string `json:"mfa_token"`
	}
	if err := optionalBody(r, &in); err != nil {
		return err
	}
	mfa := ""
	if in.MFAToken != nil {
		mfa = *in.MFAToken
		if mfa == "" {
			return keyward.Errorf(keyward.CodeMFATokenExpired, "This sign-in has expired. Sign in again with your password.")
		}
	}
	options, id, err := s.svc.BeginPasskeySignIn(r.Context(), mfa, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, passkeyOptionsJSON{Options: options, ChallengeID: id})
	return nil
}

func (s *Server) apiPasskeySignIn(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		ChallengeID *string        `json:"challenge_id"`
		Credential  jsontext.Value `json:"credential"`
		MFAToken    *string        `json:"mfa_token"`
		DeviceToken *string        `json:"device_token"` // optional: from an earlier sign-in
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"challenge_id", in.ChallengeID}); err != nil {
		return err
	}
	if err := credentialField(in.Credential); err != nil {
		return err
	}
	c := s.client(r)
	if in.DeviceToken != nil {
		c.DeviceToken = *in.DeviceToken
	}
	mfa := ""
	if in.MFAToken != nil {
		mfa = *in.MFAToken
		if mfa == "" {
			return keyward.Errorf(keyward.CodeMFATokenExpired, "This sign-in has expired. Sign in again with your password.")
		}
	}
	res, err := s.svc.FinishPasskeySignIn(r.Context(), *in.ChallengeID, in.Credential, mfa, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, signedIn(res))
	return nil
}
