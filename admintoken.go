package keyward

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/audit"
)

// AdminScope is one right an admin token may hold on the admin API.
type AdminScope string

// The scopes. A route of the admin API needs exactly one of them.
const (
	ScopeAccountsRead  AdminScope = "accounts:read"  // list and read accounts and their sessions
	ScopeAccountsWrite AdminScope = "accounts:write" // create, disable, enable, delete accounts; reset their 2FA
	ScopeSessionsWrite AdminScope = "sessions:write" // end an account's sessions
	ScopeAuditRead     AdminScope = "audit:read"     // read every audit log, the system's too
	ScopeClientsWrite  AdminScope = "clients:write"  // list, register and delete OpenID Connect clients
)

// AdminScopes lists every scope, in the order they are shown.
func AdminScopes() []AdminScope {
	return []AdminScope{ScopeAccountsRead, ScopeAccountsWrite, ScopeSessionsWrite, ScopeAuditRead, ScopeClientsWrite}
}

// ParseScopes reads a comma-separated list of scopes ("accounts:read,
// audit:read"). Every scope must be known, and at least one given: a
// misspelt scope is an error, never a token with fewer rights than meant.
// The result is in AdminScopes order, without repeats.
func ParseScopes(s string) ([]AdminScope, error) {
	seen := map[AdminScope]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		sc := AdminScope(part)
		if !slices.Contains(AdminScopes(), sc) {
			return nil, Errorf(CodeInvalidRequest, "Unknown scope %q: the scopes are %s.", cleanText(part, 40), scopeList(AdminScopes()))
		}
		seen[sc] = true
	}
	var out []AdminScope
	for _, sc := range AdminScopes() {
		if seen[sc] {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(CodeInvalidRequest, "Give at least one scope: %s.", scopeList(AdminScopes()))
	}
	return out, nil
}

func scopeList(scopes []AdminScope) string {
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = string(sc)
	}
	return strings.Join(out, ",")
}

// AdminToken is an operator's credential for the admin API. Its token is
// shown once, when it is made; only TokenHash is stored, as for sessions.
type AdminToken struct {
	Name       string // unique; recorded with every action taken with the token
	TokenHash  []byte
	Scopes     []AdminScope
	CreatedAt  time.Time
	LastUsedAt *time.Time // nil until the token is first used
}

// AdminTokens stores the admin API's tokens, by the hash of the token.
type AdminTokens interface {
	// CreateAdminToken inserts t. A name another token has is
	// CodeConflict; of two concurrent creations with one name exactly one
	// succeeds.
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// AdminTokenByHash returns the token, or CodeNotFound.
	AdminTokenByHash(ctx context.Context, hash []byte) (*AdminToken, error)
	// ListAdminTokens returns every token, by name.
	ListAdminTokens(ctx context.Context) ([]AdminToken, error)
	// TouchAdminToken sets LastUsedAt; CodeNotFound when there is no token
	// of that name.
	TouchAdminToken(ctx context.Context, name string, at time.Time) error
	// DeleteAdminToken reports whether a token of that name existed: of
	// concurrent callers, one sees true.
	DeleteAdminToken(ctx context.Context, name string) (bool, error)
}

// Admin is who takes an admin action: the holder of an admin token (its
// name and scopes), or the operator on the command line (CommandLineAdmin),
// who holds every scope. The zero Admin holds none.
type Admin struct {
	TokenName string // "" on the command line
	Scopes    []AdminScope
}

// CommandLineAdmin is the operator running keyward's own commands: the
// events it causes carry actor admin and no token name.
func CommandLineAdmin() Admin { return Admin{Scopes: AdminScopes()} }

// require refuses an action that needs a scope the admin does not hold.
func (a Admin) require(scope AdminScope) error {
	if slices.Contains(a.Scopes, scope) {
		return nil
	}
	return Errorf(CodeInsufficientScope, "This admin token does not have the %s scope.", string(scope))
}

// mark makes e an admin action: actor admin and, for a token, its name.
func (a Admin) mark(e *Event) *Event {
	e.Actor = audit.ActorAdmin
	if a.TokenName != "" {
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details[audit.DetailAdminToken] = a.TokenName
	}
	return e
}

// adminTokenPrefix starts every admin token (see newToken).
const adminTokenPrefix = "kwa_"

// maxAdminTokenName bounds a token's name: it is recorded with every event.
const maxAdminTokenName = 64

// validAdminTokenName reports whether name may name a token: 1 to 64
// letters, digits, '.', '_' and '-', so that it reads the same in the audit
// log, a terminal and a log line.
func validAdminTokenName(name string) bool {
	if name == "" || len(name) > maxAdminTokenName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func adminTokenThrottleKey(addr string) string { return "admin:ip:" + addr }

func noSuchAdminToken() *Error { return Errorf(CodeNotFound, "No admin token has that name.") }

// CreateAdminToken makes a token named name with scopes and returns it:
// the only time it is shown. Only its hash is stored. The creation is
// recorded in the system log (admin.token_created) with the token's name
// and scopes, in the same transaction. Tokens are made on the command line
// only: no token can make another.
func (s *Service) CreateAdminToken(ctx context.Context, name string, scopes []AdminScope) (string, *AdminToken, error) {
	if !validAdminTokenName(name) {
		return "", nil, Errorf(CodeInvalidRequest, "A token's name is 1 to %d letters, digits, '.', '_' or '-'.", maxAdminTokenName)
	}
	if len(scopes) == 0 {
		return "", nil, Errorf(CodeInvalidRequest, "Give at least one scope: %s.", scopeList(AdminScopes()))
	}
	for _, sc := range scopes {
		if !slices.Contains(AdminScopes(), sc) {
			return "", nil, Errorf(CodeInvalidRequest, "Unknown scope %q.", cleanText(string(sc), 40))
		}
	}
	token, hash, err := s.newToken(adminTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := s.clock()
	t := &AdminToken{Name: name, TokenHash: hash, Scopes: slices.Clone(scopes), CreatedAt: now}
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := q.CreateAdminToken(ctx, t); err != nil {
			if IsCode(err, CodeConflict) {
				return Errorf(CodeConflict, "An admin token named %s exists already: revoke it first, or choose another name.", name)
			}
			return err
		}
		e := CommandLineAdmin().mark(event(audit.SystemChain, audit.AdminTokenCreated, Client{}, ""))
		e.Time = now
		e.Details = map[string]string{audit.DetailAdminToken: name, audit.DetailScopes: scopeList(t.Scopes)}
		return s.record(ctx, q, e)
	})
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// ListAdminTokens returns every admin token, by name (never the tokens
// themselves: they are not stored).
func (s *Service) ListAdminTokens(ctx context.Context) ([]AdminToken, error) {
	return s.store.ListAdminTokens(ctx)
}

// RevokeAdminToken deletes the token named name: it stops working at once,
// on every node (tokens are not cached). The revocation is recorded in the
// system log (admin.token_revoked), in the same transaction.
func (s *Service) RevokeAdminToken(ctx context.Context, name string) error {
	if !validAdminTokenName(name) {
		return noSuchAdminToken()
	}
	return s.store.InTx(ctx, func(q Queries) error {
		switch gone, err := q.DeleteAdminToken(ctx, name); {
		case err != nil:
			return err
		case !gone:
			return noSuchAdminToken()
		}
		e := CommandLineAdmin().mark(event(audit.SystemChain, audit.AdminTokenRevoked, Client{}, ""))
		e.Details = map[string]string{audit.DetailAdminToken: name}
		return s.record(ctx, q, e)
	})
}

func adminUnauthenticated() *Error {
	return Errorf(CodeUnauthenticated, "Use Authorization: Bearer <admin token>, with a token from keyward admin token create.")
}

// AuthenticateAdmin answers "which admin token is this?" for a request to
// the admin API. A token is found by the SHA-256 of its 256 random bits,
// through the store's index, so that nothing is compared byte by byte in
// Go and a guess learns nothing from timing. Refused tokens (malformed,
// unknown, revoked) are counted per client address, as wrong link tokens
// are, and past the rule's free ones every attempt from that address
// waits; a valid token clears nothing. Tokens are read from the store on
// every request (there is no cache), so a revocation holds at once
// everywhere. LastUsedAt is written at most once per TouchInterval.
func (s *Service) AuthenticateAdmin(ctx context.Context, token string, c Client) (Admin, error) {
	now := s.clock()
	guesses := throttleCheck{adminTokenThrottleKey(clientAddress(c.IP)), s.cfg.AdminTokenThrottle}
	if err := s.checkThrottle(ctx, now, guesses); err != nil {
		return Admin{}, err
	}
	refuse := func() (Admin, error) {
		tried := &attempt{now: now, onFail: []throttleCheck{guesses}}
		if _, err := tried.failed(ctx, s.store); err != nil {
			return Admin{}, err
		}
		return Admin{}, adminUnauthenticated()
	}
	key, ok := parseToken(adminTokenPrefix, token)
	if !ok {
		return refuse()
	}
	t, err := s.store.AdminTokenByHash(ctx, key[:])
	switch {
	case IsCode(err, CodeNotFound):
		return refuse()
	case err != nil:
		return Admin{}, err
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= s.cfg.TouchInterval {
		if err := s.store.TouchAdminToken(ctx, t.Name, now); IsCode(err, CodeNotFound) {
			return refuse() // revoked meanwhile
		} else if err != nil {
			return Admin{}, err
		}
	}
	return Admin{TokenName: t.Name, Scopes: t.Scopes}, nil
}
