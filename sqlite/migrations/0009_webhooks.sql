-- The webhook outbox: one row per audit event picked for the webhook,
-- written in the event's transaction, sent by a worker. Deliveries of one
-- chain go out in seq order: only the first waiting one has a
-- next_attempt_us, the others wait (NULL) until it is sent or given up.
-- The body is emptied once sent or given up.
CREATE TABLE webhook_outbox (
	id              TEXT PRIMARY KEY,          -- the event's id
	chain_id        TEXT NOT NULL,
	seq             INTEGER NOT NULL,
	body            TEXT NOT NULL,
	created_us      INTEGER NOT NULL,
	next_attempt_us INTEGER,                   -- NULL: waiting behind an earlier one of its chain
	attempts        INTEGER NOT NULL DEFAULT 0,
	sent_us         INTEGER,
	failed_us       INTEGER,
	last_error      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_us, id) WHERE sent_us IS NULL AND failed_us IS NULL AND next_attempt_us IS NOT NULL;
CREATE INDEX webhook_outbox_chain ON webhook_outbox (chain_id, seq) WHERE sent_us IS NULL AND failed_us IS NULL;
-- Every event has a row: finished ones are deleted by when they finished.
CREATE INDEX webhook_outbox_finished ON webhook_outbox (coalesce(sent_us, failed_us));
