package main

import (
	"encoding/base32"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// genVersion changes whenever the generator would make other events, so
// that a cached store made by an older one is rebuilt.
const genVersion = 1

// genConfig shapes the audit-at-scale store: Events events over Accounts
// ordinary accounts plus one big account holding BigShare of them, spread
// evenly over Span ending at End.
type genConfig struct {
	Events   int
	Accounts int
	BigShare float64
	Seed     uint64
	End      time.Time
	Span     time.Duration
}

func defaultGenConfig(events int) genConfig {
	return genConfig{
		Events:   events,
		Accounts: 10_000,
		BigShare: 0.20,
		Seed:     20260701,
		End:      time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
		Span:     365 * 24 * time.Hour,
	}
}

// idEncoding is the service's id alphabet (Crockford-like base32, no
// padding): ids look like the ones keyward makes.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// generator makes events in time order, each linked into its account's
// chain exactly as the service links it (audit.Link on the chain's head).
type generator struct {
	cfg      genConfig
	rng      *rand.Rand
	accounts []string // [0] is the big account
	created  []time.Time
	heads    []audit.Head
	sessions []string // each account's current session id
	n        int
	start    time.Time
	step     time.Duration
}

func newGenerator(cfg genConfig) *generator {
	g := &generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Events))),
		start: cfg.End.Add(-cfg.Span),
		step:  cfg.Span / time.Duration(cfg.Events),
	}
	n := cfg.Accounts + 1
	g.accounts = make([]string, n)
	g.created = make([]time.Time, n)
	g.heads = make([]audit.Head, n)
	g.sessions = make([]string, n)
	for i := range g.accounts {
		g.created[i] = g.start.Add(-time.Duration(g.rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Microsecond)
		g.accounts[i] = g.id("acct_", g.created[i])
		g.heads[i] = audit.Head{ChainID: g.accounts[i]}
	}
	return g
}

// id makes an id the way the service does: 48 bits of milliseconds, then 80
// random bits.
func (g *generator) id(prefix string, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	binary.BigEndian.PutUint64(b[6:14], g.rng.Uint64())
	binary.BigEndian.PutUint16(b[14:], uint16(g.rng.Uint32()))
	return prefix + idEncoding.EncodeToString(b[:])
}

func (g *generator) big() string { return g.accounts[0] }

// meta is the description of a store this generator fills by method.
func (g *generator) meta(method string) storeMeta {
	return storeMeta{Generator: genVersion, Events: g.cfg.Events, Accounts: g.cfg.Accounts, Big: g.big(), Method: method, Append: g.accounts[1:5]}
}

// progress returns a function that logs, at most every 10 seconds, how
// many of g's events a build has written and how fast.
func progress(g *generator, logf func(string, ...any), prefix string) func() {
	start, last := time.Now(), time.Now()
	return func() {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			logf("%s%s of %s events (%s)", prefix, fmtInt(int64(g.n)), fmtInt(int64(g.cfg.Events)), fmtRate(float64(g.n)/time.Since(start).Seconds()))
		}
	}
}

func (g *generator) done() bool { return g.n >= g.cfg.Events }

// The mix of event types in an ordinary account's log, in percent.
var typeMix = []struct {
	t      audit.Type
	weight int
}{
	{audit.SigninSucceeded, 26}, // 4 of its 30 went to the single sign-on events below
	{audit.SigninFailed, 21},
	{audit.Signout, 12},
	{audit.SessionRevoked, 8},
	{audit.SigninThrottled, 4},
	{audit.SigninMFAFailed, 4},
	{audit.PasswordChanged, 3},
	{audit.BackupCodeUsed, 3},
	{audit.TwoFactorEnabled, 2},
	{audit.TwoFactorDisabled, 1},
	{audit.BackupCodesRegenerated, 1},
	// 1.1: mail-driven events, rare.
	{audit.EmailVerified, 1},
	{audit.EmailChangeRequested, 1},
	{audit.EmailChanged, 1},
	{audit.PasswordResetRequested, 1},
	{audit.PasswordReset, 1},
	{audit.AccountLockedDown, 1},
	{audit.NotificationsChanged, 1},
	{audit.SudoGranted, 1},
	// 1.1: passkeys, rare.
	{audit.PasskeyAdded, 1},
	{audit.PasskeyRemoved, 1},
	{audit.PasskeyRenamed, 1},
	// Single sign-on: applications signed in to through keyward.
	{audit.OIDCConsentGranted, 1},
	{audit.OIDCTokenIssued, 2},
	{audit.OIDCGrantRevoked, 1},
}

var benchUserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
	"curl/8.8.0",
}

// ip returns one of a few hundred documentation addresses.
func (g *generator) ip() string {
	n := g.rng.IntN(300)
	switch {
	case n < 120:
		return "203.0.113." + strconv.Itoa(n+1)
	case n < 240:
		return "198.51.100." + strconv.Itoa(n-119)
	default:
		return "2001:db8::" + strconv.FormatInt(int64(n), 16)
	}
}

// next returns the next event, linked into its chain.
func (g *generator) next() *keyward.Event {
	t := g.start.Add(time.Duration(g.n) * g.step).Truncate(time.Microsecond)
	g.n++
	acct := 0
	if g.rng.Float64() >= g.cfg.BigShare {
		acct = 1 + g.rng.IntN(g.cfg.Accounts)
	}
	head := g.heads[acct]
	e := &keyward.Event{
		ID:        g.id("ev_", t),
		ChainID:   head.ChainID,
		Time:      t,
		Outcome:   audit.Success,
		Actor:     audit.ActorSelf,
		IP:        g.ip(),
		UserAgent: benchUserAgents[g.rng.IntN(len(benchUserAgents))],
	}
	if head.Seq == 0 {
		e.Type = audit.AccountCreated
	} else {
		w := g.rng.IntN(100)
		for _, m := range typeMix {
			if w < m.weight {
				e.Type = m.t
				break
			}
			w -= m.weight
		}
	}
	sess := g.sessions[acct]
	switch e.Type {
	case audit.SigninSucceeded:
		sess = g.id("sess_", t)
		g.sessions[acct] = sess
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailMethod: []string{audit.MethodPassword, audit.MethodPassword, audit.MethodTOTP, audit.MethodBackupCode, audit.MethodPasskey}[g.rng.IntN(5)]}
	case audit.SigninFailed:
		e.Outcome, e.Reason = audit.Failure, "invalid_password"
		e.Details = map[string]string{audit.DetailMethod: audit.MethodPassword}
	case audit.SigninMFAFailed:
		e.Outcome, e.Reason = audit.Failure, "invalid_code"
		e.Details = map[string]string{audit.DetailMethod: audit.MethodTOTP}
	case audit.SigninThrottled:
		e.Outcome, e.Reason, e.Actor = audit.Failure, "too_many_failures", audit.ActorSystem
		e.Details = map[string]string{audit.DetailMethod: audit.MethodPassword, audit.DetailRetryAfter: strconv.Itoa(1 << g.rng.IntN(6))}
	case audit.Signout:
		e.SessionID = sess
	case audit.SessionRevoked:
		e.SessionID = sess
		e.Details = map[string]string{"session": g.id("sess_", t.Add(-time.Hour)), audit.DetailDevice: "Chrome on Windows", "ip": g.ip()}
	case audit.PasswordChanged:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(g.rng.IntN(4))}
	case audit.BackupCodeUsed:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailRemaining: strconv.Itoa(g.rng.IntN(10))}
	case audit.TwoFactorEnabled, audit.TwoFactorDisabled, audit.BackupCodesRegenerated, audit.EmailChangeRequested:
		e.SessionID = sess
	case audit.PasswordReset, audit.AccountLockedDown:
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(g.rng.IntN(4))}
	case audit.NotificationsChanged:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailNewDeviceMail: "off"}
	case audit.SudoGranted:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailMethod: audit.MethodPassword}
	case audit.OIDCConsentGranted, audit.OIDCTokenIssued, audit.OIDCGrantRevoked:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailClient: g.id("cl_", t), audit.DetailClientName: "PayDesk"}
	case audit.PasskeyAdded, audit.PasskeyRemoved, audit.PasskeyRenamed:
		e.SessionID = sess
		e.Details = map[string]string{audit.DetailPasskey: "Laptop", audit.DetailPasskeyID: g.id("pk_", t), audit.DetailTwoFactor: "on"}
	}
	audit.Link(head, e)
	g.heads[acct] = audit.Head{ChainID: head.ChainID, Seq: e.Seq, Hash: e.Hash}
	return e
}
