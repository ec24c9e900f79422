-- A pending two-factor setup belongs to the session that started it: only
-- that session sees the seed and may confirm it. Setups made before this
-- migration belong to no session, so nobody can confirm them; they expire
-- within the setup's lifetime (15 minutes by default) and are swept.
ALTER TABLE pending_totp ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
