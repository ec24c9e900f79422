// Package password hashes and verifies passwords (argon2id in PHC strings,
// with bcrypt accepted for imported accounts) and checks new passwords
// against the policy: length, breached and common lists, the email, the
// product's own words and zxcvbn strength. It never truncates a password
// and never imposes composition rules.
package password

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"
)

// ErrBusy reports that every hashing slot stayed taken for the whole wait.
// The caller answers 503 with Retry-After.
var ErrBusy = errors.New("password: too many hashes in flight")

// ErrTooLong reports a password longer than the Hasher's MaxBytes, which no
// policy accepts: Hash refuses it (Verify simply finds it wrong).
var ErrTooLong = errors.New("password: too long")

// ErrMalformedHash reports a stored hash that cannot be parsed or whose
// parameters are out of bounds.
var ErrMalformedHash = errors.New("password: malformed hash")

// Bounds on the cost a stored hash may ask for: hashes can be imported from
// other systems, and one with absurd parameters must not exhaust the memory
// or hold a hashing slot for minutes.
const (
	maxMemoryKiB     = 1 << 20 // 1 GiB
	maxMemoryPasses  = 1 << 22 // memory × time, about 4 GiB·pass
	maxBcryptCost    = 16
	minSaltLen       = 8
	minKeyLen        = 16
	maxSaltOrKeyLen  = 1024
	bcryptMaxPwBytes = 72
)

// Params are argon2id parameters. Memory in KiB.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams returns the OWASP recommendation: m=19456 KiB, t=2, p=1.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p can be used to hash, so that configuration
// from flags or the environment can be refused before NewHasher.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Threads < 1:
		return fmt.Errorf("password: argon2 time and threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB ||
		uint64(p.Memory)*uint64(p.Time) > maxMemoryPasses:
		return fmt.Errorf("password: argon2 memory %d KiB out of range", p.Memory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltOrKeyLen:
		return fmt.Errorf("password: salt length %d out of range", p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxSaltOrKeyLen:
		return fmt.Errorf("password: key length %d out of range", p.KeyLen)
	}
	return nil
}

// Normalize returns the NFKC form of pw, so that the same password typed
// on different keyboards or input methods hashes the same (NIST 800-63B).
// Its cost grows with pw, and NFKC can make up to 18 code points of one
// (U+FDFA): callers bound pw by bytes first (Policy.MaxBytes, Hasher).
func Normalize(pw string) string {
	return norm.NFKC.String(pw)
}

// Hasher hashes and verifies with bounded concurrency: at most maxConcurrent
// argon2 or bcrypt computations at once, so a flood of sign-ins cannot
// exhaust memory (each default-params hash holds 19 MiB). It is safe for
// concurrent use.
type Hasher struct {
	p        Params
	sem      chan struct{}
	maxWait  time.Duration
	dummy    string // a hash no password matches, for DummyVerify
	maxBytes int    // longer passwords are refused before any work
	work     *workCounts
}

// workCounts are shared by a Hasher and its WithMaxBytes copies, like the
// slots.
type workCounts struct {
	argon2s, argon2Cost, bcrypts atomic.Int64 // see Work
}

// Work is the slow hashing a Hasher has done, so that tests can compare
// code paths by the work they do instead of by time (which a loaded
// machine blurs): sign-in must cost the same for an unknown email and a
// wrong password.
type Work struct {
	Argon2     int64 // argon2id computations
	Argon2Cost int64 // their memory (KiB) × passes × lanes, summed
	Bcrypt     int64 // bcrypt comparisons
}

// Work returns the hashing done so far.
func (h *Hasher) Work() Work {
	return Work{Argon2: h.work.argon2s.Load(), Argon2Cost: h.work.argon2Cost.Load(), Bcrypt: h.work.bcrypts.Load()}
}

func (h *Hasher) countArgon2(p Params) {
	h.work.argon2s.Add(1)
	h.work.argon2Cost.Add(int64(p.Memory) * int64(p.Time) * int64(p.Threads))
}

// NewHasher returns a Hasher with parameters p. Zero fields of p take the
// DefaultParams value; NewHasher panics if p is then invalid (see
// Params.Validate). A maxConcurrent below 1 means runtime.GOMAXPROCS(0).
// A call that finds every slot taken waits up to maxWait, then fails with
// ErrBusy. Passwords over the default policy's MaxBytes are refused before
// any work; WithMaxBytes matches another policy.
func NewHasher(p Params, maxConcurrent int, maxWait time.Duration) *Hasher {
	d := DefaultParams()
	p.Memory, p.Time, p.Threads = cmp.Or(p.Memory, d.Memory), cmp.Or(p.Time, d.Time), cmp.Or(p.Threads, d.Threads)
	p.SaltLen, p.KeyLen = cmp.Or(p.SaltLen, d.SaltLen), cmp.Or(p.KeyLen, d.KeyLen)
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if maxConcurrent < 1 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Hasher{
		p:        p,
		sem:      make(chan struct{}, maxConcurrent),
		maxWait:  maxWait,
		dummy:    encodePHC(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen)),
		maxBytes: DefaultPolicy().MaxBytes(),
		work:     &workCounts{},
	}
}

// WithMaxBytes returns a Hasher that shares h's hashing slots and refuses
// passwords longer than n bytes (a Policy's MaxBytes) before normalising or
// taking a slot: no policy accepts them, so they cannot match a hash made
// here, and each would otherwise cost a normalisation of up to the request
// size and hold a slot while a long input is hashed.
func (h *Hasher) WithMaxBytes(n int) *Hasher {
	c := *h
	c.maxBytes = n
	return &c
}

// InFlight is how many hashing slots are taken now: hashes and
// verifications running (and Bounded work), for a metrics scrape.
func (h *Hasher) InFlight() int { return len(h.sem) }

// MaxBytes is the longest password, in bytes, that h hashes or verifies.
func (h *Hasher) MaxBytes() int { return h.maxBytes }

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.p }

// acquire takes a hashing slot, waiting up to maxWait or until ctx is done.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release = func() { <-h.sem }
	select {
	case h.sem <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		// Both: the server was busy, and the caller knows why it gave up.
		return nil, fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
	}
}

// Hash returns the argon2id PHC string of the NFKC form of pw, e.g.
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
// A password longer than MaxBytes is ErrTooLong. Normalisation happens
// before a slot is taken: slots are for the memory-hard part only.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > h.maxBytes {
		return "", ErrTooLong
	}
	nfkc := []byte(Normalize(pw))
	salt := make([]byte, h.p.SaltLen)
	rand.Read(salt) // never fails since Go 1.24
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h.countArgon2(h.p)
	key := argon2.IDKey(nfkc, salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	return encodePHC(h.p, salt, key), nil
}

// Verify reports whether pw matches encoded, an argon2id PHC string or a
// bcrypt hash ($2a$, $2b$, $2y$) imported from another system.
// needsRehash is true when ok and the hash should be replaced by h.Hash(pw):
// it is bcrypt, its argon2id parameters differ from h's, or it matched only
// the password as typed rather than its NFKC form (a hash imported from a
// system that did not normalise). A malformed hash is ErrMalformedHash.
// bcrypt only reads 72 bytes, so a longer password never matches a bcrypt
// hash: accepting it would mean accepting any password with that prefix.
// A password longer than MaxBytes is simply wrong: no normalisation, no
// slot, no hash (the caller records the failure as for any other).
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (ok, needsRehash bool, err error) {
	if len(pw) > h.maxBytes {
		return false, false, nil
	}
	var check func(pw string) (bool, error)
	rehash := true
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := parsePHC(encoded)
		if err != nil {
			return false, false, err
		}
		rehash = p != h.p
		check = func(pw string) (bool, error) {
			h.countArgon2(p)
			got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			return subtle.ConstantTimeCompare(got, key) == 1, nil
		}
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil || cost > maxBcryptCost {
			return false, false, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
		}
		check = func(pw string) (bool, error) {
			if len(pw) > bcryptMaxPwBytes {
				return false, nil
			}
			h.work.bcrypts.Add(1)
			err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("%w: %w", ErrMalformedHash, err)
			}
			return true, nil
		}
	default:
		return false, false, fmt.Errorf("%w: unsupported format", ErrMalformedHash)
	}

	nfkc := Normalize(pw) // outside the slot, like Hash
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	if ok, err := check(nfkc); ok || err != nil {
		return ok, ok && rehash, err
	}
	if nfkc == pw {
		return false, false, nil
	}
	ok, err = check(pw)
	return ok, ok, err
}

// DummyVerify spends the time of a Verify against a hash with h's
// parameters and returns only ErrBusy or a ctx error. Sign-in calls it for
// an unknown email so that timing does not reveal whether an account exists;
// like Verify, it does no work for a password longer than MaxBytes, which
// takes the same short path for a known email.
func (h *Hasher) DummyVerify(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, h.dummy, pw)
	return err
}

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$key strictly and checks
// the parameters against the same bounds as Params.Validate.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	bad := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: argon2id %s", ErrMalformedHash, what)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("layout")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("parameters")
	}
	m, err1 := parseParam(ps[0], "m=", 32)
	t, err2 := parseParam(ps[1], "t=", 32)
	th, err3 := parseParam(ps[2], "p=", 8)
	if err1 != nil || err2 != nil || err3 != nil {
		return bad("parameters")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil {
		return bad("salt")
	}
	if key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil {
		return bad("key")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if p.Validate() != nil {
		return bad("parameters out of range")
	}
	return p, salt, key, nil
}

// parseParam parses "name=decimal" with no sign, spaces or leading zeros.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || (len(v) > 1 && v[0] == '0') {
		return 0, ErrMalformedHash
	}
	return strconv.ParseUint(v, 10, bits)
}

// Bounded runs fn, another memory-hard computation (such as hashing a
// backup code), within the same concurrency bound as password hashing, so
// that no kind of slow hash can be flooded past it. It returns ErrBusy
// like Hash when no slot frees up in time.
func (h *Hasher) Bounded(ctx context.Context, fn func()) error {
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	fn()
	return nil
}
