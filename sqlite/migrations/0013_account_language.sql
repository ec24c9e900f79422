-- The language an account's mails are written in ("" for the default).
ALTER TABLE accounts ADD COLUMN language TEXT NOT NULL DEFAULT '';
