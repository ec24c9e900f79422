// Package openid is keyward's OpenID Connect provider (API.md, "Single
// sign-on"): the protocol on github.com/zitadel/oidc's op package, every
// record and rule in the service. The web package mounts it and runs the
// interactive part (sign-in, consent) on keyward's own pages.
//
// Where the library's defaults say more than keyward does, this package
// narrows them: discovery advertises the code flow with PKCE S256 only,
// every client must send an S256 challenge, request_uri is refused, and
// CORS never allows credentials.
package openid

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keyward/keyward"
)

// The provider's endpoints, under the issuer.
const (
	DiscoveryPath     = "/.well-known/openid-configuration"
	AuthorizePath     = "/oauth/authorize"
	CallbackPath      = AuthorizePath + "/callback"
	TokenPath         = "/oauth/token"
	UserinfoPath      = "/oauth/userinfo"
	RevocationPath    = "/oauth/revoke"
	IntrospectionPath = "/oauth/introspect"
	EndSessionPath    = "/oauth/end_session"
	KeysPath          = "/oauth/keys"
	// Prefix holds every endpoint but discovery.
	Prefix = "/oauth/"
)

// maxQuery bounds an authorization or logout request's parameters: a
// request this long is an attack or a mistake.
const maxQuery = 8 << 10

// Config is what the provider needs to know about its deployment.
type Config struct {
	// Issuer is keyward's public URL with its base path ("https://id.example"
	// or "https://example.com/auth"): the iss of every token.
	Issuer string
	// LoginPath is where the authorization endpoint sends the browser with
	// a stored request's id: the web layer's page that signs the person in
	// and asks for consent, relative to the issuer's host.
	LoginPath func(requestID string) string
}

// Provider serves the OpenID Connect endpoints.
type Provider struct {
	svc     *keyward.Service
	op      *op.Provider
	storage *storage
	issuer  string
}

// New builds the provider over svc.
func New(svc *keyward.Service, cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("openid: the issuer %q is not an absolute http(s) URL", cfg.Issuer)
	}
	if cfg.LoginPath == nil {
		return nil, fmt.Errorf("openid: Config.LoginPath is required")
	}
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	st := &storage{svc: svc, loginPath: cfg.LoginPath}
	opts := []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint(AuthorizePath)),
		op.WithCustomTokenEndpoint(op.NewEndpoint(TokenPath)),
		op.WithCustomUserinfoEndpoint(op.NewEndpoint(UserinfoPath)),
		op.WithCustomRevocationEndpoint(op.NewEndpoint(RevocationPath)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(IntrospectionPath)),
		op.WithCustomEndSessionEndpoint(op.NewEndpoint(EndSessionPath)),
		op.WithCustomKeysEndpoint(op.NewEndpoint(KeysPath)),
		op.WithCrypto(sealer{svc}),
		// Tokens travel in headers and bodies, never in cookies: a page on
		// another origin may call the token and userinfo endpoints, but
		// never with the browser's credentials.
		op.WithCORSOptions(&cors.Options{
			AllowOriginFunc:  func(string) bool { return true },
			AllowedMethods:   []string{http.MethodGet, http.MethodPost},
			AllowedHeaders:   []string{"Authorization", "Content-Type"},
			AllowCredentials: false,
		}),
	}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(&op.Config{
		// Where end_session sends the browser when the client names no
		// registered post_logout_redirect_uri: keyward's own front page.
		DefaultLogoutRedirectURI: issuer + "/",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          keyward.OIDCScopes(),
		SupportedClaims:          claims,
	}, st, op.StaticIssuer(issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("openid: %w", err)
	}
	return &Provider{svc: svc, op: p, storage: st, issuer: issuer}, nil
}

// claims are the claims keyward's tokens and userinfo carry.
var claims = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
	"at_hash", "c_hash", "email", "email_verified", "preferred_username"}

// Issuer is the provider's issuer.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP serves discovery and the endpoints under Prefix. The base path,
// if any, is already off the request's path.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case DiscoveryPath:
		p.discovery(w, r)
		return
	case AuthorizePath, EndSessionPath:
		if len(r.URL.RawQuery) > maxQuery || r.ContentLength > maxQuery {
			errorPage(w, http.StatusRequestURITooLong, "The request's parameters are too long.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxQuery)
		}
		if err := r.ParseForm(); err != nil {
			errorPage(w, http.StatusBadRequest, "The request's parameters could not be read.")
			return
		}
		if r.URL.Path == AuthorizePath && r.Form.Has("request_uri") {
			// A request_uri would make keyward fetch a URL a client names:
			// not supported, and said so rather than ignored.
			errorPage(w, http.StatusBadRequest, "request_uri is not supported: send the parameters in the request itself.")
			return
		}
	}
	p.op.ServeHTTP(w, r)
}

// errorPage answers a browser that cannot be sent back to a client: the
// client, or where to send it, is not known for sure.
func errorPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// discovery answers with what keyward supports, whatever the library's
// defaults would advertise.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	c := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	c.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	c.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	c.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	c.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	c.RequestURIParameterSupported = false
	c.RequestParameterSupported = false
	c.ScopesSupported = keyward.OIDCScopes()
	c.ClaimsSupported = claims
	c.IDTokenSigningAlgValuesSupported = []string{"ES256"}
	c.ACRValuesSupported = []string{"aal1", "aal2"}
	c.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	c.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	c.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	c.TokenEndpointAuthSigningAlgValuesSupported = nil
	c.RevocationEndpointAuthSigningAlgValuesSupported = nil
	c.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	c.RequestObjectSigningAlgValuesSupported = nil
	c.DeviceAuthorizationEndpoint = ""
	c.CheckSessionIframe = ""
	c.UILocalesSupported = nil
	c.SubjectTypesSupported = []string{"public"}
	b, err := json.Marshal(c)
	if err != nil {
		errorPage(w, http.StatusInternalServerError, "The discovery document could not be made.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// sealer is op.Crypto on the keyring: codes and access tokens are sealed
// with the keys every node holds, so any node opens what another issued.
type sealer struct{ svc *keyward.Service }

func (s sealer) Encrypt(v string) (string, error) { return s.svc.SealOIDC(v) }
func (s sealer) Decrypt(v string) (string, error) { return s.svc.OpenOIDC(v) }

type (
	sessionKey struct{}
	clientKey  struct{}
)

// WithSession hands the browser's keyward session (nil when signed out) and
// its client to the end_session endpoint, which signs it out.
func WithSession(ctx context.Context, sess *keyward.Session, c keyward.Client) context.Context {
	return context.WithValue(context.WithValue(ctx, sessionKey{}, sess), clientKey{}, c)
}

// WithSession is the package's WithSession, for the web layer.
func (p *Provider) WithSession(ctx context.Context, sess *keyward.Session, c keyward.Client) context.Context {
	return WithSession(ctx, sess, c)
}
