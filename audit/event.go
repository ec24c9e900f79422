// Package audit owns the security event vocabulary, the hash chain that makes
// the log tamper-evident, its verification, and its export formats.
package audit

import "time"

// Type is an event type from the fixed vocabulary of API.md: add new ones,
// never rename.
type Type string

// The vocabulary.
const (
	AccountCreated         Type = "account.created"
	SigninSucceeded        Type = "signin.succeeded"
	SigninFailed           Type = "signin.failed"
	SigninMFAFailed        Type = "signin.mfa_failed"
	SigninThrottled        Type = "signin.throttled"
	Signout                Type = "signout"
	SessionRevoked         Type = "session.revoked"
	PasswordChanged        Type = "password.changed"
	TwoFactorEnabled       Type = "2fa.enabled"
	TwoFactorDisabled      Type = "2fa.disabled"
	BackupCodesRegenerated Type = "2fa.backup_codes.regenerated"
	BackupCodeUsed         Type = "2fa.backup_code.used"
	EmailVerified          Type = "email.verified"
	EmailChangeRequested   Type = "email.change_requested"
	EmailChanged           Type = "email.changed"
	PasswordResetRequested Type = "password.reset_requested"
	PasswordReset          Type = "password.reset"
	AccountLockedDown      Type = "account.locked_down"
	NotificationsChanged   Type = "notifications.changed"
	PasskeyAdded           Type = "passkey.added"
	PasskeyRemoved         Type = "passkey.removed"
	PasskeyRenamed         Type = "passkey.renamed"
	SudoGranted            Type = "sudo.granted"
	AccountDisabled        Type = "account.disabled"
	AccountEnabled         Type = "account.enabled"
	// AccountDeleted is recorded in the system chain: the account's own
	// chain is deleted with it.
	AccountDeleted    Type = "account.deleted"
	AdminTokenCreated Type = "admin.token_created"
	AdminTokenRevoked Type = "admin.token_revoked"
	// The OpenID Connect provider's: a person let a third-party
	// application in, an application's code was redeemed for tokens (the
	// grant began; refreshes are not recorded), a grant was revoked (by
	// the application, or for a code or refresh token shown twice).
	OIDCConsentGranted Type = "oidc.consent_granted"
	OIDCTokenIssued    Type = "oidc.token_issued"
	OIDCGrantRevoked   Type = "oidc.grant_revoked"
)

// Types lists the vocabulary in a stable order (for filters and pages).
func Types() []Type {
	return []Type{
		AccountCreated, SigninSucceeded, SigninFailed, SigninMFAFailed, SigninThrottled,
		Signout, SessionRevoked, PasswordChanged, TwoFactorEnabled, TwoFactorDisabled,
		BackupCodesRegenerated, BackupCodeUsed,
		EmailVerified, EmailChangeRequested, EmailChanged, PasswordResetRequested, PasswordReset, AccountLockedDown,
		NotificationsChanged, SudoGranted, PasskeyAdded, PasskeyRemoved, PasskeyRenamed,
		AccountDisabled, AccountEnabled, AccountDeleted, AdminTokenCreated, AdminTokenRevoked,
		OIDCConsentGranted, OIDCTokenIssued, OIDCGrantRevoked,
	}
}

// InAccountLog reports whether events of type t can be in an account's own
// chain. An account's deletion and the admin tokens' lives are recorded
// only in the system chain.
func InAccountLog(t Type) bool {
	switch t {
	case AccountDeleted, AdminTokenCreated, AdminTokenRevoked:
		return false
	}
	return Known(t)
}

// Known reports whether t is part of the vocabulary.
func Known(t Type) bool {
	for _, k := range Types() {
		if k == t {
			return true
		}
	}
	return false
}

// Outcome says whether the recorded action succeeded.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// Actor says who caused an event.
type Actor string

// Actors.
const (
	ActorSelf   Actor = "self"
	ActorAdmin  Actor = "admin"
	ActorSystem Actor = "system"
)

// SystemChain is the chain of events that belong to no account (for example a
// failed sign-in for an email that has no account): operators only.
const SystemChain = "system"

// Event is one entry of an account's (or the system's) security log.
//
// Events form one hash chain per ChainID (the account id, or SystemChain):
// Seq counts from 1 without gaps, PrevHash is the previous event's Hash, and
// Hash covers every other field (see ChainHash).
type Event struct {
	ID        string
	ChainID   string
	Seq       int64
	Time      time.Time // UTC
	Type      Type
	Outcome   Outcome
	Reason    string // why a failure failed, machine-readable (e.g. "invalid_password")
	IP        string
	UserAgent string
	SessionID string // empty when none
	Actor     Actor
	Details   map[string]string // never a password, code, seed or token
	PrevHash  []byte
	Hash      []byte
	// MAC is the keyed link (see Sealer): stored with the event; "" for
	// events written before the log was sealed.
	MAC string
	// HeadSeal is the chain's head seal once e is its newest event (see
	// Sealer). It is stored in the head only, never with the event, and
	// is empty on events read back.
	HeadSeal string
}

// Head is the newest link of a chain; Base* describe the checkpoint left by
// retention pruning (the last pruned event: its seq, hash, MAC and time), so
// that the remaining chain can still be verified from its first surviving
// event.
type Head struct {
	ChainID  string
	Seq      int64
	Hash     []byte
	Seal     string // the keyed seal of the newest event (Sealer); "" before sealing
	BaseSeq  int64
	BaseHash []byte
	BaseMAC  string
	BaseTime time.Time // zero for a checkpoint made before sealing
}
