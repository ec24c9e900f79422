package keyward

import (
	"context"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"github.com/keyward/keyward/audit"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The rules of keyward as an OpenID Provider (API.md, "Single sign-on").
// The protocol itself (parsing, PKCE, signing) is the openid package's; what
// may be stored, for how long, and what ends what is decided here.

// Lifetimes of the provider's records.
const (
	// OIDCRequestTTL bounds an authorization request, sign-in included.
	OIDCRequestTTL = 30 * time.Minute
	// OIDCCodeTTL is how long a code may wait for its redemption (RFC 6749
	// §4.1.2 recommends at most ten minutes; the contract asks for 60 s).
	OIDCCodeTTL = 60 * time.Second
	// OIDCAccessTokenTTL is an access token's life.
	OIDCAccessTokenTTL = 10 * time.Minute
	// OIDCIDTokenTTL is an ID token's life.
	OIDCIDTokenTTL = time.Hour
	// oidcKeyPublished is how long a retired signing key stays published:
	// longer than any ID token it signed lives.
	oidcKeyPublished = 2 * OIDCIDTokenTTL
)

// Limits on what a client may send or register.
const (
	maxClientName       = 100
	maxRedirectURIs     = 20
	maxURILen           = 2000
	maxOIDCParam        = 1000 // state, nonce, login_hint: bytes
	maxOIDCScopes       = 20
	oidcClientIDPrefix  = "cl_"
	oidcRequestIDPrefix = "ar_"
	oidcSecretPrefix    = "kwc_"
	oidcRefreshPrefix   = "kwr_"
	oidcAccessPrefix    = "kwt_" // an access token's id, sealed inside the token
)

// OIDCScopes are the scopes the provider knows, in the order the consent
// page lists them.
var oidcScopes = []string{"openid", "email", "profile", "offline_access"}

// OIDCScopes returns the scopes the provider supports.
func OIDCScopes() []string { return slices.Clone(oidcScopes) }

// OIDCClientSpec is what registering a client takes.
type OIDCClientSpec struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	FirstParty             bool
	Public                 bool // no secret: PKCE alone (a native or browser app)
}

func invalidClient(format string, args ...any) *Error {
	return Errorf(CodeInvalidRequest, format, args...)
}

// checkRedirectURI says why uri cannot be registered: it must be absolute,
// https (http only for a loopback host), without a fragment or user info.
func checkRedirectURI(uri string) error {
	if uri == "" || len(uri) > maxURILen || !utf8.ValidString(uri) || strings.ContainsFunc(uri, unicode.IsControl) ||
		strings.ContainsAny(uri, " \\") {
		return invalidClient("%q is not a URI keyward can register.", clip(uri))
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalidClient("%q is not an absolute URI.", clip(uri))
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return invalidClient("%q has a fragment: a redirect URI may not.", clip(uri))
	}
	if u.User != nil {
		return invalidClient("%q carries user information: a redirect URI may not.", clip(uri))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return invalidClient("%q is http: only a loopback host (127.0.0.1, [::1], localhost) may be.", clip(uri))
		}
	default:
		return invalidClient("%q: a redirect URI is https (or http on a loopback host).", clip(uri))
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clip shortens what a message quotes back.
func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func checkURIs(what string, uris []string, atLeastOne bool) ([]string, error) {
	if atLeastOne && len(uris) == 0 {
		return nil, invalidClient("Give at least one %s.", what)
	}
	if len(uris) > maxRedirectURIs {
		return nil, invalidClient("At most %d of each kind of URI.", maxRedirectURIs)
	}
	var out []string
	for _, u := range uris {
		if err := checkRedirectURI(u); err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// CreateOIDCClient registers a client. It returns the secret of a
// confidential client, shown this once: only its hash is stored.
func (s *Service) CreateOIDCClient(ctx context.Context, spec OIDCClientSpec) (*OIDCClient, string, error) {
	name := strings.TrimSpace(spec.Name)
	if name == "" || utf8.RuneCountInString(name) > maxClientName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return nil, "", invalidClient("Give the client a name of 1 to %d characters.", maxClientName)
	}
	redirects, err := checkURIs("redirect URI", spec.RedirectURIs, true)
	if err != nil {
		return nil, "", err
	}
	post, err := checkURIs("post-logout redirect URI", spec.PostLogoutRedirectURIs, false)
	if err != nil {
		return nil, "", err
	}
	c := &OIDCClient{
		ID: s.newID(oidcClientIDPrefix), Name: name, RedirectURIs: redirects, PostLogoutRedirectURIs: post,
		FirstParty: spec.FirstParty, CreatedAt: s.clock(),
	}
	var secret string
	if !spec.Public {
		var h []byte
		secret, h, err = s.newToken(oidcSecretPrefix)
		if err != nil {
			return nil, "", err
		}
		c.SecretHash = h
	}
	if err := s.store.CreateOIDCClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// OIDCClients lists the registered clients.
func (s *Service) OIDCClients(ctx context.Context) ([]OIDCClient, error) {
	return s.store.ListOIDCClients(ctx)
}

func noSuchClient() *Error { return Errorf(CodeNotFound, "No such client.") }

// OIDCClient returns a registered client, or CodeNotFound.
func (s *Service) OIDCClient(ctx context.Context, id string) (*OIDCClient, error) {
	if !validID(oidcClientIDPrefix, id) {
		return nil, noSuchClient()
	}
	c, err := s.store.OIDCClient(ctx, id)
	if IsCode(err, CodeNotFound) {
		return nil, noSuchClient()
	}
	return c, err
}

// DeleteOIDCClient removes a client with its grants and their tokens.
func (s *Service) DeleteOIDCClient(ctx context.Context, id string) error {
	if !validID(oidcClientIDPrefix, id) {
		return noSuchClient()
	}
	ok, err := s.store.DeleteOIDCClient(ctx, id)
	if err == nil && !ok {
		return noSuchClient()
	}
	return err
}

// AuthenticateOIDCClient checks a confidential client's secret.
func (s *Service) AuthenticateOIDCClient(ctx context.Context, id, secret string) (*OIDCClient, error) {
	refused := Errorf(CodeUnauthenticated, "Unknown client or wrong secret.")
	c, err := s.OIDCClient(ctx, id)
	if IsCode(err, CodeNotFound) {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	h, ok := parseToken(oidcSecretPrefix, secret)
	if c.Public() || !ok || subtle.ConstantTimeCompare(h[:], c.SecretHash) != 1 {
		return nil, refused
	}
	return c, nil
}

// CheckOIDCParams refuses what no request may carry: oversized or
// malformed state, nonce or login hint, unknown scopes, a PKCE challenge
// that is not S256's shape.
func CheckOIDCParams(p *OIDCRequestParams) error {
	for _, v := range []struct{ name, value string }{{"state", p.State}, {"nonce", p.Nonce}, {"login_hint", p.LoginHint}} {
		if len(v.value) > maxOIDCParam || !utf8.ValidString(v.value) || strings.ContainsRune(v.value, 0) {
			return Errorf(CodeInvalidRequest, "The %s parameter is too long or not text.", v.name)
		}
	}
	if len(p.Scopes) > maxOIDCScopes {
		return Errorf(CodeInvalidRequest, "Too many scopes.")
	}
	if len(p.CodeChallenge) != 43 {
		// base64url of a SHA-256, unpadded
		return Errorf(CodeInvalidRequest, "code_challenge must be the S256 challenge of a code_verifier.")
	}
	for _, r := range p.CodeChallenge {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return Errorf(CodeInvalidRequest, "code_challenge must be the S256 challenge of a code_verifier.")
		}
	}
	return nil
}

// CreateOIDCAuthRequest stores an authorization request the openid package
// has checked against its client. Its id is random: it is all that links
// the sign-in pages to the request.
func (s *Service) CreateOIDCAuthRequest(ctx context.Context, clientID string, p OIDCRequestParams) (*OIDCAuthRequest, error) {
	if err := CheckOIDCParams(&p); err != nil {
		return nil, err
	}
	id, _, err := s.newToken(oidcRequestIDPrefix)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	r := &OIDCAuthRequest{ID: id, ClientID: clientID, Params: p, CreatedAt: now, ExpiresAt: now.Add(OIDCRequestTTL)}
	return r, s.store.CreateOIDCAuthRequest(ctx, r)
}

func noSuchRequest() *Error {
	return Errorf(CodeNotFound, "This sign-in request is unknown or has expired. Start again from the application.")
}

// OIDCAuthRequest returns a request that has not expired, or CodeNotFound.
func (s *Service) OIDCAuthRequest(ctx context.Context, id string) (*OIDCAuthRequest, error) {
	if _, ok := parseToken(oidcRequestIDPrefix, id); !ok {
		return nil, noSuchRequest()
	}
	r, err := s.store.OIDCAuthRequest(ctx, id)
	if IsCode(err, CodeNotFound) || err == nil && !s.clock().Before(r.ExpiresAt) {
		return nil, noSuchRequest()
	}
	return r, err
}

// OIDCConsentNeeded reports whether the account must be asked before the
// client gets scopes: never for a first-party client, otherwise unless it
// consented to all of them before.
func (s *Service) OIDCConsentNeeded(ctx context.Context, c *OIDCClient, accountID string, scopes []string) (bool, error) {
	if c.FirstParty {
		return false, nil
	}
	given, err := s.store.OIDCConsent(ctx, accountID, c.ID)
	if err != nil {
		return false, err
	}
	for _, sc := range scopes {
		if !slices.Contains(given, sc) {
			return true, nil
		}
	}
	return false, nil
}

// AuthorizeOIDCRequest records that the person of sess signed in for the
// request (and, with consented, agreed to give its client the scopes: an
// oidc.consent_granted event, in the same transaction).
func (s *Service) AuthorizeOIDCRequest(ctx context.Context, r *OIDCAuthRequest, cl *OIDCClient, sess *Session, consented bool, c Client) error {
	return s.store.InTx(ctx, func(q Queries) error {
		if consented {
			if err := q.PutOIDCConsent(ctx, sess.AccountID, r.ClientID, r.Params.Scopes, s.clock()); err != nil {
				return err
			}
			e := event(sess.AccountID, audit.OIDCConsentGranted, c, sess.ID)
			e.Details = map[string]string{audit.DetailClient: cl.ID, audit.DetailClientName: cl.Name,
				audit.DetailScopes: strings.Join(r.Params.Scopes, " ")}
			if err := s.record(ctx, q, e); err != nil {
				return err
			}
		}
		r.AccountID, r.SessionID, r.AuthTime, r.AMR, r.AAL = sess.AccountID, sess.ID, sess.CreatedAt, sess.AMR, sess.AAL
		ok, err := q.AuthorizeOIDCRequest(ctx, r)
		if err == nil && !ok {
			return noSuchRequest()
		}
		return err
	})
}

// SaveOIDCCode stores the hash of the code issued for an authorized request.
func (s *Service) SaveOIDCCode(ctx context.Context, requestID, code string) error {
	h := hashToken(code)
	ok, err := s.store.SetOIDCCode(ctx, requestID, h[:], s.clock())
	if err == nil && !ok {
		return noSuchRequest()
	}
	return err
}

func invalidGrant(msg string) *Error { return Errorf(CodeInvalidToken, "%s", msg) }

// CheckOIDCCode finds the request a code was issued for, without taking
// the code: the client is authenticated and its PKCE verifier checked
// before RedeemOIDCCode takes it, so that a client that fails either does
// not spend another's code. A code used before is refused here already,
// and ends the grant its first use made.
func (s *Service) CheckOIDCCode(ctx context.Context, code string) (*OIDCAuthRequest, error) {
	id, err := s.OpenOIDC(code)
	if err != nil {
		return nil, invalidGrant("Unknown code.")
	}
	r, err := s.OIDCAuthRequest(ctx, id)
	if IsCode(err, CodeNotFound) {
		return nil, invalidGrant("Unknown code.")
	}
	if err != nil {
		return nil, err
	}
	h := hashToken(code)
	if r.CodeHash == nil || subtle.ConstantTimeCompare(r.CodeHash, h[:]) != 1 {
		return nil, invalidGrant("Unknown code.")
	}
	if r.CodeUsedAt != nil {
		if err := s.revokeGrant(ctx, r.ID, revokedCodeReused); err != nil {
			return nil, err
		}
		return nil, invalidGrant("This code was used before: the tokens issued for it are revoked.")
	}
	if r.CodeIssuedAt == nil || s.clock().Sub(*r.CodeIssuedAt) > OIDCCodeTTL {
		return nil, invalidGrant("This code has expired.")
	}
	return r, nil
}

// RedeemOIDCCode takes a code, once, and starts its grant, tied to the
// session that signed in, in the same transaction: a code shown a second
// time, even while its first use is still being made into a grant on
// another node, is refused and ends that grant (RFC 6749 §4.1.2: it was
// stolen, or replayed). Were the grant started after the code was taken,
// a replay landing in between would find no grant to end, and the first
// use's tokens would outlive it. A code older than OIDCCodeTTL, or whose
// session has ended meanwhile, is refused.
func (s *Service) RedeemOIDCCode(ctx context.Context, code string) (*OIDCGrant, error) {
	if code == "" || len(code) > 512 {
		return nil, invalidGrant("Unknown code.")
	}
	h := hashToken(code)
	now := s.clock()
	var (
		g      *OIDCGrant
		reused string
	)
	err := s.store.InTx(ctx, func(q Queries) error {
		// The conditional update holds the request's row until this
		// transaction ends: a concurrent use waits, then sees the code used
		// and the grant made.
		r, first, err := q.UseOIDCCode(ctx, h[:], now)
		if IsCode(err, CodeNotFound) {
			return invalidGrant("Unknown code.")
		}
		if err != nil {
			return err
		}
		if !first {
			reused = r.ID
			return nil
		}
		if r.CodeIssuedAt == nil || now.Sub(*r.CodeIssuedAt) > OIDCCodeTTL || !now.Before(r.ExpiresAt) {
			return invalidGrant("This code has expired.")
		}
		g, err = s.startOIDCGrant(ctx, q, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused != "" {
		if err := s.revokeGrant(ctx, reused, revokedCodeReused); err != nil {
			return nil, err
		}
		return nil, invalidGrant("This code was used before: the tokens issued for it are revoked.")
	}
	return g, nil
}

// startOIDCGrant makes the grant of a redeemed request, in q's
// transaction, with its oidc.token_issued event. It is refused when the
// session that signed in has ended meanwhile.
func (s *Service) startOIDCGrant(ctx context.Context, q Queries, r *OIDCAuthRequest) (*OIDCGrant, error) {
	g := &OIDCGrant{
		ID: r.ID, AccountID: r.AccountID, SessionID: r.SessionID, ClientID: r.ClientID, Scopes: r.Params.Scopes,
		AuthTime: r.AuthTime, AMR: r.AMR, AAL: r.AAL, CreatedAt: s.clock(),
	}
	if err := s.oidcSessionStands(ctx, q, g.AccountID, g.SessionID); err != nil {
		return nil, err
	}
	if err := q.CreateOIDCGrant(ctx, g); err != nil {
		if IsCode(err, CodeNotFound) {
			return nil, invalidGrant("The session that signed in has ended.")
		}
		return nil, err
	}
	e := event(g.AccountID, audit.OIDCTokenIssued, Client{}, g.SessionID)
	d, err := s.clientDetails(ctx, q, g.ClientID)
	if err != nil {
		return nil, err
	}
	e.Details = d
	return g, s.record(ctx, q, e)
}

// clientDetails are the audit details naming a client.
func (s *Service) clientDetails(ctx context.Context, q Queries, clientID string) (map[string]string, error) {
	d := map[string]string{audit.DetailClient: clientID}
	c, err := q.OIDCClient(ctx, clientID)
	if IsCode(err, CodeNotFound) {
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	d[audit.DetailClientName] = c.Name
	return d, nil
}

// The reasons an oidc.grant_revoked event gives.
const (
	revokedCodeReused    = "code_reused"
	revokedRefreshReused = "refresh_token_reused"
	revokedByClient      = "revoked_by_client"
)

// revokeGrant ends a grant and its tokens and records oidc.grant_revoked,
// together; a grant gone already is no error.
func (s *Service) revokeGrant(ctx context.Context, grantID, reason string) error {
	return s.store.InTx(ctx, func(q Queries) error {
		g, err := q.OIDCGrant(ctx, grantID)
		if IsCode(err, CodeNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok, err := q.DeleteOIDCGrant(ctx, grantID)
		if err != nil || !ok {
			return err
		}
		e := event(g.AccountID, audit.OIDCGrantRevoked, Client{}, g.SessionID)
		if e.Details, err = s.clientDetails(ctx, q, g.ClientID); err != nil {
			return err
		}
		e.Details[audit.DetailReason] = reason
		return s.record(ctx, q, e)
	})
}

// OIDCGrant returns a grant that still stands, or an invalid-token error.
func (s *Service) OIDCGrant(ctx context.Context, id string) (*OIDCGrant, error) {
	if _, ok := parseToken(oidcRequestIDPrefix, id); !ok {
		return nil, invalidGrant("The grant has ended.")
	}
	g, err := s.store.OIDCGrant(ctx, id)
	if IsCode(err, CodeNotFound) {
		return nil, invalidGrant("The grant has ended.")
	}
	if err != nil {
		return nil, err
	}
	if err := s.oidcSessionStands(ctx, s.store, g.AccountID, g.SessionID); err != nil {
		return nil, err
	}
	return g, nil
}

// oidcSessionStands says whether the session a grant (or a request about
// to become one) is tied to still stands: of that account, neither past its
// absolute lifetime nor idle. The housekeeping deletes an ended session's
// row, and its grants with it, only now and then; until it does, the
// grant must not outlive the session. A grant whose session is another
// account's (the database edited) stands for nobody.
func (s *Service) oidcSessionStands(ctx context.Context, q Sessions, accountID, sessionID string) error {
	sess, err := q.SessionByID(ctx, accountID, sessionID)
	if IsCode(err, CodeNotFound) {
		return invalidGrant("The session that signed in has ended.")
	}
	if err != nil {
		return err
	}
	now := s.clock()
	if sess.AccountID != accountID || !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdleTimeout {
		return invalidGrant("The session that signed in has ended.")
	}
	return nil
}

// OIDCGrants lists the account's grants (for the Sessions page).
func (s *Service) OIDCGrants(ctx context.Context, accountID string) ([]OIDCGrant, error) {
	return s.store.ListOIDCGrants(ctx, accountID)
}

// NewOIDCAccessToken stores a new access token of the grant and returns its
// id (the openid package seals it into the token) and its expiry.
func (s *Service) NewOIDCAccessToken(ctx context.Context, grantID string) (string, time.Time, error) {
	id, h, err := s.newToken(oidcAccessPrefix)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.clock()
	t := &OIDCToken{Hash: h, GrantID: grantID, CreatedAt: now, ExpiresAt: now.Add(OIDCAccessTokenTTL)}
	if err := s.store.CreateOIDCToken(ctx, t); err != nil {
		if IsCode(err, CodeNotFound) {
			return "", time.Time{}, invalidGrant("The grant has ended.")
		}
		return "", time.Time{}, err
	}
	return id, t.ExpiresAt, nil
}

// NewOIDCRefreshToken stores a new refresh token of the grant and returns
// it. It lives as long as a session may: the grant ends with its session.
func (s *Service) NewOIDCRefreshToken(ctx context.Context, grantID string) (string, error) {
	token, h, err := s.newToken(oidcRefreshPrefix)
	if err != nil {
		return "", err
	}
	now := s.clock()
	t := &OIDCToken{Hash: h, GrantID: grantID, Refresh: true, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionLifetime)}
	if err := s.store.CreateOIDCToken(ctx, t); err != nil {
		if IsCode(err, CodeNotFound) {
			return "", invalidGrant("The grant has ended.")
		}
		return "", err
	}
	return token, nil
}

// OIDCRefreshGrant returns the grant of a refresh token that was not used
// yet. A refresh token shown after its use ends its whole grant (the
// rotation's reuse detection: RFC 6819 §5.2.2.3).
func (s *Service) OIDCRefreshGrant(ctx context.Context, token string) (*OIDCGrant, error) {
	h, ok := parseToken(oidcRefreshPrefix, token)
	if !ok {
		return nil, invalidGrant("Unknown refresh token.")
	}
	t, err := s.store.OIDCToken(ctx, h[:])
	if IsCode(err, CodeNotFound) || err == nil && !t.Refresh {
		return nil, invalidGrant("Unknown refresh token.")
	}
	if err != nil {
		return nil, err
	}
	if t.UsedAt != nil {
		if err := s.revokeGrant(ctx, t.GrantID, revokedRefreshReused); err != nil {
			return nil, err
		}
		return nil, invalidGrant("This refresh token was used before: the grant is revoked.")
	}
	if !s.clock().Before(t.ExpiresAt) {
		return nil, invalidGrant("This refresh token has expired.")
	}
	return s.OIDCGrant(ctx, t.GrantID)
}

// UseOIDCRefreshToken spends a refresh token at its rotation. Of two
// concurrent uses one wins; the other is a reuse and ends the grant.
func (s *Service) UseOIDCRefreshToken(ctx context.Context, token, grantID string) error {
	h, ok := parseToken(oidcRefreshPrefix, token)
	if !ok {
		return invalidGrant("Unknown refresh token.")
	}
	won, err := s.store.UseOIDCRefreshToken(ctx, h[:], s.clock())
	if err != nil {
		return err
	}
	if !won {
		if err := s.revokeGrant(ctx, grantID, revokedRefreshReused); err != nil {
			return err
		}
		return invalidGrant("This refresh token was used before: the grant is revoked.")
	}
	return nil
}

// OIDCAccessGrant returns the grant and account an access token (by the id
// sealed in it) speaks for, while the token, its grant, its session and its
// account all stand.
func (s *Service) OIDCAccessGrant(ctx context.Context, tokenID string) (*OIDCGrant, *Account, error) {
	h, ok := parseToken(oidcAccessPrefix, tokenID)
	if !ok {
		return nil, nil, invalidGrant("Unknown access token.")
	}
	t, err := s.store.OIDCToken(ctx, h[:])
	if IsCode(err, CodeNotFound) || err == nil && (t.Refresh || !s.clock().Before(t.ExpiresAt)) {
		return nil, nil, invalidGrant("Unknown or expired access token.")
	}
	if err != nil {
		return nil, nil, err
	}
	g, err := s.OIDCGrant(ctx, t.GrantID)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.store.AccountByID(ctx, g.AccountID)
	if IsCode(err, CodeNotFound) || err == nil && a.DisabledAt != nil {
		return nil, nil, invalidGrant("The account is gone or disabled.")
	}
	if err != nil {
		return nil, nil, err
	}
	return g, a, nil
}

// RevokeOIDCRefreshToken ends the grant of a refresh token of clientID
// (RFC 7009 §2.1: the access tokens of the grant go with it). An unknown
// token, or another client's, is no error (RFC 7009 §2.2).
func (s *Service) RevokeOIDCRefreshToken(ctx context.Context, token, clientID string) error {
	h, ok := parseToken(oidcRefreshPrefix, token)
	if !ok {
		return nil
	}
	t, err := s.store.OIDCToken(ctx, h[:])
	if IsCode(err, CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	g, err := s.store.OIDCGrant(ctx, t.GrantID)
	if IsCode(err, CodeNotFound) || err == nil && g.ClientID != clientID {
		return nil
	}
	if err != nil {
		return err
	}
	return s.revokeGrant(ctx, g.ID, revokedByClient)
}

// RevokeOIDCAccessToken deletes an access token of clientID.
func (s *Service) RevokeOIDCAccessToken(ctx context.Context, tokenID, clientID string) error {
	g, _, err := s.OIDCAccessGrant(ctx, tokenID)
	if IsCode(err, CodeInvalidToken) {
		return nil
	}
	if err != nil {
		return err
	}
	if g.ClientID != clientID {
		return nil
	}
	h, _ := parseToken(oidcAccessPrefix, tokenID)
	_, err = s.store.DeleteOIDCToken(ctx, h[:])
	return err
}

// OIDCSigner is the current signing key, opened.
type OIDCSigner struct {
	ID        string
	Algorithm string
	Key       *ecdsa.PrivateKey
}

// OIDCPublicKey is a published key.
type OIDCPublicKey struct {
	ID        string
	Algorithm string
	Key       *ecdsa.PublicKey
}

// OIDCSigningKeyAAD is the associated data a signing key is sealed with:
// its id, so a sealed key cannot be passed off as another. `keyward copy`
// opens every key with it to refuse a copy made with the wrong secret key.
func OIDCSigningKeyAAD(id string) []byte { return []byte("oidc signing key " + id) }

// OIDCSigningKey returns the key to sign with, making the first one when
// there is none.
func (s *Service) OIDCSigningKey(ctx context.Context) (*OIDCSigner, error) {
	keys, err := s.store.OIDCSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.RetiredAt == nil {
			return s.openSigningKey(&k)
		}
	}
	k, err := s.newSigningKey(ctx)
	if err != nil {
		return nil, err
	}
	return s.openSigningKey(k)
}

func (s *Service) openSigningKey(k *OIDCSigningKey) (*OIDCSigner, error) {
	der, err := s.keys.Open(k.Sealed, OIDCSigningKeyAAD(k.ID))
	if err != nil {
		return nil, Internal(fmt.Errorf("opening signing key %s: %w", k.ID, err))
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, Internal(fmt.Errorf("parsing signing key %s: %w", k.ID, err))
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, Internal(fmt.Errorf("signing key %s is no ECDSA key", k.ID))
	}
	return &OIDCSigner{ID: k.ID, Algorithm: k.Algorithm, Key: ec}, nil
}

func (s *Service) newSigningKey(ctx context.Context) (*OIDCSigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, Internal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, Internal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, Internal(err)
	}
	var b [9]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return nil, Internal(err)
	}
	k := &OIDCSigningKey{ID: "sk_" + tokenEncoding.EncodeToString(b[:]), Algorithm: "ES256", Public: pub, CreatedAt: s.clock()}
	if k.Sealed, err = s.keys.Seal(der, OIDCSigningKeyAAD(k.ID)); err != nil {
		return nil, Internal(err)
	}
	if err := s.store.CreateOIDCSigningKey(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// RotateOIDCSigningKey makes a new signing key current. The keys before it
// stay published until every ID token they signed has expired, so those
// keep verifying.
func (s *Service) RotateOIDCSigningKey(ctx context.Context) (string, error) {
	k, err := s.newSigningKey(ctx)
	if err != nil {
		return "", err
	}
	if _, err := s.store.RetireOIDCSigningKeys(ctx, k.ID, s.clock()); err != nil {
		return "", err
	}
	if _, err := s.store.DeleteOIDCSigningKeys(ctx, s.clock().Add(-oidcKeyPublished)); err != nil {
		return "", err
	}
	return k.ID, nil
}

// OIDCPublicKeys returns the keys to publish: the current one and those
// retired within oidcKeyPublished. Each is the public half of its sealed
// private key, never the stored public key as it stands: that one is in
// the clear, and someone who can write the database but not read the key
// file could otherwise publish a key of their own and sign ID tokens that
// every relying party believes. A key that does not open is left out, a
// stored public half that is not the key's own is logged.
func (s *Service) OIDCPublicKeys(ctx context.Context) ([]OIDCPublicKey, error) {
	keys, err := s.store.OIDCSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := s.clock().Add(-oidcKeyPublished)
	var out []OIDCPublicKey
	for _, k := range keys {
		if k.RetiredAt != nil && k.RetiredAt.Before(cutoff) {
			continue
		}
		signer, err := s.openSigningKey(&k)
		if err != nil {
			s.log.ErrorContext(ctx, "an OpenID Connect signing key does not open: not published", "key", k.ID, "err", err)
			continue
		}
		pub := &signer.Key.PublicKey
		if der, err := x509.MarshalPKIXPublicKey(pub); err != nil || subtle.ConstantTimeCompare(der, k.Public) != 1 {
			s.log.ErrorContext(ctx, "an OpenID Connect signing key's stored public key is not its own: the database was edited; its own is published", "key", k.ID)
		}
		out = append(out, OIDCPublicKey{ID: k.ID, Algorithm: k.Algorithm, Key: pub})
	}
	return out, nil
}

// AccountForOIDC returns the account of a grant, for the ID token's and
// userinfo's claims.
func (s *Service) AccountForOIDC(ctx context.Context, id string) (*Account, error) {
	a, err := s.store.AccountByID(ctx, id)
	if IsCode(err, CodeNotFound) || err == nil && a.DisabledAt != nil {
		return nil, invalidGrant("The account is gone or disabled.")
	}
	return a, err
}

// oidcSealAAD binds what the provider seals (codes, access tokens) to
// that use.
var oidcSealAAD = []byte("oidc token")

// SealOIDC encrypts a value the provider hands out (a code, an access
// token) with the keyring, so that it can be opened by any node holding
// the keys and by nothing else. The result is URL- and header-safe.
func (s *Service) SealOIDC(plain string) (string, error) {
	sealed, err := s.keys.Seal([]byte(plain), oidcSealAAD)
	if err != nil {
		return "", Internal(err)
	}
	return strings.Replace(sealed, ":", ".", 1), nil
}

// OpenOIDC opens what SealOIDC sealed; any other input is an
// invalid-token error.
func (s *Service) OpenOIDC(sealed string) (string, error) {
	if len(sealed) > 1024 {
		return "", invalidGrant("Unknown token.")
	}
	plain, err := s.keys.Open(strings.Replace(sealed, ".", ":", 1), oidcSealAAD)
	if err != nil {
		return "", invalidGrant("Unknown token.")
	}
	return string(plain), nil
}

// OIDCApplications returns, by session id, the names of the clients each
// of the account's sessions signed in to (for the Sessions page), each
// name once, in the order the grants were made.
func (s *Service) OIDCApplications(ctx context.Context, accountID string) (map[string][]string, error) {
	grants, err := s.store.ListOIDCGrants(ctx, accountID)
	if err != nil || len(grants) == 0 {
		return nil, err
	}
	names := map[string]string{}
	out := map[string][]string{}
	for _, g := range grants {
		name, ok := names[g.ClientID]
		if !ok {
			c, err := s.store.OIDCClient(ctx, g.ClientID)
			if IsCode(err, CodeNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			name, names[g.ClientID] = c.Name, c.Name
		}
		if !slices.Contains(out[g.SessionID], name) {
			out[g.SessionID] = append(out[g.SessionID], name)
		}
	}
	return out, nil
}

// AdminOIDCClients lists the clients for the admin API (scope clients:write).
func (s *Service) AdminOIDCClients(ctx context.Context, by Admin) ([]OIDCClient, error) {
	if err := by.require(ScopeClientsWrite); err != nil {
		return nil, err
	}
	return s.OIDCClients(ctx)
}

// AdminCreateOIDCClient registers a client for the admin API (scope
// clients:write).
func (s *Service) AdminCreateOIDCClient(ctx context.Context, by Admin, spec OIDCClientSpec) (*OIDCClient, string, error) {
	if err := by.require(ScopeClientsWrite); err != nil {
		return nil, "", err
	}
	return s.CreateOIDCClient(ctx, spec)
}

// AdminDeleteOIDCClient deletes a client for the admin API (scope
// clients:write).
func (s *Service) AdminDeleteOIDCClient(ctx context.Context, by Admin, id string) error {
	if err := by.require(ScopeClientsWrite); err != nil {
		return err
	}
	return s.DeleteOIDCClient(ctx, id)
}
