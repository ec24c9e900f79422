package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func newAdminToken(name string, scopes ...keyward.AdminScope) *keyward.AdminToken {
	return &keyward.AdminToken{Name: name, TokenHash: randBytes(32), Scopes: scopes, CreatedAt: at(0)}
}

// testAdminTokens: tokens are found by hash, named uniquely, listed by
// name, touched and deleted by name.
func testAdminTokens(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("create, find, list, touch, delete", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		ops := newAdminToken("ops-bot", keyward.ScopeAccountsRead, keyward.ScopeAuditRead)
		sup := newAdminToken("Support.1", keyward.ScopeAccountsWrite)
		for _, tok := range []*keyward.AdminToken{sup, ops} {
			must(t, s.CreateAdminToken(ctx, tok), "CreateAdminToken "+tok.Name)
		}
		got, err := s.AdminTokenByHash(ctx, ops.TokenHash)
		must(t, err, "AdminTokenByHash")
		check(t, "token", got, ops)
		_, err = s.AdminTokenByHash(ctx, randBytes(32))
		wantCode(t, "unknown hash", err, keyward.CodeNotFound)
		_, err = s.AdminTokenByHash(ctx, nil)
		wantCode(t, "no hash", err, keyward.CodeNotFound)

		// Names compare byte for byte, and sort so.
		list, err := s.ListAdminTokens(ctx)
		must(t, err, "ListAdminTokens")
		check(t, "list", list, []keyward.AdminToken{*sup, *ops})

		used := at(time.Hour + 3*time.Microsecond)
		must(t, s.TouchAdminToken(ctx, ops.Name, used), "TouchAdminToken")
		got, err = s.AdminTokenByHash(ctx, ops.TokenHash)
		must(t, err, "AdminTokenByHash after touch")
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) || got.LastUsedAt.Location() != time.UTC || got.CreatedAt.Location() != time.UTC {
			t.Errorf("LastUsedAt = %v, CreatedAt %v; want %v, in UTC", got.LastUsedAt, got.CreatedAt, used)
		}
		wantCode(t, "touch of an unknown name", s.TouchAdminToken(ctx, "nobody", used), keyward.CodeNotFound)
		wantCode(t, "touch in another case", s.TouchAdminToken(ctx, "OPS-BOT", used), keyward.CodeNotFound)

		res, errs := race(8, func(int) (bool, error) { return s.DeleteAdminToken(ctx, ops.Name) })
		check(t, "deleters that saw the token", countTrue(t, "DeleteAdminToken", res, errs), 1)
		_, err = s.AdminTokenByHash(ctx, ops.TokenHash)
		wantCode(t, "deleted token", err, keyward.CodeNotFound)
		gone, err := s.DeleteAdminToken(ctx, "nobody")
		must(t, err, "DeleteAdminToken of an unknown name")
		check(t, "unknown name deleted", gone, false)
		// The name is free again, for a new token.
		again := newAdminToken("ops-bot", keyward.ScopeSessionsWrite)
		must(t, s.CreateAdminToken(ctx, again), "CreateAdminToken with a freed name")
	})

	t.Run("names are unique", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		must(t, s.CreateAdminToken(ctx, newAdminToken("ci", keyward.ScopeAuditRead)), "CreateAdminToken")
		wantCode(t, "same name", s.CreateAdminToken(ctx, newAdminToken("ci", keyward.ScopeAccountsRead)), keyward.CodeConflict)
		// In a transaction the conflict leaves it usable.
		must(t, s.InTx(ctx, func(q keyward.Queries) error {
			wantCode(t, "same name in a transaction", q.CreateAdminToken(ctx, newAdminToken("ci", keyward.ScopeAccountsRead)), keyward.CodeConflict)
			return q.CreateAdminToken(ctx, newAdminToken("ci-2", keyward.ScopeAccountsRead))
		}), "InTx after a conflict")
		_, errs := race(8, func(int) (bool, error) {
			return true, s.CreateAdminToken(ctx, newAdminToken("raced", keyward.ScopeAuditRead))
		})
		created := 0
		for _, err := range errs {
			if err == nil {
				created++
			} else if !keyward.IsCode(err, keyward.CodeConflict) {
				t.Errorf("racing creation: %v", err)
			}
		}
		check(t, "racing creations that won", created, 1)
		list, err := s.ListAdminTokens(ctx)
		must(t, err, "ListAdminTokens")
		names := []string{}
		for _, tok := range list {
			names = append(names, tok.Name)
		}
		check(t, "names", names, []string{"ci", "ci-2", "raced"})
	})
}

// testAccountAdmin: disabling, finding and deleting accounts.
func testAccountAdmin(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("disable", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		when := at(time.Minute + 9*time.Microsecond)
		must(t, s.SetDisabled(ctx, a.ID, &when), "SetDisabled")
		got, err := s.AccountByEmail(ctx, a.Email)
		must(t, err, "AccountByEmail")
		want := *a
		want.DisabledAt = &when
		check(t, "disabled account", got, &want)
		must(t, s.InTx(ctx, func(q keyward.Queries) error { return q.SetDisabled(ctx, a.ID, nil) }), "SetDisabled nil in a transaction")
		got, err = s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		check(t, "enabled account", got, a)
		wantCode(t, "SetDisabled of an unknown account", s.SetDisabled(ctx, newID(accountPrefix), &when), keyward.CodeNotFound)
	})

	t.Run("find", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var ids []string
		emails := []string{"ann@example.com", "Bob_Smith@Example.org", "carol%x@example.com", "dave@EXÄMPLE.org", "eve@sample.net"}
		for i, email := range emails {
			// Ids in creation order, as the service makes them.
			var b [16]byte
			b[0], b[15] = byte(i+1), 4
			a := &keyward.Account{ID: idString(accountPrefix, b), Email: email, PasswordHash: "h", CreatedAt: at(time.Duration(i) * time.Second)}
			must(t, s.CreateAccount(ctx, a), "CreateAccount "+email)
			ids = append(ids, a.ID)
		}
		rev := slices.Clone(ids)
		slices.Reverse(rev)
		cases := []struct {
			name string
			f    keyward.AccountFilter
			want []string
		}{
			{"all, newest first", keyward.AccountFilter{Limit: 10}, rev},
			{"limit", keyward.AccountFilter{Limit: 2}, rev[:2]},
			{"before an id", keyward.AccountFilter{BeforeID: ids[3], Limit: 10}, []string{ids[2], ids[1], ids[0]}},
			{"before the oldest", keyward.AccountFilter{BeforeID: ids[0], Limit: 10}, nil},
			{"part of the address", keyward.AccountFilter{EmailContains: "example", Limit: 10}, []string{ids[2], ids[1], ids[0]}},
			{"the key is lower case", keyward.AccountFilter{EmailContains: "bob_smith@", Limit: 10}, []string{ids[1]}},
			{"non-ASCII", keyward.AccountFilter{EmailContains: "äm", Limit: 10}, []string{ids[3]}},
			{"underscore is no wildcard", keyward.AccountFilter{EmailContains: "b_s", Limit: 10}, []string{ids[1]}},
			{"underscore matches only itself", keyward.AccountFilter{EmailContains: "an_", Limit: 10}, nil},
			{"percent is no wildcard", keyward.AccountFilter{EmailContains: "%", Limit: 10}, []string{ids[2]}},
			{"percent matches only itself", keyward.AccountFilter{EmailContains: "a%n", Limit: 10}, nil},
			{"nothing matches", keyward.AccountFilter{EmailContains: "zz", Limit: 10}, nil},
			{"filter and cursor", keyward.AccountFilter{EmailContains: "example.org", BeforeID: ids[3], Limit: 10}, []string{ids[1]}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.FindAccounts(ctx, c.f)
				must(t, err, "FindAccounts")
				gotIDs := []string{}
				for _, a := range got {
					gotIDs = append(gotIDs, a.ID)
				}
				if c.want == nil {
					c.want = []string{}
				}
				check(t, "ids", gotIDs, c.want)
			})
		}
		got, err := s.FindAccounts(ctx, keyward.AccountFilter{EmailContains: "ann@", Limit: 1})
		must(t, err, "FindAccounts")
		if len(got) != 1 || got[0].Email != "ann@example.com" || got[0].PasswordHash != "h" || !got[0].CreatedAt.Equal(at(0)) {
			t.Errorf("FindAccounts read %+v, want ann's whole row", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := fillAccount(t, s, "gone@example.com")
		b := fillAccount(t, s, "kept@example.com")
		sys := newEvent(audit.SystemChain, audit.SigninFailed, at(time.Second), newID(eventPrefix))
		appendEvents(t, s, sys)
		_, err := s.AddFailure(ctx, "mfa:account:"+a.ID, at(time.Second), at(-time.Hour))
		must(t, err, "AddFailure")
		keptMail := &keyward.Mail{ID: newID("mail_"), Kind: keyward.MailNotice, Sealed: "k1:x", CreatedAt: at(0), NextAttemptAt: at(0)}
		must(t, s.EnqueueMail(ctx, keptMail), "EnqueueMail of no account")

		res, errs := race(4, func(int) (bool, error) {
			err := s.DeleteAccount(ctx, a.ID)
			if keyward.IsCode(err, keyward.CodeNotFound) {
				return false, nil
			}
			return err == nil, err
		})
		check(t, "deleters that deleted", countTrue(t, "DeleteAccount", res, errs), 1)
		wantCode(t, "DeleteAccount again", s.DeleteAccount(ctx, a.ID), keyward.CodeNotFound)
		wantCode(t, "DeleteAccount of an unknown account", s.DeleteAccount(ctx, newID(accountPrefix)), keyward.CodeNotFound)

		left := accountRows(t, s, a)
		check(t, "rows of the deleted account", left, accountLeft{})
		check(t, "rows of the other account", accountRows(t, s, b), accountLeft{Account: true, Sessions: 1, Pending: true, Credential: true, BackupCodes: 2,
			Challenge: true, EmailTokens: 1, Mails: 1, Events: 2, Head: true})
		check(t, "system chain", eventIDs(chainEvents(t, s, audit.SystemChain)), []string{sys.ID})
		// Throttles are the service's to clear; mails of no account stay.
		th, err := s.Throttle(ctx, "mfa:account:"+a.ID)
		must(t, err, "Throttle")
		check(t, "throttle failures", th.Failures, 1)
		claimed, err := s.ClaimMails(ctx, at(time.Hour), at(2*time.Hour), 10)
		must(t, err, "ClaimMails")
		check(t, "mails left", sortedStrings(mailIDs(claimed)), sortedStrings([]string{keptMail.ID, b.mailID}))
	})

	t.Run("delete in a transaction that fails", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := fillAccount(t, s, "kept@example.com")
		err := s.InTx(ctx, func(q keyward.Queries) error {
			if err := q.DeleteAccount(ctx, a.ID); err != nil {
				return err
			}
			return keyward.Errorf(keyward.CodeConflict, "changed my mind")
		})
		wantCode(t, "InTx", err, keyward.CodeConflict)
		check(t, "rows after the rollback", accountRows(t, s, a), accountLeft{Account: true, Sessions: 1, Pending: true, Credential: true, BackupCodes: 2,
			Challenge: true, EmailTokens: 1, Mails: 1, Events: 2, Head: true})
	})
}

// filledAccount is an account with a row of every kind that belongs to it.
type filledAccount struct {
	*keyward.Account
	sessionHash, challengeHash, tokenHash []byte
	mailID                                string
}

// fillAccount creates an account with a session, a pending setup, a TOTP
// credential, two backup codes, an mfa challenge, an email token, a mail
// and two audit events.
func fillAccount(t testing.TB, s keyward.Store, email string) *filledAccount {
	t.Helper()
	ctx := t.Context()
	f := &filledAccount{Account: newAccount(t, s, email)}
	id := f.ID
	sess := newSession(id, at(0), at(time.Minute), at(12*time.Hour))
	f.sessionHash = sess.TokenHash
	createSessions(t, s, sess)
	must(t, s.PutPendingTOTP(ctx, &keyward.PendingTOTP{AccountID: id, SealedSecret: "k1:pending", CreatedAt: at(0), ExpiresAt: at(15 * time.Minute)}), "PutPendingTOTP")
	must(t, s.EnableTOTP(ctx, &keyward.TOTPCredential{AccountID: id, SealedSecret: "k1:seed", EnabledAt: at(time.Second), LastStep: 1}), "EnableTOTP")
	must(t, s.ReplaceBackupCodes(ctx, id, randBytes(16), [][]byte{randBytes(32), randBytes(32)}), "ReplaceBackupCodes")
	f.challengeHash = randBytes(32)
	must(t, s.CreateMFAChallenge(ctx, &keyward.MFAChallenge{TokenHash: f.challengeHash, AccountID: id, CreatedAt: at(0), ExpiresAt: at(5 * time.Minute), IP: "192.0.2.1", UserAgent: "curl/8"}), "CreateMFAChallenge")
	tok := newEmailToken(id, keyward.PurposeReset, at(time.Hour))
	f.tokenHash = tok.TokenHash
	must(t, s.CreateEmailToken(ctx, tok), "CreateEmailToken")
	f.mailID = newID("mail_")
	must(t, s.EnqueueMail(ctx, &keyward.Mail{ID: f.mailID, Kind: keyward.MailNotice, AccountID: id, Sealed: "k1:mail", CreatedAt: at(0), NextAttemptAt: at(0)}), "EnqueueMail")
	appendEvents(t, s, newEvent(id, audit.AccountCreated, at(0), newID(eventPrefix)), newEvent(id, audit.SigninSucceeded, at(time.Second), newID(eventPrefix)))
	return f
}

// errLookOnly rolls back a transaction that only looked.
var errLookOnly = errors.New("look only")

// accountLeft is what the store still holds of an account.
type accountLeft struct {
	Account, Pending, Credential, Challenge, Head bool
	Sessions, BackupCodes, EmailTokens, Mails     int
	Events                                        int
}

func accountRows(t testing.TB, s keyward.Store, f *filledAccount) accountLeft {
	t.Helper()
	ctx := t.Context()
	var l accountLeft
	exists := func(err error) bool {
		if err != nil && !keyward.IsCode(err, keyward.CodeNotFound) {
			t.Fatalf("reading what is left: %v", err)
		}
		return err == nil
	}
	_, err := s.AccountByID(ctx, f.ID)
	l.Account = exists(err)
	sessions, err := s.ListSessions(ctx, f.ID, at(0))
	must(t, err, "ListSessions")
	l.Sessions = len(sessions)
	if _, err := s.SessionByTokenHash(ctx, f.sessionHash); exists(err) && l.Sessions == 0 {
		t.Errorf("the session is found by its token but not listed")
	}
	_, err = s.PendingTOTP(ctx, f.ID)
	l.Pending = exists(err)
	_, err = s.TOTPCredential(ctx, f.ID)
	l.Credential = exists(err)
	l.BackupCodes, err = s.BackupCodesRemaining(ctx, f.ID)
	must(t, err, "BackupCodesRemaining")
	_, err = s.MFAChallenge(ctx, f.challengeHash)
	l.Challenge = exists(err)
	if _, err := s.EmailToken(ctx, f.tokenHash); exists(err) {
		l.EmailTokens = 1
	}
	l.Events = len(chainEvents(t, s, f.ID))
	heads, err := s.AuditHeads(ctx)
	must(t, err, "AuditHeads")
	for _, h := range heads {
		if h.ChainID == f.ID {
			l.Head = true
		}
	}
	// The mail, whether or not it is due: claimed far in the future, then
	// made due again so that the caller's own claims still see it.
	var claimed []keyward.Mail
	err = s.InTx(ctx, func(q keyward.Queries) error {
		var err error
		if claimed, err = q.ClaimMails(ctx, at(1000*time.Hour), at(1000*time.Hour), 1000); err != nil {
			return err
		}
		return errLookOnly
	})
	if !errors.Is(err, errLookOnly) {
		t.Fatalf("claiming mails to look at them: %v", err)
	}
	for _, m := range claimed {
		if m.ID == f.mailID && strings.HasPrefix(m.AccountID, accountPrefix) {
			l.Mails++
		}
	}
	return l
}

// testClearThrottlePrefix: every key that starts with the prefix, byte for
// byte, and no other.
func testClearThrottlePrefix(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	keys := []string{
		"signin:pair:a_b%c@example.com|192.0.2.1",
		"signin:pair:a_b%c@example.com|2001:db8::/64",
		"signin:pair:axb%c@example.com|192.0.2.1", // _ would match x as a LIKE wildcard
		"signin:pair:a_bzc@example.com|192.0.2.1", // % would match z
		"signin:pair:a_b%c@example.com.evil|192.0.2.1",
		"signin:email:a_b%c@example.com",
		"signin:pair:A_B%C@EXAMPLE.COM|192.0.2.1", // keys are lower case; this is another
	}
	for _, k := range keys {
		_, err := s.AddFailure(ctx, k, at(0), at(-time.Hour))
		must(t, err, "AddFailure "+k)
	}
	n, err := s.ClearThrottlePrefix(ctx, "signin:pair:a_b%c@example.com|")
	must(t, err, "ClearThrottlePrefix")
	check(t, "cleared", n, 2)
	for i, k := range keys {
		got, err := s.Throttle(ctx, k)
		must(t, err, "Throttle")
		check(t, k, got.Failures, map[bool]int{true: 0, false: 1}[i < 2])
	}
	must(t, s.InTx(ctx, func(q keyward.Queries) error {
		n, err := q.ClearThrottlePrefix(ctx, "nothing:")
		check(t, "cleared of an unknown prefix", n, 0)
		return err
	}), "InTx")
}
