package web

import (
	"encoding/base64"
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
)

type twoFactorJSON struct {
	Enabled              bool       `json:"enabled"`
	EnabledAt            *time.Time `json:"enabled_at"`
	BackupCodesRemaining int        `json:"backup_codes_remaining"`
	// TOTP and Passkeys say which factors hold it on (keyward's
	// extension: see docs/api.md).
	TOTP     bool `json:"totp"`
	Passkeys int  `json:"passkeys"`
}

func (s *Server) apiTwoFactorStatus(w http.ResponseWriter, r *http.Request, p *principal) error {
	st, err := s.svc.TwoFactor(r.Context(), p.account)
	if err != nil {
		return err
	}
	out := twoFactorJSON{Enabled: st.Enabled, BackupCodesRemaining: st.BackupCodesRemaining, TOTP: st.TOTP, Passkeys: st.Passkeys}
	if st.EnabledAt != nil {
		t := st.EnabledAt.UTC()
		out.EnabledAt = &t
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func pngDataURL(png []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
}

// The sensitive actions (setup, enable, new backup codes, disable, email
// change) answer 403 reauthentication_required outside the session's sudo
// window. Each takes an optional "password" that opens it, as API version
// 1's bodies for new backup codes and disabling always carry one.

// sudoPassword is the body of a sensitive action that takes nothing else.
type sudoPassword struct {
	Password *string `json:"password"`
}

func (b sudoPassword) value() string { return optional(b.Password) }

// optional is a field that may be left out: "" when it is.
func optional(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

// apiTwoFactorSetup takes no body, or {"password"}.
func (s *Server) apiTwoFactorSetup(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in sudoPassword
	if err := in.readOptional(r); err != nil {
		return err
	}
	setup, err := s.svc.BeginTOTPSetup(r.Context(), p.session, in.value(), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"secret":      setup.Secret,
		"otpauth_url": setup.URL,
		"qr_png":      pngDataURL(setup.QRPNG),
	})
	return nil
}

func (s *Server) apiTwoFactorEnable(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Code     *string `json:"code"`
		Password *string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"code", in.Code}); err != nil {
		return err
	}
	if pw := optional(in.Password); pw != "" {
		if _, err := s.svc.GrantSudo(r.Context(), p.session, keyward.SudoProof{Password: pw}, s.client(r)); err != nil {
			return err
		}
	}
	codes, err := s.svc.EnableTOTP(r.Context(), p.session, *in.Code, s.client(r))
	if err != nil {
		return enableError(err)
	}
	writeJSON(w, http.StatusOK, map[string][]string{"backup_codes": codes})
	return nil
}

// enableError: API.md answers a wrong code while enabling with 400, not the
// 401 of the sign-in step (the caller is signed in; the code is bad input).
func enableError(err error) error {
	if keyward.IsCode(err, keyward.CodeInvalidCode) {
		return &statusError{status: http.StatusBadRequest, err: err}
	}
	return err
}

// readOptional reads a body that may be empty: {} and no body at all are
// the same.
func (b *sudoPassword) readOptional(r *http.Request) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(r, b)
}

func (s *Server) apiRegenerateBackupCodes(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in sudoPassword
	if err := in.readOptional(r); err != nil {
		return err
	}
	codes, err := s.svc.RegenerateBackupCodes(r.Context(), p.session, in.value(), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"backup_codes": codes})
	return nil
}

func (s *Server) apiTwoFactorDisable(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in sudoPassword
	if err := in.readOptional(r); err != nil {
		return err
	}
	if err := s.svc.DisableTOTP(r.Context(), p.session, in.value(), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
