package web

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/device"
)

// This file holds one typed view per page and the formatting they share.
// An href a view carries (Href, SwitchHref, Scripts...) is a route of
// keyward's ("/signin"); templates put the base path before it with the
// "path" function. A next is already a full location and goes as it is.
// Every string a template shows is computed here, in Go, from the request
// time, so templates stay simple and the formatting is tested in tables.
//
// The views are the package's own business, so their types are unexported;
// their fields and methods stay exported because html/template reads only
// those.

// Flash kinds: how a one-line message after a redirect is styled.
const (
	flashOK      = "ok"
	flashWarning = "warning"
	flashError   = "error"
)

// The Security sections, in the order of the section navigation.
const (
	sectionOverview  = "overview"
	sectionPassword  = "password"
	sectionTwoFactor = "two-factor"
	sectionSessions  = "sessions"
	sectionAudit     = "audit"
)

// tab is one entry of the Security section navigation.
type tab struct {
	LabelKey string // the catalogue's key of its label
	ShortKey string // the label's key on a phone, when the label is too long for it
	Href     string
	Current  bool
}

var securityTabs = []struct{ section, labelKey, shortKey, href string }{
	{sectionOverview, "nav.overview", "", "/settings/security"},
	{sectionPassword, "nav.password", "", "/settings/security/password"},
	{sectionTwoFactor, "nav.two_factor", "nav.two_factor_short", "/settings/security/two-factor"},
	{sectionSessions, "nav.sessions", "", "/settings/security/sessions"},
	{sectionAudit, "nav.audit", "", "/settings/security/audit"},
}

// Tabs is the section navigation of the Security pages; empty outside them.
func (l layout) Tabs() []tab {
	if l.Section == "" {
		return nil
	}
	tabs := make([]tab, len(securityTabs))
	for i, t := range securityTabs {
		tabs[i] = tab{LabelKey: t.labelKey, ShortKey: t.shortKey, Href: t.href, Current: t.section == l.Section}
	}
	return tabs
}

// fieldErr is one form error, about the field of that name.
type fieldErr struct{ Field, Message string }

// fieldErrorView is an error shown next to its field ("field-error" in
// layout.html).
type fieldErrorView struct{ ID, Message string }

// Invalid reports whether one of the page's errors is about the form field
// name, so the field is marked aria-invalid and described by the error.
func (l layout) Invalid(field string) bool { return l.FieldError(field) != nil }

// FieldError is the error to show next to the field name, or nil.
func (l layout) FieldError(field string) *fieldErrorView {
	for _, e := range l.Errors {
		if e.Field == field {
			return &fieldErrorView{ID: fieldErrorID(field), Message: e.Message}
		}
	}
	return nil
}

// FormError is the error shown above the form: one about no field.
func (l layout) FormError() string {
	if l.ErrorField != "" {
		return ""
	}
	return l.Error
}

// Autofocus reports whether the field name takes the focus when the page
// loads: the first field with an error, or else the page's usual one
// (byDefault), so that a person fixing a form lands on what to fix.
func (l layout) Autofocus(field string, byDefault bool) bool {
	if len(l.Errors) > 0 {
		return l.Errors[0].Field == field
	}
	return byDefault
}

// DescribedBy is the aria-describedby value of the field name: its hint,
// and its error when it has one.
func (l layout) DescribedBy(field, hint string) string {
	ids := make([]string, 0, 2)
	if hint != "" {
		ids = append(ids, hint)
	}
	if l.Invalid(field) {
		ids = append(ids, fieldErrorID(field))
	}
	return strings.Join(ids, " ")
}

// fieldErrorID is the id of the error shown next to the field name.
func fieldErrorID(field string) string { return field + "-error" }

// layouter is implemented by every view through its embedded layout.
type layouter interface{ frame() *layout }

func (l *layout) frame() *layout { return l }

// signupView is /signup.
type signupView struct {
	layout
	EmailValue string // as typed (layout.Email is the signed-in person)
	Disabled   bool
	Next       string // where the person lands once signed up
	SigninHref string // the sign-in page, keeping Next
}

// signinView is /signin.
type signinView struct {
	layout
	EmailValue string // as typed (layout.Email is the signed-in person)
	Next       string
	CanSignUp  bool
	SignupHref string // the sign-up page, keeping Next
	Passkeys   bool   // "Sign in with a passkey" is offered
}

// forgotPasswordView is /forgot-password.
type forgotPasswordView struct {
	layout
	EmailValue string
	Sent       bool // the request was taken: "check your mail"
}

// resetPasswordView is /reset-password.
type resetPasswordView struct {
	layout
	Account   string // the account's email, for password managers
	Token     string
	NeedsCode bool // two-factor authentication is on: ask for a code too
	Dead      bool // the link does not work: offer a new one
}

// sudoView is /settings/security/confirm: the person confirms it is them
// before a sensitive action, with the password or a code.
type sudoView struct {
	layout
	Next       string // where to go back to: a local path, base path included
	Code       bool   // asking for a code rather than the password
	CanUseCode bool   // two-factor authentication is on: codes work too
	SwitchHref string
	SwitchText string
	Window     string // "10 minutes": how long the confirmation lasts
	Passkey    bool   // "Use a passkey" is offered: the account has one
}

// emailView is /settings/security/email: moving the account to another address.
type emailView struct {
	layout
	NewEmailValue string
}

// linkView is a page a mailed link opens (/verify-email, /lockdown): one
// button that acts on the link's token.
type linkView struct {
	layout
	Token string
	Dead  bool // the link does not work
	Done  bool // the link did its work (lockdown)
}

// signinMFAView is /signin/2fa, for an authenticator code or a backup
// code, or a passkey.
type signinMFAView struct {
	layout
	Next         string
	Passkey      bool // "Use a passkey" is offered
	Backup       bool // a backup code rather than an authenticator code
	Label        string
	Hint         string
	InputMode    string
	Autocomplete string
	MaxLength    int
	SwitchHref   string
	SwitchText   string
}

func newSigninMFAView(next string, methods []string, backup bool) signinMFAView {
	totp := hasMethod(methods, "totp")
	// Without codes from an app (a passkey holds two-factor on, or the
	// app's codes are suspended), the code asked for is a backup code.
	backup = backup || !totp
	v := signinMFAView{layout: layout{Title: "Two-factor authentication"}, Next: next, Backup: backup, Passkey: hasMethod(methods, "passkey")}
	if v.Passkey {
		v.Scripts = []string{passkeyJS}
	}
	if backup {
		v.Label = "Backup code"
		v.Hint = "Enter one of the backup codes you saved when you turned on two-factor authentication, like abcde-fghj-kmnp. Each code works once."
		v.InputMode, v.Autocomplete, v.MaxLength = "text", "off", 32
		if totp {
			v.SwitchHref, v.SwitchText = secondStepHref(next, false), "Use your authenticator app instead"
		}
	} else {
		v.Label = "Verification code"
		v.Hint = "Open your authenticator app and enter the 6-digit code it shows for keyward."
		v.InputMode, v.Autocomplete, v.MaxLength = "numeric", "one-time-code", 7
		v.SwitchHref, v.SwitchText = secondStepHref(next, true), "Use a backup code instead"
	}
	return v
}

// securityView is /settings/security: the four sections as cards.
type securityView struct {
	layout
	Cards         []securityCard
	EmailVerified bool
	NewDeviceMail bool // mail a notice when a new device signs in
}

// securityCard is one section on the overview.
type securityCard struct {
	Title   string
	Href    string
	Summary string // what the section is for
	// Status says where the account stands, in one line: Status, then
	// When (if any), then StatusEnd.
	Status    string
	When      *timeView
	StatusEnd string
	Warning   bool // the status needs attention
	// FixHref and FixText link to where the warning is dealt with.
	FixHref, FixText string
}

// passwordView is /settings/security/password.
type passwordView struct {
	layout
	SignOutOthers bool
}

// twoFactorView is /settings/security/two-factor in its states: off (with
// or without a pending setup), on, or showing a new set of backup codes.
type twoFactorView struct {
	layout
	// Enabled: the authenticator app is on (its section shows it on).
	// TwoFactorOn: the account asks for a second factor, with the app
	// or a passkey.
	Enabled     bool
	TwoFactorOn bool
	Passkeys    passkeysView
	EnabledOn   timeView
	CodesLeft   string // "8 backup codes left."
	CodesLow    bool   // three or fewer: warning styling
	Setup       *setupView
	BackupCodes *backupCodesView
	// SudoNeeded: the session's sudo window is closed, so the actions
	// send the person to confirm it is them first (the page says so).
	SudoNeeded bool
	// OthersEnding is how many other sessions turning it on signs out,
	// said before the person confirms the code.
	OthersEnding int
}

// OthersEndingText is "your 2 other sessions" for the step that turns it on.
func (v twoFactorView) OthersEndingText() string {
	if v.OthersEnding == 1 {
		return "your other session"
	}
	return "your " + plural(v.OthersEnding, "other session", "other sessions")
}

// setupView is a pending setup: steps 2 and 3.
type setupView struct {
	QR         template.URL // data:image/png;base64,…
	GroupedKey string       // "ABCD EFGH …"
	Account    string
	Issuer     string
	Type       string
	Algorithm  string
	Digits     int
	Period     string
	Expires    timeView
}

// backupCodesView is a freshly generated set, shown once.
type backupCodesView struct {
	Heading  string
	For      string // "keyward backup codes for ada@example.com, 2 March 2026": the printed sheet's title
	Codes    []string
	Download template.URL // data:text/plain;charset=utf-8,…
}

// sessionsView is /settings/security/sessions.
type sessionsView struct {
	layout
	Sessions []sessionRow
	Others   int
	// ConfirmEndOthers, when set ("2 other sessions"), asks before ending
	// every other session.
	ConfirmEndOthers string
}

// sessionRow is one signed-in device.
type sessionRow struct {
	ID           string
	Device       string // "Chrome on Windows"
	Type         string // "Desktop"
	IP           string
	Current      bool
	SignedInWith string // "Password + one-time code": how it was signed in
	Started      timeView
	LastActive   timeView
	EndAction    string
	// Applications are the OpenID Connect clients the session signed in
	// to: ending the session signs them out too.
	Applications []string
}

// auditView is /settings/security/audit.
type auditView struct {
	layout
	Events    []eventRow
	Types     []typeOption
	Since     string
	Until     string
	Filtered  bool
	Paged     bool // showing an older page
	NextHref  string
	FirstHref string
	CSVHref   string
	JSONLHref string
}

// eventRow is one audit event as a sentence.
type eventRow struct {
	Sentence string
	Device   string // where it came from: "Chrome on macOS"; "" without a user agent
	IP       string
	// ThisSession: it came from the session reading the log.
	ThisSession bool
	Failed      bool
	// Badge: a failure whose sentence does not already say it failed
	// gets the "Failed" badge ("Failed Failed sign-in" otherwise).
	Badge bool
	When  timeView
}

// saysFailed matches a sentence that says it failed: "Failed sign-in",
// "Email change failed", "setup failed: wrong code" (not "after too many
// failed attempts").
var saysFailed = regexp.MustCompile(`^Failed\b|\bfailed(:|$)`)

// newEventRow is e as a row of the log read by the session viewer.
func newEventRow(e *audit.Event, viewer string, now time.Time) eventRow {
	row := eventRow{
		Sentence:    audit.Describe(e),
		IP:          e.IP,
		ThisSession: e.SessionID != "" && e.SessionID == viewer,
		Failed:      e.Outcome == audit.Failure,
		When:        newTimeView(e.Time, now),
	}
	row.Badge = row.Failed && !saysFailed.MatchString(row.Sentence)
	if e.UserAgent != "" {
		d := device.Parse(e.UserAgent)
		row.Device = "An unknown device"
		if d.Browser != "Unknown browser" || d.OS != "Unknown OS" {
			row.Device = d.String()
		}
	}
	return row
}

// typeOption is one entry of the event type filter.
type typeOption struct {
	Value    string
	Label    string
	Selected bool
}

// timeView is a moment: exact, in a <time datetime> that time.js rewrites
// in the reader's time zone (UTC as sent, without scripts), and relative
// beside it.
type timeView struct {
	Relative string // "2 minutes ago"
	ISO      string // 2026-01-02T15:04:05Z
	Exact    string // "2 Jan 2026, 15:04:05 UTC"
	Text     string // "2 Jan 2026, 15:04 UTC": what the page shows
	Date     string // "2 January 2026"
}

func newTimeView(t, now time.Time) timeView {
	t = t.UTC()
	return timeView{
		Relative: relativeTime(t, now),
		ISO:      t.Format(time.RFC3339),
		Exact:    t.Format("2 Jan 2006, 15:04:05 UTC"),
		Text:     t.Format("2 Jan 2006, 15:04 UTC"),
		Date:     t.Format("2 January 2006"),
	}
}

// relativeTime says how long ago (or how soon) t is from now, the way a
// person would: "just now", "5 minutes ago", "yesterday", "in 10 minutes".
// Beyond about four weeks it gives the date instead.
func relativeTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		s = "1 minute"
	case d < 45*time.Minute:
		s = plural(roundDiv(d, time.Minute), "minute", "minutes")
	case d < 90*time.Minute:
		s = "1 hour"
	case d < 22*time.Hour:
		s = plural(roundDiv(d, time.Hour), "hour", "hours")
	case d < 36*time.Hour:
		if future {
			return "tomorrow"
		}
		return "yesterday"
	case d < 26*24*time.Hour:
		s = plural(roundDiv(d, 24*time.Hour), "day", "days")
	default:
		return "on " + t.UTC().Format("2 Jan 2006")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func roundDiv(d, unit time.Duration) int {
	return int(math.Round(float64(d) / float64(unit)))
}

// plural writes a count with the right form of its noun: "1 session", "3 sessions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// lowBackupCodes is where the pages start warning about backup codes.
const lowBackupCodes = 3

// backupCodesLeft is the status line for the remaining backup codes.
func backupCodesLeft(n int) (text string, low bool) {
	switch {
	case n <= 0:
		return "No backup codes left — generate new ones.", true
	case n <= lowBackupCodes:
		return "Only " + plural(n, "backup code", "backup codes") + " left — generate new ones.", true
	default:
		return plural(n, "backup code", "backup codes") + " left.", false
	}
}

// backupCodeFlash is the message after signing in with a backup code, and
// whether it is a warning.
func backupCodeFlash(remaining int) (text, kind string) {
	switch {
	case remaining <= 0:
		return "Signed in with a backup code. You have no backup codes left: generate new ones now in Two-factor authentication, or you may be locked out.", flashWarning
	case remaining <= lowBackupCodes:
		return "Signed in with a backup code. You have only " + plural(remaining, "backup code", "backup codes") +
			" left: generate new ones soon in Two-factor authentication.", flashWarning
	default:
		return "Signed in with a backup code. You have " + plural(remaining, "backup code", "backup codes") + " left.", flashOK
	}
}

// passwordChangedFlash is the message after a password change.
func passwordChangedFlash(revoked int, signedOutOthers bool) string {
	switch {
	case !signedOutOthers:
		return "Password changed. Your other sessions stay signed in."
	case revoked == 0:
		return "Password changed. There were no other sessions to sign out."
	case revoked == 1:
		return "Password changed. 1 other session was signed out."
	default:
		return "Password changed. " + strconv.Itoa(revoked) + " other sessions were signed out."
	}
}

// turnedOnNote is said when two-factor authentication has been turned on,
// with the other sessions that ended: "2 other sessions were signed out."
func turnedOnNote(ended int) string {
	note := "Two-factor authentication is on."
	if ended > 0 {
		note += " " + plural(ended, "other session was", "other sessions were") + " signed out."
	}
	return note
}

// sessionEndedFlash tells a browser whose session was ended from elsewhere
// why, from the reason its session.revoked event recorded.
func sessionEndedFlash(reason string) string {
	switch reason {
	case "2fa_enabled":
		return "You were signed out: two-factor authentication was turned on from another device. Sign in again with your password and a code."
	case "2fa_disabled":
		return "You were signed out: two-factor authentication was turned off from another device."
	case "password_changed":
		return "You were signed out: your password was changed from another device."
	case "password_reset":
		return "You were signed out: your password was reset by mail."
	case "passkey_removed":
		return "You were signed out: a passkey was removed from another device."
	case "locked_down":
		return "You were signed out: your account was locked down."
	case "account_disabled", "admin_revoked":
		return "You were signed out by an administrator."
	}
	return "You were signed out from another device."
}

// endedOthersFlash is the message after "End all other sessions".
func endedOthersFlash(n int) string {
	switch n {
	case 0:
		return "There were no other sessions to end."
	case 1:
		return "1 other session was ended."
	default:
		return strconv.Itoa(n) + " other sessions were ended."
	}
}

// signedInWith says how a session was signed in, from its methods (AMR):
// "Password", "Password + one-time code", "Passkey". A one-time code is the
// authenticator app's or a backup code: the session does not record which.
func signedInWith(amr keyward.AMR) string {
	var factors []string
	if amr.Has(keyward.AMRPassword) {
		factors = append(factors, "Password")
	}
	if amr.Has(keyward.AMROTP) {
		factors = append(factors, "one-time code")
	}
	if amr&(keyward.AMRHardwareKey|keyward.AMRSoftwareKey) != 0 {
		factors = append(factors, "passkey") // in a security key or not
	}
	if len(factors) == 0 {
		return "Unknown"
	}
	first := []rune(factors[0])
	factors[0] = strings.ToUpper(string(first[0])) + string(first[1:])
	return strings.Join(factors, " + ")
}

// typeLabels are the audit filter's words for each event type: the words
// the log's sentences start with (audit.Describe), so that what a person
// picks in the filter is what they then read in the list.
var typeLabels = map[audit.Type]string{
	audit.AccountCreated:         "Account created",
	audit.SigninSucceeded:        "Signed in",
	audit.SigninFailed:           "Failed sign-in",
	audit.SigninMFAFailed:        "Failed two-factor check",
	audit.SigninThrottled:        "Sign-in paused",
	audit.Signout:                "Signed out",
	audit.SessionRevoked:         "Session ended",
	audit.PasswordChanged:        "Password changed",
	audit.TwoFactorEnabled:       "Two-factor authentication enabled",
	audit.TwoFactorDisabled:      "Two-factor authentication disabled",
	audit.BackupCodesRegenerated: "New backup codes generated",
	audit.BackupCodeUsed:         "Backup code used",
	audit.EmailVerified:          "Email address confirmed",
	audit.EmailChangeRequested:   "Email change asked for",
	audit.EmailChanged:           "Email address changed",
	audit.PasswordResetRequested: "Password reset link mailed",
	audit.PasswordReset:          "Password reset by mail",
	audit.AccountLockedDown:      "Account locked down",
	audit.NotificationsChanged:   "Notification settings changed",
	audit.SudoGranted:            "Confirmed it was you",
	audit.PasskeyAdded:           "Passkey added",
	audit.PasskeyRemoved:         "Passkey removed",
	audit.PasskeyRenamed:         "Passkey renamed",
	audit.AccountDisabled:        "Account disabled",
	audit.AccountEnabled:         "Account enabled",
	audit.AccountDeleted:         "Account deleted",
	audit.AdminTokenCreated:      "Admin token created",
	audit.AdminTokenRevoked:      "Admin token revoked",
	audit.OIDCConsentGranted:     "Application allowed",
	audit.OIDCTokenIssued:        "Signed in to an application",
	audit.OIDCGrantRevoked:       "Application signed out",
}

// typeLabel is a readable name for an event type; a type newer than the
// table reads as itself.
func typeLabel(t audit.Type) string {
	if l, ok := typeLabels[t]; ok {
		return l
	}
	return string(t)
}

// typeOptions is the type filter: All, then the types an account's own
// log can hold.
func typeOptions(selected string) []typeOption {
	opts := []typeOption{{Value: "", Label: "All events", Selected: selected == ""}}
	for _, t := range audit.Types() {
		if audit.InAccountLog(t) {
			opts = append(opts, typeOption{Value: string(t), Label: typeLabel(t), Selected: string(t) == selected})
		}
	}
	return opts
}

// deviceType is a device's type as a word to show: "Desktop", "Mobile".
func deviceType(d device.Device) string {
	switch d.Type {
	case "desktop":
		return "Desktop"
	case "mobile":
		return "Mobile"
	case "tablet":
		return "Tablet"
	case "bot":
		return "Automated client"
	default:
		return "Unknown"
	}
}

// backupCodesFile is the text of the downloaded backup codes file.
func backupCodesFile(issuer, email string, codes []string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s backup codes\n", issuer)
	fmt.Fprintf(&b, "Account: %s\n", email)
	fmt.Fprintf(&b, "Generated: %s\n\n", now.UTC().Format("2 January 2006, 15:04 UTC"))
	b.WriteString("Each code works once. Keep them somewhere safe: they get you into your account\n")
	b.WriteString("if you cannot use your authenticator app. Generating new codes cancels these.\n\n")
	for _, c := range codes {
		b.WriteString(c)
		b.WriteByte('\n')
	}
	return b.String()
}

// textDataURL is a data: URL holding text, for a download link that needs
// no request to the server (the codes are never stored in the clear).
func textDataURL(text string) template.URL {
	// PathEscape leaves only characters that are safe in a data URL;
	// spaces become %20, not '+'.
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))
}

// auditFilters are the filters of an audit request, to keep in its links.
func auditFilters(v url.Values) url.Values {
	f := url.Values{}
	for _, k := range []string{"type", "since", "until"} {
		for _, x := range v[k] {
			if x != "" {
				f.Add(k, x)
			}
		}
	}
	return f
}

// auditLink is a URL of the audit page or its export with the filters kept.
func auditLink(path string, filters url.Values, key, value string) string {
	q := url.Values{}
	for k, vs := range filters {
		q[k] = vs
	}
	if key != "" {
		q.Set(key, value)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
