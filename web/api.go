package web

import (
	"context"
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/device"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Store().Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: store unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	if err := s.svc.KeysReady(); err != nil {
		// Logged once per probe: a node that cannot open the seeds must
		// be told apart from one whose store is down.
		s.log.WarnContext(ctx, "not ready: the secret keys do not open the stored seeds", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// apiNotFound answers paths under /api/ that no route serves: 405 when the
// path exists with another method, else 404.
func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) error {
	return notFoundOn(s.mux, w, r)
}

// notFoundOn is the answer of mux to a request none of its routes serves:
// 405 (with Allow) when the path exists with another method, else 404.
func notFoundOn(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/api/" && pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		for _, m := range allowed {
			w.Header().Add("Allow", m)
		}
		return keyward.Errorf(keyward.CodeMethodNotAllowed, "This path does not take %s.", r.Method)
	}
	return keyward.Errorf(keyward.CodeNotFound, "There is nothing at this path.")
}

// Wire forms of API.md's objects.

type accountJSON struct {
	ID               string    `json:"id"`
	Email            string    `json:"email"`
	EmailVerified    bool      `json:"email_verified"`
	CreatedAt        time.Time `json:"created_at"`
	TwoFactorEnabled bool      `json:"two_factor_enabled"`
}

func accountOf(a *keyward.Account) accountJSON {
	return accountJSON{ID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified(), CreatedAt: a.CreatedAt.UTC(), TwoFactorEnabled: a.TwoFactorEnabled()}
}

type sessionJSON struct {
	ID         string        `json:"id"`
	Current    bool          `json:"current"`
	CreatedAt  time.Time     `json:"created_at"`
	LastSeenAt time.Time     `json:"last_seen_at"`
	ExpiresAt  time.Time     `json:"expires_at"`
	IP         string        `json:"ip"`
	UserAgent  string        `json:"user_agent"`
	Device     device.Device `json:"device"`
	AAL        int           `json:"aal"`
	// AMR is how the session was signed in (RFC 8176 values). The sudo
	// window is not here: it is read from the store on its own (GET
	// /api/v1/account/sudo), never on the session check's path.
	AMR keyward.AMR `json:"amr"` // a list of names, ["pwd","otp","mfa"]
}

func sessionOf(x *keyward.Session, currentID string) sessionJSON {
	return sessionJSON{
		ID: x.ID, Current: x.ID == currentID, CreatedAt: x.CreatedAt.UTC(), LastSeenAt: x.LastSeenAt.UTC(),
		ExpiresAt: x.ExpiresAt.UTC(), IP: x.IP, UserAgent: x.UserAgent, Device: x.Device, AAL: x.AAL,
		AMR: x.AMR,
	}
}

type credentials struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

func (c *credentials) read(r *http.Request) error {
	if err := decodeJSON(r, c); err != nil {
		return err
	}
	return required(namedField{"email", c.Email}, namedField{"password", c.Password})
}

func (s *Server) apiSignUp(w http.ResponseWriter, r *http.Request) error {
	var in credentials
	if err := in.read(r); err != nil {
		return err
	}
	a, err := s.svc.SignUp(r.Context(), *in.Email, *in.Password, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"account": accountOf(a)})
	return nil
}

type mfaRequiredJSON struct {
	MFARequired bool     `json:"mfa_required"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
}

type signedInJSON struct {
	Token   string      `json:"token"`
	Session sessionJSON `json:"session"`
	// DeviceToken is presented back at the client's next sign-in to the
	// account (keyward's extension: see docs/api.md).
	DeviceToken string `json:"device_token,omitempty"`
	// BackupCodesRemaining is set after signing in with a backup code.
	BackupCodesRemaining *int `json:"backup_codes_remaining,omitempty"`
}

func signedIn(res *keyward.SignInResult) signedInJSON {
	out := signedInJSON{Token: res.Token, Session: sessionOf(res.Session, res.Session.ID), DeviceToken: res.DeviceToken}
	if res.UsedBackupCode {
		n := res.BackupCodesRemaining
		out.BackupCodesRemaining = &n
	}
	return out
}

func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email       *string `json:"email"`
		Password    *string `json:"password"`
		DeviceToken *string `json:"device_token"` // optional: from an earlier sign-in
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"email", in.Email}, namedField{"password", in.Password}); err != nil {
		return err
	}
	c := s.client(r)
	if in.DeviceToken != nil {
		c.DeviceToken = *in.DeviceToken
	}
	res, err := s.svc.SignIn(r.Context(), *in.Email, *in.Password, c)
	if err != nil {
		return err
	}
	if res.MFARequired() {
		// Without TOTP (a passkey holds two-factor on), or with its codes
		// suspended after too many wrong ones, "totp" is not listed.
		methods := res.Methods
		writeJSON(w, http.StatusOK, mfaRequiredJSON{MFARequired: true, MFAToken: res.MFAToken, Methods: methods})
		return nil
	}
	writeJSON(w, http.StatusCreated, signedIn(res))
	return nil
}

func (s *Server) apiSignInMFA(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MFAToken    *string `json:"mfa_token"`
		Code        *string `json:"code"`
		DeviceToken *string `json:"device_token"` // optional: the one sent at the password step
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"mfa_token", in.MFAToken}, namedField{"code", in.Code}); err != nil {
		return err
	}
	c := s.client(r)
	if in.DeviceToken != nil {
		c.DeviceToken = *in.DeviceToken
	}
	res, err := s.svc.CompleteSignIn(r.Context(), *in.MFAToken, *in.Code, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, signedIn(res))
	return nil
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.SignOut(r.Context(), p.session, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiListSessions(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.svc.Sessions(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, len(list))
	for i := range list {
		out[i] = sessionOf(&list[i], p.session.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

func (s *Server) apiRevokeSession(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.RevokeSession(r.Context(), p.session, r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiRevokeOthers(w http.ResponseWriter, r *http.Request, p *principal) error {
	n, err := s.svc.RevokeOtherSessions(r.Context(), p.session, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

func (s *Server) apiChangePassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Current       *string `json:"current_password"`
		New           *string `json:"new_password"`
		SignOutOthers *bool   `json:"sign_out_other_sessions"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"current_password", in.Current}, namedField{"new_password", in.New}); err != nil {
		return err
	}
	signOut := in.SignOutOthers == nil || *in.SignOutOthers
	n, err := s.svc.ChangePassword(r.Context(), p.session, *in.Current, *in.New, signOut, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked_sessions": n})
	return nil
}

// apiPasswordStrength feeds the strength meter. It is advice only: the
// policy check at sign-up and change is the authority. It needs no session,
// but a signed-in caller is counted by account rather than by address (the
// service bounds the calls either way).
func (s *Server) apiPasswordStrength(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password *string `json:"password"`
		Email    *string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"password", in.Password}); err != nil {
		return err
	}
	var caller *keyward.Account
	if p, err := s.authenticate(r); err == nil {
		caller = p.account
	}
	email := ""
	if in.Email != nil {
		email = *in.Email
	}
	score, err := s.svc.PasswordStrength(*in.Password, email, caller, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"score": score})
	return nil
}
