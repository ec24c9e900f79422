-- Passkeys (WebAuthn). Nothing here is secret: a credential's public key
-- only checks signatures. Challenge ids are stored as their SHA-256.

-- The user handle each account's passkeys carry: random, never the email
-- or the account id, so that an authenticator learns nothing from it.
CREATE TABLE passkey_users (
	account_id text COLLATE "C" PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	handle     bytea NOT NULL,
	CONSTRAINT passkey_users_handle_unique UNIQUE (handle)
);

CREATE TABLE passkeys (
	id              text COLLATE "C" PRIMARY KEY,
	account_id      text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	credential_id   bytea NOT NULL,
	public_key      bytea NOT NULL,
	sign_count      bigint NOT NULL,
	backup_eligible boolean NOT NULL,
	backup_state    boolean NOT NULL,
	user_verified   boolean NOT NULL,
	aaguid          bytea,
	transports      text NOT NULL,    -- comma-separated
	name            text NOT NULL,
	created_at      timestamptz NOT NULL,
	last_used_at    timestamptz,      -- NULL until first used
	CONSTRAINT passkeys_credential_id_unique UNIQUE (credential_id)
);
CREATE INDEX passkeys_account ON passkeys (account_id, created_at);

-- Ceremonies under way: single use, short-lived, bound to their purpose,
-- their account (none before a sign-in without a password) and their
-- session or second step.
CREATE TABLE passkey_challenges (
	id_hash    bytea PRIMARY KEY,
	purpose    text NOT NULL,
	account_id text COLLATE "C" REFERENCES accounts (id) ON DELETE CASCADE, -- NULL: a sign-in without a password
	session_id text COLLATE "C" NOT NULL,
	mfa_hash   bytea,
	state      bytea NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires_at);
