package keyward

import (
	"context"
	"slices"
	"time"

	"github.com/keyward/keyward/audit"
)

func unauthenticated() *Error {
	return Errorf(CodeUnauthenticated, "Sign in to continue.")
}

// Authenticate answers "who is this?" for a session token: the check every
// request of every application behind keyward makes. It is served from a
// node-local cache while invalidations can be followed, and writes to the
// store at most once per TouchInterval per session (last seen). The caller
// gets copies of its own.
func (s *Service) Authenticate(ctx context.Context, token string) (*Account, *Session, error) {
	entry, err := s.authenticate(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	// Copies made in one allocation.
	out := &struct {
		a Account
		s Session
	}{entry.account, entry.session}
	return &out.a, &out.s, nil
}

// AuthenticateShared is Authenticate without the copies: the Account and
// Session are this node's cached ones, shared with every other caller and
// valid as they are (a change replaces them, never writes into them).
// Callers must only read them. It is for the checks that answer from the
// session at once (GET /api/v1/sessions/current, the proxies' auth check),
// which then cost no allocation and no copy however large a Session grows.
func (s *Service) AuthenticateShared(ctx context.Context, token string) (*Account, *Session, error) {
	entry, err := s.authenticate(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	return &entry.account, &entry.session, nil
}

// authenticate returns the session of token and its account as one entry
// that nobody may change: the cached one, or one just read.
func (s *Service) authenticate(ctx context.Context, token string) (*cacheEntry, error) {
	key, ok := parseToken(sessionTokenPrefix, token)
	if !ok {
		return nil, unauthenticated()
	}
	now := s.clock()
	entry, found := s.cache.get(key)
	if !found {
		gen, cacheable := s.cache.generation()
		if cacheable && s.cache.knownMissing(key) {
			return nil, unauthenticated()
		}
		sess, err := s.sessionByKey(ctx, key)
		if IsCode(err, CodeNotFound) {
			// Tokens are random: one the store does not know now can never
			// become valid later, so remembering the miss is safe.
			s.cache.putMissing(key, gen)
			return nil, unauthenticated()
		}
		if err != nil {
			return nil, err
		}
		a, err := s.store.AccountByID(ctx, sess.AccountID)
		if err != nil {
			return nil, notFoundAs(err, unauthenticated())
		}
		entry = &cacheEntry{account: *a, session: *sess}
		entry.account.PasswordHash = "" // rules that need it read it from the store
		s.cache.put(key, entry, gen)
	}
	sess := &entry.session
	if !now.Before(sess.ExpiresAt) {
		return nil, unauthenticated()
	}
	if now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdleTimeout && found {
		// Other nodes touch the session without telling this cache (a touch
		// is no invalidation): before calling it idle, ask the store.
		stored, err := s.sessionByKey(ctx, key)
		if err != nil {
			return nil, notFoundAs(err, unauthenticated())
		}
		entry = s.cache.touch(key, entry, stored.LastSeenAt)
		sess = &entry.session
	}
	if now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdleTimeout {
		return nil, unauthenticated()
	}
	if now.Sub(sess.LastSeenAt) >= s.cfg.TouchInterval {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, err
		}
		entry = s.cache.touch(key, entry, now)
	}
	return entry, nil
}

// sessionByKey reads a session from the store by its token's hash. The key
// is copied here, off the cached path, so that Authenticate's own key stays
// on the stack.
func (s *Service) sessionByKey(ctx context.Context, key tokenHash) (*Session, error) {
	return s.store.SessionByTokenHash(ctx, key[:])
}

// SignOut ends the caller's own session.
func (s *Service) SignOut(ctx context.Context, sess *Session, c Client) error {
	return s.changeAccount(ctx, sess.AccountID, func(q Queries) error {
		switch ended, err := q.DeleteSession(ctx, sess.AccountID, sess.ID); {
		case err != nil:
			return err
		case !ended:
			return errUnchanged // already ended elsewhere: nothing to record
		}
		return s.record(ctx, q, event(sess.AccountID, audit.Signout, c, sess.ID))
	})
}

// Sessions lists the account's active sessions, newest activity first.
func (s *Service) Sessions(ctx context.Context, accountID string) ([]Session, error) {
	now := s.clock()
	all, err := s.store.ListSessions(ctx, accountID, now)
	if err != nil {
		return nil, err
	}
	active := all[:0]
	for _, x := range all {
		if now.Sub(x.LastSeenAt) < s.cfg.SessionIdleTimeout {
			active = append(active, x)
		}
	}
	return active, nil
}

// RevokeSession ends one of the caller's sessions by id. Another account's
// session id is not found, exactly like an id that does not exist.
func (s *Service) RevokeSession(ctx context.Context, caller *Session, id string, c Client) error {
	if !validID(sessionIDPrefix, id) {
		return noSuchSession()
	}
	err := s.changeAccount(ctx, caller.AccountID, func(q Queries) error {
		if err := callerStillSignedIn(ctx, q, caller); err != nil {
			return err
		}
		target, err := q.SessionByID(ctx, caller.AccountID, id)
		if err != nil {
			return err
		}
		if _, err := q.DeleteSession(ctx, caller.AccountID, id); err != nil {
			return err
		}
		e := event(caller.AccountID, audit.SessionRevoked, c, caller.ID)
		e.Details = map[string]string{audit.DetailSession: id, audit.DetailDevice: target.Device.String(), audit.DetailIP: target.IP}
		return s.record(ctx, q, e)
	})
	if IsCode(err, CodeNotFound) {
		return noSuchSession()
	}
	return err
}

func noSuchSession() *Error { return Errorf(CodeNotFound, "No such session.") }

// RevokeOtherSessions ends every session of the caller's account but the
// caller's own, and returns how many ended.
func (s *Service) RevokeOtherSessions(ctx context.Context, caller *Session, c Client) (int, error) {
	var n int
	err := s.changeAccount(ctx, caller.AccountID, func(q Queries) error {
		if err := callerStillSignedIn(ctx, q, caller); err != nil {
			return err
		}
		var err error
		n, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: caller.AccountID, keepID: caller.ID, client: c, reason: "signed_out_others"})
		if err == nil && n == 0 {
			return errUnchanged
		}
		return err
	})
	return n, err
}

// callerStillSignedIn refuses, inside the transaction of a change, a caller
// whose session ended after its request was authenticated (in flight when
// it was revoked, or on a node the news has not reached yet): an ended
// session must end nothing else.
func callerStillSignedIn(ctx context.Context, q Queries, caller *Session) error {
	switch _, err := q.SessionByID(ctx, caller.AccountID, caller.ID); {
	case IsCode(err, CodeNotFound):
		return unauthenticated()
	default:
		return err
	}
}

// sessionsEnding is every session of an account but one ending, and why.
type sessionsEnding struct {
	accountID string
	keepID    string // "" ends them all
	client    Client // the client asking
	reason    string
	by        *Admin // the admin who ends them, when one does
}

// endOtherSessions ends all the account's sessions but keepID and records
// one session.revoked event per ended session. It runs inside a
// changeAccount, which tells the other nodes.
func (s *Service) endOtherSessions(ctx context.Context, q Queries, end sessionsEnding) (int, error) {
	// Read first, so that each event names the device and address of the
	// session it ended (the log shows which one); expired ones too, since
	// they are deleted with the others.
	before, err := q.ListSessions(ctx, end.accountID, time.Time{})
	if err != nil {
		return 0, err
	}
	ids, err := q.DeleteOtherSessions(ctx, end.accountID, end.keepID)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	for _, id := range ids {
		e := event(end.accountID, audit.SessionRevoked, end.client, end.keepID)
		e.Details = map[string]string{audit.DetailSession: id, audit.DetailReason: end.reason}
		if i := slices.IndexFunc(before, func(x Session) bool { return x.ID == id }); i >= 0 {
			e.Details[audit.DetailDevice] = before[i].Device.String()
			e.Details[audit.DetailIP] = before[i].IP
		}
		if end.by != nil {
			end.by.mark(e)
		}
		if err := s.record(ctx, q, e); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// CleanUp deletes what has expired: sessions, mfa tokens, unconfirmed
// setups, forgotten throttle counts, old invalidation rows, expired mail
// links and mails sent long ago, expired OpenID Connect requests and
// tokens. serve runs it now and then.
func (s *Service) CleanUp(ctx context.Context) error {
	now := s.clock()
	// A throttle count is forgotten after the longest Forget of the rules.
	var forget time.Duration
	for _, r := range s.cfg.throttleRules() {
		forget = max(forget, r.Forget)
	}
	_, err := s.store.DeleteExpired(ctx, Cutoffs{
		Now:                 now,
		SessionIdleBefore:   now.Add(-s.cfg.SessionIdleTimeout),
		ThrottlesBefore:     now.Add(-forget),
		InvalidationsBefore: now.Add(-invalidationKeep),
		MailsBefore:         now.Add(-sentMailKeep),
		WebhooksBefore:      now.Add(-sentWebhookKeep),
	})
	if err != nil {
		return err
	}
	// Anyone who knows a client id makes an authorization request row:
	// without this, expired requests and tokens piled up for ever.
	_, err = s.store.DeleteExpiredOIDC(ctx, now)
	return err
}

// recentEndings bounds how far back SessionEnded looks: the news is for a
// device that comes back soon after, not a history search.
const recentEndings = 100

// SessionEnded says whether the session id of accountID was ended from
// elsewhere (another device, a change that ends sessions, an
// administrator) rather than having signed out or expired, and why: the
// reason of its session.revoked event ("" for one ended on its own from
// the sessions list). A browser whose session is gone is told so.
func (s *Service) SessionEnded(ctx context.Context, accountID, sessionID string) (ended bool, reason string, err error) {
	if !validID(accountIDPrefix, accountID) || !validID(sessionIDPrefix, sessionID) {
		return false, "", nil
	}
	page, err := s.Events(ctx, accountID, EventQuery{Types: []audit.Type{audit.SessionRevoked}, Limit: recentEndings})
	if err != nil {
		return false, "", err
	}
	for _, e := range page.Events {
		if e.Details[audit.DetailSession] == sessionID {
			return true, e.Details[audit.DetailReason], nil
		}
	}
	return false, "", nil
}
