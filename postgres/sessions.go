package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// ---- Sessions.

// sessionColumns are the columns of a keyward.Session. The sudo window's
// end is not one of them: it is read on its own (SessionSudoUntil), never
// with the session the per-request check caches.
const sessionColumns = `id, account_id, token_hash, created_at, last_seen_at, expires_at,
	ip, user_agent, device_browser, device_os, device_type, aal, amr`

func scanSession(row pgx.Row, s *keyward.Session) error {
	var amr string
	err := row.Scan(&s.ID, &s.AccountID, &s.TokenHash, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt,
		&s.IP, &s.UserAgent, &s.Device.Browser, &s.Device.OS, &s.Device.Type, &s.AAL, &amr)
	if err != nil {
		return err
	}
	s.AMR, err = keyward.ParseAMR(amr)
	return err
}

func collectSessions(rows pgx.Rows) ([]keyward.Session, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Session, error) {
		var s keyward.Session
		err := scanSession(row, &s)
		return s, err
	})
}

func (q *queries) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := q.db.Exec(ctx, `
		INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		s.ID, s.AccountID, s.TokenHash, s.CreatedAt, s.LastSeenAt, s.ExpiresAt,
		s.IP, s.UserAgent, s.Device.Browser, s.Device.OS, s.Device.Type, s.AAL, s.AMR.String())
	return wrap("create session", accountMissing(err))
}

func (q *queries) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*keyward.Session, error) {
	var s keyward.Session
	err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, tokenHash), &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Session")
	}
	if err != nil {
		return nil, wrap("session by token", err)
	}
	return &s, nil
}

func (q *queries) SessionByID(ctx context.Context, accountID, id string) (*keyward.Session, error) {
	var s keyward.Session
	err := scanSession(q.db.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND account_id = $2`,
		id, accountID), &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("Session")
	}
	if err != nil {
		return nil, wrap("session by id", err)
	}
	return &s, nil
}

func (q *queries) ListSessions(ctx context.Context, accountID string, now time.Time) ([]keyward.Session, error) {
	rows, err := q.db.Query(ctx, `
		SELECT `+sessionColumns+` FROM sessions
		WHERE account_id = $1 AND expires_at > $2
		ORDER BY last_seen_at DESC, id DESC`, accountID, now)
	if err != nil {
		return nil, wrap("list sessions", err)
	}
	out, err := collectSessions(rows)
	return out, wrap("list sessions", err)
}

func (q *queries) TouchSession(ctx context.Context, id string, lastSeen time.Time) error {
	tag, err := q.db.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1`, id, lastSeen)
	if err != nil {
		return wrap("touch session", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

func (q *queries) SetSessionAAL(ctx context.Context, id string, aal int, amr keyward.AMR) error {
	tag, err := q.db.Exec(ctx, `UPDATE sessions SET aal = $2, amr = $3 WHERE id = $1`, id, aal, amr.String())
	if err != nil {
		return wrap("set session aal", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

func (q *queries) SessionSudoUntil(ctx context.Context, accountID, id string) (time.Time, error) {
	var until *time.Time
	err := q.db.QueryRow(ctx, `SELECT sudo_until FROM sessions WHERE id = $1 AND account_id = $2`, id, accountID).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, notFound("Session")
	}
	if err != nil {
		return time.Time{}, wrap("read sudo window", err)
	}
	if until == nil {
		return time.Time{}, nil
	}
	return until.UTC(), nil
}

func (q *queries) ExtendSessionSudo(ctx context.Context, accountID, id string, until time.Time) error {
	// GREATEST ignores a NULL: a first grant sets the value.
	tag, err := q.db.Exec(ctx, `UPDATE sessions SET sudo_until = GREATEST(sudo_until, $3) WHERE id = $1 AND account_id = $2`,
		id, accountID, until)
	if err != nil {
		return wrap("extend sudo window", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("Session")
	}
	return nil
}

func (q *queries) DeleteSession(ctx context.Context, accountID, id string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM sessions WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return false, wrap("delete session", err)
	}
	return tag.RowsAffected() > 0, nil
}

func (q *queries) DeleteOtherSessions(ctx context.Context, accountID, keepID string) ([]string, error) {
	rows, err := q.db.Query(ctx, `DELETE FROM sessions WHERE account_id = $1 AND id <> $2 RETURNING id`, accountID, keepID)
	if err != nil {
		return nil, wrap("delete other sessions", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap("delete other sessions", err)
}
