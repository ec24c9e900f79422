package keyward

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/passkey"
	"github.com/keyward/keyward/password"
)

// Config holds the rules an operator can tune. Zero fields take the defaults
// of DefaultConfig.
type Config struct {
	ProductName        string        // the product keyward guards; also a word no password may be built from
	Issuer             string        // shown in authenticator apps (ProductName when empty); also a word no password may be built from
	SignupEnabled      bool          //
	SessionIdleTimeout time.Duration // a session unused this long ends
	SessionLifetime    time.Duration // a session ends this long after sign-in, used or not
	MFATokenTTL        time.Duration // life of the token between the password and the second factor
	// SudoWindow is how long a session may do sensitive actions (change a
	// factor, move the email address) after the person last proved it is
	// them: by signing in, or again on the sudo page or API.
	SudoWindow       time.Duration
	PendingSetupTTL  time.Duration // life of an unconfirmed TOTP setup
	AuditRetention   time.Duration // 0 keeps every event
	SignInThrottle   ThrottleRule  // per email and client address, for passwords
	AccountThrottle  ThrottleRule  // per email from every address: looser, so a slow attacker elsewhere never keeps the owner out for long
	AddressThrottle  ThrottleRule  // per client address, for passwords
	SignupThrottle   ThrottleRule  // per client address, every sign-up attempt
	SecondFactorRule ThrottleRule  // per account, for TOTP and backup codes
	DeviceThrottle   ThrottleRule  // per device token, for passwords from a device that signed in before
	// ReauthThrottle counts wrong passwords given again for a sensitive
	// action, per account. A stolen session could otherwise guess through
	// it beside the sign-in's per-email budget: it is kept small enough that
	// the two together stay within ASVS's 100 an hour.
	ReauthThrottle ThrottleRule
	// DeviceTokenLifetime is how long a device token marks a browser or
	// client as one that signed in to the account before.
	DeviceTokenLifetime time.Duration
	// PasswordChecksPerAddress bounds the sign-ins and sign-ups one client
	// address has waiting for or in a password hash on this node; more get
	// 429 at once.
	PasswordChecksPerAddress int
	// TouchInterval bounds how often the session check writes last-seen.
	TouchInterval time.Duration
	// StrengthChecksPerMinute bounds the strength meter's advice per
	// signed-in account, or per client address for anyone else, on this node.
	StrengthChecksPerMinute int
	// ForgotEmailThrottle and ForgotAddressThrottle count every "forgot
	// password" request, per email (how many mails one person can be
	// sent) and per client address.
	ForgotEmailThrottle   ThrottleRule
	ForgotAddressThrottle ThrottleRule
	// TokenThrottle counts wrong link tokens (reset, verify, lockdown) per
	// client address.
	TokenThrottle ThrottleRule
	// AdminTokenThrottle counts refused admin tokens per client address.
	AdminTokenThrottle ThrottleRule
	// ForgotPasswordTime is the least time a "forgot password" request
	// takes, so that a known and an unknown email answer alike.
	ForgotPasswordTime time.Duration
	// ResetTokenTTL, VerifyTokenTTL and LockdownTokenTTL are the lives of
	// the links mailed for a reset, an address to confirm, and "This
	// wasn't me".
	ResetTokenTTL    time.Duration
	VerifyTokenTTL   time.Duration
	LockdownTokenTTL time.Duration
	// RequireVerifiedEmail refuses sign-in (after a correct password)
	// until the account's address is verified.
	RequireVerifiedEmail bool
	// PasskeyOrigin is the origin (scheme://host[:port]) people reach
	// keyward at: passkeys are made for its host, and only responses from
	// it pass. Empty turns passkeys off; so does an address for a host
	// (WebAuthn takes domain names only), with a line in the log.
	PasskeyOrigin string
	// PasskeyChallengeTTL is how long a passkey ceremony may take.
	PasskeyChallengeTTL time.Duration
	// PasskeyOptionsThrottle counts, per client address, every passkey
	// sign-in begun: each writes a challenge to the store, and the sign-in
	// page begins one whenever it is shown.
	PasskeyOptionsThrottle ThrottleRule
	// PasskeyThrottle counts, per client address, passkey sign-ins
	// without a password that fail.
	PasskeyThrottle ThrottleRule
	// WebhookEvents picks the audit events delivered to the webhook
	// receiver: each one it picks gets a row in the webhook outbox, in the
	// event's own transaction. nil (no receiver) writes none.
	WebhookEvents *audit.Selector
}

// DefaultConfig is what `keyward serve` runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		ProductName:        "keyward",
		SignupEnabled:      true,
		SessionIdleTimeout: 30 * time.Minute,
		SessionLifetime:    12 * time.Hour,
		MFATokenTTL:        5 * time.Minute,
		// GitHub's sudo mode lasts a few hours; factors change rarely
		// enough that asking again after 10 minutes costs little, and a
		// session left open is worth less to whoever finds it.
		SudoWindow:      10 * time.Minute,
		PendingSetupTTL: 15 * time.Minute,
		AuditRetention:  400 * 24 * time.Hour,
		SignInThrottle:  ThrottleRule{Free: 5, Base: time.Second, Max: time.Minute, Forget: time.Hour},
		// At most 85 guesses an hour on one account, however spread
		// (ASVS 4 V2.2.1 asks for no more than 100).
		AccountThrottle:  ThrottleRule{Free: 20, Base: time.Second, Max: time.Minute, Forget: time.Hour},
		AddressThrottle:  ThrottleRule{Free: 50, Base: time.Second, Max: time.Minute, Forget: time.Hour},
		SignupThrottle:   ThrottleRule{Free: 20, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour},
		SecondFactorRule: ThrottleRule{Free: 5, Base: time.Second, Max: 5 * time.Minute, Forget: time.Hour},
		DeviceThrottle:   ThrottleRule{Free: 5, Base: time.Second, Max: time.Minute, Forget: time.Hour},
		// 2 free, then 1 s doubling up to an hour: 14 in the first hour,
		// one an hour after that. Sign-in's per-email rule allows 85.
		ReauthThrottle: ThrottleRule{Free: 2, Base: time.Second, Max: time.Hour, Forget: time.Hour},
		// OWASP's example; the owner's known devices keep skipping the
		// per-email count as long as he signs in within it.
		DeviceTokenLifetime: 180 * 24 * time.Hour,
		// 8 checks at 25-40 ms each still let one office behind one NAT
		// sign in some 200 people a second, while a flood from one address
		// keeps at most 8 hashes ahead of everyone else.
		PasswordChecksPerAddress: 8,
		TouchInterval:            time.Minute,
		// The meter asks once a typing pause (300 ms): a person choosing
		// a password asks a few dozen times a minute at most.
		StrengthChecksPerMinute: 60,
		// 4 mails at once, then one more after 1, 2, 4… minutes, up to
		// one an hour: a person asking again finds a link soon, and
		// nobody can bury an inbox.
		ForgotEmailThrottle:   ThrottleRule{Free: 3, Base: time.Minute, Max: time.Hour, Forget: 6 * time.Hour},
		ForgotAddressThrottle: ThrottleRule{Free: 20, Base: time.Second, Max: 10 * time.Minute, Forget: time.Hour},
		TokenThrottle:         ThrottleRule{Free: 10, Base: time.Second, Max: 10 * time.Minute, Forget: time.Hour},
		AdminTokenThrottle:    ThrottleRule{Free: 10, Base: time.Second, Max: 10 * time.Minute, Forget: time.Hour},
		// Above the time either path takes, on a busy node too.
		ForgotPasswordTime: 250 * time.Millisecond,
		ResetTokenTTL:      30 * time.Minute,
		VerifyTokenTTL:     48 * time.Hour,
		LockdownTokenTTL:   7 * 24 * time.Hour,
		// WebAuthn's own default for a ceremony.
		PasskeyChallengeTTL: 5 * time.Minute,
		// The sign-in page begins one each time it is shown: room for an
		// office behind one address, and a bound on rows anyone can add.
		PasskeyOptionsThrottle: ThrottleRule{Free: 100, Base: time.Second, Max: time.Minute, Forget: 10 * time.Minute},
		PasskeyThrottle:        ThrottleRule{Free: 20, Base: time.Second, Max: time.Minute, Forget: time.Hour},
	}
}

// Deps are the parts a Service is built from. Clock and randomness are passed
// in so that timeouts, TOTP windows and throttling are testable without sleeping.
type Deps struct {
	Store  Store
	Hasher *password.Hasher
	Policy password.Policy
	Keys   *keyring.Keyring
	Now    func() time.Time
	Rand   io.Reader
	// ChallengeRand, when set, is the randomness of passkey challenges
	// instead of Rand (tests answer a challenge recorded earlier).
	ChallengeRand io.Reader
	Logger        *slog.Logger
	// Metrics receives the service's counts; nil keeps them in counters
	// of the service's own, which Metrics returns.
	Metrics *metrics.Metrics
}

// Service holds every rule of keyward. The web layer and the command line
// call it; stores only store.
type Service struct {
	cfg     Config
	store   Store
	hasher  *password.Hasher
	policy  password.Policy
	keys    *keyring.Keyring
	cursors *audit.CursorCodec
	// auditKeys seal the audit log (audit.Seal).
	auditKeys *auditKeys
	now       func() time.Time
	rand      io.Reader
	log       *slog.Logger
	cache     *sessionCache
	checks    *addressGate // password checks in flight per client address
	advice    *strengthGate
	ids       idSource
	// mailWake wakes this node's mail worker when a mail is enqueued.
	mailWake chan struct{}
	// webhookWake wakes this node's webhook worker when a delivery is
	// committed.
	webhookWake chan struct{}
	// base is the store as given, without webhookStore's wrapping.
	base    Store
	metrics *metrics.Metrics
	// keysChecked is CheckKeys' last answer, read by readiness checks.
	keysChecked atomic.Pointer[keysCheck]
	// passkeys is the WebAuthn relying party; nil while passkeys are off.
	passkeys *passkey.RelyingParty
	// passkeysOff says why they are, for the pages ("" when they are on).
	passkeysOff string
	// challengeRand is the randomness of passkey challenges.
	challengeRand io.Reader
}

// New returns a Service. The session cache starts disabled; RunCacheWatcher
// turns it on while invalidations can be followed.
func New(cfg Config, d Deps) (*Service, error) {
	if d.Store == nil || d.Hasher == nil || d.Keys == nil || d.Now == nil || d.Rand == nil {
		return nil, errors.New("keyward: Store, Hasher, Keys, Now and Rand are required")
	}
	def := DefaultConfig()
	if cfg.ProductName == "" {
		cfg.ProductName = def.ProductName
	}
	if cfg.Issuer == "" {
		// Authenticator apps list the product people know, not the guard.
		cfg.Issuer = cfg.ProductName
	}
	fillDuration(&cfg.SessionIdleTimeout, def.SessionIdleTimeout)
	fillDuration(&cfg.SessionLifetime, def.SessionLifetime)
	fillDuration(&cfg.MFATokenTTL, def.MFATokenTTL)
	fillDuration(&cfg.SudoWindow, def.SudoWindow)
	fillDuration(&cfg.PendingSetupTTL, def.PendingSetupTTL)
	fillDuration(&cfg.TouchInterval, def.TouchInterval)
	fillDuration(&cfg.DeviceTokenLifetime, def.DeviceTokenLifetime)
	if cfg.PasswordChecksPerAddress <= 0 {
		cfg.PasswordChecksPerAddress = def.PasswordChecksPerAddress
	}
	if cfg.StrengthChecksPerMinute <= 0 {
		cfg.StrengthChecksPerMinute = def.StrengthChecksPerMinute
	}
	if cfg.SignInThrottle == (ThrottleRule{}) {
		cfg.SignInThrottle = def.SignInThrottle
	}
	if cfg.AddressThrottle == (ThrottleRule{}) {
		cfg.AddressThrottle = def.AddressThrottle
	}
	if cfg.AccountThrottle == (ThrottleRule{}) {
		cfg.AccountThrottle = def.AccountThrottle
	}
	if cfg.SignupThrottle == (ThrottleRule{}) {
		cfg.SignupThrottle = def.SignupThrottle
	}
	if cfg.SecondFactorRule == (ThrottleRule{}) {
		cfg.SecondFactorRule = def.SecondFactorRule
	}
	if cfg.DeviceThrottle == (ThrottleRule{}) {
		cfg.DeviceThrottle = def.DeviceThrottle
	}
	if cfg.ReauthThrottle == (ThrottleRule{}) {
		cfg.ReauthThrottle = def.ReauthThrottle
	}
	for _, r := range []struct{ got, def *ThrottleRule }{
		{&cfg.ForgotEmailThrottle, &def.ForgotEmailThrottle},
		{&cfg.ForgotAddressThrottle, &def.ForgotAddressThrottle},
		{&cfg.TokenThrottle, &def.TokenThrottle},
		{&cfg.PasskeyOptionsThrottle, &def.PasskeyOptionsThrottle},
		{&cfg.PasskeyThrottle, &def.PasskeyThrottle},
		{&cfg.AdminTokenThrottle, &def.AdminTokenThrottle},
	} {
		if *r.got == (ThrottleRule{}) {
			*r.got = *r.def
		}
	}
	if cfg.ForgotPasswordTime == 0 {
		cfg.ForgotPasswordTime = def.ForgotPasswordTime
	}
	fillDuration(&cfg.ResetTokenTTL, def.ResetTokenTTL)
	fillDuration(&cfg.VerifyTokenTTL, def.VerifyTokenTTL)
	fillDuration(&cfg.LockdownTokenTTL, def.LockdownTokenTTL)
	fillDuration(&cfg.PasskeyChallengeTTL, def.PasskeyChallengeTTL)
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	policy := d.Policy
	policy.ContextWords = append(policy.ContextWords, cfg.ProductName)
	if cfg.Issuer != cfg.ProductName {
		policy.ContextWords = append(policy.ContextWords, cfg.Issuer)
	}
	// The policy's byte bound also bounds what the hasher looks at: a
	// sign-in with a longer password is wrong at once, unhashed.
	hasher := d.Hasher.WithMaxBytes(policy.MaxBytes())
	s := &Service{
		cfg:       cfg,
		store:     d.Store,
		hasher:    hasher,
		policy:    policy,
		keys:      d.Keys,
		cursors:   audit.NewCursorCodec(d.Keys.Derive("audit-cursor")),
		auditKeys: newAuditKeys(d.Keys),
		now:       d.Now,
		rand:      d.Rand,
		log:       log,
		mailWake:  make(chan struct{}, 1),
		metrics:   d.Metrics,
		base:      d.Store,
	}
	s.webhookWake = make(chan struct{}, 1)
	if cfg.WebhookEvents != nil {
		s.store = webhookStore{Store: d.Store, wake: s.wakeWebhookWorker}
	}
	if s.metrics == nil {
		s.metrics = metrics.New()
	}
	s.challengeRand = d.ChallengeRand
	if s.challengeRand == nil {
		s.challengeRand = d.Rand
	}
	s.passkeys, s.passkeysOff = relyingParty(cfg, log)
	s.cache = newSessionCache(defaultCacheSize)
	s.checks = newAddressGate(cfg.PasswordChecksPerAddress)
	s.advice = newStrengthGate(cfg.StrengthChecksPerMinute)
	return s, nil
}

func fillDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Config returns the configuration in force.
func (s *Service) Config() Config { return s.cfg }

// Store returns the store (for operator commands).
func (s *Service) Store() Store { return s.base }

// Client is who is on the other end of a request, as recorded in the audit
// log and shown on the sessions page.
type Client struct {
	IP        string
	UserAgent string
	// DeviceToken is the device token the client presented (sign-in
	// only; never recorded).
	DeviceToken string
	// Language is the language the client reads ("uk"): a new account's
	// mails are written in it.
	Language string
}

// clock returns now in UTC at the microsecond precision every store keeps.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Token prefixes make a leaked token recognisable (for secret scanners) and
// let a wrong kind of token be refused before any lookup.
const (
	sessionTokenPrefix = "kws_"
	mfaTokenPrefix     = "kwm_"
	tokenBytes         = 32 // 256 bits
)

var tokenEncoding = base64.RawURLEncoding

// newToken returns a fresh random token and the hash that is stored instead.
func (s *Service) newToken(prefix string) (token string, hash []byte, err error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", nil, Internal(fmt.Errorf("reading randomness: %w", err))
	}
	token = prefix + tokenEncoding.EncodeToString(b)
	h := hashToken(token)
	return token, h[:], nil
}

// tokenLen is the length of every well-formed token after its prefix.
var tokenLen = tokenEncoding.EncodedLen(tokenBytes)

// tokenHash is what is stored of a token, and the session cache's key.
type tokenHash = [sha256.Size]byte

// parseToken checks a token's shape and returns its hash, so that garbage
// never reaches the store. It runs on every session check, so it checks the
// alphabet in place instead of decoding (tokenEncoding has no padding and
// every well-formed token the same length).
func parseToken(prefix, token string) (tokenHash, bool) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok || len(rest) != tokenLen {
		return tokenHash{}, false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return tokenHash{}, false
		}
	}
	return hashToken(token), true
}

// hashToken is SHA-256: tokens carry 256 random bits, so a slow hash adds
// nothing and the per-request check stays cheap.
func hashToken(token string) tokenHash {
	var buf [64]byte // a token fits: hashed without a heap copy
	return sha256.Sum256(append(buf[:0], token...))
}

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// sessionIDPrefix starts every session id (openSession makes them), and
// accountIDPrefix every account id.
const (
	sessionIDPrefix = "sess_"
	accountIDPrefix = "acct_"
)

// idLen is the length of every id after its prefix: 128 bits in base32.
var idLen = idEncoding.EncodedLen(16)

// validID reports whether id has exactly the shape newID gives ids with
// prefix: the prefix, then idLen characters of idAlphabet, the last of which
// carries 3 bits (its 2 low bits zero). An id from a client is checked with
// it before any query: bytes no id holds (NUL, invalid UTF-8) never reach
// the store, where PostgreSQL refuses them as text, and an id of the wrong
// kind or length is simply not found.
func validID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != idLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		v := strings.IndexByte(idAlphabet, rest[i])
		if v < 0 || i == len(rest)-1 && v&3 != 0 {
			return false
		}
	}
	return true
}

// idSource makes sortable ids: 48 bits of milliseconds then 80 random bits.
// Within one millisecond it counts up from the last id instead of drawing
// again (as ULID's monotonic mode does), so ids this node makes sort in the
// order it made them: events written in one transaction keep their order.
type idSource struct {
	mu   sync.Mutex
	last [16]byte
}

func (s *Service) newID(prefix string) string {
	ms := uint64(s.now().UnixMilli())
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	if bytes.Equal(b[:6], s.ids.last[:6]) {
		b = s.ids.last
		for i := 15; i >= 6; i-- { // add one to the 80-bit tail
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	} else if _, err := io.ReadFull(s.rand, b[6:]); err != nil {
		// crypto/rand does not fail; an id collision would be worse than a crash.
		panic(fmt.Sprintf("keyward: reading randomness: %v", err))
	}
	s.ids.last = b
	return prefix + idEncoding.EncodeToString(b[:])
}

// Now is the service's clock (pages show times relative to it).
func (s *Service) Now() time.Time { return s.clock() }

// Metrics returns the counters the service adds to, for an exporter and
// for the web layer's own counts.
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }
