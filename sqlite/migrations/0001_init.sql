-- keyward schema, version 1. Times are INTEGER unix microseconds (UTC),
-- secrets' hashes and salts are BLOBs (NULL
-- where empty). STRICT tables refuse values of the
-- wrong type.

CREATE TABLE accounts (
	id                    TEXT PRIMARY KEY,
	email                 TEXT NOT NULL,
	email_key             TEXT NOT NULL UNIQUE, -- keyward.EmailKey(email), computed in Go
	password_hash         TEXT NOT NULL,
	created_us            INTEGER NOT NULL,
	two_factor_enabled_us INTEGER               -- NULL while TOTP is off
) STRICT;

CREATE TABLE sessions (
	id             TEXT PRIMARY KEY,
	account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	token_hash     BLOB NOT NULL UNIQUE,
	created_us     INTEGER NOT NULL,
	last_seen_us   INTEGER NOT NULL,
	expires_us     INTEGER NOT NULL,
	ip             TEXT NOT NULL,
	user_agent     TEXT NOT NULL,
	device_browser TEXT NOT NULL,
	device_os      TEXT NOT NULL,
	device_type    TEXT NOT NULL,
	aal            INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_account ON sessions (account_id, last_seen_us DESC);
CREATE INDEX sessions_expires ON sessions (expires_us);
CREATE INDEX sessions_last_seen ON sessions (last_seen_us);

CREATE TABLE pending_totp (
	account_id    TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	sealed_secret TEXT NOT NULL,
	created_us    INTEGER NOT NULL,
	expires_us    INTEGER NOT NULL
) STRICT;

CREATE TABLE totp_credentials (
	account_id    TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	sealed_secret TEXT NOT NULL,
	enabled_us    INTEGER NOT NULL,
	last_step     INTEGER NOT NULL
) STRICT;

-- The salt of the account's current set of backup codes. Kept apart from the
-- credential so that the set and the credential can be written in any order.
CREATE TABLE backup_code_sets (
	account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	salt       BLOB
) STRICT;

CREATE TABLE backup_codes (
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	n          INTEGER NOT NULL, -- position in the set
	hash       BLOB NOT NULL,
	used_us    INTEGER,          -- NULL while unused
	PRIMARY KEY (account_id, n)
) STRICT, WITHOUT ROWID;

CREATE TABLE mfa_challenges (
	token_hash BLOB PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL,
	ip         TEXT NOT NULL,
	user_agent TEXT NOT NULL
) STRICT;
CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_us);

CREATE TABLE throttles (
	key             TEXT PRIMARY KEY,
	failures        INTEGER NOT NULL,
	last_failure_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The audit log: one hash chain per chain_id (an account id or 'system').
-- Rows are only ever inserted (AppendEvent) and deleted from the start of a
-- chain (PruneEvents); the trigger below refuses every UPDATE.
CREATE TABLE audit_events (
	id         TEXT NOT NULL,
	chain_id   TEXT NOT NULL,
	seq        INTEGER NOT NULL,
	time_us    INTEGER NOT NULL,
	type       TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	ip         TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	session_id TEXT NOT NULL,
	actor      TEXT NOT NULL,
	details    TEXT NOT NULL, -- JSON object of strings
	prev_hash  BLOB, -- NULL when empty
	hash       BLOB
) STRICT;
CREATE UNIQUE INDEX audit_events_chain_seq ON audit_events (chain_id, seq);
-- Newest page of one chain, and of one chain filtered by type.
CREATE INDEX audit_events_chain_time ON audit_events (chain_id, time_us DESC, id DESC);
CREATE INDEX audit_events_chain_type_time ON audit_events (chain_id, type, time_us DESC, id DESC);
-- Newest page of every chain (operators), and of every chain by type.
CREATE INDEX audit_events_time ON audit_events (time_us DESC, id DESC);
CREATE INDEX audit_events_type_time ON audit_events (type, time_us DESC, id DESC);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE audit_heads (
	chain_id  TEXT PRIMARY KEY,
	seq       INTEGER NOT NULL,
	hash      BLOB,
	base_seq  INTEGER NOT NULL DEFAULT 0, -- last pruned event (0: none)
	base_hash BLOB
) STRICT;

-- AUTOINCREMENT: a seq is never reused, even after every row was deleted,
-- so a poller's cursor never skips a new row.
CREATE TABLE invalidations (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id TEXT NOT NULL,
	at_us      INTEGER NOT NULL
) STRICT;
CREATE INDEX invalidations_at ON invalidations (at_us);
