-- How each session was signed in (RFC 8176 values, space-separated, such
-- as 'pwd otp mfa'), and the end of its sudo window: the time until which
-- sensitive actions need no new proof, in microseconds (0: never opened).
-- Sessions from before are named from their level; their window is closed.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN sudo_until_us INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET amr = 'pwd otp mfa' WHERE aal >= 2;
