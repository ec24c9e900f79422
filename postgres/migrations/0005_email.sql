-- Email: verification, recovery by mail, notifications, lockdown.

ALTER TABLE accounts ADD COLUMN email_verified_at timestamptz;  -- NULL until a mailed link is followed
ALTER TABLE accounts ADD COLUMN locked_down_at timestamptz;     -- set by "This wasn't me": the password stops working
ALTER TABLE accounts ADD COLUMN new_device_mail_off boolean NOT NULL DEFAULT false;

-- The outbox: mails written in the transaction of the change that causes
-- them, sent by a worker on any node (claimed with FOR UPDATE SKIP LOCKED).
-- The content is sealed with the keyring and emptied once the mail is sent
-- or given up.
CREATE TABLE outbox (
	id              text COLLATE "C" PRIMARY KEY,
	kind            text NOT NULL,
	sealed          text NOT NULL,
	created_at      timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	sent_at         timestamptz,
	failed_at       timestamptz,
	last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- The tokens of links in mails, by hash; each works once.
CREATE TABLE email_tokens (
	token_hash bytea PRIMARY KEY,
	purpose    text NOT NULL,
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	email      text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX email_tokens_account ON email_tokens (account_id, purpose);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);
