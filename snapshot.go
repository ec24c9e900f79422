package keyward

import (
	"context"
	"time"

	"github.com/keyward/keyward/audit"
)

// Snapshotter is implemented by a Store that can be copied whole into
// another store, of the same engine or another (`keyward copy` moves an
// installation from SQLite to PostgreSQL with it). It is optional: the
// Service never needs it.
//
// A snapshot is a stream of Records, engine-neutral and complete: it holds
// what a node keeps (accounts, sessions, TOTP credentials and pending
// setups, backup code sets, passkeys and user handles, mfa challenges,
// throttle counters, every audit chain with its head and pruning
// checkpoint, the admin tokens, the OpenID Connect provider's clients,
// signing keys, consents, authorization requests, grants and tokens, and
// the invalidation log's position) and nothing is transformed on the way: password hashes, token
// and code hashes are copied as they are, and TOTP seeds stay sealed, so the
// target's nodes must use the same secret keys as the source's. Sessions'
// sudo windows are the one thing not copied: they arrive closed, and their
// owners confirm again before the next sensitive action.
type Snapshotter interface {
	// Export calls fn for every record of one consistent snapshot of the
	// store, in snapshot order (see Record), and stops at fn's first error.
	Export(ctx context.Context, fn func(Record) error) error
	// Import writes the records next returns, until it returns io.EOF, in
	// one transaction: all of them or nothing. It refuses (CodeConflict) a
	// store that holds anything already, and records that break snapshot
	// order or name an account that was not imported.
	Import(ctx context.Context, next func() (Record, error)) error
}

// Record is one item of a snapshot: exactly one field is set.
//
// Snapshot order is the order of the fields: every account first, then the
// rows that belong to accounts (pending setups, TOTP credentials, backup
// codes, user handles, passkeys, sessions, mfa challenges), then
// throttles, audit heads, audit events (each chain oldest first), admin
// tokens, the OpenID Connect records (clients, signing keys, consents,
// authorization requests, grants, tokens: each after what its foreign keys
// name, so grants come after sessions and clients, tokens after grants),
// and last the invalidation position. Passkey ceremonies under way are not
// copied: they live minutes, and a copy is made with the nodes stopped.
//
// The provider's live records travel like the sessions they hang on: a
// session is copied, so the grants made through it, their access and
// refresh tokens, and the authorization requests under way are copied
// too, and relying parties keep working without signing anyone in again.
// Signing keys travel sealed, retired or not, so ID tokens issued before
// the move keep verifying.
type Record struct {
	Account        *Account
	PendingTOTP    *PendingTOTP
	TOTPCredential *TOTPCredential // BackupSalt unset: it travels with BackupCodes
	BackupCodes    *BackupCodes
	PasskeyUser    *PasskeyUser
	Passkey        *Passkey
	Session        *Session
	MFAChallenge   *MFAChallenge
	Throttle       *Throttle
	AuditHead      *audit.Head // Seq > 0; BaseSeq and BaseHash are the pruning checkpoint
	Event          *Event
	AdminToken     *AdminToken // the hash of its token, as stored
	OIDCClient     *OIDCClient // the hash of its secret, as stored
	OIDCSigningKey *OIDCSigningKey
	OIDCConsent    *OIDCConsent
	OIDCRequest    *OIDCAuthRequest
	OIDCGrant      *OIDCGrant
	OIDCToken      *OIDCToken
	// InvalidationSeq is the last sequence number the invalidation log
	// handed out. The log's rows are not copied (they only tell running
	// caches what to forget, and no node's cache outlives a move); the
	// target continues numbering after this.
	InvalidationSeq *int64
}

// BackupCodes is an account's current set of backup codes: the salt and,
// for each code, its hash and when it was used (nil while unused).
type BackupCodes struct {
	AccountID string
	Salt      []byte
	Codes     []BackupCode
}

// BackupCode is one stored backup code.
type BackupCode struct {
	Hash   []byte
	UsedAt *time.Time
}

// OIDCConsent is what an account let a client have, as a snapshot carries
// it.
type OIDCConsent struct {
	AccountID string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// RecordKinds names the kinds of Record, in snapshot order.
func RecordKinds() []string {
	return []string{
		"accounts", "pending 2FA setups", "TOTP credentials", "backup code sets", "passkey user handles", "passkeys",
		"sessions", "mfa challenges", "throttles", "audit chains", "audit events", "admin tokens",
		"OIDC clients", "OIDC signing keys", "OIDC consents", "OIDC auth requests", "OIDC grants", "OIDC tokens",
		"invalidation position",
	}
}

// Kind returns the record's kind (one of RecordKinds) and its position in
// snapshot order; "" and -1 when no field is set.
func (r Record) Kind() (string, int) {
	var i int
	switch {
	case r.Account != nil:
		i = 0
	case r.PendingTOTP != nil:
		i = 1
	case r.TOTPCredential != nil:
		i = 2
	case r.BackupCodes != nil:
		i = 3
	case r.PasskeyUser != nil:
		i = 4
	case r.Passkey != nil:
		i = 5
	case r.Session != nil:
		i = 6
	case r.MFAChallenge != nil:
		i = 7
	case r.Throttle != nil:
		i = 8
	case r.AuditHead != nil:
		i = 9
	case r.Event != nil:
		i = 10
	case r.AdminToken != nil:
		i = 11
	case r.OIDCClient != nil:
		i = 12
	case r.OIDCSigningKey != nil:
		i = 13
	case r.OIDCConsent != nil:
		i = 14
	case r.OIDCRequest != nil:
		i = 15
	case r.OIDCGrant != nil:
		i = 16
	case r.OIDCToken != nil:
		i = 17
	case r.InvalidationSeq != nil:
		i = 18
	default:
		return "", -1
	}
	return RecordKinds()[i], i
}

// SnapshotOrder checks that records arrive in snapshot order with exactly
// one field set: Import implementations feed each record to Check.
type SnapshotOrder struct{ last int }

// Check returns the record's position in snapshot order, or an error when
// it is empty, holds several things, or comes after a later kind.
func (o *SnapshotOrder) Check(r Record) (int, error) {
	kind, i := r.Kind()
	if i < 0 {
		return 0, Errorf(CodeInvalidRequest, "An empty snapshot record.")
	}
	set := 0
	for _, p := range []bool{r.Account != nil, r.PendingTOTP != nil, r.TOTPCredential != nil, r.BackupCodes != nil,
		r.PasskeyUser != nil, r.Passkey != nil, r.Session != nil, r.MFAChallenge != nil, r.Throttle != nil, r.AuditHead != nil, r.Event != nil,
		r.AdminToken != nil, r.OIDCClient != nil, r.OIDCSigningKey != nil, r.OIDCConsent != nil, r.OIDCRequest != nil,
		r.OIDCGrant != nil, r.OIDCToken != nil, r.InvalidationSeq != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return 0, Errorf(CodeInvalidRequest, "A snapshot record holds %d things; want one.", set)
	}
	if i < o.last {
		return 0, Errorf(CodeInvalidRequest, "Snapshot out of order: %s after %s.", kind, RecordKinds()[o.last])
	}
	o.last = i
	return i, nil
}
