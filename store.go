package keyward

import (
	"context"
	"time"

	"github.com/keyward/keyward/audit"
)

// Store is where keyward keeps everything. It only stores: every rule lives in
// the Service. Each implementation passes the storetest conformance suite.
//
// The contract is split by role (Accounts, Sessions, Factors, Throttles,
// AuditLog, Invalidations, Expiry, Outbox, WebhookOutbox, EmailTokens,
// AdminTokens); what holds for every method of every role:
//
//   - Errors: a missing row is an *Error with CodeNotFound (also for an update
//     of a row that does not exist, and for a row written for an account that
//     does not exist); a conditional update of a missing row reports false
//     instead, and deleting something absent is not an error. A store that
//     cannot be reached, or does not answer in time, is CodeUnavailable; a
//     cancelled ctx is returned as such; anything else becomes CodeInternal
//     (its text, which may hold SQL, reaches only the log).
//   - Times come back in UTC at microsecond precision. Something expires
//     when its ExpiresAt <= now; "before" cut-offs are strict.
//   - Emails are matched by EmailKey computed in Go (SQL lower() does not
//     fold non-ASCII letters).
//   - Concurrency: a Store is safe for concurrent use. Called on a Store,
//     each method runs on its own (a method of several statements in a
//     transaction of its own); called on the q of InTx, it runs in that
//     transaction. Every method that consumes or conditionally changes
//     something says so, and exactly one of many concurrent callers wins.
type Store interface {
	Accounts
	Sessions
	Factors
	Throttles
	AuditLog
	Invalidations
	Expiry
	Outbox
	WebhookOutbox
	EmailTokens
	AdminTokens
	OIDCStore
	// InTx runs fn in one transaction: everything fn does through q commits
	// together or not at all. fn may be run more than once (on a serialisation
	// conflict), so it must not have side effects outside q. q is bound to
	// the transaction: fn must not use it from several goroutines at once,
	// nor use the Store itself (on SQLite that waits for fn's own
	// transaction, until ctx ends).
	InTx(ctx context.Context, fn func(q Queries) error) error
	// Ping reports whether the store answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// Queries are the operations of the q of InTx: every role of the Store, and
// LockAuditHead, which only a transaction has.
type Queries interface {
	Accounts
	Sessions
	Factors
	Throttles
	AuditLog
	Invalidations
	Expiry
	Outbox
	WebhookOutbox
	EmailTokens
	AdminTokens
	OIDCStore
	// LockAuditHead returns the chain's head and holds it until the
	// transaction ends (a zero Head with ChainID when the chain is new), so
	// that the event appended next in the transaction follows it. Outside a
	// transaction there is nothing to hold it for: a store's own
	// LockAuditHead, if it has one, fails rather than read without locking.
	LockAuditHead(ctx context.Context, chainID string) (audit.Head, error)
}

// Accounts stores accounts. An account is deleted only by DeleteAccount,
// with everything stored for it, its audit chain included.
type Accounts interface {
	// CreateAccount inserts a. An account whose email has the EmailKey of
	// another's is CodeEmailTaken; of two concurrent creations with the
	// same key exactly one succeeds.
	CreateAccount(ctx context.Context, a *Account) error
	// AccountByID and AccountByEmail return the account, or CodeNotFound.
	AccountByID(ctx context.Context, id string) (*Account, error)
	AccountByEmail(ctx context.Context, email string) (*Account, error)
	// LockAccount reads the account and, inside InTx, holds it against
	// concurrent changes until the transaction ends (SELECT ... FOR UPDATE):
	// a sign-in that checked a password outside the transaction confirms
	// here that the password and factors are still the ones it checked.
	LockAccount(ctx context.Context, id string) (*Account, error)
	// SetPasswordHash replaces the account's hash; CodeNotFound when there
	// is no such account.
	SetPasswordHash(ctx context.Context, accountID, hash string) error
	// MarkEmailVerified sets EmailVerifiedAt to at, only while the
	// account's email is still email (by EmailKey) and not verified yet,
	// and reports whether it did.
	MarkEmailVerified(ctx context.Context, accountID, email string, at time.Time) (bool, error)
	// SetEmail moves the account to email, verified at verifiedAt (nil:
	// not verified). An email another account has is CodeEmailTaken;
	// CodeNotFound when there is no such account.
	SetEmail(ctx context.Context, accountID, email string, verifiedAt *time.Time) error
	// SetLockedDown sets or (nil) clears LockedDownAt; CodeNotFound when
	// there is no such account.
	SetLockedDown(ctx context.Context, accountID string, at *time.Time) error
	// SetNewDeviceMail turns the new-device sign-in mail on or off;
	// CodeNotFound when there is no such account.
	SetNewDeviceMail(ctx context.Context, accountID string, on bool) error
	// SetAccountLanguage sets Language; CodeNotFound when there is no
	// such account.
	SetAccountLanguage(ctx context.Context, accountID, language string) error
	// SetDisabled sets or (nil) clears DisabledAt; CodeNotFound when there
	// is no such account.
	SetDisabled(ctx context.Context, accountID string, at *time.Time) error
	// ListAccounts returns every account, in no particular order (audit
	// verification checks each has a chain).
	ListAccounts(ctx context.Context) ([]Account, error)
	// FindAccounts returns at most f.Limit accounts, by id descending, from
	// below f.BeforeID, whose EmailKey contains f.EmailContains as it is
	// (it is matched byte for byte: % and _ are no wildcards).
	FindAccounts(ctx context.Context, f AccountFilter) ([]Account, error)
	// DeleteAccount deletes the account and everything stored for it: its
	// sessions, TOTP credential and pending setup, backup codes, mfa
	// challenges, email tokens, the outbox's mails for it (Mail.AccountID,
	// sent or not), and its audit chain, events and head, with the webhook
	// outbox's deliveries of them (sent or not). CodeNotFound when
	// there is no such account: of concurrent callers one deletes it.
	// Throttle counts (whose keys are the service's) and invalidation rows
	// are left. On the q of InTx it runs in that transaction, otherwise in
	// one of its own; audit events, append-only everywhere else, may be
	// deleted here as by PruneEvents.
	DeleteAccount(ctx context.Context, accountID string) error
}

// Sessions stores signed-in sessions, found by the hash of their token.
type Sessions interface {
	// CreateSession inserts s; CodeNotFound when its account does not exist.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash and SessionByID return the session, expired or
	// not, or CodeNotFound. SessionByID finds only a session of accountID.
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (*Session, error)
	SessionByID(ctx context.Context, accountID, id string) (*Session, error)
	// ListSessions returns the account's sessions that have not expired at
	// now (absolute expiry), newest activity first.
	ListSessions(ctx context.Context, accountID string, now time.Time) ([]Session, error)
	// TouchSession sets LastSeenAt; CodeNotFound when the session is gone.
	TouchSession(ctx context.Context, id string, lastSeen time.Time) error
	// SetSessionAAL records that a session has proved a second factor:
	// its level and its methods (AMR) together; CodeNotFound when the
	// session is gone.
	SetSessionAAL(ctx context.Context, id string, aal int, amr AMR) error
	// SessionSudoUntil returns the end of the session's sudo window as
	// stored (the zero time when none was ever opened); CodeNotFound when
	// the account has no session with that id.
	SessionSudoUntil(ctx context.Context, accountID, id string) (time.Time, error)
	// ExtendSessionSudo moves the end of the session's sudo window to
	// until, unless it is later already: of concurrent callers the latest
	// until stays. CodeNotFound when the account has no session with that
	// id.
	ExtendSessionSudo(ctx context.Context, accountID, id string, until time.Time) error
	// DeleteSession reports whether a session of that account with that id
	// existed: of concurrent callers, one sees true.
	DeleteSession(ctx context.Context, accountID, id string) (bool, error)
	// DeleteOtherSessions ends every session of the account except keepID
	// ("" ends all) and returns the ids ended, in no particular order.
	DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error)
}

// Factors stores the second factors: the TOTP credential and its pending
// setup, the passkeys, the backup codes, and the challenges between the
// two sign-in steps and of the passkey ceremonies.
type Factors interface {
	TOTPFactors
	BackupCodeHashes
	MFAChallenges
	Passkeys
	PasskeyChallenges
}

// TOTPFactors stores an account's TOTP credential (at most one) and its
// pending setup (at most one). Seeds are stored sealed: the store never
// sees them in the clear.
type TOTPFactors interface {
	// PutPendingTOTP stores p, replacing an earlier setup of the account;
	// CodeNotFound when the account does not exist.
	PutPendingTOTP(ctx context.Context, p *PendingTOTP) error
	// PendingTOTP returns the setup, expired or not, or CodeNotFound.
	PendingTOTP(ctx context.Context, accountID string) (*PendingTOTP, error)
	// DeletePendingTOTP removes the setup, if any.
	DeletePendingTOTP(ctx context.Context, accountID string) error
	// EnableTOTP stores the credential (and BackupSalt, when set) and sets
	// the account's TwoFactorEnabledAt to EnabledAt unless it is set
	// already (a passkey turned two-factor on first), all together.
	// CodeNotFound when the account does not exist.
	EnableTOTP(ctx context.Context, c *TOTPCredential) error
	// TOTPCredential returns the credential with the backup codes' salt, or
	// CodeNotFound.
	TOTPCredential(ctx context.Context, accountID string) (*TOTPCredential, error)
	// AdvanceTOTPStep sets LastStep to step only if it is greater than the
	// stored one, and reports whether it did: the replay guard. Of
	// concurrent callers with the same step, exactly one sees true.
	AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error)
	// AddSecondFactorFailure counts one more consecutive wrong second-factor
	// code on the account's credential, atomically, and returns the new
	// count; CodeNotFound without a credential.
	AddSecondFactorFailure(ctx context.Context, accountID string) (int, error)
	// ClearSecondFactorFailures sets the count back to 0; CodeNotFound
	// without a credential.
	ClearSecondFactorFailures(ctx context.Context, accountID string) error
	// DisableTOTP turns two-factor authentication off: it deletes the
	// credential, the backup codes and any pending setup, and clears
	// TwoFactorEnabledAt, all together. (Passkeys are DeletePasskeys'.)
	DisableTOTP(ctx context.Context, accountID string) error
	// RemoveTOTP deletes the credential and any pending setup, together,
	// and leaves the backup codes and TwoFactorEnabledAt: for an account
	// that keeps another second factor (a passkey).
	RemoveTOTP(ctx context.Context, accountID string) error
	// TurnOnTwoFactor sets the account's TwoFactorEnabledAt to at unless
	// it is set already, and reports whether it did; CodeNotFound when
	// there is no such account. (EnableTOTP sets it too, the same way.)
	TurnOnTwoFactor(ctx context.Context, accountID string, at time.Time) (bool, error)
	// ResealSecrets is how keys are rotated. It reads every stored seed
	// (enabled and pending), then calls fn with each in turn; a replacement
	// fn returns ("" leaves the seed) is written at once, but only while the
	// seed is still the value fn was given (compare-and-swap): a seed
	// disabled, confirmed or replaced meanwhile stays as it is and counts as
	// Changed. An error from fn stops the walk and is returned, with what
	// was done so far. Called on a Store, fn runs outside any transaction
	// and holds no connection, so it may be slow and changes may happen
	// meanwhile; on the q of InTx, it runs inside that transaction.
	ResealSecrets(ctx context.Context, fn func(SealedSecret) (string, error)) (Resealed, error)
}

// SealedSecret is one stored TOTP seed, as ResealSecrets reads it.
type SealedSecret struct {
	AccountID string
	Pending   bool   // the seed of a pending setup, not of an enabled credential
	Sealed    string // as stored (keyring.Seal's output)
}

// Resealed counts what ResealSecrets wrote: Swapped seeds replaced, and
// Changed ones left because they changed after being read.
type Resealed struct {
	Swapped, Changed int
}

// BackupCodeHashes stores the hashes of an account's backup codes. The salt
// lives with the TOTP credential (TOTPCredential.BackupSalt).
type BackupCodeHashes interface {
	// ReplaceBackupCodes swaps the whole set, salt and hashes, together;
	// CodeNotFound when the account does not exist.
	ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error
	// UseBackupCode marks an unused code with that hash as used at at, and
	// reports whether one was: exactly one of many concurrent callers wins.
	UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error)
	// BackupCodesRemaining counts the unused codes (0 for an unknown account).
	BackupCodesRemaining(ctx context.Context, accountID string) (int, error)
	// BackupCodeSalt returns the salt of the account's set, or
	// CodeNotFound when it has none.
	BackupCodeSalt(ctx context.Context, accountID string) ([]byte, error)
}

// MFAChallenges stores the mfa_token between the two sign-in steps, by the
// hash of the token.
type MFAChallenges interface {
	// CreateMFAChallenge inserts c; CodeNotFound when its account does not exist.
	CreateMFAChallenge(ctx context.Context, c *MFAChallenge) error
	// MFAChallenge returns the challenge, expired or not, or CodeNotFound.
	MFAChallenge(ctx context.Context, tokenHash []byte) (*MFAChallenge, error)
	// ConsumeMFAChallenge deletes it and reports whether this caller did:
	// exactly one of many concurrent callers wins.
	ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error)
	// DeleteMFAChallenges ends every waiting second step of the account (its
	// password or factors changed) and counts them.
	DeleteMFAChallenges(ctx context.Context, accountID string) (int, error)
}

// Throttles counts failures by key (an account, a client address), in the
// store so that every node sees them.
type Throttles interface {
	// AddFailure counts one failure for key atomically (concurrent callers
	// each count: none is lost) and returns the new state. When the last
	// failure was before forgetBefore the count starts again at 1.
	AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (Throttle, error)
	// Throttle returns the key's state: a zero Throttle (with Key) when none.
	Throttle(ctx context.Context, key string) (Throttle, error)
	// ClearThrottle forgets the key.
	ClearThrottle(ctx context.Context, key string) error
	// ClearThrottlePrefix forgets every key that starts with prefix (byte
	// for byte: no wildcards) and counts them.
	ClearThrottlePrefix(ctx context.Context, prefix string) (int, error)
}

// AuditLog stores the hash-chained audit events, one chain per account
// (and the system's), and each chain's head.
type AuditLog interface {
	// AppendEvent inserts e (Seq, PrevHash, Hash and MAC already set) and
	// makes it the head, with e.HeadSeal as the head's seal (kept in the
	// head only, never with the event); it fails with CodeConflict if e.Seq
	// is not head.Seq+1, so of concurrent appends after one head exactly one
	// wins. Inside InTx a store may send it later, with the next statement
	// or the commit (PostgreSQL does, to save round trips): the failure then
	// comes from that call or from InTx, and the transaction never commits
	// without its event.
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns events newest first (Time desc, ID desc).
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// EachEvent streams events newest first without holding them all in
	// memory; an error from fn stops it and is returned.
	EachEvent(ctx context.Context, f EventFilter, fn func(*Event) error) error
	// EachChainEvent streams one chain oldest first (Seq asc), for verification.
	EachChainEvent(ctx context.Context, chainID string, fn func(*Event) error) error
	// AuditHeads returns every chain's head (Seal and the Base* fields
	// too), in no particular order.
	AuditHeads(ctx context.Context) ([]audit.Head, error)
	// SealAuditHead sets the seal of a head that has none, only while the
	// head is still at seq, and reports whether it did: how heads written
	// before sealing existed get one (the service's SealAudit). A head that
	// is sealed, or has moved, is left alone.
	SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error)
	// PruneEvents deletes the longest run at the start of the chain whose
	// events are all older than before (so no gap opens when clocks of
	// several nodes disagreed), and records the last deleted one as the
	// chain's checkpoint (Head.BaseSeq, BaseHash, BaseMAC and BaseTime: its
	// seq, hash, MAC and time), together.
	PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error)
}

// Invalidations is the cache invalidation log: every change that a
// node-local cache may hold (a session ended, an account's factors changed)
// appends one row, in the transaction of the change.
type Invalidations interface {
	// AddInvalidation appends a row with the next sequence number; numbers
	// are never reused, not even after every row was deleted.
	AddInvalidation(ctx context.Context, accountID string, at time.Time) error
	// InvalidationsSince returns rows with Seq > after, oldest first, at
	// most limit (<= 0: all).
	InvalidationsSince(ctx context.Context, after int64, limit int) ([]Invalidation, error)
	// LastInvalidation returns the greatest Seq, 0 when there is none.
	LastInvalidation(ctx context.Context) (int64, error)
}

// Expiry deletes what has expired, for the service's CleanUp.
type Expiry interface {
	// DeleteExpired deletes, kind by kind, what c's cut-offs say has
	// expired, and counts what it deleted of each kind. A zero cut-off
	// deletes nothing of its kind. Each kind is deleted by one statement
	// of its own (outside InTx, not one transaction): on an error, the
	// kinds done before it stay deleted and are counted.
	DeleteExpired(ctx context.Context, c Cutoffs) (Expired, error)
}

// Cutoffs say what DeleteExpired deletes.
type Cutoffs struct {
	// Now: sessions past their absolute expiry, mfa challenges, passkey
	// challenges, pending setups and email tokens, each when ExpiresAt <= Now.
	Now time.Time
	// SessionIdleBefore: sessions last seen before it (the idle timeout).
	SessionIdleBefore time.Time
	// ThrottlesBefore: throttle counts whose last failure was before it, so
	// that a flood from many addresses cannot grow the table forever.
	ThrottlesBefore time.Time
	// InvalidationsBefore: invalidation rows written before it.
	InvalidationsBefore time.Time
	// MailsBefore: mails sent or given up before it.
	MailsBefore time.Time
	// WebhooksBefore: webhook deliveries sent or given up before it.
	WebhooksBefore time.Time
}

// Expired counts what DeleteExpired deleted, by kind.
type Expired struct {
	Sessions, MFAChallenges, PendingTOTP, Throttles, Invalidations, EmailTokens, Mails, Webhooks int
	PasskeyChallenges                                                                            int
}
