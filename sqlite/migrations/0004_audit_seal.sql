-- The keyed seal of the audit log (see audit.Seal): every event's link MAC,
-- each head's seal, and the pruning checkpoint's MAC and time (those of the
-- last pruned event). '' and 0 mark what was written before sealing existed;
-- the service seals such heads when it first starts.
ALTER TABLE audit_events ADD COLUMN mac TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN seal TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN base_mac TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_heads ADD COLUMN base_time_us INTEGER NOT NULL DEFAULT 0;
