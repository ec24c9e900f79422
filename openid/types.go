package openid

import (
	"crypto/ecdsa"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keyward/keyward"
)

// acr names the assurance level of a sign-in: aal2 with a second factor.
func acr(aal int) string {
	if aal >= 2 {
		return "aal2"
	}
	return "aal1"
}

// authRequest is op.AuthRequest over the service's record; code is the
// code it was found by, at the token endpoint.
type authRequest struct {
	r    *keyward.OIDCAuthRequest
	code string
}

func (a *authRequest) GetID() string          { return a.r.ID }
func (a *authRequest) GetACR() string         { return acr(a.r.AAL) }
func (a *authRequest) GetAMR() []string       { return a.r.AMR.Values() }
func (a *authRequest) GetAudience() []string  { return []string{a.r.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.r.AuthTime }
func (a *authRequest) GetClientID() string    { return a.r.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.r.Params.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}
func (a *authRequest) GetNonce() string                   { return a.r.Params.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.r.Params.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseModeQuery }
func (a *authRequest) GetScopes() []string                { return a.r.Params.Scopes }
func (a *authRequest) GetState() string                   { return a.r.Params.State }
func (a *authRequest) GetSubject() string                 { return a.r.AccountID }
func (a *authRequest) Done() bool                         { return a.r.AccountID != "" }

// refreshRequest is op.RefreshTokenRequest over a grant.
type refreshRequest struct {
	g      *keyward.OIDCGrant
	scopes []string
}

func (r *refreshRequest) GetAMR() []string                 { return r.g.AMR.Values() }
func (r *refreshRequest) GetAudience() []string            { return []string{r.g.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.g.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.g.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.g.AccountID }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// client is op.Client over a registered client. Every client is a "web"
// one to the library: its redirect URIs then match exactly, http included
// (registration allows http for loopback hosts only), where a "native"
// one would let any loopback port pass.
type client struct {
	c         *keyward.OIDCClient
	loginPath func(requestID string) string
}

func (c *client) GetID() string                       { return c.c.ID }
func (c *client) RedirectURIs() []string              { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return c.c.PostLogoutRedirectURIs }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) LoginURL(id string) string            { return c.loginPath(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return keyward.OIDCIDTokenTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

// signingKey is the current key, opened.
type signingKey struct {
	id  string
	key *ecdsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a published key.
type publicKey struct {
	id  string
	key *ecdsa.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }
