-- Email: verification, recovery by mail, notifications, lockdown.

ALTER TABLE accounts ADD COLUMN email_verified_us INTEGER;   -- NULL until a mailed link is followed
ALTER TABLE accounts ADD COLUMN locked_down_us INTEGER;      -- set by "This wasn't me": the password stops working
ALTER TABLE accounts ADD COLUMN new_device_mail_off INTEGER NOT NULL DEFAULT 0;

-- The outbox: mails written in the transaction of the change that causes
-- them, sent by a worker. The content is sealed with the keyring and
-- emptied once the mail is sent or given up.
CREATE TABLE outbox (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,
	sealed          TEXT NOT NULL,
	created_us      INTEGER NOT NULL,
	next_attempt_us INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	sent_us         INTEGER,
	failed_us       INTEGER,
	last_error      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_us) WHERE sent_us IS NULL AND failed_us IS NULL;

-- The tokens of links in mails, by hash; each works once.
CREATE TABLE email_tokens (
	token_hash BLOB PRIMARY KEY,
	purpose    TEXT NOT NULL,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	email      TEXT NOT NULL,
	created_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL
) STRICT;
CREATE INDEX email_tokens_account ON email_tokens (account_id, purpose);
CREATE INDEX email_tokens_expires ON email_tokens (expires_us);
