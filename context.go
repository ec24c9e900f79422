package keyward

import "context"

// Identity is who a request comes from: the signed-in account and the
// session it came with. The web middleware (RequireSession) puts it into
// the request's context for the application's handlers to read with
// FromContext.
//
// It carries no secret: Account.PasswordHash and Session.TokenHash are
// empty, and the session token itself is never kept anywhere.
// Session.AAL is 2 when the session was signed in with a second factor.
type Identity struct {
	Account Account
	Session Session
}

// identityKey is the context key of an Identity: unexported, so no other
// package can set or read it except through NewContext and FromContext.
type identityKey struct{}

// NewContext returns a copy of ctx that carries id. The secrets of an
// account and a session are left out, whatever id holds.
func NewContext(ctx context.Context, id Identity) context.Context {
	id.Account.PasswordHash = ""
	id.Session.TokenHash = nil
	if t := id.Account.TwoFactorEnabledAt; t != nil {
		// A copy: the caller's (often a cache's) time stays its own.
		at := *t
		id.Account.TwoFactorEnabledAt = &at
	}
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the Identity NewContext put into ctx, and whether
// there was one. Behind RequireSession there always is.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// requestIDKey is the context key of a request id.
type requestIDKey struct{}

// WithRequestID returns a copy of ctx that carries the request id the
// access log gave the request, so that the service's own log lines about
// it can name it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id WithRequestID put into ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
