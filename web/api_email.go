package web

import (
	"net/http"

	keyward "github.com/keyward/keyward"
)

// The email routes: recovery by mail, verification, email change, lockdown.

func (s *Server) apiForgotPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email *string `json:"email"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"email", in.Email}); err != nil {
		return err
	}
	if err := s.svc.ForgotPassword(r.Context(), *in.Email, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) apiResetPassword(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token       *string `json:"token"`
		NewPassword *string `json:"new_password"`
		Code        *string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"token", in.Token}, namedField{"new_password", in.NewPassword}); err != nil {
		return err
	}
	code := ""
	if in.Code != nil {
		code = *in.Code
	}
	n, err := s.svc.ResetPassword(r.Context(), *in.Token, *in.NewPassword, code, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked_sessions": n})
	return nil
}

func (s *Server) apiResendVerification(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.svc.ResendVerification(r.Context(), p.session, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) apiVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token *string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"token", in.Token}); err != nil {
		return err
	}
	a, err := s.svc.VerifyEmail(r.Context(), *in.Token, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": accountOf(a)})
	return nil
}

func (s *Server) apiChangeEmail(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		NewEmail *string `json:"new_email"`
		Password *string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"new_email", in.NewEmail}); err != nil {
		return err
	}
	if err := s.svc.RequestEmailChange(r.Context(), p.session, *in.NewEmail, optional(in.Password), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) apiLockdown(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token *string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"token", in.Token}); err != nil {
		return err
	}
	n, err := s.svc.Lockdown(r.Context(), *in.Token, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked_sessions": n})
	return nil
}

type notificationsJSON struct {
	NewDeviceSignIn bool `json:"new_device_signin"`
}

func (s *Server) apiNotifications(w http.ResponseWriter, r *http.Request, p *principal) error {
	n, err := s.svc.Notifications(r.Context(), p.session)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notificationsJSON{NewDeviceSignIn: n.NewDeviceSignIn})
	return nil
}

func (s *Server) apiSetNotifications(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		NewDeviceSignIn *bool `json:"new_device_signin"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.NewDeviceSignIn == nil {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q is required.", "new_device_signin")
	}
	if err := s.svc.SetNotifications(r.Context(), p.session, keyward.Notifications{NewDeviceSignIn: *in.NewDeviceSignIn}, s.client(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notificationsJSON{NewDeviceSignIn: *in.NewDeviceSignIn})
	return nil
}
