package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// The Queries of the Store outside a transaction: reads go to the reader
// pool (s.r), writes to the writer (s.w); a write of several statements runs
// in a transaction of its own.

func (s *Store) CreateAccount(ctx context.Context, a *keyward.Account) error {
	return s.w.CreateAccount(ctx, a)
}

func (s *Store) AccountByID(ctx context.Context, id string) (*keyward.Account, error) {
	return s.r.AccountByID(ctx, id)
}

func (s *Store) LockAccount(ctx context.Context, id string) (*keyward.Account, error) {
	return s.w.LockAccount(ctx, id)
}

func (s *Store) AccountByEmail(ctx context.Context, email string) (*keyward.Account, error) {
	return s.r.AccountByEmail(ctx, email)
}

func (s *Store) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	return s.w.SetPasswordHash(ctx, accountID, hash)
}

func (s *Store) ListAccounts(ctx context.Context) ([]keyward.Account, error) {
	return s.r.ListAccounts(ctx)
}

func (s *Store) CreateSession(ctx context.Context, x *keyward.Session) error {
	return s.w.CreateSession(ctx, x)
}

func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	return s.r.SessionByTokenHash(ctx, tokenHash)
}

func (s *Store) SessionByID(ctx context.Context, accountID, id string) (*keyward.Session, error) {
	return s.r.SessionByID(ctx, accountID, id)
}

func (s *Store) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	return s.r.ListSessions(ctx, accountID, now)
}

func (s *Store) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	return s.w.TouchSession(ctx, id, lastSeen)
}

func (s *Store) SetSessionAAL(ctx context.Context, id string, aal int) error {
	return s.w.SetSessionAAL(ctx, id, aal)
}

func (s *Store) DeleteSession(ctx context.Context, accountID, id string) (bool, error) {
	return s.w.DeleteSession(ctx, accountID, id)
}

func (s *Store) DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error) {
	return s.w.DeleteOtherSessions(ctx, accountID, keepID)
}

func (s *Store) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	return s.w.DeleteExpiredSessions(ctx, now, idleBefore)
}

func (s *Store) PutPendingTOTP(ctx context.Context, p *keyward.PendingTOTP) error {
	return s.w.PutPendingTOTP(ctx, p)
}

func (s *Store) PendingTOTP(ctx context.Context, accountID string) (*keyward.PendingTOTP, error) {
	return s.r.PendingTOTP(ctx, accountID)
}

func (s *Store) DeletePendingTOTP(ctx context.Context, accountID string) error {
	return s.w.DeletePendingTOTP(ctx, accountID)
}

func (s *Store) EnableTOTP(ctx context.Context, c *keyward.TOTPCredential) error {
	return s.w.EnableTOTP(ctx, c)
}

func (s *Store) TOTPCredential(ctx context.Context, accountID string) (*keyward.TOTPCredential, error) {
	return s.r.TOTPCredential(ctx, accountID)
}

func (s *Store) AdvanceTOTPStep(ctx context.Context, accountID string, step int64) (bool, error) {
	return s.w.AdvanceTOTPStep(ctx, accountID, step)
}

func (s *Store) AddSecondFactorFailure(ctx context.Context, accountID string) (int, error) {
	return s.w.AddSecondFactorFailure(ctx, accountID)
}

func (s *Store) ClearSecondFactorFailures(ctx context.Context, accountID string) error {
	return s.w.ClearSecondFactorFailures(ctx, accountID)
}

func (s *Store) SwapTOTPSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	return s.w.SwapTOTPSecret(ctx, accountID, old, sealed)
}

func (s *Store) SwapPendingSecret(ctx context.Context, accountID, old, sealed string) (bool, error) {
	return s.w.SwapPendingSecret(ctx, accountID, old, sealed)
}

func (s *Store) DisableTOTP(ctx context.Context, accountID string) error {
	return s.w.DisableTOTP(ctx, accountID)
}

func (s *Store) ReplaceBackupCodes(ctx context.Context, accountID string, salt []byte, hashes [][]byte) error {
	return s.w.ReplaceBackupCodes(ctx, accountID, salt, hashes)
}

func (s *Store) UseBackupCode(ctx context.Context, accountID string, hash []byte, at time.Time) (bool, error) {
	return s.w.UseBackupCode(ctx, accountID, hash, at)
}

func (s *Store) BackupCodesRemaining(ctx context.Context, accountID string) (int, error) {
	return s.r.BackupCodesRemaining(ctx, accountID)
}

func (s *Store) ListPendingSecrets(ctx context.Context) ([]keyward.PendingTOTP, error) {
	return s.r.ListPendingSecrets(ctx)
}

func (s *Store) ListTOTPCredentials(ctx context.Context) ([]keyward.TOTPCredential, error) {
	return s.r.ListTOTPCredentials(ctx)
}

func (s *Store) CreateMFAChallenge(ctx context.Context, c *keyward.MFAChallenge) error {
	return s.w.CreateMFAChallenge(ctx, c)
}

func (s *Store) MFAChallenge(ctx context.Context, tokenHash []byte) (*keyward.MFAChallenge, error) {
	return s.r.MFAChallenge(ctx, tokenHash)
}

func (s *Store) ConsumeMFAChallenge(ctx context.Context, tokenHash []byte) (bool, error) {
	return s.w.ConsumeMFAChallenge(ctx, tokenHash)
}

func (s *Store) DeleteMFAChallenges(ctx context.Context, accountID string) (int, error) {
	return s.w.DeleteMFAChallenges(ctx, accountID)
}

func (s *Store) DeleteExpiredPendingTOTP(ctx context.Context, now time.Time) (int, error) {
	return s.w.DeleteExpiredPendingTOTP(ctx, now)
}

func (s *Store) DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int, error) {
	return s.w.DeleteExpiredMFAChallenges(ctx, now)
}

func (s *Store) AddFailure(ctx context.Context, key string, now, forgetBefore time.Time) (keyward.Throttle, error) {
	return s.w.AddFailure(ctx, key, now, forgetBefore)
}

func (s *Store) Throttle(ctx context.Context, key string) (keyward.Throttle, error) {
	return s.r.Throttle(ctx, key)
}

func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	return s.w.ClearThrottle(ctx, key)
}

func (s *Store) DeleteThrottlesBefore(ctx context.Context, before time.Time) (int, error) {
	return s.w.DeleteThrottlesBefore(ctx, before)
}

// LockAuditHead outside a transaction only reads the head: there is no
// transaction to hold it for.
func (s *Store) LockAuditHead(ctx context.Context, chainID string) (audit.Head, error) {
	return s.r.LockAuditHead(ctx, chainID)
}

func (s *Store) AppendEvent(ctx context.Context, e *keyward.Event) error {
	return s.w.AppendEvent(ctx, e)
}

func (s *Store) ListEvents(ctx context.Context, f keyward.EventFilter) ([]keyward.Event, error) {
	return s.r.ListEvents(ctx, f)
}

func (s *Store) EachEvent(ctx context.Context, f keyward.EventFilter, fn func(*keyward.Event) error) error {
	return s.r.EachEvent(ctx, f, fn)
}

func (s *Store) EachChainEvent(ctx context.Context, chainID string, fn func(*keyward.Event) error) error {
	return s.r.EachChainEvent(ctx, chainID, fn)
}

func (s *Store) AuditHeads(ctx context.Context) ([]audit.Head, error) {
	return s.r.AuditHeads(ctx)
}

func (s *Store) SealAuditHead(ctx context.Context, chainID string, seq int64, seal string) (bool, error) {
	return s.w.SealAuditHead(ctx, chainID, seq, seal)
}

func (s *Store) PruneEvents(ctx context.Context, chainID string, before time.Time) (int, error) {
	return s.w.PruneEvents(ctx, chainID, before)
}

func (s *Store) AddInvalidation(ctx context.Context, accountID string, at time.Time) error {
	return s.w.AddInvalidation(ctx, accountID, at)
}

func (s *Store) InvalidationsSince(ctx context.Context, after int64, limit int) ([]keyward.Invalidation, error) {
	return s.r.InvalidationsSince(ctx, after, limit)
}

func (s *Store) LastInvalidation(ctx context.Context) (int64, error) {
	return s.r.LastInvalidation(ctx)
}

func (s *Store) DeleteInvalidationsBefore(ctx context.Context, before time.Time) (int, error) {
	return s.w.DeleteInvalidationsBefore(ctx, before)
}
