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
		all, err := s.sealedValues(ctx)
		if err != nil {
			return r, err
		}
		// The first pass opens every seed, those already under the current
		// key too: a wrong key that happens to carry the current id must
		// not pass for "everything is re-encrypted".
		check := underOlderKeys(s.keys, all, r.Current)
		if pass == 0 {
			check = all
		}
		if err := s.openAll(check); err != nil {
			return r, err
		}
		todo := underOlderKeys(s.keys, all, r.Current)
		if len(todo) == 0 {
			return r, nil
		}
		for _, v := range todo {
			resealed, err := s.reseal(v.sealed, v.accountID)
			if err != nil {
				return r, err
			}
			swap := s.store.SwapTOTPSecret
			if v.pending {
				swap = s.store.SwapPendingSecret
			}
			ok, err := swap(ctx, v.accountID, v.sealed, resealed)
			if err != nil {
				return r, err
			}
			if ok {
				r.Resealed++
			} else {
				r.Changed++
			}
		}
	}
	all, err := s.sealedValues(ctx)
	r.Left = len(underOlderKeys(s.keys, all, r.Current))
	return r, err
}

// SeedsUnderOlderKeys counts the TOTP seeds (enabled and pending) not
// sealed under the keyring's current key: what RotateKeys would re-encrypt.
func (s *Service) SeedsUnderOlderKeys(ctx context.Context) (int, error) {
	all, err := s.sealedValues(ctx)
	return len(underOlderKeys(s.keys, all, s.keys.CurrentID())), err
}

// sealedValue is one stored seed as read.
type sealedValue struct {
	accountID, sealed string
	pending           bool
}

// sealedValues reads every stored seed, enabled and pending.
func (s *Service) sealedValues(ctx context.Context) ([]sealedValue, error) {
	creds, err := s.store.ListTOTPCredentials(ctx)
	if err != nil {
		return nil, err
	}
	pending, err := s.store.ListPendingSecrets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sealedValue, 0, len(creds)+len(pending))
	for _, c := range creds {
		out = append(out, sealedValue{accountID: c.AccountID, sealed: c.SealedSecret})
	}
	for _, p := range pending {
		out = append(out, sealedValue{accountID: p.AccountID, sealed: p.SealedSecret, pending: true})
	}
	return out, nil
}

func underOlderKeys(keys *keyring.Keyring, vs []sealedValue, current string) []sealedValue {
	var out []sealedValue
	for _, v := range vs {
		if keys.KeyID(v.sealed) != current {
			out = append(out, v)
		}
	}
	return out
}

// openAll checks that every value opens, and otherwise says, for the
// operator, how many do not and why the first does not.
func (s *Service) openAll(vs []sealedValue) error {
	bad, first := 0, error(nil)
	for _, v := range vs {
		if _, err := s.keys.Open(v.sealed, []byte(v.accountID)); err != nil {
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

func (s *Service) openFailure(v sealedValue, err error) error {
	what := "the TOTP seed"
	if v.pending {
		what = "the pending 2FA setup"
	}
	id := s.keys.KeyID(v.sealed)
	switch {
	case errors.Is(err, keyring.ErrUnknownKey):
		return fmt.Errorf("%s of account %s is sealed with key %s, which these keys (%s) do not hold: %w", what, v.accountID, id, s.keys, err)
	case errors.Is(err, keyring.ErrDecrypt) && id != "":
		return fmt.Errorf("%s of account %s does not open with key %s: the key given under that id is not the one it was sealed with: %w", what, v.accountID, id, err)
	default:
		return fmt.Errorf("%s of account %s: %w", what, v.accountID, err)
	}
}

func (s *Service) reseal(sealed, accountID string) (string, error) {
	plain, err := s.keys.Open(sealed, []byte(accountID))
	if err != nil {
		return "", err
	}
	return s.keys.Seal(plain, []byte(accountID))
}
