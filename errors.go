package keyward

import (
	"errors"
	"fmt"
	"time"
)

// Code is a machine-readable error code from API.md. The web layer maps each
// code to an HTTP status in one table; a code never changes meaning.
type Code string

// Codes used everywhere.
const (
	CodeInvalidRequest     Code = "invalid_request"
	CodeRequestTooLarge    Code = "request_too_large"
	CodeUnsupportedMedia   Code = "unsupported_media_type"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeForbidden          Code = "forbidden"
	CodeNotFound           Code = "not_found"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeTooManyAttempts    Code = "too_many_attempts"
	CodeReauthRequired     Code = "reauthentication_required"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal"
	CodeConflict           Code = "conflict"
	CodeInvalidEmail       Code = "invalid_email"
	CodeEmailTaken         Code = "email_taken"
	CodeSignupDisabled     Code = "signup_disabled"
	CodeInvalidCredentials Code = "invalid_credentials"
	CodeInvalidCode        Code = "invalid_code"
	CodeMFATokenExpired    Code = "mfa_token_expired"
	CodeInvalidCurrentPass Code = "invalid_current_password"
	CodeAlreadyEnabled     Code = "already_enabled"
	CodeNoPendingSetup     Code = "no_pending_setup"
	CodeNotEnabled         Code = "not_enabled"
	CodePasswordTooShort   Code = "password_too_short"
	CodePasswordTooLong    Code = "password_too_long"
	CodePasswordBreached   Code = "password_breached"
	CodePasswordTooWeak    Code = "password_too_weak"
	CodePasswordHasEmail   Code = "password_contains_email"
	CodeInvalidToken       Code = "invalid_token"           // a mailed link's token: unknown, used or expired
	CodeMFARequired        Code = "mfa_required"            // a second factor is needed: a reset of an account with 2FA, a route behind RequireTwoFactor
	CodeAlreadyVerified    Code = "already_verified"        // the email was verified already
	CodeEmailNotVerified   Code = "email_not_verified"      // --require-verified-email, after a correct password
	CodePasswordResetReq   Code = "password_reset_required" // after a lockdown, after a correct password
	CodeInvalidCredential  Code = "invalid_credential"      // a passkey response that does not pass
	CodeNoPasskeys         Code = "no_passkeys"             // a passkey ceremony for an account that has none
	CodeTooManyPasskeys    Code = "too_many_passkeys"       // the account has as many passkeys as it may
	CodePasskeysOff        Code = "passkeys_unavailable"    // keyward knows no public URL to make passkeys for
	CodeAccountDisabled    Code = "account_disabled"        // disabled by an admin, after a correct password (and code)
	CodeInsufficientScope  Code = "insufficient_scope"      // an admin token without the scope the route needs
)

// Error is keyward's one error type. Message is safe to show to the client;
// Err is the cause, for the log only.
type Error struct {
	Code    Code
	Message string // in English, as the logs have it
	// Key and Args make Message in another language: Message is
	// fmt.Sprintf(Key, Args...), and a catalogue (the locale package)
	// translates Key. Without a Key, Message is its own key.
	Key        string
	Args       []any
	RetryAfter time.Duration // for too_many_attempts and unavailable
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Key: format, Args: args}
}

// Internal wraps a cause that must not reach the client.
func Internal(err error) *Error {
	return &Error{Code: CodeInternal, Message: "Something went wrong on our side. Please try again.", Err: err}
}

// ErrorCode returns the code of err, CodeInternal for an error that is not an
// *Error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }

// ErrorMessage returns the client-safe message of err: a generic one for
// anything that is not an *Error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != CodeInternal {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}
