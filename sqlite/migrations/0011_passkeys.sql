-- Passkeys (WebAuthn). Nothing here is secret: a credential's public key
-- only checks signatures. Challenge ids are stored as their SHA-256.

-- The user handle each account's passkeys carry: random, never the email
-- or the account id, so that an authenticator learns nothing from it.
CREATE TABLE passkey_users (
	account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	handle     BLOB NOT NULL UNIQUE
) STRICT;

CREATE TABLE passkeys (
	id              TEXT PRIMARY KEY,
	account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	credential_id   BLOB NOT NULL UNIQUE,
	public_key      BLOB NOT NULL,
	sign_count      INTEGER NOT NULL,
	backup_eligible INTEGER NOT NULL,
	backup_state    INTEGER NOT NULL,
	user_verified   INTEGER NOT NULL,
	aaguid          BLOB,             -- NULL when empty
	transports      TEXT NOT NULL,    -- comma-separated
	name            TEXT NOT NULL,
	created_us      INTEGER NOT NULL,
	last_used_us    INTEGER           -- NULL until first used
) STRICT;
CREATE INDEX passkeys_account ON passkeys (account_id, created_us);

-- Ceremonies under way: single use, short-lived, bound to their purpose,
-- their account (none before a sign-in without a password) and their
-- session or second step.
CREATE TABLE passkey_challenges (
	id_hash    BLOB PRIMARY KEY,
	purpose    TEXT NOT NULL,
	account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE, -- NULL: a sign-in without a password
	session_id TEXT NOT NULL,
	mfa_hash   BLOB,
	state      BLOB NOT NULL,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL
) STRICT;
CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires_us);
