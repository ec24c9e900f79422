-- The OpenID Connect provider. Client secrets, codes and refresh tokens
-- are stored as their SHA-256, access tokens by the SHA-256 of their id;
-- signing keys are sealed with the keyring.

CREATE TABLE oidc_clients (
	id                        text COLLATE "C" PRIMARY KEY,
	name                      text NOT NULL,
	secret_hash               bytea,            -- NULL for a public client
	redirect_uris             text[] NOT NULL,
	post_logout_redirect_uris text[] NOT NULL,
	first_party               boolean NOT NULL,
	created_at                timestamptz NOT NULL
);

CREATE TABLE oidc_auth_requests (
	id             text COLLATE "C" PRIMARY KEY,
	client_id      text COLLATE "C" NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	params         text NOT NULL,               -- JSON: keyward.OIDCRequestParams (text: jsonb refuses \u0000)
	created_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	account_id     text COLLATE "C" REFERENCES accounts (id) ON DELETE CASCADE,
	session_id     text COLLATE "C",
	auth_time      timestamptz,
	amr            smallint NOT NULL DEFAULT 0,
	aal            smallint NOT NULL DEFAULT 0,
	code_hash      bytea,
	code_issued_at timestamptz,
	code_used_at   timestamptz,
	CONSTRAINT oidc_auth_requests_code_unique UNIQUE (code_hash)
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_at);

CREATE TABLE oidc_consents (
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	client_id  text COLLATE "C" NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	scopes     text[] NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (account_id, client_id)
);

-- A grant ends with the session that made it: ending a session, by any
-- route, deletes its grants and their tokens.
CREATE TABLE oidc_grants (
	id         text COLLATE "C" PRIMARY KEY,
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	session_id text COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id  text COLLATE "C" NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
	scopes     text[] NOT NULL,
	auth_time  timestamptz NOT NULL,
	amr        smallint NOT NULL,
	aal        smallint NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX oidc_grants_account ON oidc_grants (account_id, created_at);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_client ON oidc_grants (client_id);

CREATE TABLE oidc_tokens (
	hash       bytea PRIMARY KEY,
	grant_id   text COLLATE "C" NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
	refresh    boolean NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);

CREATE TABLE oidc_signing_keys (
	id         text COLLATE "C" PRIMARY KEY,
	algorithm  text NOT NULL,
	sealed     text NOT NULL,
	public_key bytea NOT NULL,
	created_at timestamptz NOT NULL,
	retired_at timestamptz
);
