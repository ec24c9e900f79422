package web

import (
	"net/http"
)

// routes is every route keyward serves, in one list.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := s.handle
	authed := s.apiAuthed

	// Health.
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)

	// JSON API (API.md).
	mux.Handle("POST /api/v1/accounts", api(s.apiSignUp))
	mux.Handle("POST /api/v1/sessions", api(s.apiSignIn))
	mux.Handle("POST /api/v1/sessions/mfa", api(s.apiSignInMFA))
	mux.Handle("GET /api/v1/sessions/current", authed(s.apiCurrentSession))
	mux.Handle("DELETE /api/v1/sessions/current", authed(s.apiSignOut))
	mux.Handle("GET /api/v1/sessions", authed(s.apiListSessions))
	mux.Handle("DELETE /api/v1/sessions/{id}", authed(s.apiRevokeSession))
	mux.Handle("POST /api/v1/sessions/revoke-others", authed(s.apiRevokeOthers))
	mux.Handle("PUT /api/v1/account/password", authed(s.apiChangePassword))
	mux.Handle("POST /api/v1/password/strength", api(s.apiPasswordStrength))
	mux.Handle("POST /api/v1/password/forgot", api(s.apiForgotPassword))
	mux.Handle("POST /api/v1/password/reset", api(s.apiResetPassword))
	mux.Handle("POST /api/v1/account/email/verification", authed(s.apiResendVerification))
	mux.Handle("POST /api/v1/account/email/verify", api(s.apiVerifyEmail))
	mux.Handle("PUT /api/v1/account/email", authed(s.apiChangeEmail))
	mux.Handle("POST /api/v1/account/lockdown", api(s.apiLockdown))
	mux.Handle("GET /api/v1/account/notifications", authed(s.apiNotifications))
	mux.Handle("PUT /api/v1/account/notifications", authed(s.apiSetNotifications))
	mux.Handle("GET /api/v1/account/2fa", authed(s.apiTwoFactorStatus))
	mux.Handle("POST /api/v1/account/2fa/setup", authed(s.apiTwoFactorSetup))
	mux.Handle("POST /api/v1/account/2fa/enable", authed(s.apiTwoFactorEnable))
	mux.Handle("POST /api/v1/account/2fa/backup-codes", authed(s.apiRegenerateBackupCodes))
	mux.Handle("POST /api/v1/account/2fa/disable", authed(s.apiTwoFactorDisable))
	mux.Handle("GET /api/v1/account/audit", authed(s.apiAuditEvents))
	mux.Handle("GET /api/v1/account/audit/export", authed(s.apiAuditExport))
	mux.Handle("GET "+authCheckPath, api(s.apiAuthCheck))
	mux.Handle("GET "+authForwardPath, api(s.apiAuthForward))
	mux.Handle("/api/", api(s.apiNotFound))

	// Pages.
	page := s.handle
	signedIn := s.pageAuthed
	mux.Handle("GET /{$}", page(s.home))
	mux.Handle("GET /signup", page(s.signupPage))
	mux.Handle("POST /signup", page(s.signupSubmit))
	mux.Handle("GET /signin", page(s.signinPage))
	mux.Handle("POST /signin", page(s.signinSubmit))
	mux.Handle("GET /signin/2fa", page(s.signinMFAPage))
	mux.Handle("POST /signin/2fa", page(s.signinMFASubmit))
	mux.Handle("POST /signout", signedIn(s.signoutSubmit))
	mux.Handle("GET /forgot-password", page(s.forgotPasswordPage))
	mux.Handle("POST /forgot-password", page(s.forgotPasswordSubmit))
	mux.Handle("GET /reset-password", page(s.resetPasswordPage))
	mux.Handle("POST /reset-password", page(s.resetPasswordSubmit))
	mux.Handle("GET /verify-email", page(s.verifyEmailPage))
	mux.Handle("POST /verify-email", page(s.verifyEmailSubmit))
	mux.Handle("GET /lockdown", page(s.lockdownPage))
	mux.Handle("POST /lockdown", page(s.lockdownSubmit))
	mux.Handle("POST /settings/security/email/verification", signedIn(s.resendVerificationSubmit))
	mux.Handle("POST /settings/security/notifications", signedIn(s.notificationsSubmit))
	mux.Handle("GET /settings/security/email", signedIn(s.emailPage))
	mux.Handle("POST /settings/security/email", signedIn(s.emailSubmit))
	mux.Handle("GET /settings/security", signedIn(s.securityPage))
	mux.Handle("GET /settings/security/password", signedIn(s.passwordPage))
	mux.Handle("POST /settings/security/password", signedIn(s.passwordSubmit))
	mux.Handle("GET /settings/security/two-factor", signedIn(s.twoFactorPage))
	mux.Handle("POST /settings/security/two-factor/setup", signedIn(s.twoFactorSetupSubmit))
	mux.Handle("POST /settings/security/two-factor/enable", signedIn(s.twoFactorEnableSubmit))
	mux.Handle("POST /settings/security/two-factor/backup-codes", signedIn(s.backupCodesSubmit))
	mux.Handle("POST /settings/security/two-factor/disable", signedIn(s.twoFactorDisableSubmit))
	mux.Handle("GET /settings/security/sessions", signedIn(s.sessionsPage))
	mux.Handle("POST /settings/security/sessions/end-others", signedIn(s.endOtherSessionsSubmit))
	mux.Handle("POST /settings/security/sessions/{id}/end", signedIn(s.endSessionSubmit))
	mux.Handle("GET /settings/security/audit", signedIn(s.auditPage))
	mux.Handle("GET /settings/security/audit/export", signedIn(s.auditExport))
	mux.Handle("GET /static/brand.css", s.brandCSS())
	mux.Handle("GET /static/", s.static())
	mux.Handle("/", page(s.notFoundPage))
	return mux
}
