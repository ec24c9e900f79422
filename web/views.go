package web

import (
	"fmt"
	"html/template"
	"math"
	"net/url"
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
	Href     string
	Current  bool
}

var securityTabs = []struct{ section, labelKey, href string }{
	{sectionOverview, "nav.overview", "/settings/security"},
	{sectionPassword, "nav.password", "/settings/security/password"},
	{sectionTwoFactor, "nav.two_factor", "/settings/security/two-factor"},
	{sectionSessions, "nav.sessions", "/settings/security/sessions"},
	{sectionAudit, "nav.audit", "/settings/security/audit"},
}

// Tabs is the section navigation of the Security pages; empty outside them.
func (l layout) Tabs() []tab {
	if l.Section == "" {
		return nil
	}
	tabs := make([]tab, len(securityTabs))
	for i, t := range securityTabs {
		tabs[i] = tab{LabelKey: t.labelKey, Href: t.href, Current: t.section == l.Section}
	}
	return tabs
}

// Invalid reports whether the page's error is about the form field name, so
// the field is marked aria-invalid and described by the error.
func (l layout) Invalid(field string) bool { return l.Error != "" && l.ErrorField == field }

// DescribedBy is the aria-describedby value of the field name: its hint,
// and the page's error when the error is about this field.
func (l layout) DescribedBy(field, hint string) string {
	ids := make([]string, 0, 2)
	if hint != "" {
		ids = append(ids, hint)
	}
	if l.Invalid(field) {
		ids = append(ids, errorID)
	}
	return strings.Join(ids, " ")
}

// errorID is the id of the page's error paragraph (layout.html).
const errorID = "form-error"

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
	IP       string
	Failed   bool
	When     timeView
}

// typeOption is one entry of the event type filter.
type typeOption struct {
	Value    string
	Label    string
	Selected bool
}

// timeView is a moment shown relatively, with the exact UTC time for a
// <time datetime> and its title.
type timeView struct {
	Relative string // "2 minutes ago"
	ISO      string // 2026-01-02T15:04:05Z
	Exact    string // "2 Jan 2026, 15:04:05 UTC"
	Date     string // "2 January 2026"
}

func newTimeView(t, now time.Time) timeView {
	t = t.UTC()
	return timeView{
		Relative: relativeTime(t, now),
		ISO:      t.Format(time.RFC3339),
		Exact:    t.Format("2 Jan 2006, 15:04:05 UTC"),
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

// typeLabels are the audit filter's words for each event type.
var typeLabels = map[audit.Type]string{
	audit.AccountCreated:         "Account created",
	audit.SigninSucceeded:        "Signed in",
	audit.SigninFailed:           "Failed sign-in",
	audit.SigninMFAFailed:        "Failed two-factor check",
	audit.SigninThrottled:        "Sign-in slowed down",
	audit.Signout:                "Signed out",
	audit.SessionRevoked:         "Session ended",
	audit.PasswordChanged:        "Password changed",
	audit.TwoFactorEnabled:       "Two-factor turned on",
	audit.TwoFactorDisabled:      "Two-factor turned off",
	audit.BackupCodesRegenerated: "New backup codes generated",
	audit.BackupCodeUsed:         "Backup code used",
	audit.EmailVerified:          "Email confirmed",
	audit.EmailChangeRequested:   "Email change asked for",
	audit.EmailChanged:           "Email changed",
	audit.PasswordResetRequested: "Password reset mailed",
	audit.PasswordReset:          "Password reset",
	audit.AccountLockedDown:      "Account locked down",
	audit.NotificationsChanged:   "Notifications changed",
	audit.SudoGranted:            "Confirmed it was you",
	audit.AccountDisabled:        "Account disabled",
	audit.AccountEnabled:         "Account enabled",
	audit.AccountDeleted:         "Account deleted",
	audit.AdminTokenCreated:      "Admin token created",
	audit.AdminTokenRevoked:      "Admin token revoked",
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
