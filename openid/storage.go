package openid

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keyward/keyward"
)

// storage is op.Storage over the service: every record the library asks
// for is the service's, and so is every rule about it.
type storage struct {
	svc       *keyward.Service
	loginPath func(requestID string) string
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// oauthError turns a service error into the OAuth error the library
// answers with: a refused token or code is invalid_grant, a bad parameter
// invalid_request; anything else stays a server error (its cause for the
// log only).
func oauthError(err error) error {
	if err == nil {
		return nil
	}
	var ke *keyward.Error
	if errors.As(err, &ke) {
		switch ke.Code {
		case keyward.CodeInvalidToken, keyward.CodeNotFound:
			return oidc.ErrInvalidGrant().WithDescription("%s", ke.Message)
		case keyward.CodeInvalidRequest:
			return oidc.ErrInvalidRequest().WithDescription("%s", ke.Message)
		case keyward.CodeUnauthenticated:
			return oidc.ErrInvalidClient().WithDescription("%s", ke.Message)
		}
	}
	return oidc.ErrServerError().WithParent(err)
}

// CreateAuthRequest stores a request the library has checked against its
// client (exact redirect URI, response type). What the contract asks
// beyond the library: PKCE with S256 for every client, the openid scope,
// no scope keyward does not know, the query response mode.
func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256.")
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("Only code_challenge_method=S256 is supported.")
	}
	if req.ResponseMode != "" && req.ResponseMode != oidc.ResponseModeQuery {
		return nil, oidc.ErrInvalidRequest().WithDescription("Only response_mode=query is supported.")
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("The openid scope is required.")
	}
	var scopes []string
	for _, sc := range req.Scopes {
		if slices.Contains(keyward.OIDCScopes(), sc) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	for _, acr := range req.ACRValues {
		if acr != "aal1" && acr != "aal2" {
			return nil, oidc.ErrInvalidRequest().WithDescription("acr_values may hold aal1 and aal2 only.")
		}
	}
	p := keyward.OIDCRequestParams{
		RedirectURI: req.RedirectURI, Scopes: scopes, State: req.State, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, ResponseMode: string(req.ResponseMode), Prompt: req.Prompt,
		ACRValues: req.ACRValues, LoginHint: req.LoginHint,
	}
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		p.MaxAge = &v
	}
	r, err := s.svc.CreateOIDCAuthRequest(ctx, req.ClientID, p)
	if err != nil {
		return nil, oauthError(err)
	}
	return &authRequest{r: r}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := s.svc.OIDCAuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return &authRequest{r: r}, nil
}

// AuthRequestByCode finds the code's request. The library authenticates
// the client and checks the PKCE verifier after this: the code is taken
// (once, the service ending the grant of a code shown twice) only when
// the tokens are made, in grantOf.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := s.svc.CheckOIDCCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return &authRequest{r: r, code: code}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.svc.SaveOIDCCode(ctx, id, code)
}

// DeleteAuthRequest keeps the request: its redeemed code stays on record
// until the request expires, so that a second use is recognised.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// grantOf starts the grant of a redeemed request, or finds that of a
// refresh.
func (s *storage) grantOf(ctx context.Context, req op.TokenRequest) (string, error) {
	switch r := req.(type) {
	case *authRequest:
		g, err := s.svc.RedeemOIDCCode(ctx, r.code)
		if err != nil {
			return "", oauthError(err)
		}
		return g.ID, nil
	case *refreshRequest:
		return r.g.ID, nil
	}
	return "", oidc.ErrUnsupportedGrantType()
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	grantID, err := s.grantOf(ctx, req)
	if err != nil {
		return "", time.Time{}, err
	}
	id, exp, err := s.svc.NewOIDCAccessToken(ctx, grantID)
	return id, exp, oauthError(err)
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	if rr, ok := req.(*refreshRequest); ok {
		if err := s.svc.UseOIDCRefreshToken(ctx, current, rr.g.ID); err != nil {
			return "", "", time.Time{}, oauthError(err)
		}
	}
	grantID, err := s.grantOf(ctx, req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	id, exp, err := s.svc.NewOIDCAccessToken(ctx, grantID)
	if err != nil {
		return "", "", time.Time{}, oauthError(err)
	}
	refresh, err := s.svc.NewOIDCRefreshToken(ctx, grantID)
	if err != nil {
		return "", "", time.Time{}, oauthError(err)
	}
	return id, refresh, exp, nil
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	g, err := s.svc.OIDCRefreshGrant(ctx, token)
	if err != nil {
		return nil, oauthError(err)
	}
	return &refreshRequest{g: g, scopes: g.Scopes}, nil
}

// TerminateSession is not reached: TerminateSessionFromRequest is.
func (s *storage) TerminateSession(context.Context, string, string) error {
	return oidc.ErrServerError().WithDescription("logout needs the browser's session")
}

// TerminateSessionFromRequest signs out the browser's keyward session (the
// web layer puts it in ctx) when the client's id_token_hint was issued for
// that very session (its sid); its grants end with it. Without such a hint
// the session stays (RP-Initiated Logout 1.0 §2 asks the OP to ask the
// person then): any page could otherwise sign the person out by sending
// the browser here, and any application holding an old ID token of theirs.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	if sess, ok := ctx.Value(sessionKey{}).(*keyward.Session); ok && sess != nil {
		if h := req.IDTokenHintClaims; h != nil && req.UserID == sess.AccountID && h.SessionID == sess.ID {
			c, _ := ctx.Value(clientKey{}).(keyward.Client)
			if err := s.svc.SignOut(ctx, sess, c); err != nil {
				return "", oauthError(err)
			}
		}
	}
	return req.RedirectURI, nil
}

// RevokeToken revokes a refresh token (its whole grant) or an access
// token, of clientID only. Anything else is no error (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, token, _, clientID string) *oidc.Error {
	var err error
	switch {
	case strings.HasPrefix(token, "kwr_"):
		err = s.svc.RevokeOIDCRefreshToken(ctx, token, clientID)
	case strings.HasPrefix(token, "kwt_"):
		err = s.svc.RevokeOIDCAccessToken(ctx, token, clientID)
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// GetRefreshTokenInfo recognises a refresh token by its shape; the token
// itself is then what RevokeToken gets.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _, token string) (string, string, error) {
	if !strings.HasPrefix(token, "kwr_") {
		return "", "", op.ErrInvalidRefreshToken
	}
	return "", token, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.svc.OIDCSigningKey(ctx)
	if err != nil {
		return nil, err
	}
	return &signingKey{id: k.ID, key: k.Key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.svc.OIDCPublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		out = append(out, &publicKey{id: k.ID, key: k.Key})
	}
	return out, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.svc.OIDCClient(ctx, id)
	if err != nil {
		if keyward.IsCode(err, keyward.CodeNotFound) {
			// An OAuth error, not a plain one: the library makes a
			// plain error a server error (500) on some paths.
			return nil, oidc.ErrInvalidClient().WithDescription("Unknown client.")
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &client{c: c, loginPath: s.loginPath}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	_, err := s.svc.AuthenticateOIDCClient(ctx, id, secret)
	if err != nil && !keyward.IsCode(err, keyward.CodeUnauthenticated) {
		return oidc.ErrServerError().WithParent(err)
	}
	return err
}

// SetUserinfoFromScopes is the library's deprecated hook:
// SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims: the subject, the
// email for the email scope, and the keyward session (sid).
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	a, err := s.svc.AccountForOIDC(ctx, req.GetSubject())
	if err != nil {
		return oauthError(err)
	}
	fillUserinfo(info, a, scopes)
	switch r := req.(type) {
	case *authRequest:
		info.AppendClaims("sid", r.r.SessionID)
	case *refreshRequest:
		info.AppendClaims("sid", r.g.SessionID)
	}
	return nil
}

func fillUserinfo(info *oidc.UserInfo, a *keyward.Account, scopes []string) {
	info.Subject = a.ID
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = a.Email
		// As a claim of its own: the library's field leaves false out,
		// and a client must tell "not verified" from "not said".
		info.AppendClaims("email_verified", a.EmailVerifiedAt != nil)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = a.Email
	}
}

// SetUserinfoFromToken answers userinfo for an access token that stands.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	g, a, err := s.svc.OIDCAccessGrant(ctx, tokenID)
	if err != nil {
		return err
	}
	if a.ID != subject {
		return errors.New("the token's subject is not its grant's")
	}
	fillUserinfo(info, a, g.Scopes)
	return nil
}

// SetIntrospectionFromToken answers introspection (RFC 7662) for an access
// token that stands; any other token is inactive.
func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, _ string) error {
	g, a, err := s.svc.OIDCAccessGrant(ctx, tokenID)
	if err != nil {
		return err
	}
	if a.ID != subject {
		return errors.New("the token's subject is not its grant's")
	}
	resp.Active = true
	resp.Scope = g.Scopes
	resp.ClientID = g.ClientID
	resp.Subject = a.ID
	resp.Audience = []string{g.ClientID}
	resp.TokenType = oidc.BearerToken
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves JWT client authentication, which keyward
// does not offer.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }
