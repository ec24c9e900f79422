package keyward

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/audit"
)

// The admin API's account actions. Each takes the Admin who asks, checks
// its scope first (so that a token without it learns nothing, not even
// whether the account exists), and records every change with actor admin
// and the token's name, in the transaction of the change. Reads are not
// recorded: the access log has them.

func noSuchAccount() *Error { return Errorf(CodeNotFound, "No account has that id.") }

// adminAccount reads the account with id, or answers not_found; an id of
// the wrong shape never reaches the store.
func (s *Service) adminAccount(ctx context.Context, id string) (*Account, error) {
	if !validID(accountIDPrefix, id) {
		return nil, noSuchAccount()
	}
	a, err := s.store.AccountByID(ctx, id)
	return a, notFoundAs(err, noSuchAccount())
}

// AccountQuery is a page of accounts the admin API asks for.
type AccountQuery struct {
	Q      string // only accounts whose email contains it, in any case; taken literally
	Cursor string // from AccountPage.NextCursor
	Limit  int    // 1..200, default 50
}

// AccountPage is one page of accounts, newest first.
type AccountPage struct {
	Accounts   []Account
	NextCursor string // "" on the last page
}

const (
	defaultAccountLimit = 50
	maxAccountLimit     = 200
	// accountCursorScope binds the accounts list's cursors: one from an
	// audit page fails here, and the other way round.
	accountCursorScope = "admin:accounts"
)

// FindAccounts lists accounts for the admin API (accounts:read), newest
// first, with a keyset cursor. q is matched literally against the email,
// in any case: % and _ are no wildcards, and a q that no email can contain
// (longer than an email, invalid UTF-8, control characters) matches
// nothing, without a query.
func (s *Service) FindAccounts(ctx context.Context, by Admin, q AccountQuery) (AccountPage, error) {
	if err := by.require(ScopeAccountsRead); err != nil {
		return AccountPage{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = defaultAccountLimit
	}
	if limit < 1 || limit > maxAccountLimit {
		return AccountPage{}, Errorf(CodeInvalidRequest, "limit must be between 1 and %d.", maxAccountLimit)
	}
	f := AccountFilter{EmailContains: EmailKey(q.Q), Limit: limit + 1}
	if q.Cursor != "" {
		c, err := s.cursors.Decode(accountCursorScope, q.Cursor)
		if err != nil || !validID(accountIDPrefix, c.ID) {
			return AccountPage{}, Errorf(CodeInvalidRequest, "The cursor is not valid. Start again from the first page.")
		}
		f.BeforeID = c.ID
	}
	if len(f.EmailContains) > maxEmailLength || !utf8.ValidString(f.EmailContains) || strings.ContainsFunc(f.EmailContains, unicode.IsControl) {
		return AccountPage{}, nil
	}
	accounts, err := s.store.FindAccounts(ctx, f)
	if err != nil {
		return AccountPage{}, err
	}
	page := AccountPage{Accounts: accounts}
	if len(accounts) > limit {
		page.Accounts = accounts[:limit]
		last := page.Accounts[limit-1]
		page.NextCursor = s.cursors.Encode(accountCursorScope, audit.Cursor{Time: last.CreatedAt, ID: last.ID})
	}
	for i := range page.Accounts {
		page.Accounts[i].PasswordHash = ""
	}
	return page, nil
}

// AccountDetail is what the admin API shows of one account.
type AccountDetail struct {
	Account  *Account
	Sessions []Session // active ones, newest activity first
	// Passkeys counts the account's passkeys. This build stores none:
	// it is always 0.
	Passkeys int
}

// AccountDetail reads one account for the admin API (accounts:read).
func (s *Service) AccountDetail(ctx context.Context, by Admin, id string) (*AccountDetail, error) {
	if err := by.require(ScopeAccountsRead); err != nil {
		return nil, err
	}
	a, err := s.adminAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	a.PasswordHash = ""
	sessions, err := s.Sessions(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return &AccountDetail{Account: a, Sessions: sessions}, nil
}

// DisableAccount stops an account from being used (accounts:write): every
// session ends at once, on every node; sign-in answers account_disabled
// after a correct password (and after a correct second-factor code); links
// that would change the account (a password reset, an email change) stop
// working, and "forgot password" sends none while it is disabled. Nothing
// is deleted. It returns the account and how many sessions ended;
// disabling a disabled account changes nothing and records nothing.
func (s *Service) DisableAccount(ctx context.Context, by Admin, id string, c Client) (*Account, int, error) {
	if err := by.require(ScopeAccountsWrite); err != nil {
		return nil, 0, err
	}
	if !validID(accountIDPrefix, id) {
		return nil, 0, noSuchAccount()
	}
	now := s.clock()
	revoked := 0
	var a *Account
	err := s.changeAccount(ctx, id, func(q Queries) error {
		var err error
		if a, err = q.LockAccount(ctx, id); err != nil {
			return err
		}
		if a.Disabled() {
			return errUnchanged
		}
		if err := q.SetDisabled(ctx, id, &now); err != nil {
			return err
		}
		a.DisabledAt = &now
		for _, p := range []TokenPurpose{PurposeReset, PurposeEmailChange} {
			if _, err := q.DeleteEmailTokens(ctx, id, p); err != nil {
				return err
			}
		}
		// A setup belongs to a session, and every session ends.
		if err := q.DeletePendingTOTP(ctx, id); err != nil {
			return err
		}
		if revoked, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: id, client: c, reason: "account_disabled", by: &by}); err != nil {
			return err
		}
		e := event(id, audit.AccountDisabled, c, "")
		e.Time = now
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(revoked)}
		return s.record(ctx, q, by.mark(e))
	})
	if err != nil {
		return nil, 0, notFoundAs(err, noSuchAccount())
	}
	a.PasswordHash = ""
	return a, revoked, nil
}

// EnableAccount lets a disabled account sign in again (accounts:write) and
// returns it. Second steps started before it was disabled are dropped:
// each sign-in starts again from the password. Enabling an enabled
// account changes nothing and records nothing.
func (s *Service) EnableAccount(ctx context.Context, by Admin, id string, c Client) (*Account, error) {
	if err := by.require(ScopeAccountsWrite); err != nil {
		return nil, err
	}
	if !validID(accountIDPrefix, id) {
		return nil, noSuchAccount()
	}
	var a *Account
	err := s.changeAccount(ctx, id, func(q Queries) error {
		var err error
		if a, err = q.LockAccount(ctx, id); err != nil {
			return err
		}
		if !a.Disabled() {
			return errUnchanged
		}
		if err := q.SetDisabled(ctx, id, nil); err != nil {
			return err
		}
		a.DisabledAt = nil
		if _, err := q.DeleteMFAChallenges(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, q, by.mark(event(id, audit.AccountEnabled, c, "")))
	})
	if err != nil {
		return nil, notFoundAs(err, noSuchAccount())
	}
	a.PasswordHash = ""
	return a, nil
}

// DeleteAccount deletes an account for good (accounts:write), in one
// transaction: the account, its sessions (ended on every node), its
// factors, waiting second steps, mailed links and mails not yet sent (or
// kept as sent), its throttle counts and its audit chain. The system log
// keeps account.deleted with the account's id and the admin's token name,
// and nothing of the person: no email, no digest of it. Deleting an
// account that does not exist (twice, say) is not_found.
func (s *Service) DeleteAccount(ctx context.Context, by Admin, id string, c Client) error {
	if err := by.require(ScopeAccountsWrite); err != nil {
		return err
	}
	if !validID(accountIDPrefix, id) {
		return noSuchAccount()
	}
	err := s.changeAccount(ctx, id, func(q Queries) error {
		a, err := q.LockAccount(ctx, id)
		if err != nil {
			return err
		}
		if err := q.DeleteAccount(ctx, id); err != nil {
			return err
		}
		email := EmailKey(a.Email)
		for _, key := range []string{secondFactorThrottleKey(id), reauthThrottleKey(id), verifyThrottleKey(id), emailChangeThrottleKey(id),
			emailThrottleKey(email), forgotEmailThrottleKey(email)} {
			if err := q.ClearThrottle(ctx, key); err != nil {
				return err
			}
		}
		// Every address the email was tried from.
		if _, err := q.ClearThrottlePrefix(ctx, pairThrottleKey(email, "")); err != nil {
			return err
		}
		e := event(audit.SystemChain, audit.AccountDeleted, c, "")
		e.Details = map[string]string{audit.DetailAccountID: id}
		return s.record(ctx, q, by.mark(e))
	})
	return notFoundAs(err, noSuchAccount())
}

// RevokeAccountSessions ends every session of the account for the admin
// API (sessions:write), on every node, and returns how many ended. Each is
// recorded as session.revoked with the admin's token name.
func (s *Service) RevokeAccountSessions(ctx context.Context, by Admin, id string, c Client) (int, error) {
	if err := by.require(ScopeSessionsWrite); err != nil {
		return 0, err
	}
	if !validID(accountIDPrefix, id) {
		return 0, noSuchAccount()
	}
	n := 0
	err := s.changeAccount(ctx, id, func(q Queries) error {
		if _, err := q.LockAccount(ctx, id); err != nil {
			return err
		}
		var err error
		n, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: id, client: c, reason: "admin_revoked", by: &by})
		if err == nil && n == 0 {
			return errUnchanged
		}
		return err
	})
	if err != nil {
		return 0, notFoundAs(err, noSuchAccount())
	}
	return n, nil
}

// AdminEvents is a page of audit events for the admin API (audit:read):
// of one account's chain, of the system chain (accountID "system"), or of
// every chain ("") at once, newest first, with the filters of an account's
// own log. Its cursors work only here.
func (s *Service) AdminEvents(ctx context.Context, by Admin, accountID string, q EventQuery) (EventPage, error) {
	if err := by.require(ScopeAuditRead); err != nil {
		return EventPage{}, err
	}
	if accountID != "" && accountID != audit.SystemChain && !validID(accountIDPrefix, accountID) {
		return EventPage{}, Errorf(CodeInvalidRequest, "account_id is not an account id (nor \"system\").")
	}
	return s.events(ctx, accountID, "admin:"+accountID, q)
}
