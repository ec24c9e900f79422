package keyward

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"strings"
)

// AMR says how a session was signed in: a set of the authentication method
// references of RFC 8176. It is a bit set, not a list of strings, so that
// the cached session the per-request check copies stays small; Values
// gives the names clients see.
type AMR uint8

// The methods keyward records, in the order Values lists them.
const (
	AMRPassword    AMR = 1 << iota // "pwd": the account's password
	AMROTP                         // "otp": a one-time code, from an authenticator app or a backup code
	AMRHardwareKey                 // "hwk": a key bound to hardware (a security key, a device-bound passkey)
	AMRSoftwareKey                 // "swk": a key held in software (a synced passkey)
	AMRMultiFactor                 // "mfa": more than one factor
	amrEnd
)

// amrNames are the RFC 8176 values, bit by bit.
var amrNames = [...]string{"pwd", "otp", "hwk", "swk", "mfa"}

// amrAll has every known bit set; other bits are ignored.
const amrAll = amrEnd - 1

// amrTables holds each set's names, computed once, so that neither the
// session check nor an answer allocates to name the methods.
var amrTables = func() (t struct {
	values [amrAll + 1][]string
	text   [amrAll + 1]string
}) {
	for m := range amrAll + 1 {
		vs := []string{}
		for i, name := range amrNames {
			if m&(1<<i) != 0 {
				vs = append(vs, name)
			}
		}
		t.values[m], t.text[m] = vs, strings.Join(vs, " ")
	}
	return t
}()

// Values returns the set's RFC 8176 names ("pwd", "otp", "mfa"), never nil.
// The slice is shared: callers must not change it.
func (m AMR) Values() []string { return amrTables.values[m&amrAll] }

// String returns the names separated by spaces ("pwd otp mfa"): the form
// stores keep.
func (m AMR) String() string { return amrTables.text[m&amrAll] }

// Has reports whether every method of o is in m.
func (m AMR) Has(o AMR) bool { return m&o == o }

// ParseAMR reads the form String writes. A name keyward does not know is an
// error: a store must not turn a method it cannot name into none.
func ParseAMR(s string) (AMR, error) {
	var m AMR
	for rest := s; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, " ")
		if name == "" {
			continue
		}
		bit := AMR(0)
		for i, n := range amrNames {
			if n == name {
				bit = 1 << i
				break
			}
		}
		if bit == 0 {
			return 0, fmt.Errorf("unknown authentication method %q", name)
		}
		m |= bit
	}
	return m, nil
}

// MarshalJSON writes the set as the list of its names: ["pwd","otp","mfa"].
func (m AMR) MarshalJSON() ([]byte, error) { return json.Marshal(m.Values()) }

// UnmarshalJSON reads a list of names; an unknown name is an error.
func (m *AMR) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	var v AMR
	for _, name := range names {
		bit, err := ParseAMR(name)
		if err != nil || bits.OnesCount8(uint8(bit)) != 1 {
			return fmt.Errorf("unknown authentication method %q", name)
		}
		v |= bit
	}
	*m = v
	return nil
}
