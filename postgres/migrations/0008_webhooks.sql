-- The webhook outbox: one row per audit event picked for the webhook,
-- written in the event's transaction, sent by a worker on any node
-- (claimed with FOR UPDATE SKIP LOCKED). Deliveries of one chain go out in
-- seq order: only the first waiting one has a next_attempt_at, the others
-- wait (NULL) until it is sent or given up. The body is emptied once sent
-- or given up.
CREATE TABLE webhook_outbox (
	id              text COLLATE "C" PRIMARY KEY,  -- the event's id
	chain_id        text COLLATE "C" NOT NULL,
	seq             bigint NOT NULL,
	body            text NOT NULL,
	created_at      timestamptz NOT NULL,
	next_attempt_at timestamptz,                   -- NULL: waiting behind an earlier one of its chain
	attempts        integer NOT NULL DEFAULT 0,
	sent_at         timestamptz,
	failed_at       timestamptz,
	last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at IS NOT NULL;
CREATE INDEX webhook_outbox_chain ON webhook_outbox (chain_id, seq) WHERE sent_at IS NULL AND failed_at IS NULL;
-- Every event has a row: finished ones are deleted by when they finished.
CREATE INDEX webhook_outbox_finished ON webhook_outbox ((coalesce(sent_at, failed_at)));
