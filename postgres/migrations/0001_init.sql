-- keyward schema, version 1.
--
-- Identifiers and keys use the "C" collation: byte order, the same on every
-- server whatever its locale, and the order the audit cursors rely on.
-- Times are timestamptz (microseconds). Secrets are never stored in the clear:
-- token and code hashes are bytea, TOTP seeds are sealed text.

CREATE TABLE accounts (
	id                    text COLLATE "C" PRIMARY KEY,
	email                 text NOT NULL,
	email_key             text COLLATE "C" NOT NULL,
	password_hash         text NOT NULL,
	created_at            timestamptz NOT NULL,
	two_factor_enabled_at timestamptz,
	CONSTRAINT accounts_email_key_unique UNIQUE (email_key)
);

-- Sessions are touched (last_seen_at) far more often than anything else is
-- written, so last_seen_at is in no index and the fill factor leaves room:
-- a touch is a HOT update. DeleteExpiredSessions scans the table instead.
CREATE TABLE sessions (
	id             text COLLATE "C" PRIMARY KEY,
	account_id     text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	token_hash     bytea NOT NULL,
	created_at     timestamptz NOT NULL,
	last_seen_at   timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	ip             text NOT NULL,
	user_agent     text NOT NULL,
	device_browser text NOT NULL,
	device_os      text NOT NULL,
	device_type    text NOT NULL,
	aal            smallint NOT NULL
) WITH (fillfactor = 80);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_account_id ON sessions (account_id);

CREATE TABLE pending_totp (
	account_id    text COLLATE "C" PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	sealed_secret text NOT NULL,
	created_at    timestamptz NOT NULL,
	expires_at    timestamptz NOT NULL
);

CREATE TABLE totp_credentials (
	account_id    text COLLATE "C" PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	sealed_secret text NOT NULL,
	enabled_at    timestamptz NOT NULL,
	last_step     bigint NOT NULL
);

-- The salt of an account's current set of backup codes: its own table, so
-- that the set can be written before or after the credential it belongs to.
CREATE TABLE backup_code_sets (
	account_id text COLLATE "C" PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	salt       bytea
);

CREATE TABLE backup_codes (
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	hash       bytea NOT NULL,
	used_at    timestamptz,
	PRIMARY KEY (account_id, hash)
);

CREATE TABLE mfa_challenges (
	token_hash bytea PRIMARY KEY,
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	ip         text NOT NULL,
	user_agent text NOT NULL
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_account_id ON mfa_challenges (account_id);

CREATE TABLE throttles (
	key          text COLLATE "C" PRIMARY KEY,
	failures     integer NOT NULL,
	last_failure timestamptz NOT NULL
);

-- Audit log: one hash chain per chain_id (an account id, or "system").
-- Rows are only ever inserted, and deleted by retention pruning (oldest
-- first); nothing updates them.
CREATE TABLE audit_events (
	chain_id   text COLLATE "C" NOT NULL,
	seq        bigint NOT NULL,
	id         text COLLATE "C" NOT NULL,
	time       timestamptz NOT NULL,
	type       text COLLATE "C" NOT NULL,
	outcome    text NOT NULL,
	reason     text NOT NULL,
	ip         text NOT NULL,
	user_agent text NOT NULL,
	session_id text NOT NULL,
	actor      text NOT NULL,
	details    jsonb NOT NULL,
	prev_hash  bytea,
	hash       bytea NOT NULL,
	PRIMARY KEY (chain_id, seq)
);
-- An account's log, newest first (pages and exports), with or without a
-- type filter; and every chain at once (the operator's list).
CREATE INDEX audit_events_chain_time ON audit_events (chain_id, time DESC, id DESC);
CREATE INDEX audit_events_chain_type_time ON audit_events (chain_id, type, time DESC, id DESC);
CREATE INDEX audit_events_time ON audit_events (time DESC, id DESC);

CREATE TABLE audit_heads (
	chain_id  text COLLATE "C" PRIMARY KEY,
	seq       bigint NOT NULL DEFAULT 0,
	hash      bytea,
	base_seq  bigint NOT NULL DEFAULT 0,
	base_hash bytea
);

-- Every change a node-local cache may hold appends a row here; nodes follow
-- it by seq (and are woken by NOTIFY keyward_invalidation).
CREATE TABLE invalidations (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id text COLLATE "C" NOT NULL,
	at         timestamptz NOT NULL
);
CREATE INDEX invalidations_at ON invalidations (at);
