package keyward

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/keyring"
)

// KeyRotation is what RotateKeys did, for the operator to read.
type KeyRotation struct {
	Current  string // the key id seeds are now sealed under
	Resealed int    // seeds re-encrypted under Current
	// Changed counts seeds that changed between RotateKeys reading them and
	// writing them back (2FA turned off, set up again, or confirmed): they
	// were left as they are, never overwritten with the older seed.
	Changed int
	// Left counts seeds still sealed under an older key when RotateKeys
	// returned: written meanwhile by a node that did not have Current yet.
	Left int
}

// rotationPasses bounds RotateKeys: each pass re-reads every seed, so a
// seed that changed during one pass is picked up by the next.
const rotationPasses = 3

// RotateKeys re-encrypts every TOTP seed (enabled and pending) that is not
// sealed under the keyring's current key. Running servers keep working
// throughout: the old key stays in the keyring until Retire, and a node that
// meets a new key id reloads the key file.
//
// Each seed is written back only if it is still the value read (the
// store's compare-and-swap), so turning 2FA off and on again, or a new
// setup, while this runs is never undone by an older seed coming back.
//
// Every seed is opened before anything is written: with keys that do not
// open them all (a wrong KEYWARD_SECRET_KEY), nothing is changed and the
// error says how many do not open and which key is missing or wrong for the
// first.
func (s *Service) RotateKeys(ctx context.Context) (KeyRotation, error) {
	r := KeyRotation{Current: s.keys.CurrentID()}
	for pass := range rotationPasses {
		// The first pass opens every seed, those already under the current
		// key too: a wrong key that happens to carry the current id must
		// not pass for "everything is re-encrypted". Nothing is written
		// until every seed read opens.
		var check []SealedSecret
		_, err := s.store.ResealSecrets(ctx, func(v SealedSecret) (string, error) {
			if pass == 0 || s.keys.KeyID(v.Sealed) != r.Current {
				check = append(check, v)
			}
			return "", nil
		})
		if err != nil {
			return r, err
		}
		if err := s.openAll(check); err != nil {
			return r, err
		}
		todo := 0
		done, err := s.store.ResealSecrets(ctx, func(v SealedSecret) (string, error) {
			if s.keys.KeyID(v.Sealed) == r.Current {
				return "", nil
			}
			todo++
			resealed, err := s.reseal(v.Sealed, v.AccountID)
			if errors.Is(err, keyring.ErrUnknownKey) || errors.Is(err, keyring.ErrDecrypt) {
				// Written since it was checked, under a key this keyring
				// does not open: left for the next pass to report.
				return "", nil
			}
			return resealed, err
		})
		r.Resealed += done.Swapped
		r.Changed += done.Changed
		if err != nil || todo == 0 {
			return r, err
		}
	}
	n, err := s.SeedsUnderOlderKeys(ctx)
	r.Left = n
	return r, err
}

// SeedsUnderOlderKeys counts the TOTP seeds (enabled and pending) not
// sealed under the keyring's current key: what RotateKeys would re-encrypt.
func (s *Service) SeedsUnderOlderKeys(ctx context.Context) (int, error) {
	current, n := s.keys.CurrentID(), 0
	_, err := s.store.ResealSecrets(ctx, func(v SealedSecret) (string, error) {
		if s.keys.KeyID(v.Sealed) != current {
			n++
		}
		return "", nil
	})
	return n, err
}

// openAll checks that every value opens, and otherwise says, for the
// operator, how many do not and why the first does not.
func (s *Service) openAll(vs []SealedSecret) error {
	bad, first := 0, error(nil)
	for _, v := range vs {
		if _, err := s.keys.Open(v.Sealed, []byte(v.AccountID)); err != nil {
			bad++
			if first == nil {
				first = s.openFailure(v, err)
			}
		}
	}
	if bad == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d seeds do not open with these keys; the first: %w", bad, len(vs), first)
}

func (s *Service) openFailure(v SealedSecret, err error) error {
	what := "the TOTP seed"
	if v.Pending {
		what = "the pending 2FA setup"
	}
	id := s.keys.KeyID(v.Sealed)
	switch {
	case errors.Is(err, keyring.ErrUnknownKey):
		return fmt.Errorf("%s of account %s is sealed with key %s, which these keys (%s) do not hold: %w", what, v.AccountID, id, s.keys, err)
	case errors.Is(err, keyring.ErrDecrypt) && id != "":
		return fmt.Errorf("%s of account %s does not open with key %s: the key given under that id is not the one it was sealed with: %w", what, v.AccountID, id, err)
	default:
		return fmt.Errorf("%s of account %s: %w", what, v.AccountID, err)
	}
}

func (s *Service) reseal(sealed, accountID string) (string, error) {
	plain, err := s.keys.Open(sealed, []byte(accountID))
	if err != nil {
		return "", err
	}
	return s.keys.Seal(plain, []byte(accountID))
}

// CheckKeys opens one stored seed under each key id the seeds are sealed
// with (a sample, not every seed) and remembers the answer for KeysReady:
// a node given other keys than the ones the seeds were sealed with must
// not take traffic, where every two-factor sign-in would fail. Call it at
// start and when the keys change.
func (s *Service) CheckKeys(ctx context.Context) error {
	sample := map[string]SealedSecret{}
	_, err := s.store.ResealSecrets(ctx, func(v SealedSecret) (string, error) {
		id := s.keys.KeyID(v.Sealed)
		if _, seen := sample[id]; !seen {
			sample[id] = v
		}
		return "", nil
	})
	if err != nil {
		// The store, not the keys: the next check tries again.
		return fmt.Errorf("reading seeds to check the keys: %w", err)
	}
	var bad error
	for _, v := range sample {
		if _, err := s.keys.Open(v.Sealed, []byte(v.AccountID)); err != nil {
			bad = s.openFailure(v, err)
			break
		}
	}
	s.keysChecked.Store(&keysCheck{err: bad})
	return bad
}

// keysCheck is the last answer of CheckKeys.
type keysCheck struct{ err error }

// KeysReady returns the last CheckKeys failure: nil when the keys opened
// every seed sampled, or when no check has run.
func (s *Service) KeysReady() error {
	if c := s.keysChecked.Load(); c != nil {
		return c.err
	}
	return nil
}
