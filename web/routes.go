package web

import (
	"net/http"
)

// route registers h for pattern on mux. Each route counts its answers'
// durations under its own pattern: resolved here, once, never from the
// request's path.
func (s *Server) route(mux *http.ServeMux, pattern string, h http.Handler) {
	stats := s.metrics.Route(pattern)
	s.patterns = append(s.patterns, pattern)
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := recorderOf(w); rec != nil {
			rec.route = stats
		}
		h.ServeHTTP(w, r)
	}))
}

// routes is every route keyward serves, in one list. The admin API's are
// on the returned mux too, unless Config.SeparateAdmin puts them on
// s.adminMux, which AdminHandler serves on a listener of its own.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) { s.route(mux, pattern, h) }
	api := s.handle
	authed := s.apiAuthed

	// Health.
	route("GET /healthz", http.HandlerFunc(s.healthz))
	route("GET /readyz", http.HandlerFunc(s.readyz))

	// JSON API (API.md).
	route("POST /api/v1/accounts", api(s.apiSignUp))
	route("POST /api/v1/sessions", api(s.apiSignIn))
	route("POST /api/v1/sessions/mfa", api(s.apiSignInMFA))
	route("POST /api/v1/sessions/passkey/options", api(s.apiPasskeySignInOptions))
	route("POST /api/v1/sessions/passkey", api(s.apiPasskeySignIn))
	route("GET /api/v1/sessions/current", authed(s.apiCurrentSession))
	route("DELETE /api/v1/sessions/current", authed(s.apiSignOut))
	route("GET /api/v1/sessions", authed(s.apiListSessions))
	route("DELETE /api/v1/sessions/{id}", authed(s.apiRevokeSession))
	route("POST /api/v1/sessions/revoke-others", authed(s.apiRevokeOthers))
	route("PUT /api/v1/account/password", authed(s.apiChangePassword))
	route("POST /api/v1/password/strength", api(s.apiPasswordStrength))
	route("POST /api/v1/password/forgot", api(s.apiForgotPassword))
	route("POST /api/v1/password/reset", api(s.apiResetPassword))
	route("POST /api/v1/account/email/verification", authed(s.apiResendVerification))
	route("POST /api/v1/account/email/verify", api(s.apiVerifyEmail))
	route("PUT /api/v1/account/email", authed(s.apiChangeEmail))
	route("POST /api/v1/account/lockdown", api(s.apiLockdown))
	route("GET /api/v1/account/notifications", authed(s.apiNotifications))
	route("PUT /api/v1/account/notifications", authed(s.apiSetNotifications))
	route("GET /api/v1/account/2fa", authed(s.apiTwoFactorStatus))
	route("POST /api/v1/account/2fa/setup", authed(s.apiTwoFactorSetup))
	route("POST /api/v1/account/2fa/enable", authed(s.apiTwoFactorEnable))
	route("POST /api/v1/account/2fa/backup-codes", authed(s.apiRegenerateBackupCodes))
	route("POST /api/v1/account/2fa/disable", authed(s.apiTwoFactorDisable))
	route("POST /api/v1/account/passkeys/options", authed(s.apiPasskeyOptions))
	route("POST /api/v1/account/passkeys", authed(s.apiAddPasskey))
	route("GET /api/v1/account/passkeys", authed(s.apiListPasskeys))
	route("PATCH /api/v1/account/passkeys/{id}", authed(s.apiRenamePasskey))
	route("DELETE /api/v1/account/passkeys/{id}", authed(s.apiRemovePasskey))
	route("GET /api/v1/account/sudo", authed(s.apiSudoStatus))
	route("POST /api/v1/account/sudo", authed(s.apiGrantSudo))
	route("POST /api/v1/account/sudo/options", authed(s.apiSudoPasskeyOptions))
	route("GET /api/v1/account/audit", authed(s.apiAuditEvents))
	route("GET /api/v1/account/audit/export", authed(s.apiAuditExport))
	route("GET "+authCheckPath, api(s.apiAuthCheck))
	route("GET "+authForwardPath, api(s.apiAuthForward))
	route("GET "+openAPIPath, api(s.apiOpenAPI))

	// Admin API (API.md, "Operators"): admin tokens only, a scope each
	// (the service checks it).
	s.adminMux = mux
	if s.cfg.SeparateAdmin {
		s.adminMux = http.NewServeMux()
		s.adminMux.HandleFunc("/", s.adminNotFound)
	}
	admin := func(pattern string, h adminFunc) { s.route(s.adminMux, pattern, s.adminAuthed(h)) }
	admin("GET /api/v1/admin/accounts", s.apiAdminAccounts)
	admin("POST /api/v1/admin/accounts", s.apiAdminCreateAccount)
	admin("GET /api/v1/admin/accounts/{id}", s.apiAdminAccount)
	admin("DELETE /api/v1/admin/accounts/{id}", s.apiAdminDelete)
	admin("POST /api/v1/admin/accounts/{id}/disable", s.apiAdminDisable)
	admin("POST /api/v1/admin/accounts/{id}/enable", s.apiAdminEnable)
	admin("POST /api/v1/admin/accounts/{id}/sessions/revoke", s.apiAdminRevokeSessions)
	admin("POST /api/v1/admin/accounts/{id}/2fa/reset", s.apiAdminResetTwoFactor)
	admin("GET /api/v1/admin/audit", s.apiAdminAudit)
	admin("GET /api/v1/admin/clients", s.apiAdminClients)
	admin("POST /api/v1/admin/clients", s.apiAdminCreateClient)
	admin("DELETE /api/v1/admin/clients/{id}", s.apiAdminDeleteClient)

	route("/api/", api(s.apiNotFound))

	// OpenID Connect (API.md, "Single sign-on"): the provider's endpoints,
	// and the pages between its authorization endpoint and its callback.
	if s.cfg.OpenID != nil {
		route("GET /.well-known/openid-configuration", s.cfg.OpenID)
		route("/oauth/", s.cfg.OpenID)
		route("GET /oauth/authorize", http.HandlerFunc(s.oidcAuthorize))
		route("GET "+oidcCallbackPath, s.handle(s.oidcCallback))
		route(oidcEndPath, http.HandlerFunc(s.oidcEndSession))
		route("GET "+oidcContinuePath, s.handle(s.oidcContinue))
		route("POST "+oidcConsentPath, s.handle(s.oidcConsentSubmit))
	}

	// Pages.
	page := s.handle
	signedIn := s.pageAuthed
	route("GET /{$}", page(s.home))
	route("GET /signup", page(s.signupPage))
	route("POST /signup", page(s.signupSubmit))
	route("GET /signin", page(s.signinPage))
	route("POST /signin", page(s.signinSubmit))
	route("GET /signin/2fa", page(s.signinMFAPage))
	route("POST /signin/2fa", page(s.signinMFASubmit))
	route("POST /signin/passkey", page(s.signinPasskeySubmit))
	route("POST /signin/2fa/passkey/options", http.HandlerFunc(s.signinMFAPasskeyOptions))
	route("POST /signin/2fa/passkey", page(s.signinMFAPasskeySubmit))
	route("POST /signout", signedIn(s.signoutSubmit))
	route("GET /forgot-password", page(s.forgotPasswordPage))
	route("POST /forgot-password", page(s.forgotPasswordSubmit))
	route("GET /reset-password", page(s.resetPasswordPage))
	route("POST /reset-password", page(s.resetPasswordSubmit))
	route("GET /verify-email", page(s.verifyEmailPage))
	route("POST /verify-email", page(s.verifyEmailSubmit))
	route("GET /lockdown", page(s.lockdownPage))
	route("POST /lockdown", page(s.lockdownSubmit))
	route("POST /settings/security/email/verification", signedIn(s.resendVerificationSubmit))
	route("POST /settings/security/notifications", signedIn(s.notificationsSubmit))
	route("GET /settings/security/email", signedIn(s.emailPage))
	route("POST /settings/security/email", signedIn(s.emailSubmit))
	route("GET /settings/security", signedIn(s.securityPage))
	route("GET "+sudoPath, signedIn(s.sudoPage))
	route("POST "+sudoPath, signedIn(s.sudoSubmit))
	route("GET /settings/security/password", signedIn(s.passwordPage))
	route("POST /settings/security/password", signedIn(s.passwordSubmit))
	route("GET /settings/security/two-factor", signedIn(s.twoFactorPage))
	route("POST /settings/security/two-factor/setup", signedIn(s.twoFactorSetupSubmit))
	route("POST /settings/security/two-factor/enable", signedIn(s.twoFactorEnableSubmit))
	route("POST /settings/security/two-factor/backup-codes", signedIn(s.backupCodesSubmit))
	route("POST /settings/security/two-factor/disable", signedIn(s.twoFactorDisableSubmit))
	route("POST /settings/security/two-factor/passkeys", signedIn(s.passkeyAddSubmit))
	route("POST /settings/security/two-factor/passkeys/{id}/rename", signedIn(s.passkeyRenameSubmit))
	route("POST /settings/security/two-factor/passkeys/{id}/remove", signedIn(s.passkeyRemoveSubmit))
	route("GET /settings/security/sessions", signedIn(s.sessionsPage))
	route("POST /settings/security/sessions/end-others", signedIn(s.endOtherSessionsSubmit))
	route("POST /settings/security/sessions/{id}/end", signedIn(s.endSessionSubmit))
	route("GET /settings/security/audit", signedIn(s.auditPage))
	route("GET /settings/security/audit/export", signedIn(s.auditExport))
	route("GET /static/brand.css", s.brandCSS())
	route("GET /static/", s.static())
	route("/", page(s.notFoundPage))
	return mux
}
