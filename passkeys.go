package keyward

import (
	"context"
	"math"
	"time"
)

// Passkey is a WebAuthn credential of an account: a passkey kept by a
// phone, a computer or a password manager, or a security key. Nothing here
// is secret: the private key never leaves the authenticator, and the
// public key only checks signatures.
type Passkey struct {
	ID           string // "pk_…": what the API and the pages name it by
	AccountID    string
	CredentialID []byte // the authenticator's id for it (at most 1023 bytes)
	PublicKey    []byte // COSE_Key
	// SignCount is the signature counter the authenticator last reported
	// (0 for the many that keep none).
	SignCount uint32
	// BackupEligible is fixed when the passkey is made: it may be copied
	// to other devices (a synced passkey). BackupState says whether it is
	// now, as the authenticator last reported.
	BackupEligible bool
	BackupState    bool
	// UserVerified records that the authenticator verified its user
	// (PIN, biometrics) when the passkey was made.
	UserVerified bool
	AAGUID       []byte   // the authenticator model's id (16 bytes; zeros when it tells none)
	Transports   []string // how a browser reaches it: "internal", "usb", "nfc", "ble", "hybrid"
	Name         string
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// StoredSignCount reads a signature counter as a store keeps it (a 64-bit
// integer): one no authenticator can report (below 0, past 32 bits: an
// edit or a bad restore) is the highest counter, so that every use of the
// passkey is refused as a counter that went back, and recorded, rather
// than failing or being cut to 32 bits.
func StoredSignCount(n int64) uint32 {
	if n < 0 || n > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// CeremonyPurpose says what a passkey challenge was begun for: it is only
// ever finished for that.
type CeremonyPurpose string

// The purposes of passkey challenges.
const (
	CeremonyRegister   CeremonyPurpose = "register"    // a signed-in session adds a passkey
	CeremonySignIn     CeremonyPurpose = "signin"      // a sign-in without a password
	CeremonySecondStep CeremonyPurpose = "second_step" // the second step after a password
	CeremonySudo       CeremonyPurpose = "sudo"        // a signed-in session proves itself again
)

// PasskeyChallenge is a WebAuthn ceremony under way, kept in the store so
// that any node may finish what another began. It is found by the hash of
// its challenge id, works once, and only for its purpose, its account and
// its session (or second step).
type PasskeyChallenge struct {
	IDHash    []byte
	Purpose   CeremonyPurpose
	AccountID string // "" for a sign-in without a password: nobody is known yet
	SessionID string // the session that began it (register, sudo); "" otherwise
	MFAHash   []byte // the mfa_token's hash (second step); nil otherwise
	// State is what the finish needs besides the challenge (the options
	// asked for), as package passkey writes it: opaque to the store.
	State     []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasskeyUser is the user handle of an account: the random id its
// passkeys carry, which a sign-in without a password finds it by.
type PasskeyUser struct {
	AccountID string
	Handle    []byte
}

// Passkeys stores the accounts' passkeys and user handles.
type Passkeys interface {
	// EnsureUserHandle gives the account the handle candidate unless it
	// has one already, and returns the account's handle (of concurrent
	// callers, all get the one that was stored first). CodeNotFound when
	// there is no such account; a candidate another account holds is
	// CodeConflict.
	EnsureUserHandle(ctx context.Context, accountID string, candidate []byte) ([]byte, error)
	// AccountIDByUserHandle returns the account the handle belongs to, or
	// CodeNotFound.
	AccountIDByUserHandle(ctx context.Context, handle []byte) (string, error)
	// CreatePasskey inserts p. CodeNotFound when its account does not
	// exist; CodeConflict when a passkey with its CredentialID exists (of
	// any account): of concurrent inserts of one credential, one wins.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// ListPasskeys returns the account's passkeys, oldest first.
	ListPasskeys(ctx context.Context, accountID string) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey, of whatever account, or
	// CodeNotFound.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// RenamePasskey sets the name of the account's passkey id;
	// CodeNotFound when the account has no such passkey.
	RenamePasskey(ctx context.Context, accountID, id, name string) error
	// UsePasskey records a use of passkey id: its counter becomes to, its
	// backup state and LastUsedAt are set, only while the stored counter
	// is still from. It reports whether it did: of concurrent callers that
	// read the same counter, exactly one sees true.
	UsePasskey(ctx context.Context, id string, from, to uint32, backupState bool, at time.Time) (bool, error)
	// DeletePasskey reports whether the account had a passkey with that id:
	// of concurrent callers, one sees true.
	DeletePasskey(ctx context.Context, accountID, id string) (bool, error)
	// DeletePasskeys deletes every passkey of the account and counts them.
	DeletePasskeys(ctx context.Context, accountID string) (int, error)
}

// PasskeyChallenges stores the passkey ceremonies under way, by the hash
// of their challenge id.
type PasskeyChallenges interface {
	// CreatePasskeyChallenge inserts c; CodeNotFound when it names an
	// account that does not exist.
	CreatePasskeyChallenge(ctx context.Context, c *PasskeyChallenge) error
	// PasskeyChallenge returns the challenge, expired or not, or
	// CodeNotFound.
	PasskeyChallenge(ctx context.Context, idHash []byte) (*PasskeyChallenge, error)
	// ConsumePasskeyChallenge deletes it and reports whether this caller
	// did: exactly one of many concurrent callers wins.
	ConsumePasskeyChallenge(ctx context.Context, idHash []byte) (bool, error)
}
