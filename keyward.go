// Package keyward is self-hosted account security: passwords, two-factor
// authentication, sessions and an audit log, as one service.
//
// The root package is the domain: the types, the Store contract, the one
// error type and the Service that holds every rule. Adapters live in their own
// packages (sqlite, postgres, web, ...) and depend on this one, never the
// other way round.
package keyward

import (
	"context"
	"strings"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/device"
)

// Event is an audit log entry; its vocabulary and chain live in package audit.
type Event = audit.Event

// Account is a person's account.
type Account struct {
	ID           string
	Email        string // as typed, trimmed; unique case-insensitively (EmailKey)
	PasswordHash string // PHC string; never leaves the service
	CreatedAt    time.Time
	// TwoFactorEnabledAt is set while TOTP is enabled.
	TwoFactorEnabledAt *time.Time
	// EmailVerifiedAt is set once a link mailed to Email was followed.
	EmailVerifiedAt *time.Time
	// LockedDownAt is set by "This wasn't me": the password stops working
	// until it is reset by mail.
	LockedDownAt *time.Time
	// NewDeviceMailOff turns off the mail about a sign-in from a new
	// device (the mails about factor changes cannot be turned off).
	NewDeviceMailOff bool
	// DisabledAt is set while an admin has disabled the account: it has
	// no session, and signing in answers account_disabled after a correct
	// password.
	DisabledAt *time.Time
	// Language is the language the account's mails are written in, a
	// code like "uk": the language of the sign-up, then the one its owner
	// chose. "" (an account older than languages) is the default.
	Language string
}

// Disabled reports whether an admin has disabled the account.
func (a *Account) Disabled() bool { return a.DisabledAt != nil }

// EmailVerified reports whether the account's address was proved.
func (a *Account) EmailVerified() bool { return a.EmailVerifiedAt != nil }

// TwoFactorEnabled reports whether the account asks for a second factor.
func (a *Account) TwoFactorEnabled() bool { return a.TwoFactorEnabledAt != nil }

// Session is a signed-in device. The token that opens it is never stored:
// only TokenHash is.
type Session struct {
	ID         string
	AccountID  string
	TokenHash  []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end; the idle end is LastSeenAt + idle timeout
	IP         string
	UserAgent  string
	Device     device.Device
	AAL        int // 2 when opened with a second factor
	AMR        AMR // how it was signed in
	// The end of the session's sudo window is deliberately not a field:
	// it is read from the store by the sensitive action that needs it
	// (Service.SudoUntil), never from a copy the session check cached.
}

// TOTPCredential is an enabled authenticator.
type TOTPCredential struct {
	AccountID    string
	SealedSecret string // encrypted seed, tagged with its key id
	EnabledAt    time.Time
	LastStep     int64  // the last accepted time step; no step <= it is accepted again
	BackupSalt   []byte // salt shared by the current set of backup codes
	// Failures counts consecutive wrong second-factor codes: never
	// forgotten by time, reset by a second factor that succeeds.
	Failures int
}

// PendingTOTP is a setup that waits for its confirming code. It belongs to
// the session that started it: only that session is shown the seed and may
// confirm it.
type PendingTOTP struct {
	AccountID    string
	SessionID    string
	SealedSecret string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// MFAChallenge is what an mfa_token stands for between the password step and
// the second factor: it opens nothing else and works once.
type MFAChallenge struct {
	TokenHash []byte
	AccountID string
	CreatedAt time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
}

// Throttle is the failure count kept for one key (an account, a client address).
type Throttle struct {
	Key         string
	Failures    int
	LastFailure time.Time
}

// EventFilter selects audit events. Zero fields select everything.
type EventFilter struct {
	ChainID string // an account id, or audit.SystemChain
	Types   []audit.Type
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	// Before is the keyset cursor: only events strictly older than it, in the
	// order (Time desc, ID desc).
	Before *EventCursor
	Limit  int
}

// AccountFilter selects a page of accounts for the admin API, newest
// first (by id, which starts with the time the account was made).
type AccountFilter struct {
	// EmailContains, when set, keeps the accounts whose EmailKey contains
	// it, matched literally (no wildcards).
	EmailContains string
	// BeforeID is the keyset cursor: only accounts whose id is strictly
	// less than it ("" starts at the newest).
	BeforeID string
	Limit    int // > 0
}

// EventCursor is a position in the newest-first order of a log.
type EventCursor struct {
	Time time.Time
	ID   string
}

// Invalidation tells node-local caches that something about an account (and
// perhaps one of its sessions, or all of them) changed.
type Invalidation struct {
	Seq       int64
	AccountID string
	At        time.Time
}

// EmailKey is the form an email is unique by: trimmed and lower-cased.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// InvalidationNotifier is implemented by stores that can push news of a new
// invalidation row at once (PostgreSQL LISTEN/NOTIFY). Without it, caches
// poll. Watch blocks until ctx ends or the connection is lost; it calls
// ready once it is listening and notify for each new row, with the row's
// account when the news names it ("" when it does not).
type InvalidationNotifier interface {
	WatchInvalidations(ctx context.Context, ready func(), notify func(accountID string)) error
}

// Migration is one schema change of a store, for `keyward migrate status`.
type Migration struct {
	Version   int
	Name      string
	AppliedAt *time.Time // nil while pending
}
