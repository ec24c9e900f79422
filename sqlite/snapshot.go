package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/keyward/keyward"
)

var _ keyward.Snapshotter = (*Store)(nil)

// snapshotTables returns every table that holds a node's data, for the
// emptiness check of Import.
func snapshotTables() []string {
	return []string{
		"accounts", "sessions", "pending_totp", "totp_credentials", "backup_code_sets", "backup_codes", "passkey_users", "passkeys",
		"mfa_challenges", "throttles", "audit_events", "audit_heads", "invalidations", "admin_tokens",
		"oidc_clients", "oidc_signing_keys", "oidc_consents", "oidc_auth_requests", "oidc_grants", "oidc_tokens",
	}
}

// Export implements keyward.Snapshotter. It reads in one read transaction
// on the reader pool: in WAL mode that is one consistent snapshot, and
// writers (a node still serving) are not held up.
func (s *Store) Export(ctx context.Context, fn func(keyward.Record) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return mapErr(ctx, "export: begin", err)
	}
	defer tx.Rollback()
	q := &queries{store: s, tx: tx} // no stmts: the writer's are not this transaction's
	each := func(op, query string, row func(scanner) (keyward.Record, error)) error {
		rows, err := q.query(ctx, query)
		if err != nil {
			return mapErr(ctx, "export "+op, err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := row(rows)
			if err != nil {
				return mapErr(ctx, "export "+op, err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return mapErr(ctx, "export "+op, rows.Err())
	}

	err = each("accounts", `SELECT `+accountCols+` FROM accounts ORDER BY created_us, id`, func(sc scanner) (keyward.Record, error) {
		a, err := scanAccount(sc)
		return keyward.Record{Account: a}, err
	})
	if err != nil {
		return err
	}
	err = each("pending totp", pendingSelect+` ORDER BY account_id`, func(sc scanner) (keyward.Record, error) {
		p, err := scanPending(sc)
		return keyward.Record{PendingTOTP: p}, err
	})
	if err != nil {
		return err
	}
	err = each("totp credentials", credentialSelect+` ORDER BY c.account_id`, func(sc scanner) (keyward.Record, error) {
		c, err := scanCredential(sc)
		if c != nil {
			c.BackupSalt = nil // travels with the backup codes
		}
		return keyward.Record{TOTPCredential: c}, err
	})
	if err != nil {
		return err
	}
	if err := s.exportBackupCodes(ctx, q, fn); err != nil {
		return err
	}
	err = each("passkey user handles", `SELECT account_id, handle FROM passkey_users ORDER BY account_id`, func(sc scanner) (keyward.Record, error) {
		var u keyward.PasskeyUser
		err := sc.Scan(&u.AccountID, &u.Handle)
		return keyward.Record{PasskeyUser: &u}, err
	})
	if err != nil {
		return err
	}
	err = each("passkeys", `SELECT `+passkeyCols+` FROM passkeys ORDER BY id`, func(sc scanner) (keyward.Record, error) {
		p, err := scanPasskey(sc)
		return keyward.Record{Passkey: p}, err
	})
	if err != nil {
		return err
	}
	err = each("sessions", `SELECT `+sessionCols+` FROM sessions ORDER BY id`, func(sc scanner) (keyward.Record, error) {
		x, err := scanSession(sc)
		return keyward.Record{Session: x}, err
	})
	if err != nil {
		return err
	}
	err = each("mfa challenges", `SELECT token_hash, account_id, created_us, expires_us, ip, user_agent FROM mfa_challenges ORDER BY token_hash`,
		func(sc scanner) (keyward.Record, error) {
			var (
				c                keyward.MFAChallenge
				created, expires int64
			)
			err := sc.Scan(&c.TokenHash, &c.AccountID, &created, &expires, &c.IP, &c.UserAgent)
			c.CreatedAt, c.ExpiresAt = fromUS(created), fromUS(expires)
			return keyward.Record{MFAChallenge: &c}, err
		})
	if err != nil {
		return err
	}
	err = each("throttles", `SELECT key, failures, last_failure_us FROM throttles ORDER BY key`, func(sc scanner) (keyward.Record, error) {
		var (
			t    keyward.Throttle
			last int64
		)
		err := sc.Scan(&t.Key, &t.Failures, &last)
		t.LastFailure = fromUS(last)
		return keyward.Record{Throttle: &t}, err
	})
	if err != nil {
		return err
	}
	err = each("audit heads", `SELECT `+headCols+` FROM audit_heads WHERE seq > 0 ORDER BY chain_id`,
		func(sc scanner) (keyward.Record, error) {
			h, err := scanHead(sc)
			return keyward.Record{AuditHead: &h}, err
		})
	if err != nil {
		return err
	}
	err = each("audit events", `SELECT `+eventCols+` FROM audit_events ORDER BY chain_id, seq`, func(sc scanner) (keyward.Record, error) {
		e, err := scanEvent(sc)
		return keyward.Record{Event: e}, err
	})
	if err != nil {
		return err
	}
	err = each("admin tokens", `SELECT `+adminTokenCols+` FROM admin_tokens ORDER BY name`, func(sc scanner) (keyward.Record, error) {
		t, err := scanAdminToken(sc)
		return keyward.Record{AdminToken: t}, err
	})
	if err != nil {
		return err
	}
	if err := exportOIDC(each); err != nil {
		return err
	}
	// AUTOINCREMENT keeps the last seq handed out in sqlite_sequence, even
	// once every row is gone.
	var seq int64
	err = q.row(ctx, `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'invalidations'), 0),
		coalesce((SELECT max(seq) FROM invalidations), 0))`).Scan(&seq)
	if err != nil {
		return mapErr(ctx, "export invalidation position", err)
	}
	return fn(keyward.Record{InvalidationSeq: &seq})
}

// exportOIDC sends the provider's records, each kind after the ones its
// foreign keys name.
func exportOIDC(each func(op, query string, row func(scanner) (keyward.Record, error)) error) error {
	err := each("oidc clients", `SELECT `+oidcClientCols+` FROM oidc_clients ORDER BY created_us, id`, func(sc scanner) (keyward.Record, error) {
		c, err := scanOIDCClient(sc)
		return keyward.Record{OIDCClient: c}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc signing keys", `SELECT `+oidcKeyCols+` FROM oidc_signing_keys ORDER BY created_us, id`, func(sc scanner) (keyward.Record, error) {
		k, err := scanOIDCKey(sc)
		return keyward.Record{OIDCSigningKey: k}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc consents", `SELECT account_id, client_id, scopes, created_us FROM oidc_consents ORDER BY account_id, client_id`,
		func(sc scanner) (keyward.Record, error) {
			var (
				c       keyward.OIDCConsent
				scopes  string
				created int64
			)
			if err := sc.Scan(&c.AccountID, &c.ClientID, &scopes, &created); err != nil {
				return keyward.Record{}, err
			}
			var err error
			c.CreatedAt = fromUS(created)
			if c.Scopes, err = parseList(scopes); err != nil {
				return keyward.Record{}, err
			}
			return keyward.Record{OIDCConsent: &c}, nil
		})
	if err != nil {
		return err
	}
	err = each("oidc auth requests", `SELECT `+oidcRequestCols+` FROM oidc_auth_requests ORDER BY id`, func(sc scanner) (keyward.Record, error) {
		r, err := scanOIDCRequest(sc)
		return keyward.Record{OIDCRequest: r}, err
	})
	if err != nil {
		return err
	}
	err = each("oidc grants", `SELECT `+oidcGrantCols+` FROM oidc_grants ORDER BY id`, func(sc scanner) (keyward.Record, error) {
		g, err := scanOIDCGrant(sc)
		return keyward.Record{OIDCGrant: g}, err
	})
	if err != nil {
		return err
	}
	return each("oidc tokens", `SELECT `+oidcTokenCols+` FROM oidc_tokens ORDER BY hash`, func(sc scanner) (keyward.Record, error) {
		t, err := scanOIDCToken(sc)
		return keyward.Record{OIDCToken: t}, err
	})
}

// exportBackupCodes sends one record per account that has a set (a salt)
// or codes, the codes in their order.
func (s *Store) exportBackupCodes(ctx context.Context, q *queries, fn func(keyward.Record) error) error {
	rows, err := q.query(ctx, `
		SELECT a.account_id, s.salt, c.hash, c.used_us
		FROM (SELECT account_id FROM backup_code_sets UNION SELECT account_id FROM backup_codes) a
		LEFT JOIN backup_code_sets s ON s.account_id = a.account_id
		LEFT JOIN backup_codes c ON c.account_id = a.account_id
		ORDER BY a.account_id, c.n`)
	if err != nil {
		return mapErr(ctx, "export backup codes", err)
	}
	defer rows.Close()
	var set *keyward.BackupCodes
	for rows.Next() {
		var (
			id         string
			salt, hash []byte
			used       sql.NullInt64
		)
		if err := rows.Scan(&id, &salt, &hash, &used); err != nil {
			return mapErr(ctx, "export backup codes", err)
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
			c := keyward.BackupCode{Hash: hash}
			if used.Valid {
				t := fromUS(used.Int64)
				c.UsedAt = &t
			}
			set.Codes = append(set.Codes, c)
		}
	}
	if err := rows.Err(); err != nil {
		return mapErr(ctx, "export backup codes", err)
	}
	if set != nil {
		return fn(keyward.Record{BackupCodes: set})
	}
	return nil
}

// Import implements keyward.Snapshotter: one write transaction, after
// checking that the database holds nothing yet.
func (s *Store) Import(ctx context.Context, next func() (keyward.Record, error)) error {
	return s.inTx(ctx, func(q *queries) error {
		for _, table := range snapshotTables() {
			var n int
			if err := q.row(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` LIMIT 1)`).Scan(&n); err != nil {
				return mapErr(ctx, "import: emptiness check", err)
			}
			if n > 0 {
				return keyward.Errorf(keyward.CodeConflict, "The target database is not empty (table %s has rows): keyward copies only into an empty one.", table)
			}
		}
		im := &sqliteImport{q: q, stmts: map[string]*sql.Stmt{}}
		defer im.close()
		var order keyward.SnapshotOrder
		for {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if _, err := order.Check(r); err != nil {
				return err
			}
			if err := im.put(ctx, r); err != nil {
				return err
			}
		}
	})
}

// sqliteImport writes records through statements prepared once per import.
type sqliteImport struct {
	q     *queries
	stmts map[string]*sql.Stmt
}

func (im *sqliteImport) close() {
	for _, st := range im.stmts {
		st.Close()
	}
}

func (im *sqliteImport) exec(ctx context.Context, op, query string, args ...any) error {
	st, ok := im.stmts[query]
	if !ok {
		tx := im.q.tx
		var err error
		if st, err = tx.PrepareContext(ctx, query); err != nil {
			return mapErr(ctx, "import "+op, err)
		}
		im.stmts[query] = st
	}
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return mapErr(ctx, "import "+op, err)
	}
	return nil
}

func (im *sqliteImport) put(ctx context.Context, r keyward.Record) error {
	switch {
	case r.Account != nil:
		return im.exec(ctx, "account", insertAccountSQL, accountArgs(r.Account)...)
	case r.PendingTOTP != nil:
		p := r.PendingTOTP
		return im.exec(ctx, "pending totp", `INSERT INTO pending_totp (account_id, session_id, sealed_secret, created_us, expires_us) VALUES (?, ?, ?, ?, ?)`,
			p.AccountID, p.SessionID, p.SealedSecret, toUS(p.CreatedAt), toUS(p.ExpiresAt))
	case r.TOTPCredential != nil:
		c := r.TOTPCredential
		return im.exec(ctx, "totp credential", `INSERT INTO totp_credentials (account_id, sealed_secret, enabled_us, last_step, second_factor_failures) VALUES (?, ?, ?, ?, ?)`,
			c.AccountID, c.SealedSecret, toUS(c.EnabledAt), c.LastStep, c.Failures)
	case r.BackupCodes != nil:
		b := r.BackupCodes
		err := im.exec(ctx, "backup code set", `INSERT INTO backup_code_sets (account_id, salt) VALUES (?, ?)`, b.AccountID, blob(b.Salt))
		if err != nil {
			return err
		}
		for i, c := range b.Codes {
			err := im.exec(ctx, "backup code", `INSERT INTO backup_codes (account_id, n, hash, used_us) VALUES (?, ?, ?, ?)`,
				b.AccountID, i, c.Hash, nullTime(c.UsedAt))
			if err != nil {
				return err
			}
		}
		return nil
	case r.PasskeyUser != nil:
		u := r.PasskeyUser
		return im.exec(ctx, "passkey user handle", `INSERT INTO passkey_users (account_id, handle) VALUES (?, ?)`, u.AccountID, blob(u.Handle))
	case r.Passkey != nil:
		return im.exec(ctx, "passkey", `INSERT INTO passkeys (`+passkeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			passkeyArgs(r.Passkey)...)
	case r.Session != nil:
		x := r.Session
		return im.exec(ctx, "session", `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			x.ID, x.AccountID, x.TokenHash, toUS(x.CreatedAt), toUS(x.LastSeenAt), toUS(x.ExpiresAt), x.IP, x.UserAgent,
			x.Device.Browser, x.Device.OS, x.Device.Type, x.AAL, x.AMR.String())
	case r.MFAChallenge != nil:
		c := r.MFAChallenge
		return im.exec(ctx, "mfa challenge", `INSERT INTO mfa_challenges (token_hash, account_id, created_us, expires_us, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)`,
			c.TokenHash, c.AccountID, toUS(c.CreatedAt), toUS(c.ExpiresAt), c.IP, c.UserAgent)
	case r.Throttle != nil:
		t := r.Throttle
		return im.exec(ctx, "throttle", `INSERT INTO throttles (key, failures, last_failure_us) VALUES (?, ?, ?)`,
			t.Key, t.Failures, toUS(t.LastFailure))
	case r.AuditHead != nil:
		h := r.AuditHead
		var baseUS int64
		if !h.BaseTime.IsZero() {
			baseUS = toUS(h.BaseTime)
		}
		return im.exec(ctx, "audit head", `INSERT INTO audit_heads (`+headCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			h.ChainID, h.Seq, blob(h.Hash), h.Seal, h.BaseSeq, blob(h.BaseHash), h.BaseMAC, baseUS)
	case r.Event != nil:
		e := r.Event
		details := "{}"
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return fmt.Errorf("sqlite: import event %s: %w", e.ID, err)
			}
			details = string(b)
		}
		return im.exec(ctx, "audit event", `INSERT INTO audit_events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.ChainID, e.Seq, toUS(e.Time), string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent,
			e.SessionID, string(e.Actor), details, blob(e.PrevHash), blob(e.Hash), e.MAC)
	case r.AdminToken != nil:
		t := r.AdminToken
		return im.exec(ctx, "admin token", `INSERT INTO admin_tokens (`+adminTokenCols+`) VALUES (?, ?, ?, ?, ?)`,
			t.Name, blob(t.TokenHash), joinScopes(t.Scopes), toUS(t.CreatedAt), nullTime(t.LastUsedAt))
	case r.OIDCClient != nil:
		c := r.OIDCClient
		return im.exec(ctx, "oidc client", `INSERT INTO oidc_clients (`+oidcClientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, blob(c.SecretHash), jsonList(c.RedirectURIs), jsonList(c.PostLogoutRedirectURIs), c.FirstParty, toUS(c.CreatedAt))
	case r.OIDCSigningKey != nil:
		k := r.OIDCSigningKey
		return im.exec(ctx, "oidc signing key", `INSERT INTO oidc_signing_keys (`+oidcKeyCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.Sealed, blob(k.Public), toUS(k.CreatedAt), nullTime(k.RetiredAt))
	case r.OIDCConsent != nil:
		c := r.OIDCConsent
		return im.exec(ctx, "oidc consent", `INSERT INTO oidc_consents (account_id, client_id, scopes, created_us) VALUES (?, ?, ?, ?)`,
			c.AccountID, c.ClientID, jsonList(c.Scopes), toUS(c.CreatedAt))
	case r.OIDCRequest != nil:
		x := r.OIDCRequest
		params, err := json.Marshal(x.Params)
		if err != nil {
			return fmt.Errorf("sqlite: import oidc auth request: %w", err)
		}
		var authTime any
		if !x.AuthTime.IsZero() {
			authTime = toUS(x.AuthTime)
		}
		return im.exec(ctx, "oidc auth request", `INSERT INTO oidc_auth_requests (`+oidcRequestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			x.ID, x.ClientID, string(params), toUS(x.CreatedAt), toUS(x.ExpiresAt), nullString(x.AccountID), nullString(x.SessionID),
			authTime, int64(x.AMR), x.AAL, blob(x.CodeHash), nullTime(x.CodeIssuedAt), nullTime(x.CodeUsedAt))
	case r.OIDCGrant != nil:
		g := r.OIDCGrant
		return im.exec(ctx, "oidc grant", `INSERT INTO oidc_grants (`+oidcGrantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.AccountID, g.SessionID, g.ClientID, jsonList(g.Scopes), toUS(g.AuthTime), int64(g.AMR), g.AAL, toUS(g.CreatedAt))
	case r.OIDCToken != nil:
		t := r.OIDCToken
		return im.exec(ctx, "oidc token", `INSERT INTO oidc_tokens (`+oidcTokenCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			blob(t.Hash), t.GrantID, t.Refresh, toUS(t.CreatedAt), toUS(t.ExpiresAt), nullTime(t.UsedAt))
	case r.InvalidationSeq != nil:
		// Numbering continues after the source's; it never goes back.
		seq := *r.InvalidationSeq
		if seq <= 0 {
			return nil
		}
		if err := im.exec(ctx, "invalidation position", `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'invalidations'`, seq); err != nil {
			return err
		}
		return im.exec(ctx, "invalidation position", `INSERT INTO sqlite_sequence (name, seq)
			SELECT 'invalidations', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'invalidations')`, seq)
	}
	return nil
}
