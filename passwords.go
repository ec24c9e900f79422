package keyward

import (
	"context"
	"strconv"

	"github.com/keyward/keyward/audit"
)

// sensitiveAction is a signed-in person's request to do something that
// asks for the current password every time (a new password), sudo window
// or not.
type sensitiveAction struct {
	account  *Account
	caller   *Session
	client   Client
	action   audit.Type // recorded as failed when the password is wrong
	password string
}

// reauthenticate checks the password again before such an action, as a
// password given for sudo is checked (passwordProof): throttled per account
// by Config.ReauthThrottle and each wrong one recorded as a failed attempt
// at the action.
func (s *Service) reauthenticate(ctx context.Context, r sensitiveAction) error {
	p := &passwordProof{password: r.password}
	at := &sudoAttempt{account: r.account, caller: r.caller, client: r.client, now: s.clock(), action: r.action}
	if err := p.check(ctx, s, at); err != nil {
		return err
	}
	// Cleared on its own: the action's change comes later, and may not
	// come at all (a new password the policy refuses).
	return p.tried.passed(ctx, s.store)
}

// ChangePassword replaces the caller's password. With signOutOthers every
// other session ends in the same transaction; the caller's stays. It returns
// how many sessions ended.
func (s *Service) ChangePassword(ctx context.Context, caller *Session, current, next string, signOutOthers bool, c Client) (int, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return 0, err
	}
	if err := s.reauthenticate(ctx, sensitiveAction{account: a, caller: caller, client: c, action: audit.PasswordChanged, password: current}); err != nil {
		return 0, err
	}
	if err := s.checkPolicy(ctx, next, a.Email); err != nil {
		return 0, err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return 0, err
	}
	revoked := 0
	err = s.changeAccount(ctx, a.ID, func(q Queries) error {
		// Under the account's lock: the password checked above is still the
		// account's (a concurrent change wins once), and sign-ins racing
		// this one either finish first, and their sessions end below, or
		// see the new hash and fail.
		cur, err := q.LockAccount(ctx, a.ID)
		if err != nil {
			return err
		}
		if cur.PasswordHash != a.PasswordHash {
			return Errorf(CodeInvalidCurrentPass, "Your password was changed meanwhile. Reload and try again.")
		}
		if err := q.SetPasswordHash(ctx, a.ID, hash); err != nil {
			return err
		}
		// A second step waiting on the old password must not complete.
		if _, err := q.DeleteMFAChallenges(ctx, a.ID); err != nil {
			return err
		}
		if signOutOthers {
			if revoked, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, keepID: caller.ID, client: c, reason: "password_changed"}); err != nil {
				return err
			}
			// Whoever is being signed out may have asked, with the old
			// password, to move the account to an address of his.
			if _, err := q.DeleteEmailTokens(ctx, a.ID, PurposeEmailChange); err != nil {
				return err
			}
		}
		e := event(a.ID, audit.PasswordChanged, c, caller.ID)
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(revoked)}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		return s.notify(ctx, q, cur, notice{event: string(audit.PasswordChanged), client: c, now: s.clock()})
	})
	return revoked, err
}
