-- How each session was signed in (RFC 8176 values, space-separated, such
-- as 'pwd otp mfa'), and the end of its sudo window: the time until which
-- sensitive actions need no new proof (NULL: never opened). Neither is
-- indexed, so a grant stays a HOT update like a touch.
-- Sessions from before are named from their level; their window is closed.
ALTER TABLE sessions ADD COLUMN amr text NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN sudo_until timestamptz;
UPDATE sessions SET amr = 'pwd otp mfa' WHERE aal >= 2;
