-- The keyed seal of the audit log (see audit.Seal): every event's link MAC,
-- each head's seal, and the pruning checkpoint's MAC and time (those of the
-- last pruned event). '' and NULL mark what was written before sealing
-- existed; the service seals such heads when it first starts.
ALTER TABLE audit_events ADD COLUMN mac text NOT NULL DEFAULT '';
ALTER TABLE audit_heads
	ADD COLUMN seal text NOT NULL DEFAULT '',
	ADD COLUMN base_mac text NOT NULL DEFAULT '',
	ADD COLUMN base_time timestamptz;

-- Audit events are append-only, as on SQLite: no UPDATE or TRUNCATE ever,
-- and DELETE only from retention pruning, which sets keyward.audit_prune for
-- its own transaction (set_config(..., true)). A role that may drop or
-- disable triggers can still tamper; audit verify is what catches that.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' AND current_setting('keyward.audit_prune', true) = 'on' THEN
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
