-- The admin API: disabled accounts, admin tokens, and mails tied to the
-- account they are about (deleting an account deletes its mails).

ALTER TABLE accounts ADD COLUMN disabled_at timestamptz; -- NULL unless an admin disabled the account

-- Admin tokens, by the SHA-256 of the token: the token itself is shown
-- once and never stored.
CREATE TABLE admin_tokens (
	name         text COLLATE "C" PRIMARY KEY,
	token_hash   bytea NOT NULL,
	scopes       text NOT NULL, -- comma-separated
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,   -- NULL until first used
	CONSTRAINT admin_tokens_token_hash_unique UNIQUE (token_hash)
);

-- '' for mails written before this migration, which named no account.
ALTER TABLE outbox ADD COLUMN account_id text COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX outbox_account ON outbox (account_id) WHERE account_id <> '';

-- Audit events stay append-only; besides retention pruning, the deletion
-- of an account may delete its chain, in its own transaction, which sets
-- keyward.account_delete (set_config(..., true)) as pruning sets
-- keyward.audit_prune.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' AND (current_setting('keyward.audit_prune', true) = 'on'
		OR current_setting('keyward.account_delete', true) = 'on') THEN
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
