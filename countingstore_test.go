package keyward_test

import (
	"context"
	"errors"
	"sync"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// countingStore records every store call by method name, in order, with
// transactions marked "InTx{" … "}": the work a path does, to compare
// paths by work instead of by time.
type countingStore struct {
	countingQueries
	store keyward.Store
}

func newCountingStore(s keyward.Store) *countingStore {
	return &countingStore{countingQueries: countingQueries{Queries: storeQueries{s}, log: &callLog{}}, store: s}
}

// storeQueries lets countingQueries wrap a Store, which has every method of
// Queries but LockAuditHead: only the q of InTx has that one.
type storeQueries struct{ keyward.Store }

func (storeQueries) LockAuditHead(context.Context, string) (audit.Head, error) {
	return audit.Head{}, errors.New("LockAuditHead outside a transaction")
}

func (c *countingStore) InTx(ctx context.Context, fn func(q keyward.Queries) error) error {
	c.count("InTx{")
	defer c.count("}")
	return c.store.InTx(ctx, func(q keyward.Queries) error {
		// A retried transaction runs fn again: count the committed try only.
		mark := c.log.len()
		err := fn(countingQueries{Queries: q, log: c.log})
		if err != nil {
			c.log.truncate(mark)
		}
		return err
	})
}

func (c *countingStore) Ping(ctx context.Context) error { return c.store.Ping(ctx) }
func (c *countingStore) Close() error                   { return c.store.Close() }

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.calls) }
func (l *callLog) truncate(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = l.calls[:n]
}

// take returns the calls since the last take.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.calls
	l.calls = nil
	return out
}

// countingQueries counts the Queries of this file; a method added to the
// interface later is passed through uncounted by the embedded Queries
// until it is added here.
type countingQueries struct {
	keyward.Queries
	log *callLog
}

func (c countingQueries) count(name string) {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.calls = append(c.log.calls, name)
}

func (w countingQueries) CreateAccount(ctx context.Context, a *keyward.Account) error {
	w.count("CreateAccount")
	return w.Queries.CreateAccount(ctx, a)
}

func (w countingQueries) AccountByID(ctx context.Context, id string) (*keyward.Account, error) {
	w.count("AccountByID")
	return w.Queries.AccountByID(ctx, id)
}

func (w countingQueries) AccountByEmail(ctx context.Context, email string) (*keyward.Account, error) {
	w.count("AccountByEmail")
	return w.Queries.AccountByEmail(ctx, email)
}

func (w countingQueries) LockAccount(ctx context.Context, id string) (*keyward.Account, error) {
	w.count("LockAccount")
	return w.Queries.LockAccount(ctx, id)
}

func (w countingQueries) SetPasswordHash(ctx context.Context, accountID string, hash string) error {
	w.count("SetPasswordHash")
	return w.Queries.SetPasswordHash(ctx, accountID, hash)
}

func (w countingQueries) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	w.count("ListAccounts")
	return w.Queries.ListAccounts(ctx)
}

func (w countingQueries) CreateSession(ctx context.Context, s *keyward.Session) error {
	w.count("CreateSession")
	return w.Queries.CreateSession(ctx, s)
}

func (w countingQueries) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	w.count("SessionByTokenHash")
	return w.Queries.SessionByTokenHash(ctx, tokenHash)
}

func (w countingQueries) SessionByID(ctx context.Context, accountID string, id string) (*keyward.Session, error) {
	w.count("SessionByID")
	return w.Queries.SessionByID(ctx, accountID, id)
}

func (w countingQueries) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	w.count("ListSessions")
	return w.Queries.ListSessions(ctx, accountID, now)
}

func (w countingQueries) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	w.count("TouchSession")
	return w.Queries.TouchSession(ctx, id, lastSeen)
}

func (w countingQueries) SetSessionAAL(ctx context.Context, id string, aal int, amr keyward.AMR) error {
	w.count("SetSessionAAL")
	return w.Queries.SetSessionAAL(ctx, id, aal, amr)
}

func (w countingQueries) SessionSudoUntil(ctx context.Context, accountID, id string) (time.Time, error) {
	w.count("SessionSudoUntil")
	return w.Queries.SessionSudoUntil(ctx, accountID, id)
}

func (w countingQueries) ExtendSessionSudo(ctx context.Context, accountID, id string, until time.Time) error {
	w.count("ExtendSessionSudo")
	return w.Queries.ExtendSessionSudo(ctx, accountID, id, until)
}

func (w countingQueries) DeleteSession(ctx context.Context, accountID string, id string) (bool, error) {
	w.count("DeleteSession")
	return w.Queries.DeleteSession(ctx, accountID, id)
}

func (w countingQueries) DeleteOtherSessions(ctx context.Context, accountID string, keepID string) ([]string, error) {
	w.count("DeleteOtherSessions")
	return w.Queries.DeleteOtherSessions(ctx, accountID, keepID)
}

func (w countingQueries) PutPendingTOTP(ctx context.Context, p *keyward.PendingTOTP) error {
	w.count("PutPendingTOTP")
	return w.Queries.PutPendingTOTP(ctx, p)
}

func (w countingQueries) PendingTOTP(ctx context.Context, accountID string) (*keyward.PendingTOTP, error) {
	w.count("PendingTOTP")
	return w.Queries.PendingTOTP(ctx, accountID)
}

func (w countingQueries) DeletePendingTOTP(ctx context.Context, accountID string) error {
	w.count("DeletePendingTOTP")
	return w.Queries.DeletePendingTOTP(ctx, accountID)
}

func (w countingQueries) EnableTOTP(ctx context.Context, c *keyward.TOTPCredential) error {
	w.count("EnableTOTP")
	return w.Queries.EnableTOTP(ctx, c)
}

func (w countingQueries) TOTPCredential(ctx context.Context, accountID string) (*keyward.TOTPCredential, error) {
	w.count("TOTPCredential")
	return w.Queries.TOTPCredential(ctx, accountID)
}

func (w countingQueries) AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	w.count("AdvanceTOTPStep")
	return w.Queries.AdvanceTOTPStep(ctx, accountID, step)
}

func (w countingQueries) AddSecondFactorFailure(ctx context.Context, accountID string) (int, error) {
	w.count("AddSecondFactorFailure")
	return w.Queries.AddSecondFactorFailure(ctx, accountID)
}

func (w countingQueries) ClearSecondFactorFailures(ctx context.Context, accountID string) error {
	w.count("ClearSecondFactorFailures")
	return w.Queries.ClearSecondFactorFailures(ctx, accountID)
}

func (w countingQueries) DisableTOTP(ctx context.Context, accountID string) error {
	w.count("DisableTOTP")
	return w.Queries.DisableTOTP(ctx, accountID)
}

func (w countingQueries) ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error {
	w.count("ReplaceBackupCodes")
	return w.Queries.ReplaceBackupCodes(ctx, accountID, salt, hashes)
}

func (w countingQueries) UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error) {
	w.count("UseBackupCode")
	return w.Queries.UseBackupCode(ctx, accountID, hash, at)
}

func (w countingQueries) BackupCodesRemaining(ctx context.Context, accountID string) (int, error) {
	w.count("BackupCodesRemaining")
	return w.Queries.BackupCodesRemaining(ctx, accountID)
}

func (w countingQueries) CreateMFAChallenge(ctx context.Context, c *keyward.MFAChallenge) error {
	w.count("CreateMFAChallenge")
	return w.Queries.CreateMFAChallenge(ctx, c)
}

func (w countingQueries) MFAChallenge(ctx context.Context, tokenHash []byte) (*keyward.MFAChallenge, error) {
	w.count("MFAChallenge")
	return w.Queries.MFAChallenge(ctx, tokenHash)
}

func (w countingQueries) ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error) {
	w.count("ConsumeMFAChallenge")
	return w.Queries.ConsumeMFAChallenge(ctx, tokenHash)
}

func (w countingQueries) DeleteMFAChallenges(ctx context.Context, accountID string) (int, error) {
	w.count("DeleteMFAChallenges")
	return w.Queries.DeleteMFAChallenges(ctx, accountID)
}

func (w countingQueries) AddFailure(ctx context.Context, key string, now time.Time, forgetBefore time.Time) (keyward.Throttle, error) {
	w.count("AddFailure")
	return w.Queries.AddFailure(ctx, key, now, forgetBefore)
}

func (w countingQueries) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	w.count("Throttle")
	return w.Queries.Throttle(ctx, key)
}

func (w countingQueries) ClearThrottle(ctx context.Context, key string) error {
	w.count("ClearThrottle")
	return w.Queries.ClearThrottle(ctx, key)
}

func (w countingQueries) LockAuditHead(ctx context.Context, chainID string) (audit.Head, error) {
	w.count("LockAuditHead")
	return w.Queries.LockAuditHead(ctx, chainID)
}

func (w countingQueries) AppendEvent(ctx context.Context, e *keyward.Event) error {
	w.count("AppendEvent")
	return w.Queries.AppendEvent(ctx, e)
}

func (w countingQueries) SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error) {
	w.count("SealAuditHead")
	return w.Queries.SealAuditHead(ctx, chainID, seq, seal)
}

func (w countingQueries) ListEvents(ctx context.Context, f keyward.EventFilter) ([]keyward.Event, error) {
	w.count("ListEvents")
	return w.Queries.ListEvents(ctx, f)
}

func (w countingQueries) EachEvent(ctx context.Context, f keyward.EventFilter, fn func(*keyward.Event) error) error {
	w.count("EachEvent")
	return w.Queries.EachEvent(ctx, f, fn)
}

func (w countingQueries) EachChainEvent(ctx context.Context, chainID string, fn func(*keyward.Event) error) error {
	w.count("EachChainEvent")
	return w.Queries.EachChainEvent(ctx, chainID, fn)
}

func (w countingQueries) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	w.count("AuditHeads")
	return w.Queries.AuditHeads(ctx)
}

func (w countingQueries) PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error) {
	w.count("PruneEvents")
	return w.Queries.PruneEvents(ctx, chainID, before)
}

func (w countingQueries) AddInvalidation(ctx context.Context, accountID string, at time.Time) error {
	w.count("AddInvalidation")
	return w.Queries.AddInvalidation(ctx, accountID, at)
}

func (w countingQueries) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	w.count("InvalidationsSince")
	return w.Queries.InvalidationsSince(ctx, after, limit)
}

func (w countingQueries) LastInvalidation(ctx context.Context) (int64, error) {
	w.count("LastInvalidation")
	return w.Queries.LastInvalidation(ctx)
}

func (w countingQueries) ResealSecrets(ctx context.Context, fn func(keyward.SealedSecret) (string, error)) (keyward.Resealed, error) {
	w.count("ResealSecrets")
	return w.Queries.ResealSecrets(ctx, fn)
}

func (w countingQueries) DeleteExpired(ctx context.Context, c keyward.Cutoffs) (keyward.Expired, error) {
	w.count("DeleteExpired")
	return w.Queries.DeleteExpired(ctx, c)
}
