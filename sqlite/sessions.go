package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/keyward"
)

// Sessions.

// sessionCols are the columns of a keyward.Session. The sudo window's end
// is not one of them: it is read on its own (SessionSudoUntil), never with
// the session the per-request check caches.
const sessionCols = `id, account_id, token_hash, created_us, last_seen_us, expires_us, ip, user_agent, device_browser, device_os, device_type, aal, amr`

func scanSession(sc scanner) (*keyward.Session, error) {
	var (
		s                      keyward.Session
		created, seen, expires int64
		amr                    string
	)
	err := sc.Scan(&s.ID, &s.AccountID, &s.TokenHash, &created, &seen, &expires, &s.IP, &s.UserAgent,
		&s.Device.Browser, &s.Device.OS, &s.Device.Type, &s.AAL, &amr)
	if err != nil {
		return nil, err
	}
	if s.AMR, err = keyward.ParseAMR(amr); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromUS(created), fromUS(seen), fromUS(expires)
	return &s, nil
}

func (q *queries) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := q.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.AccountID, s.TokenHash, toUS(s.CreatedAt), toUS(s.LastSeenAt), toUS(s.ExpiresAt), s.IP, s.UserAgent,
		s.Device.Browser, s.Device.OS, s.Device.Type, s.AAL, s.AMR.String())
	return mapErr(ctx, "create session", err)
}

func (q *queries) session(ctx context.Context, where string, args ...any) (*keyward.Session, error) {
	s, err := scanSession(q.row(ctx, `SELECT `+sessionCols+` FROM sessions WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Session")
	}
	return s, mapErr(ctx, "read session", err)
}

func (q *queries) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	return q.session(ctx, `token_hash = ?`, blob(tokenHash))
}

func (q *queries) SessionByID(ctx context.Context, accountID, id string) (*keyward.Session, error) {
	return q.session(ctx, `id = ? AND account_id = ?`, id, accountID)
}

func (q *queries) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	rows, err := q.query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE account_id = ? AND expires_us > ? ORDER BY last_seen_us DESC, id DESC`,
		accountID, toUS(now))
	if err != nil {
		return nil, mapErr(ctx, "list sessions", err)
	}
	return collect(ctx, "list sessions", rows, scanSession)
}

func (q *queries) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	return q.updateOne(ctx, "Session", `UPDATE sessions SET last_seen_us = ? WHERE id = ?`, toUS(lastSeen), id)
}

func (q *queries) SetSessionAAL(ctx context.Context, id string, aal int, amr keyward.AMR) error {
	return q.updateOne(ctx, "Session", `UPDATE sessions SET aal = ?, amr = ? WHERE id = ?`, aal, amr.String(), id)
}

func (q *queries) SessionSudoUntil(ctx context.Context, accountID, id string) (time.Time, error) {
	var us int64
	err := q.row(ctx, `SELECT sudo_until_us FROM sessions WHERE id = ? AND account_id = ?`, id, accountID).Scan(&us)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, notFound("Session")
	}
	if err != nil {
		return time.Time{}, mapErr(ctx, "read sudo window", err)
	}
	if us == 0 {
		return time.Time{}, nil
	}
	return fromUS(us), nil
}

func (q *queries) ExtendSessionSudo(ctx context.Context, accountID, id string, until time.Time) error {
	return q.updateOne(ctx, "Session", `UPDATE sessions SET sudo_until_us = max(sudo_until_us, ?) WHERE id = ? AND account_id = ?`,
		toUS(until), id, accountID)
}

func (q *queries) DeleteSession(ctx context.Context, accountID, id string) (bool, error) {
	res, err := q.exec(ctx, `DELETE FROM sessions WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil {
		return false, mapErr(ctx, "delete session", err)
	}
	n, err := affected(res)
	return n > 0, mapErr(ctx, "delete session", err)
}

func (q *queries) DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error) {
	rows, err := q.query(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ? RETURNING id`, accountID, keepID)
	if err != nil {
		return nil, mapErr(ctx, "delete sessions", err)
	}
	ids, err := collect(ctx, "delete sessions", rows, func(sc scanner) (*string, error) {
		var id string
		return &id, sc.Scan(&id)
	})
	return ids, err
}
