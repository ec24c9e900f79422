package keyward

import (
	"context"
	"time"
)

// The OpenID Connect provider's records (API.md, "Single sign-on"). The
// protocol lives in the openid package; what it stores, and the rules about
// it, live here.

// OIDCClient is an application registered to sign people in through
// keyward. A confidential client has a secret, stored only as its SHA-256
// (the secret is 256 random bits: a fast hash cannot be guessed back); a
// public one (a mobile or single-page app) has none and proves itself with
// PKCE alone.
type OIDCClient struct {
	ID                     string
	Name                   string
	SecretHash             []byte // nil for a public client
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	FirstParty             bool // the product's own application: no consent page
	CreatedAt              time.Time
}

// Public reports whether the client has no secret.
func (c *OIDCClient) Public() bool { return len(c.SecretHash) == 0 }

// OIDCRequestParams are the parameters of an authorization request that
// outlive it: the ones the sign-in, the consent page and the code exchange
// read back.
type OIDCRequestParams struct {
	RedirectURI   string   `json:"redirect_uri"`
	Scopes        []string `json:"scopes"`
	State         string   `json:"state,omitempty"`
	Nonce         string   `json:"nonce,omitempty"`
	CodeChallenge string   `json:"code_challenge"`
	ResponseMode  string   `json:"response_mode,omitempty"`
	Prompt        []string `json:"prompt,omitempty"`
	MaxAge        *int64   `json:"max_age,omitempty"` // seconds; nil when not asked
	ACRValues     []string `json:"acr_values,omitempty"`
	LoginHint     string   `json:"login_hint,omitempty"`
}

// OIDCAuthRequest is one authorization request, from the client's redirect
// to the code's redemption. Its ID is random (it travels in the browser's
// address bar between the sign-in pages); its code is stored as a SHA-256.
type OIDCAuthRequest struct {
	ID        string
	ClientID  string
	Params    OIDCRequestParams
	CreatedAt time.Time
	ExpiresAt time.Time // the whole request, sign-in included
	// Set by AuthorizeOIDCRequest once the person signed in (and
	// consented): who, through which session, and how.
	AccountID string
	SessionID string
	AuthTime  time.Time
	AMR       AMR
	AAL       int
	// Set by SetOIDCCode and UseOIDCCode.
	CodeHash     []byte
	CodeIssuedAt *time.Time
	CodeUsedAt   *time.Time
}

// OIDCGrant is what a client holds on an account: made when a code is
// redeemed (its ID is the authorization request's), tied to the keyward
// session that signed in. It ends with that session (the stores delete it
// with the session, by foreign key), or when revoked; its tokens end with
// it.
type OIDCGrant struct {
	ID        string
	AccountID string
	SessionID string
	ClientID  string
	Scopes    []string
	AuthTime  time.Time
	AMR       AMR
	AAL       int
	CreatedAt time.Time
}

// OIDCToken is an access or refresh token of a grant, by the SHA-256 of
// the token (refresh) or of its id (access; the token itself is sealed
// with the keyring and carries the id).
type OIDCToken struct {
	Hash      []byte
	GrantID   string
	Refresh   bool
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time // a refresh token exchanged already: shown again, it ends the grant
}

// OIDCSigningKey is a key the provider signs ID tokens with. The private
// key is sealed with the keyring; the public one is published until the
// tokens it signed have expired.
type OIDCSigningKey struct {
	ID        string
	Algorithm string // "ES256"
	Sealed    string // the PKCS #8 private key, sealed (keyring.Seal)
	Public    []byte // the PKIX public key
	CreatedAt time.Time
	RetiredAt *time.Time // nil for the current key
}

// OIDCStore is the provider's part of the store.
type OIDCStore interface {
	// CreateOIDCClient inserts c; CodeConflict when the id is taken.
	CreateOIDCClient(ctx context.Context, c *OIDCClient) error
	// OIDCClient returns the client, or CodeNotFound.
	OIDCClient(ctx context.Context, id string) (*OIDCClient, error)
	// ListOIDCClients returns every client, oldest first.
	ListOIDCClients(ctx context.Context) ([]OIDCClient, error)
	// DeleteOIDCClient deletes the client with its requests, consents,
	// grants and their tokens, and reports whether it existed.
	DeleteOIDCClient(ctx context.Context, id string) (bool, error)

	// CreateOIDCAuthRequest inserts r; CodeNotFound when its client does
	// not exist.
	CreateOIDCAuthRequest(ctx context.Context, r *OIDCAuthRequest) error
	// OIDCAuthRequest returns the request, expired or not, or CodeNotFound.
	OIDCAuthRequest(ctx context.Context, id string) (*OIDCAuthRequest, error)
	// AuthorizeOIDCRequest records who signed in for the request (its
	// AccountID, SessionID, AuthTime, AMR and AAL, from r), only while no
	// code was issued for it yet, and reports whether it did.
	AuthorizeOIDCRequest(ctx context.Context, r *OIDCAuthRequest) (bool, error)
	// SetOIDCCode stores the hash of the request's code, only while the
	// request is authorized and has no code yet, and reports whether it did.
	SetOIDCCode(ctx context.Context, id string, codeHash []byte, at time.Time) (bool, error)
	// UseOIDCCode marks the code with that hash used at at and returns its
	// request, with first true for exactly one of many concurrent callers;
	// a code used before comes back with first false (and CodeUsedAt set).
	// CodeNotFound when no request has that code.
	UseOIDCCode(ctx context.Context, codeHash []byte, at time.Time) (r *OIDCAuthRequest, first bool, err error)

	// PutOIDCConsent records that the account let the client have scopes,
	// replacing an earlier consent.
	PutOIDCConsent(ctx context.Context, accountID, clientID string, scopes []string, at time.Time) error
	// OIDCConsent returns the scopes consented to (empty when none).
	OIDCConsent(ctx context.Context, accountID, clientID string) ([]string, error)

	// CreateOIDCGrant inserts g; CodeNotFound when its session is gone
	// (ended while the code was being redeemed).
	CreateOIDCGrant(ctx context.Context, g *OIDCGrant) error
	// OIDCGrant returns the grant, or CodeNotFound (revoked, or its
	// session ended).
	OIDCGrant(ctx context.Context, id string) (*OIDCGrant, error)
	// ListOIDCGrants returns the account's grants, oldest first.
	ListOIDCGrants(ctx context.Context, accountID string) ([]OIDCGrant, error)
	// DeleteOIDCGrant deletes the grant and its tokens, and reports
	// whether it existed: of concurrent callers, one sees true.
	DeleteOIDCGrant(ctx context.Context, id string) (bool, error)

	// CreateOIDCToken inserts t; CodeNotFound when its grant is gone.
	CreateOIDCToken(ctx context.Context, t *OIDCToken) error
	// OIDCToken returns the token, expired or not, or CodeNotFound.
	OIDCToken(ctx context.Context, hash []byte) (*OIDCToken, error)
	// UseOIDCRefreshToken marks an unused refresh token used at at and
	// reports whether this caller did: exactly one of many concurrent
	// callers wins.
	UseOIDCRefreshToken(ctx context.Context, hash []byte, at time.Time) (bool, error)
	// DeleteOIDCToken deletes the token and reports whether it existed.
	DeleteOIDCToken(ctx context.Context, hash []byte) (bool, error)

	// CreateOIDCSigningKey inserts k.
	CreateOIDCSigningKey(ctx context.Context, k *OIDCSigningKey) error
	// OIDCSigningKeys returns every signing key, newest first.
	OIDCSigningKeys(ctx context.Context) ([]OIDCSigningKey, error)
	// RetireOIDCSigningKeys marks every key but keepID that is not retired
	// yet retired at at, and counts them.
	RetireOIDCSigningKeys(ctx context.Context, keepID string, at time.Time) (int, error)
	// DeleteOIDCSigningKeys deletes the keys retired before before, and
	// counts them.
	DeleteOIDCSigningKeys(ctx context.Context, before time.Time) (int, error)
	// DeleteExpiredOIDC deletes the authorization requests and tokens that
	// expired at or before now, and counts them.
	DeleteExpiredOIDC(ctx context.Context, now time.Time) (int, error)
}
