package audit

import (
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/keyward/keyward/device"
)

// Record is an event as clients see it: the Event object of API.md. The API,
// the JSONL export and the pages all show this, so they never disagree.
type Record struct {
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"` // UTC, RFC 3339 with sub-seconds when present
	Type      Type              `json:"type"`
	Outcome   Outcome           `json:"outcome"`
	Reason    string            `json:"reason,omitempty"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Device    device.Device     `json:"device"`
	SessionID *string           `json:"session_id"` // null when the event has no session
	Actor     Actor             `json:"actor"`
	Details   map[string]string `json:"details"` // {} when empty, never null
}

// RecordOf returns the public form of e. Time is cut to microseconds, the
// precision the chain covers and the stores keep, so an event reads the same
// before and after it is stored. Details is a copy.
func RecordOf(e *Event) Record { return recordOf(e, device.Parse) }

func recordOf(e *Event, parse func(string) device.Device) Record {
	r := Record{
		ID:        e.ID,
		Time:      e.Time.UTC().Truncate(time.Microsecond),
		Type:      e.Type,
		Outcome:   e.Outcome,
		Reason:    e.Reason,
		IP:        e.IP,
		UserAgent: e.UserAgent,
		Device:    parse(e.UserAgent),
		Actor:     e.Actor,
		Details:   maps.Clone(e.Details),
	}
	if e.SessionID != "" {
		id := e.SessionID
		r.SessionID = &id
	}
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	return r
}

// devices remembers parsed user agents during one export: a log repeats a
// handful of agents, and parsing one is a fifth of an exported row's cost.
type devices struct{ m map[string]device.Device }

// maxDevices bounds the memory of an export whatever its agents.
const maxDevices = 256

func (d *devices) parse(ua string) device.Device {
	if dev, ok := d.m[ua]; ok {
		return dev
	}
	if d.m == nil || len(d.m) >= maxDevices {
		d.m = make(map[string]device.Device, maxDevices)
	}
	dev := device.Parse(ua)
	d.m[ua] = dev
	return dev
}

// Details keys that Describe reads. Callers set them when they record the
// event; every value is a plain string, never a secret.
const (
	// DetailMethod (signin.succeeded, sudo.granted): how the last step was
	// passed, or how the person confirmed it was them, one of the Method
	// constants.
	DetailMethod = "method"
	// DetailDevice (session.revoked): the ended session's device, as
	// device.Device.String() ("Firefox on Linux"). The event's own user agent
	// is the caller's, not the ended session's, so it cannot be used.
	DetailDevice = "device"
	// DetailIP (session.revoked): the ended session's address.
	DetailIP = "ip"
	// DetailSession (session.revoked): the ended session's id.
	DetailSession = "session"
	// DetailRemaining (2fa.backup_code.used): backup codes left, a decimal.
	DetailRemaining = "remaining"
	// DetailRetryAfter (signin.throttled): seconds until the next attempt, a decimal.
	DetailRetryAfter = "retry_after"
	// DetailRevokedSessions (password.changed): other sessions ended, a decimal.
	DetailRevokedSessions = "revoked_sessions"
	// DetailEmailDigest (signin.failed and signin.throttled in the system
	// chain): a keyed digest of the email typed for an unknown account,
	// "<key id>:<hex>", never the text (`keyward audit list --email` finds
	// them).
	DetailEmailDigest = "email_digest"
	// DetailNewDeviceMail (notifications.changed): "on" or "off", the
	// new-device sign-in mail as the change left it.
	DetailNewDeviceMail = "new_device_mail"
	// DetailPasskey (passkey.*, and signin.* with a passkey): the
	// passkey's name as its owner gave it.
	DetailPasskey = "passkey"
	// DetailPasskeyID (passkey.*, signin.* with a passkey): its id.
	DetailPasskeyID = "passkey_id"
	// DetailOldName (passkey.renamed): the name before.
	DetailOldName = "old_name"
	// DetailTwoFactor (2fa.enabled, 2fa.disabled, passkey.added,
	// passkey.removed): "on" or "off", two-factor authentication as the
	// change left it (the account keeps it on while another factor
	// remains).
	DetailTwoFactor = "two_factor"
	// DetailReason (signin.failed with a passkey): why, as the contract
	// names it; passkey_counter for a counter that did not move forward.
	// (session.revoked): why the sessions were ended together, like
	// 2fa_enabled or signed_out_others.
	DetailReason = "reason"
	// DetailAdminToken (events with actor admin): the name of the admin
	// token the action was taken with; absent when it was taken on the
	// operator's command line.
	DetailAdminToken = "admin_token"
	// DetailAccountID (account.deleted, in the system chain): the id of
	// the deleted account, whose own chain is gone.
	DetailAccountID = "account_id"
	// DetailScopes (admin.token_created): the token's scopes, comma-separated.
	DetailScopes = "scopes"
	// DetailClient and DetailClientName (oidc.*) are the OpenID Connect
	// client's id and name.
	DetailClient     = "client"
	DetailClientName = "client_name"
)

// ReasonPasskeyCounter is the reason of a signin.failed whose passkey's
// signature counter did not move forward: a copy of it may be in use.
const ReasonPasskeyCounter = "passkey_counter"

// ReasonTOTPSuspended is the reason of a signin.mfa_failed whose TOTP code
// was refused unchecked, and of the signin.throttled recorded once when
// that starts: after too many consecutive wrong second-factor codes, until
// a backup code signs in.
const ReasonTOTPSuspended = "totp_suspended"

// Sign-in methods, the values of DetailMethod (the names API.md uses).
const (
	MethodPassword   = "password"
	MethodTOTP       = "totp"
	MethodBackupCode = "backup_code"
	MethodPasskey    = "passkey"
)

// Describe returns a sentence a person reads at a glance: "Signed in from
// Chrome on Windows", "Failed sign-in: wrong password", "Backup code used (7
// left)". Events caused by an administrator end in " by an administrator".
// Values taken from the event lose their control characters, so a crafted
// user agent cannot break a line of text.
func Describe(e *Event) string {
	s := describe(e)
	if e.Actor == ActorAdmin {
		s += " by an administrator"
	}
	return s
}

// describe is the table: one case per event type.
func describe(e *Event) string {
	d := e.Details
	switch e.Type {
	case AccountCreated:
		return outcome(e, "Account created", "Account creation failed")
	case SigninSucceeded:
		s := "Signed in"
		if dev := deviceOf(e); dev != "" {
			s += " from " + dev
		}
		switch d[DetailMethod] {
		case MethodTOTP:
			s += " with an authenticator code"
		case MethodBackupCode:
			s += " with a backup code"
		case MethodPasskey:
			s += " with " + passkeyNamed(d)
		}
		return s
	case SigninFailed:
		return withReason("Failed sign-in", e.Reason)
	case SigninMFAFailed:
		return withReason("Failed two-factor check", e.Reason)
	case SigninThrottled:
		if e.Reason == ReasonTOTPSuspended {
			return "Authenticator codes turned off after too many wrong codes in a row, until a backup code is used"
		}
		if n, ok := count(d[DetailRetryAfter]); ok {
			return "Sign-in paused for " + plural(n, "second", "seconds") + " after too many failed attempts"
		}
		return "Sign-in paused after too many failed attempts"
	case Signout:
		return parens("Signed out", deviceOf(e))
	case SessionRevoked:
		return sessionEnded(d)
	case PasswordChanged:
		s := outcome(e, "Password changed", "Password change failed")
		if n, ok := count(d[DetailRevokedSessions]); ok && n > 0 && e.Outcome != Failure {
			s += "; " + plural(n, "other session", "other sessions") + " signed out"
		}
		return s
	case TwoFactorEnabled:
		switch {
		case d[DetailMethod] == MethodPasskey:
			return outcome(e, "Two-factor authentication enabled with "+passkeyNamed(d), "Two-factor authentication setup failed")
		case d[DetailTwoFactor] == "on" && d[DetailMethod] == MethodTOTP:
			return outcome(e, "Authenticator app added to two-factor authentication", "Authenticator app setup failed")
		}
		return outcome(e, "Two-factor authentication enabled", "Two-factor authentication setup failed")
	case TwoFactorDisabled:
		if d[DetailTwoFactor] == "on" {
			return outcome(e, "Authenticator app removed; two-factor authentication stays on with passkeys", "Removing the authenticator app failed")
		}
		return outcome(e, "Two-factor authentication disabled", "Turning off two-factor authentication failed")
	case PasskeyAdded:
		return outcome(e, capital(passkeyNamed(d))+" added", "Adding a passkey failed")
	case PasskeyRemoved:
		s := outcome(e, capital(passkeyNamed(d))+" removed", "Removing a passkey failed")
		if d[DetailTwoFactor] == "off" && e.Outcome != Failure {
			s += "; two-factor authentication is off"
		}
		return s
	case PasskeyRenamed:
		return outcome(e, "Passkey "+quoted(d[DetailOldName])+" renamed to "+quoted(d[DetailPasskey]), "Renaming a passkey failed")
	case BackupCodesRegenerated:
		return outcome(e, "New backup codes generated", "Generating new backup codes failed")
	case BackupCodeUsed:
		if n, ok := count(d[DetailRemaining]); ok {
			if n == 0 {
				return "Backup code used (none left)"
			}
			return "Backup code used (" + strconv.Itoa(n) + " left)"
		}
		return "Backup code used"
	case EmailVerified:
		return outcome(e, "Email address confirmed", "Confirming the email address failed")
	case EmailChangeRequested:
		return outcome(e, "Email change asked for; waiting for confirmation from the new address", "Email change failed")
	case EmailChanged:
		return outcome(e, "Email address changed", "Email change failed")
	case PasswordResetRequested:
		return outcome(e, "Password reset link mailed", "Password reset request failed")
	case PasswordReset:
		s := outcome(e, "Password reset by mail", "Password reset failed")
		if n, ok := count(d[DetailRevokedSessions]); ok && n > 0 && e.Outcome != Failure {
			s += "; " + plural(n, "session", "sessions") + " signed out"
		}
		return s
	case AccountLockedDown:
		return outcome(e, "Account locked down (\"This wasn't me\"): every session signed out, password reset required", "Lockdown failed")
	case SudoGranted:
		if e.Outcome == Failure {
			return withReason("Failed to confirm it was you", e.Reason)
		}
		switch d[DetailMethod] {
		case MethodPassword:
			return "Confirmed it was you with the password"
		case MethodTOTP:
			return "Confirmed it was you with an authenticator code"
		case MethodBackupCode:
			return "Confirmed it was you with a backup code"
		}
		return "Confirmed it was you"
	case NotificationsChanged:
		switch d[DetailNewDeviceMail] {
		case "on":
			return outcome(e, "Mails about sign-ins from new devices turned on", "Changing notifications failed")
		case "off":
			return outcome(e, "Mails about sign-ins from new devices turned off", "Changing notifications failed")
		}
		return outcome(e, "Notification settings changed", "Changing notifications failed")
	case AccountDisabled:
		s := outcome(e, "Account disabled: signing in is refused", "Disabling the account failed")
		if n, ok := count(d[DetailRevokedSessions]); ok && n > 0 && e.Outcome != Failure {
			s += "; " + plural(n, "session", "sessions") + " signed out"
		}
		return s
	case AccountEnabled:
		return outcome(e, "Account enabled again", "Enabling the account failed")
	case AccountDeleted:
		return parens(outcome(e, "Account deleted", "Deleting the account failed"), clean(d[DetailAccountID]))
	case AdminTokenCreated:
		return parens(outcome(e, "Admin token created", "Creating an admin token failed"), clean(d[DetailAdminToken]))
	case AdminTokenRevoked:
		return parens(outcome(e, "Admin token revoked", "Revoking an admin token failed"), clean(d[DetailAdminToken]))
	case OIDCConsentGranted:
		return outcome(e, "Allowed "+appNamed(d)+" to use the account", "Allowing "+appNamed(d)+" failed")
	case OIDCTokenIssued:
		return outcome(e, "Signed in to "+appNamed(d), "Signing in to "+appNamed(d)+" failed")
	case OIDCGrantRevoked:
		s := outcome(e, "Signed out of "+appNamed(d), "Signing out of "+appNamed(d)+" failed")
		if r := clean(d[DetailReason]); r != "" {
			s = parens(s, r)
		}
		return s
	}
	// A type newer than this table still reads as something.
	return outcome(e, "Security event "+clean(string(e.Type)), "Failed security event "+clean(string(e.Type)))
}

// sessionEnded names the ended session and why it ended: "Session on
// Chrome on macOS (203.0.113.9) ended: two-factor authentication turned on".
func sessionEnded(d map[string]string) string {
	s := "Session ended"
	if dev := clean(d[DetailDevice]); dev != "" {
		s = "Session on " + parens(dev, clean(d[DetailIP])) + " ended"
	}
	if why := endReasonText(d[DetailReason]); why != "" {
		s += ": " + why
	}
	return s
}

// endReasonText is why sessions were ended together, in words; an
// administrator's ending says so already (Describe).
func endReasonText(reason string) string {
	switch reason {
	case "", "admin_revoked":
		return ""
	case "2fa_enabled":
		return "two-factor authentication turned on"
	case "2fa_disabled":
		return "two-factor authentication turned off"
	case "password_changed":
		return "password changed"
	case "password_reset":
		return "password reset by mail"
	case "signed_out_others":
		return "all other sessions ended"
	case "locked_down":
		return "account locked down"
	case "account_disabled":
		return "account disabled"
	case "passkey_removed":
		return "passkey removed"
	}
	return strings.ReplaceAll(clean(reason), "_", " ")
}

// passkeyNamed is "the passkey “Laptop”", or "a passkey" without a name.
func passkeyNamed(d map[string]string) string {
	if n := clean(d[DetailPasskey]); n != "" {
		return "the passkey " + quoted(n)
	}
	return "a passkey"
}

func quoted(s string) string { return "\u201c" + clean(s) + "\u201d" }

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// outcome picks the phrase for e's outcome, with the reason of a failure.
func outcome(e *Event, done, failed string) string {
	if e.Outcome == Failure {
		return withReason(failed, e.Reason)
	}
	return done
}

// withReason appends the reason a person understands: "Failed sign-in: wrong password".
func withReason(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + ": " + reasonText(reason)
}

// reasonText turns a machine reason into words; unknown ones are shown with
// spaces for underscores rather than hidden.
func reasonText(reason string) string {
	switch reason {
	case "invalid_password":
		return "wrong password"
	case "invalid_credentials":
		return "wrong email or password"
	case "unknown_email", "unknown_account":
		return "no account with that email"
	case "invalid_code":
		return "wrong code"
	case "code_reused":
		return "code already used"
	case "invalid_current_password":
		return "wrong current password"
	case "mfa_token_expired":
		return "took too long to enter the code"
	case "too_many_attempts":
		return "too many attempts"
	case "invalid_token":
		return "the link was unknown, used or expired"
	case "account_disabled":
		return "the account is disabled"
	case ReasonTOTPSuspended:
		return "authenticator codes are turned off after too many wrong codes; use a backup code"
	case "invalid_credential":
		return "the passkey was not accepted"
	case ReasonPasskeyCounter:
		return "the passkey's counter went back, so a copy of it may be in use"
	}
	return strings.ReplaceAll(clean(reason), "_", " ")
}

// deviceOf is the event's own device ("Chrome on Windows"), or "" when the
// event has no user agent.
func deviceOf(e *Event) string {
	if e.UserAgent == "" {
		return ""
	}
	d := device.Parse(e.UserAgent)
	if d.Browser == "Unknown browser" && d.OS == "Unknown OS" {
		return "an unknown device"
	}
	return clean(d.String())
}

func parens(s, extra string) string {
	if extra == "" {
		return s
	}
	return s + " (" + extra + ")"
}

// count reads a non-negative decimal detail.
func count(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// clean drops control characters and bounds the length of a value shown in
// a sentence.
func clean(s string) string {
	const limit = 100
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return strings.TrimSpace(s)
}

// appNamed is "the application “PayDesk”", or "an application" without a
// name.
func appNamed(d map[string]string) string {
	if n := clean(d[DetailClientName]); n != "" {
		return "the application " + quoted(n)
	}
	return "an application"
}
