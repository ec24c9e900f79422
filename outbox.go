package keyward

import (
	"context"
	"time"
)

// Mail is one row of the outbox: a mail written in the transaction of the
// change that causes it, and sent afterwards by a worker that any node may
// run. What the mail says (the address, the link's token) is sealed with
// the keyring, like a TOTP seed, and forgotten once the mail is sent: the
// database never holds a usable link in the clear.
type Mail struct {
	ID   string
	Kind MailKind // what the mail is about; safe to log
	// AccountID is the account the mail is about ("" for a mail written
	// before mails named theirs): deleting the account deletes the mail.
	AccountID string
	// Sealed is the content (see MailContent), sealed with the keyring
	// under the mail's id; "" once the mail is sent or given up.
	Sealed    string
	CreatedAt time.Time
	// NextAttemptAt is when the mail is due. A claim moves it to the end
	// of the claim, so that a worker that dies before marking the mail
	// leaves it to another once the claim runs out (at least once).
	NextAttemptAt time.Time
	Attempts      int        // claims so far, the current one included
	SentAt        *time.Time // set once sent
	FailedAt      *time.Time // set when the worker gave up on it
	LastError     string     // the last sending error, for the operator
}

// Outbox stores the mails waiting to be sent.
type Outbox interface {
	// EnqueueMail inserts m (ID, Kind, Sealed, CreatedAt and NextAttemptAt
	// set); inside InTx it commits, or not, with the change that causes it.
	EnqueueMail(ctx context.Context, m *Mail) error
	// ClaimMails takes up to limit mails that are due at now (neither sent
	// nor given up, NextAttemptAt <= now), oldest due first: each one's
	// NextAttemptAt becomes until and its Attempts grows by one, and they
	// come back so changed. Of concurrent claims, each mail goes to one
	// (PostgreSQL skips rows another claim holds).
	ClaimMails(ctx context.Context, now, until time.Time, limit int) ([]Mail, error)
	// MarkMailSent records that the mail went out at at and forgets its
	// content; CodeNotFound when there is no such mail.
	MarkMailSent(ctx context.Context, id string, at time.Time) error
	// RetryMail makes the mail due again at next, keeping why it failed;
	// CodeNotFound when there is no such mail.
	RetryMail(ctx context.Context, id string, next time.Time, lastError string) error
	// GiveUpMail records that the mail will not be sent and forgets its
	// content; CodeNotFound when there is no such mail.
	GiveUpMail(ctx context.Context, id string, at time.Time, lastError string) error
	// MailsWaiting counts the mails neither sent nor given up, and of
	// them those that have been tried at least once and failed (due again
	// later, or claimed).
	MailsWaiting(ctx context.Context) (waiting, retrying int, err error)
}

// EmailToken is what a link in a mail stands for: a password reset, an
// address to verify, a new address to confirm, or a lockdown. Only the
// hash of the link's token is stored; it works once.
type EmailToken struct {
	TokenHash []byte
	Purpose   TokenPurpose
	AccountID string
	// Email is the address the link was sent to: a verification holds
	// only while the account still has it, and an email change moves the
	// account to it.
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenPurpose says what an EmailToken opens; a token of one purpose opens
// nothing else.
type TokenPurpose string

// The purposes of EmailTokens.
const (
	PurposeReset       TokenPurpose = "reset"
	PurposeVerify      TokenPurpose = "verify"
	PurposeEmailChange TokenPurpose = "email_change"
	PurposeLockdown    TokenPurpose = "lockdown"
)

// EmailTokens stores the tokens of links in mails, by hash.
type EmailTokens interface {
	// CreateEmailToken inserts t; CodeNotFound when its account does not
	// exist.
	CreateEmailToken(ctx context.Context, t *EmailToken) error
	// EmailToken returns the token, expired or not, or CodeNotFound.
	EmailToken(ctx context.Context, hash []byte) (*EmailToken, error)
	// ConsumeEmailToken deletes it and reports whether this caller did:
	// exactly one of many concurrent callers wins.
	ConsumeEmailToken(ctx context.Context, hash []byte) (bool, error)
	// DeleteEmailTokens deletes the account's tokens of purpose (every
	// purpose when "") and counts them.
	DeleteEmailTokens(ctx context.Context, accountID string, purpose TokenPurpose) (int, error)
}

// MailKind says what a mail is about; the mail package has a template for
// each.
type MailKind string

// The kinds of mail.
const (
	MailPasswordReset MailKind = "password_reset" // a link to /reset-password
	MailVerifyEmail   MailKind = "verify_email"   // a link to /verify-email, after sign-up
	MailConfirmChange MailKind = "email_change"   // to the new address: a link that makes the change
	MailNotice        MailKind = "notice"         // a security event, with a "This wasn't me" link
)

// MailContent is what a mail says, as sealed in its outbox row: the facts
// the templates turn into words. Never a password nor a session token;
// Token and LockdownToken are single-use link tokens whose hashes alone
// are kept elsewhere.
type MailContent struct {
	To   string   `json:"to"`
	Kind MailKind `json:"kind"`
	// Event is the audit event a notice is about.
	Event string `json:"event,omitempty"`
	// Token is the token of the mail's link (reset, verify, change).
	Token string `json:"token,omitempty"`
	// LockdownToken is the token of a notice's "This wasn't me" link.
	LockdownToken string `json:"lockdown_token,omitempty"`
	// Time, IP and Device describe the event: when, from where, on what
	// ("Chrome on macOS").
	Time   time.Time `json:"time"`
	IP     string    `json:"ip,omitempty"`
	Device string    `json:"device,omitempty"`
	// NewEmail is the address an email change moves to; Remaining the
	// backup codes left after one was used.
	NewEmail  string `json:"new_email,omitempty"`
	Remaining *int   `json:"remaining,omitempty"`
	// ExpiresAt is when the link stops working.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Language is the language to write the mail in ("uk"), the
	// account's; "" is the default.
	Language string `json:"language,omitempty"`
}

// Notices that are not audit event types: the Event of a MailNotice is an
// audit event type or one of these.
const (
	NoticeNewDevice            = "signin.new_device"
	NoticeEmailChangeRequested = "email.change_requested"
	// NoticeTOTPRemoved: the authenticator app was taken out of an
	// account that keeps two-factor authentication with its passkeys.
	NoticeTOTPRemoved = "totp.removed"
	// NoticeTOTPAdded: the authenticator app was added to an account
	// whose two-factor authentication a passkey had turned on.
	NoticeTOTPAdded = "totp.added"
)
