-- Consecutive wrong second-factor codes of an account, counted in the
-- credential: never forgotten by time (unlike the throttle's counts), reset
-- only by a second factor that succeeds. Past a cap TOTP codes are refused
-- until a backup code signs in (NIST SP 800-63B 5.2.2).
ALTER TABLE totp_credentials ADD COLUMN second_factor_failures INTEGER NOT NULL DEFAULT 0;
