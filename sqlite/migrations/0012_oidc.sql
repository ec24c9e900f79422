-- The OpenID Connect provider. Client secrets, codes and refresh tokens
-- are stored as their SHA-256, access tokens by the SHA-256 of their id;
-- signing keys are sealed with the keyring.

CREATE TABLE oidc_clients (
	id                        TEXT PRIMARY KEY,
	name                      TEXT NOT NULL,
	secret_hash               BLOB,            -- NULL for a public client
	redirect_uris             TEXT NOT NULL,   -- JSON array
	post_logout_redirect_uris TEXT NOT NULL,   -- JSON array
	first_party               INTEGER NOT NULL,
	created_us                INTEGER NOT NULL
) STRICT;

CREATE TABLE oidc_auth_requests (
	id             TEXT PRIMARY KEY,
	client_id      TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	params         TEXT NOT NULL,              -- JSON: keyward.OIDCRequestParams
	created_us     INTEGER NOT NULL,
	expires_us     INTEGER NOT NULL,
	account_id     TEXT REFERENCES accounts (id) ON DELETE CASCADE,
	session_id     TEXT,
	auth_time_us   INTEGER,
	amr            INTEGER NOT NULL DEFAULT 0,
	aal            INTEGER NOT NULL DEFAULT 0,
	code_hash      BLOB UNIQUE,
	code_issued_us INTEGER,
	code_used_us   INTEGER
) STRICT;
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_us);

CREATE TABLE oidc_consents (
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	scopes     TEXT NOT NULL,                  -- JSON array
	created_us INTEGER NOT NULL,
	PRIMARY KEY (account_id, client_id)
) STRICT;

-- A grant ends with the session that made it: ending a session, by any
-- route, deletes its grants and their tokens.
CREATE TABLE oidc_grants (
	id           TEXT PRIMARY KEY,
	account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id    TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	scopes       TEXT NOT NULL,                -- JSON array
	auth_time_us INTEGER NOT NULL,
	amr          INTEGER NOT NULL,
	aal          INTEGER NOT NULL,
	created_us   INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_grants_account ON oidc_grants (account_id, created_us);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_client ON oidc_grants (client_id);

CREATE TABLE oidc_tokens (
	hash       BLOB PRIMARY KEY,
	grant_id   TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
	refresh    INTEGER NOT NULL,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL,
	used_us    INTEGER
) STRICT;
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_us);

CREATE TABLE oidc_signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	sealed     TEXT NOT NULL,
	public_key BLOB NOT NULL,
	created_us INTEGER NOT NULL,
	retired_us INTEGER
) STRICT;
