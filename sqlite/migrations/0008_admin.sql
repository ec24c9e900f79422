-- The admin API: disabled accounts, admin tokens, and mails tied to the
-- account they are about (deleting an account deletes its mails).

ALTER TABLE accounts ADD COLUMN disabled_us INTEGER; -- NULL unless an admin disabled the account

-- Admin tokens, by the SHA-256 of the token: the token itself is shown
-- once and never stored.
CREATE TABLE admin_tokens (
	name         TEXT PRIMARY KEY,
	token_hash   BLOB NOT NULL UNIQUE,
	scopes       TEXT NOT NULL, -- comma-separated
	created_us   INTEGER NOT NULL,
	last_used_us INTEGER        -- NULL until first used
) STRICT;

-- '' for mails written before this migration, which named no account.
ALTER TABLE outbox ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_account ON outbox (account_id) WHERE account_id <> '';
