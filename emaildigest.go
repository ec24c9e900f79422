package keyward

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/keyward/keyward/audit"
)

// emailDigestPurpose names the keyring subkey of email digests.
const emailDigestPurpose = "unknown-email-digest"

// emailDigestBytes is what is kept of the HMAC: 64 bits tell apart the
// emails of one log, and are far from enough to store a password typed
// into the email field in any recoverable form without the key.
const emailDigestBytes = 8

// emailDigest is how the system log records an email that has no account:
// "<key id>:<hex of a truncated HMAC-SHA256 of EmailKey(email)>" under a
// keyring subkey, so attempts at one email correlate (also across case)
// while the log alone tells nothing of what was typed. The key id keeps a
// digest findable after `keys rotate`, until that key is retired.
func (s *Service) emailDigest(email string) (string, error) {
	id := s.keys.CurrentID()
	return s.emailDigestWith(id, email)
}

func (s *Service) emailDigestWith(id, email string) (string, error) {
	key, err := s.keys.DeriveWith(id, emailDigestPurpose)
	if err != nil {
		return "", Internal(fmt.Errorf("email digest: %w", err))
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(EmailKey(email)))
	return id + ":" + hex.EncodeToString(m.Sum(nil)[:emailDigestBytes]), nil
}

// UnknownEmailEvents streams, newest first, the system log's events about
// an email that has no account (failed and throttled sign-ins), matching
// its digest under every key still held.
func (s *Service) UnknownEmailEvents(ctx context.Context, email string, q EventQuery, fn func(*Event) error) error {
	want := make(map[string]bool)
	for _, id := range s.keys.IDs() {
		d, err := s.emailDigestWith(id, email)
		if err != nil {
			return err
		}
		want[d] = true
	}
	return s.OperatorEvents(ctx, audit.SystemChain, q, func(e *Event) error {
		if !want[e.Details[audit.DetailEmailDigest]] {
			return nil
		}
		return fn(e)
	})
}
