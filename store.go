package keyward

import (
	"context"
	"time"

	"github.com/keyward/keyward/audit"
)

// Store is where keyward keeps everything. It only stores: every rule lives in
// the Service. Each implementation passes the storetest conformance suite.
//
// Errors: a missing row is an *Error with CodeNotFound (also for an update
// of a row that does not exist), a duplicate email is CodeEmailTaken, an
// AppendEvent out of sequence is CodeConflict, a store that cannot be
// reached is CodeUnavailable; anything else becomes CodeInternal.
//
// Times come back in UTC at microsecond precision. Something expires when
// its ExpiresAt <= now; "before" cut-offs are strict. Stores match emails by
// EmailKey computed in Go (SQL lower() does not fold non-ASCII letters).
type Store interface {
	Queries
	// InTx runs fn in one transaction: everything fn does through q commits
	// together or not at all. fn may be run more than once (on a serialisation
	// conflict), so it must not have side effects outside q.
	InTx(ctx context.Context, fn func(q Queries) error) error
	// Ping reports whether the store answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// Queries are the store's operations. Called on a Store, each runs on its own;
// called on the q of InTx, they share its transaction.
type Queries interface {
	// Accounts. Emails are matched case-insensitively (by EmailKey).
	CreateAccount(ctx context.Context, a *Account) error
	AccountByID(ctx context.Context, id string) (*Account, error)
	AccountByEmail(ctx context.Context, email string) (*Account, error)
	// LockAccount reads the account and, inside InTx, holds it against
	// concurrent changes until the transaction ends (SELECT ... FOR UPDATE):
	// a sign-in that checked a password outside the transaction confirms
	// here that the password and factors are still the ones it checked.
	LockAccount(ctx context.Context, id string) (*Account, error)
	SetPasswordHash(ctx context.Context, accountID, hash string) error
	ListAccounts(ctx context.Context) ([]Account, error)

	// Sessions.
	CreateSession(ctx context.Context, s *Session) error
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (*Session, error)
	SessionByID(ctx context.Context, accountID, id string) (*Session, error)
	// ListSessions returns the account's sessions that have not expired at
	// now (absolute expiry), newest activity first.
	ListSessions(ctx context.Context, accountID string, now time.Time) ([]Session, error)
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// SetSessionAAL records that a session has proved a second factor.
	SetSessionAAL(ctx context.Context, id string, aal int) error
	// DeleteSession reports whether a session of that account with that id existed.
	DeleteSession(ctx context.Context, accountID, id string) (bool, error)
	// DeleteOtherSessions ends every session of the account except keepID ("" ends all) and returns the ids ended.
	DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error)
	// DeleteExpiredSessions removes sessions whose absolute expiry or idle
	// deadline (last seen before idleBefore) has passed.
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error)

	// Two-factor authentication.
	PutPendingTOTP(ctx context.Context, p *PendingTOTP) error // replaces an earlier one
	PendingTOTP(ctx context.Context, accountID string) (*PendingTOTP, error)
	DeletePendingTOTP(ctx context.Context, accountID string) error
	// DeleteExpiredPendingTOTP removes setups whose ExpiresAt <= now.
	DeleteExpiredPendingTOTP(ctx context.Context, now time.Time) (int, error)
	// EnableTOTP stores the credential and sets the account's TwoFactorEnabledAt.
	EnableTOTP(ctx context.Context, c *TOTPCredential) error
	TOTPCredential(ctx context.Context, accountID string) (*TOTPCredential, error)
	// AdvanceTOTPStep sets LastStep to step only if it is greater than the
	// stored one, and reports whether it did: the replay guard.
	AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error)
	// AddSecondFactorFailure counts one more consecutive wrong second-factor
	// code on the account's credential and returns the new count.
	AddSecondFactorFailure(ctx context.Context, accountID string) (int, error)
	// ClearSecondFactorFailures sets the count back to 0.
	ClearSecondFactorFailures(ctx context.Context, accountID string) error
	// SwapTOTPSecret replaces the sealed seed with sealed only while it is
	// still old (compare-and-swap, for key rotation), and reports whether it
	// did: a seed disabled, or replaced by a new enrolment, since it was read
	// stays as it is. No credential is false, not an error.
	SwapTOTPSecret(ctx context.Context, accountID, old, sealed string) (bool, error)
	// SwapPendingSecret is SwapTOTPSecret for a pending setup: a setup
	// deleted, confirmed or replaced since it was read is not brought back.
	SwapPendingSecret(ctx context.Context, accountID, old, sealed string) (bool, error)
	// DisableTOTP deletes the credential, the backup codes and any pending
	// setup, and clears TwoFactorEnabledAt.
	DisableTOTP(ctx context.Context, accountID string) error
	// ReplaceBackupCodes swaps the whole set: salt and hashes.
	ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error
	// UseBackupCode marks an unused code with that hash as used, and reports
	// whether one was: exactly one of many concurrent callers wins.
	UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error)
	BackupCodesRemaining(ctx context.Context, accountID string) (int, error)
	ListPendingSecrets(ctx context.Context) ([]PendingTOTP, error)
	ListTOTPCredentials(ctx context.Context) ([]TOTPCredential, error)

	// MFA challenges (the mfa_token between the two sign-in steps).
	CreateMFAChallenge(ctx context.Context, c *MFAChallenge) error
	MFAChallenge(ctx context.Context, tokenHash []byte) (*MFAChallenge, error)
	// ConsumeMFAChallenge deletes it and reports whether this caller did.
	ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error)
	DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int, error)
	// DeleteMFAChallenges ends every waiting second step of the account (its
	// password or factors changed).
	DeleteMFAChallenges(ctx context.Context, accountID string) (int, error)

	// Throttling. AddFailure counts one failure for key atomically: when the
	// last failure was before forgetBefore the count starts again at 1.
	AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (Throttle, error)
	Throttle(ctx context.Context, key string) (Throttle, error) // zero Throttle (with Key) when none
	ClearThrottle(ctx context.Context, key string) error
	// DeleteThrottlesBefore forgets keys whose last failure was before
	// before, so a flood from many addresses cannot grow the table forever.
	DeleteThrottlesBefore(ctx context.Context, before time.Time) (int, error)

	// Audit log. LockAuditHead returns the chain's head and holds it until the
	// transaction ends (a zero Head with ChainID when the chain is new);
	// AppendEvent inserts e (Seq, PrevHash, Hash and MAC already set) and makes
	// it the head, with e.HeadSeal as the head's seal (kept in the head only,
	// never with the event); it fails if e.Seq is not head.Seq+1. Inside InTx a store may
	// send it later, with the next statement or the commit (PostgreSQL does,
	// to save round trips): the failure then comes from that call or from
	// InTx, and the transaction never commits without its event.
	LockAuditHead(ctx context.Context, chainID string) (audit.Head, error)
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns events newest first (Time desc, ID desc).
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// EachEvent streams events newest first without holding them all in memory.
	EachEvent(ctx context.Context, f EventFilter, fn func(*Event) error) error
	// EachChainEvent streams one chain oldest first (Seq asc), for verification.
	EachChainEvent(ctx context.Context, chainID string, fn func(*Event) error) error
	// AuditHeads returns every chain's head (Seal and the Base* fields too).
	AuditHeads(ctx context.Context) ([]audit.Head, error)
	// SealAuditHead sets the seal of a head that has none, only while the
	// head is still at seq, and reports whether it did: how heads written
	// before sealing existed get one (the service's SealAudit). A head that
	// is sealed, or has moved, is left alone.
	SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error)
	// PruneEvents deletes the chain's events older than before and records the
	// last deleted one as the chain's checkpoint (Head.BaseSeq, BaseHash,
	// BaseMAC and BaseTime: its seq, hash, MAC and time).
	PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error)

	// Cache invalidation log: every change that a node-local cache may hold
	// (a session ended, an account's factors changed) appends one row.
	AddInvalidation(ctx context.Context, accountID string, at time.Time) error
	// InvalidationsSince returns rows with Seq > after, oldest first.
	InvalidationsSince(ctx context.Context, after int64, limit int) ([]Invalidation, error)
	LastInvalidation(ctx context.Context) (int64, error)
	DeleteInvalidationsBefore(ctx context.Context, before time.Time) (int, error)
}
