package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

var _ keyward.Snapshotter = (*Store)(nil)

// snapshotTables returns every table that holds a node's data: the ones
// Import locks and checks are empty.
func snapshotTables() []string {
	return []string{
		"accounts", "sessions", "pending_totp", "totp_credentials", "backup_code_sets", "backup_codes", "passkey_users", "passkeys",
		"mfa_challenges", "throttles", "audit_events", "audit_heads", "invalidations", "admin_tokens",
		"oidc_clients", "oidc_signing_keys", "oidc_consents", "oidc_auth_requests", "oidc_grants", "oidc_tokens",
	}
}

// Export implements keyward.Snapshotter, in one REPEATABLE READ, READ ONLY
// transaction: one consistent snapshot while nodes keep writing.
func (s *Store) Export(ctx context.Context, fn func(keyward.Record) error) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return wrap("export: begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	each := func(op, sql string, row func(pgx.Rows) (keyward.Record, error)) error {
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			return wrap("export "+op, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := row(rows)
			if err != nil {
				return wrap("export "+op, err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return wrap("export "+op, rows.Err())
	}

	err = each("accounts", `SELECT `+accountColumns+` FROM accounts ORDER BY created_at, id`, func(row pgx.Rows) (keyward.Record, error) {
		var a keyward.Account
		err := scanAccount(row, &a)
		return keyward.Record{Account: &a}, err
	})
	if err != nil {
		return err
	}
	err = each("pending totp", pendingSelect+` ORDER BY account_id`,
		func(row pgx.Rows) (keyward.Record, error) {
			var p keyward.PendingTOTP
			err := scanPending(row, &p)
			return keyward.Record{PendingTOTP: &p}, err
		})
	if err != nil {
		return err
	}
	err = each("totp credentials", `SELECT `+totpColumns+totpFrom+` ORDER BY c.account_id`, func(row pgx.Rows) (keyward.Record, error) {
		var c keyward.TOTPCredential
		err := scanTOTP(row, &c)
		c.BackupSalt = nil // travels with the backup codes
		return keyward.Record{TOTPCredential: &c}, err
	})
	if err != nil {
		return err
	}
	if err := exportBackupCodes(ctx, tx, fn); err != nil {
		return err
	}
	err = each("passkey user handles", `SELECT account_id, handle FROM passkey_users ORDER BY account_id`, func(row pgx.Rows) (keyward.Record, error) {
		var u keyward.PasskeyUser
		err := row.Scan(&u.AccountID, &u.Handle)
		return keyward.Record{PasskeyUser: &u}, err
	})
	if err != nil {
		return err
	}
	err = each("passkeys", `SELECT `+passkeyColumns+` FROM passkeys ORDER BY id`, func(row pgx.Rows) (keyward.Record, error) {
		var p keyward.Passkey
		err := scanPasskey(row, &p)
		return keyward.Record{Passkey: &p}, err
	})
	if err != nil {
		return err
	}
	err = each("sessions", `SELECT `+sessionColumns+` FROM sessions ORDER BY id`, func(row pgx.Rows) (keyward.Record, error) {
		var x keyward.Session
		err := scanSession(row, &x)
		return keyward.Record{Session: &x}, err
	})
	if err != nil {
		return err
	}
	err = each("mfa challenges", `SELECT token_hash, account_id, created_at, expires_at, ip, user_agent FROM mfa_challenges ORDER BY token_hash`,
		func(row pgx.Rows) (keyward.Record, error) {
			var c keyward.MFAChallenge
			err := row.Scan(&c.TokenHash, &c.AccountID, &c.CreatedAt, &c.ExpiresAt, &c.IP, &c.UserAgent)
			return keyward.Record{MFAChallenge: &c}, err
		})
	if err != nil {
		return err
	}
	err = each("throttles", `SELECT key, failures, last_failure FROM throttles ORDER BY key`, func(row pgx.Rows) (keyward.Record, error) {
		var t keyward.Throttle
		err := row.Scan(&t.Key, &t.Failures, &t.LastFailure)
		return keyward.Record{Throttle: &t}, err
	})
	if err != nil {
		return err
	}
	// A head at seq 0 was locked but never appended to: not a chain yet.
	err = each("audit heads", `SELECT `+headColumns+` FROM audit_heads WHERE seq > 0 ORDER BY chain_id`,
		func(row pgx.Rows) (keyward.Record, error) {
			h, err := scanHead(row)
			return keyward.Record{AuditHead: &h}, err
		})
	if err != nil {
		return err
	}
	var sc eventScanner
	err = each("audit events", `SELECT `+eventColumns+` FROM audit_events ORDER BY chain_id, seq`, func(row pgx.Rows) (keyward.Record, error) {
		var e keyward.Event
		err := sc.scan(row, &e)
		return keyward.Record{Event: &e}, err
	})
	if err != nil {
		return err
	}
	err = each("admin tokens", `SELECT `+adminTokenColumns+` FROM admin_tokens ORDER BY name`, func(row pgx.Rows) (keyward.Record, error) {
		var t keyward.AdminToken
		err := scanAdminToken(row, &t)
		return keyward.Record{AdminToken: &t}, err
	})
	if err != nil {
		return err
	}
	if err := exportOIDC(each); err != nil {
		return err
	}
	seq, err := lastInvalidationSeq(ctx, tx)
	if err != nil {
		return err
	}
	return fn(keyward.Record{InvalidationSeq: &seq})
}

// exportOIDC sends the provider's records, each kind after the ones its
// foreign keys name.
func exportOIDC(each func(op, sql string, row func(pgx.Rows) (keyward.Record, error)) error) error {
	err := each("oidc clients", `SELECT `+oidcClientColumns+` FROM oidc_clients ORDER BY created_at, id`, func(row pgx.Rows) (keyward.Record, error) {
		var c keyward.OIDCClient
		err := scanOIDCClient(row, &c)
		return keyward.Record{OIDCClient: &c}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc signing keys", `SELECT `+oidcKeyColumns+` FROM oidc_signing_keys ORDER BY created_at, id`, func(row pgx.Rows) (keyward.Record, error) {
		var k keyward.OIDCSigningKey
		err := row.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public, &k.CreatedAt, &k.RetiredAt)
		return keyward.Record{OIDCSigningKey: &k}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc consents", `SELECT account_id, client_id, scopes, created_at FROM oidc_consents ORDER BY account_id, client_id`,
		func(row pgx.Rows) (keyward.Record, error) {
			var c keyward.OIDCConsent
			err := row.Scan(&c.AccountID, &c.ClientID, &c.Scopes, &c.CreatedAt)
			return keyward.Record{OIDCConsent: &c}, err
		})
	if err != nil {
		return err
	}
	err = each("oidc auth requests", `SELECT `+oidcRequestColumns+` FROM oidc_auth_requests ORDER BY id`, func(row pgx.Rows) (keyward.Record, error) {
		var r keyward.OIDCAuthRequest
		err := scanOIDCRequest(row, &r)
		return keyward.Record{OIDCRequest: &r}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc grants", `SELECT `+oidcGrantColumns+` FROM oidc_grants ORDER BY id`, func(row pgx.Rows) (keyward.Record, error) {
		var g keyward.OIDCGrant
		err := scanOIDCGrant(row, &g)
		return keyward.Record{OIDCGrant: &g}, err
	})
	if err != nil {
		return err
	}
	return each("oidc tokens", `SELECT `+oidcTokenColumns+` FROM oidc_tokens ORDER BY hash`, func(row pgx.Rows) (keyward.Record, error) {
		var t keyward.OIDCToken
		err := row.Scan(&t.Hash, &t.GrantID, &t.Refresh, &t.CreatedAt, &t.ExpiresAt, &t.UsedAt)
		return keyward.Record{OIDCToken: &t}, err
	})
}

// lastInvalidationSeq is the last seq the invalidation log handed out, rows
// deleted or not.
func lastInvalidationSeq(ctx context.Context, tx dbtx) (int64, error) {
	var name string
	if err := tx.QueryRow(ctx, `SELECT pg_get_serial_sequence('invalidations', 'seq')`).Scan(&name); err != nil {
		return 0, wrap("invalidation sequence", err)
	}
	// name comes from the catalog, quoted as needed.
	var (
		last   int64
		called bool
		top    int64
	)
	err := tx.QueryRow(ctx, `SELECT s.last_value, s.is_called, (SELECT COALESCE(max(seq), 0) FROM invalidations) FROM `+name+` s`).
		Scan(&last, &called, &top)
	if err != nil {
		return 0, wrap("invalidation sequence", err)
	}
	if !called {
		last-- // nextval returns last_value itself
	}
	return max(last, top), nil
}

// exportBackupCodes sends one record per account that has a set (a salt)
// or codes. PostgreSQL keeps no position for a code: they come in hash order.
func exportBackupCodes(ctx context.Context, tx pgx.Tx, fn func(keyward.Record) error) error {
	rows, err := tx.Query(ctx, `
		SELECT a.account_id, s.salt, c.hash, c.used_at
		FROM (SELECT account_id FROM backup_code_sets UNION SELECT account_id FROM backup_codes) a
		LEFT JOIN backup_code_sets s ON s.account_id = a.account_id
		LEFT JOIN backup_codes c ON c.account_id = a.account_id
		ORDER BY a.account_id, c.hash`)
	if err != nil {
		return wrap("export backup codes", err)
	}
	defer rows.Close()
	var set *keyward.BackupCodes
	for rows.Next() {
		var (
			id         string
			salt, hash []byte
			used       *time.Time
		)
		if err := rows.Scan(&id, &salt, &hash, &used); err != nil {
			return wrap("export backup codes", err)
		}
		if set == nil || set.AccountID != id {
			if set != nil {
				if err := fn(keyward.Record{BackupCodes: set}); err != nil {
					return err
				}
			}
			set = &keyward.BackupCodes{AccountID: id, Salt: salt}
		}
		if hash != nil {
			set.Codes = append(set.Codes, keyward.BackupCode{Hash: hash, UsedAt: used})
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("export backup codes", err)
	}
	if set != nil {
		return fn(keyward.Record{BackupCodes: set})
	}
	return nil
}

// importBatch is how many rows Import buffers per table before it sends
// them with COPY.
const importBatch = 1000

// Import implements keyward.Snapshotter. In one transaction it locks every
// table against writers (a node already running on the database waits for
// the import to end), checks that all are empty, and writes the records
// with COPY, a batch at a time.
func (s *Store) Import(ctx context.Context, next func() (keyward.Record, error)) error {
	// Not retried: next cannot be replayed.
	return s.txOnce(ctx, func(q *queries) error {
		t := q.db.(*tx)
		tables := snapshotTables()
		if _, err := t.Exec(ctx, `LOCK TABLE `+joinIdents(tables)+` IN EXCLUSIVE MODE`); err != nil {
			return wrap("import: lock", err)
		}
		for _, table := range tables {
			var has bool
			if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{table}.Sanitize()+`)`).Scan(&has); err != nil {
				return wrap("import: emptiness check", err)
			}
			if has {
				return keyward.Errorf(keyward.CodeConflict, "The target database is not empty (table %s has rows): keyward copies only into an empty one.", table)
			}
		}
		im := &pgImport{tx: t, bufs: map[string]*copyBuf{}}
		var order keyward.SnapshotOrder
		last := -1
		for {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return im.flushAll(ctx)
			}
			if err != nil {
				return err
			}
			kind, err := order.Check(r)
			if err != nil {
				return err
			}
			if kind != last {
				// Everything of the kinds before is in: rows of this kind
				// may point at them (foreign keys).
				if err := im.flushAll(ctx); err != nil {
					return err
				}
				last = kind
			}
			if err := im.put(ctx, r); err != nil {
				return err
			}
		}
	})
}

func joinIdents(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += pgx.Identifier{n}.Sanitize()
	}
	return out
}

// copyBuf holds rows for one table until they are sent with COPY.
type copyBuf struct {
	table string
	cols  []string
	rows  [][]any
}

type pgImport struct {
	tx    *tx
	bufs  map[string]*copyBuf
	order []string // tables in the order first written, flushed in that order
}

func (im *pgImport) add(ctx context.Context, table string, cols []string, row ...any) error {
	b, ok := im.bufs[table]
	if !ok {
		b = &copyBuf{table: table, cols: cols}
		im.bufs[table] = b
		im.order = append(im.order, table)
	}
	b.rows = append(b.rows, row)
	if len(b.rows) >= importBatch {
		return im.flush(ctx, b)
	}
	return nil
}

func (im *pgImport) flush(ctx context.Context, b *copyBuf) error {
	if len(b.rows) == 0 {
		return nil
	}
	_, err := im.tx.CopyFrom(ctx, pgx.Identifier{b.table}, b.cols, pgx.CopyFromRows(b.rows))
	if err != nil {
		return wrap("import "+b.table, err)
	}
	b.rows = b.rows[:0]
	return nil
}

func (im *pgImport) flushAll(ctx context.Context) error {
	for _, t := range im.order {
		if err := im.flush(ctx, im.bufs[t]); err != nil {
			return err
		}
	}
	return nil
}

func (im *pgImport) put(ctx context.Context, r keyward.Record) error {
	switch {
	case r.Account != nil:
		return im.add(ctx, "accounts", accountInsertColumnList, accountValues(r.Account)...)
	case r.PendingTOTP != nil:
		p := r.PendingTOTP
		return im.add(ctx, "pending_totp", []string{"account_id", "session_id", "sealed_secret", "created_at", "expires_at"},
			p.AccountID, p.SessionID, p.SealedSecret, p.CreatedAt, p.ExpiresAt)
	case r.TOTPCredential != nil:
		c := r.TOTPCredential
		return im.add(ctx, "totp_credentials", []string{"account_id", "sealed_secret", "enabled_at", "last_step", "second_factor_failures"},
			c.AccountID, c.SealedSecret, c.EnabledAt, c.LastStep, c.Failures)
	case r.BackupCodes != nil:
		b := r.BackupCodes
		if err := im.add(ctx, "backup_code_sets", []string{"account_id", "salt"}, b.AccountID, nilIfEmpty(b.Salt)); err != nil {
			return err
		}
		for _, c := range b.Codes {
			if err := im.add(ctx, "backup_codes", []string{"account_id", "hash", "used_at"}, b.AccountID, c.Hash, c.UsedAt); err != nil {
				return err
			}
		}
		return nil
	case r.PasskeyUser != nil:
		u := r.PasskeyUser
		return im.add(ctx, "passkey_users", []string{"account_id", "handle"}, u.AccountID, u.Handle)
	case r.Passkey != nil:
		return im.add(ctx, "passkeys", passkeyColumnList, passkeyValues(r.Passkey)...)
	case r.Session != nil:
		x := r.Session
		return im.add(ctx, "sessions", []string{"id", "account_id", "token_hash", "created_at", "last_seen_at", "expires_at",
			"ip", "user_agent", "device_browser", "device_os", "device_type", "aal", "amr"},
			x.ID, x.AccountID, x.TokenHash, x.CreatedAt, x.LastSeenAt, x.ExpiresAt,
			x.IP, x.UserAgent, x.Device.Browser, x.Device.OS, x.Device.Type, int16(x.AAL), x.AMR.String())
	case r.MFAChallenge != nil:
		c := r.MFAChallenge
		return im.add(ctx, "mfa_challenges", []string{"token_hash", "account_id", "created_at", "expires_at", "ip", "user_agent"},
			c.TokenHash, c.AccountID, c.CreatedAt, c.ExpiresAt, c.IP, c.UserAgent)
	case r.Throttle != nil:
		t := r.Throttle
		return im.add(ctx, "throttles", []string{"key", "failures", "last_failure"}, t.Key, int32(t.Failures), t.LastFailure)
	case r.AuditHead != nil:
		h := r.AuditHead
		var baseTime *time.Time
		if !h.BaseTime.IsZero() {
			baseTime = &h.BaseTime
		}
		return im.add(ctx, "audit_heads", []string{"chain_id", "seq", "hash", "seal", "base_seq", "base_hash", "base_mac", "base_time"},
			h.ChainID, h.Seq, nilIfEmpty(h.Hash), h.Seal, h.BaseSeq, nilIfEmpty(h.BaseHash), h.BaseMAC, baseTime)
	case r.Event != nil:
		e := r.Event
		details, err := encodeDetails(e.Details)
		if err != nil {
			return wrap("import event "+e.ID, err)
		}
		return im.add(ctx, "audit_events", []string{"chain_id", "seq", "id", "time", "type", "outcome", "reason", "ip", "user_agent",
			"session_id", "actor", "details", "prev_hash", "hash", "mac"},
			e.ChainID, e.Seq, e.ID, e.Time, string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), details, nilIfEmpty(e.PrevHash), e.Hash, e.MAC)
	case r.AdminToken != nil:
		t := r.AdminToken
		return im.add(ctx, "admin_tokens", []string{"name", "token_hash", "scopes", "created_at", "last_used_at"},
			t.Name, t.TokenHash, joinScopes(t.Scopes), t.CreatedAt, t.LastUsedAt)
	case r.OIDCClient != nil:
		c := r.OIDCClient
		return im.add(ctx, "oidc_clients", []string{"id", "name", "secret_hash", "redirect_uris", "post_logout_redirect_uris", "first_party", "created_at"},
			c.ID, c.Name, nilIfEmpty(c.SecretHash), list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), c.FirstParty, c.CreatedAt)
	case r.OIDCSigningKey != nil:
		k := r.OIDCSigningKey
		return im.add(ctx, "oidc_signing_keys", []string{"id", "algorithm", "sealed", "public_key", "created_at", "retired_at"},
			k.ID, k.Algorithm, k.Sealed, k.Public, k.CreatedAt, k.RetiredAt)
	case r.OIDCConsent != nil:
		c := r.OIDCConsent
		return im.add(ctx, "oidc_consents", []string{"account_id", "client_id", "scopes", "created_at"},
			c.AccountID, c.ClientID, list(c.Scopes), c.CreatedAt)
	case r.OIDCRequest != nil:
		x := r.OIDCRequest
		params, err := json.Marshal(x.Params)
		if err != nil {
			return fmt.Errorf("postgres: import oidc auth request: %w", err)
		}
		var account, session *string
		if x.AccountID != "" {
			account = &x.AccountID
		}
		if x.SessionID != "" {
			session = &x.SessionID
		}
		var authTime *time.Time
		if !x.AuthTime.IsZero() {
			authTime = &x.AuthTime
		}
		return im.add(ctx, "oidc_auth_requests", []string{"id", "client_id", "params", "created_at", "expires_at", "account_id", "session_id",
			"auth_time", "amr", "aal", "code_hash", "code_issued_at", "code_used_at"},
			x.ID, x.ClientID, string(params), x.CreatedAt, x.ExpiresAt, account, session,
			authTime, int16(x.AMR), int16(x.AAL), nilIfEmpty(x.CodeHash), x.CodeIssuedAt, x.CodeUsedAt)
	case r.OIDCGrant != nil:
		g := r.OIDCGrant
		return im.add(ctx, "oidc_grants", []string{"id", "account_id", "session_id", "client_id", "scopes", "auth_time", "amr", "aal", "created_at"},
			g.ID, g.AccountID, g.SessionID, g.ClientID, list(g.Scopes), g.AuthTime, int16(g.AMR), int16(g.AAL), g.CreatedAt)
	case r.OIDCToken != nil:
		t := r.OIDCToken
		return im.add(ctx, "oidc_tokens", []string{"hash", "grant_id", "refresh", "created_at", "expires_at", "used_at"},
			t.Hash, t.GrantID, t.Refresh, t.CreatedAt, t.ExpiresAt, t.UsedAt)
	case r.InvalidationSeq != nil:
		seq := *r.InvalidationSeq
		cur, err := lastInvalidationSeq(ctx, im.tx)
		if err != nil {
			return err
		}
		if seq <= cur {
			return nil // numbering never goes back
		}
		// ALTER ... RESTART is transactional, unlike setval.
		_, err = im.tx.Exec(ctx, `ALTER TABLE invalidations ALTER COLUMN seq RESTART WITH `+strconv.FormatInt(seq+1, 10))
		return wrap("import invalidation position", err)
	}
	return fmt.Errorf("postgres: import: an empty record")
}

// nilIfEmpty stores an empty byte slice as NULL, as the stores read it.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
