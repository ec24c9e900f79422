package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Problem kinds, from the point of view of someone reading the log.
const (
	// KindEdited: an event's content no longer matches its own hash.
	KindEdited = "edited"
	// KindDeleted: sequence numbers are missing, between events, before the
	// first one (after the checkpoint) or after the last one (before the head).
	KindDeleted = "deleted"
	// KindReordered: an intact event is not where the chain says it belongs:
	// it came out of order, it does not link to the event before it (the
	// two were swapped, or one was rewritten and re-hashed), or it belongs
	// to another chain.
	KindReordered = "reordered"
	// KindHeadMismatch: the events are consistent with each other but not
	// with the chain's head (the newest event was rewritten and re-hashed,
	// events were added past the head, or the head itself was edited).
	KindHeadMismatch = "head_mismatch"
	// KindForged: an event's keyed MAC (see Seal) does not follow from the
	// event or checkpoint before it: the chain was rewritten and re-hashed
	// by someone without the key, a checkpoint was made up, or newer events
	// were deleted, the head moved back and events appended since.
	KindForged = "forged"
	// KindUnsealed: an event after sealed ones has no MAC, or the head has
	// no seal (it was removed, or the head predates sealing and was never
	// sealed).
	KindUnsealed = "unsealed"
	// KindUnknownKey: a MAC or seal names a key the keyring does not hold.
	KindUnknownKey = "unknown_key"
	// KindYoungCheckpoint: the pruning checkpoint says events were pruned
	// that were younger than the retention period.
	KindYoungCheckpoint = "young_checkpoint"
	// KindMissingChain: an account has no chain (its head is gone), though
	// every account's chain starts with account.created.
	KindMissingChain = "missing_chain"
	// KindOrphanChain: a chain (other than the system's) belongs to no account.
	KindOrphanChain = "orphan_chain"
)

// Problem is the first place where a chain fails verification, or a chain
// that is missing or has no account (KindMissingChain, KindOrphanChain).
type Problem struct {
	ChainID string
	Seq     int64  // the bad event's seq; for KindDeleted the first missing seq
	EventID string // empty when the event is gone (KindDeleted)
	Kind    string // one of the Kind constants
	Detail  string // a clause for a person: what was found
}

// Error is one sentence naming the first bad event, e.g.
// "event 01H… (seq 17) of chain acct_… was edited: its hash does not match its content".
// Values read from the store are quoted when they hold control characters, so
// an edited id cannot forge lines in an operator's terminal or log.
func (p *Problem) Error() string {
	chain := printable(p.ChainID)
	switch p.Kind {
	case KindMissingChain:
		return "account " + chain + " has no audit chain: " + p.Detail
	case KindOrphanChain:
		return "chain " + chain + " belongs to no account: " + p.Detail
	case KindYoungCheckpoint:
		return "the pruning checkpoint of chain " + chain + " is too young: " + p.Detail
	}
	if p.Seq == 0 && p.EventID == "" {
		// The head itself, not an event.
		verb := verbOf(p.Kind)
		if p.Kind == KindHeadMismatch {
			verb = "has a wrong seal"
		}
		return "the head of chain " + chain + " " + verb + ": " + p.Detail
	}
	var what string
	if p.EventID != "" {
		what = fmt.Sprintf("event %s (seq %d)", printable(p.EventID), p.Seq)
	} else {
		what = fmt.Sprintf("event at seq %d", p.Seq)
	}
	return what + " of chain " + chain + " " + verbOf(p.Kind) + ": " + p.Detail
}

func verbOf(kind string) string {
	switch kind {
	case KindEdited:
		return "was edited"
	case KindDeleted:
		return "was deleted"
	case KindReordered:
		return "is out of place"
	case KindHeadMismatch:
		return "does not match the chain's head"
	case KindForged:
		return "was forged"
	case KindUnsealed:
		return "is not sealed"
	case KindUnknownKey:
		return "was sealed with an unknown key"
	}
	return "failed verification (" + printable(kind) + ")"
}

// String is Error: a Problem is reported, not only returned.
func (p *Problem) String() string { return p.Error() }

// printable returns s as is when it is short and has no control or invalid
// characters, and otherwise a bounded, quoted form.
func printable(s string) string {
	const limit = 80
	clean := len(s) <= limit && utf8.ValidString(s)
	if clean {
		for _, r := range s {
			if !unicode.IsPrint(r) {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return strconv.Quote(s)
}

// errStop ends the walk early once a problem is known.
var errStop = errors.New("audit: verification stopped")

// VerifyChain walks one chain, oldest first, and reports the first place it
// was tampered with (nil when it is intact) and how many events it read.
// each must call fn for every event of head.ChainID in ascending Seq order
// (a Store's EachChainEvent fits) and return fn's error; events may be
// reused between calls. The error is each's own failure, never a problem.
//
// The walk starts at the checkpoint left by pruning: the first event must
// have Seq head.BaseSeq+1 and PrevHash head.BaseHash (both zero for a chain
// never pruned). Each event must hash to its own Hash, follow the previous
// seq without a gap and link to the previous Hash; the last one must be the
// head (head.Seq, head.Hash), which is how a deleted newest event shows.
//
// A seq gap is reported as KindDeleted unless a missing seq turns up later in
// the walk, in which case it is KindReordered; telling the two apart needs
// the rest of the chain, so the walk goes on (reading seqs only) after a gap.
//
// The chain proves the events are consistent with the head. Someone who can
// rewrite both the events and the head can rewrite history: VerifySealed
// also checks the keyed seal, which they cannot make without the key.
func VerifyChain(head Head, each func(fn func(*Event) error) error) (*Problem, int, error) {
	return verify(head, nil, each)
}

// Sealed is what VerifySealed needs besides the chain.
type Sealed struct {
	Keys      Keys
	Now       time.Time
	Retention time.Duration // events are pruned after this long; 0: never
}

// VerifySealed is VerifyChain and, in the same walk, the keyed seal (see
// Seal): every event's MAC must follow from the event (or checkpoint)
// before it, the head's seal must match the newest event, and a pruning
// checkpoint must be older than the retention period.
//
// Events with no MAC are accepted only before the chain's first sealed one
// (they were written before sealing existed); the head must always be
// sealed. A checkpoint with no time (made before sealing) is not checked
// for age.
func VerifySealed(head Head, c Sealed, each func(fn func(*Event) error) error) (*Problem, int, error) {
	p, n, err := verify(head, &c, each)
	if err != nil || p != nil {
		return p, n, err
	}
	return c.checkpoint(head), n, nil
}

func verify(head Head, sealed *Sealed, each func(fn func(*Event) error) error) (*Problem, int, error) {
	v := verifier{
		head:     head,
		sealed:   sealed,
		expected: head.BaseSeq + 1,
		prevHash: bytes.Clone(head.BaseHash),
		prevTime: head.BaseTime,
		prevMAC:  head.BaseMAC,
	}
	err := each(v.check)
	if err != nil && !errors.Is(err, errStop) {
		return nil, v.n, err
	}
	if v.problem != nil {
		return v.problem, v.n, nil
	}
	if v.gap != nil {
		// No missing seq turned up later: they are gone.
		return v.gap, v.n, nil
	}
	if p := v.atEnd(); p != nil {
		return p, v.n, nil
	}
	return v.sealAtEnd(), v.n, nil
}

// checkpoint reports a pruning checkpoint younger than the retention period.
func (c *Sealed) checkpoint(h Head) *Problem {
	if h.BaseSeq == 0 || h.BaseTime.IsZero() {
		return nil
	}
	p := &Problem{ChainID: h.ChainID, Seq: h.BaseSeq, Kind: KindYoungCheckpoint}
	newest := h.BaseTime.UTC().Format(time.RFC3339)
	switch {
	case c.Retention <= 0:
		p.Detail = fmt.Sprintf("events up to seq %d were pruned (the newest from %s), but retention is off, so nothing is ever pruned", h.BaseSeq, newest)
	case h.BaseTime.After(c.Now.Add(-c.Retention)):
		p.Detail = fmt.Sprintf("events up to seq %d were pruned, but the newest of them is from %s, younger than the retention period (%s): they were deleted by hand",
			h.BaseSeq, newest, days(c.Retention))
	default:
		return nil
	}
	return p
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day", "days")
	}
	return d.String()
}

// verifier is the state of one walk. It keeps only the previous link, so
// memory is constant however long the chain.
type verifier struct {
	head     Head
	sealed   *Sealed // nil: the hash chain only
	n        int
	expected int64  // the seq the next event must have
	prevHash []byte // the hash the next event must link to
	prevTime time.Time
	prevMAC  string
	seenMAC  bool                 // an event with a MAC was read
	macs     map[string]hash.Hash // by key id; nil for a key not held
	lastID   string
	problem  *Problem
	// gap is a pending KindDeleted problem for seqs gapFrom..gapTo, found
	// just before the event gapID (seq gapSeq).
	gap            *Problem
	gapFrom, gapTo int64
	gapID          string
	gapSeq         int64
}

func (v *verifier) check(e *Event) error {
	if v.problem != nil {
		return errStop
	}
	v.n++
	if v.gap != nil {
		// Only looking for the missing seqs now.
		if e.Seq >= v.gapFrom && e.Seq <= v.gapTo {
			v.problem = &Problem{
				ChainID: v.head.ChainID, Seq: v.gapSeq, EventID: v.gapID, Kind: KindReordered,
				Detail: fmt.Sprintf("it came where seq %d was expected, and seq %d turned up after it", v.gapFrom, e.Seq),
			}
			return errStop
		}
		return nil
	}

	bad := func(kind, detail string) error {
		v.problem = &Problem{ChainID: v.head.ChainID, Seq: e.Seq, EventID: e.ID, Kind: kind, Detail: detail}
		return errStop
	}
	// Own hash first: an edited Seq or PrevHash must read as an edit, not
	// as a gap or a broken link.
	if sum := chainSum(e.PrevHash, e); !bytes.Equal(sum[:], e.Hash) {
		return bad(KindEdited, "its hash does not match its content")
	}
	if e.ChainID != v.head.ChainID {
		return bad(KindReordered, "it belongs to chain "+printable(e.ChainID))
	}
	switch {
	case e.Seq > v.expected:
		v.gapFrom, v.gapTo = v.expected, e.Seq-1
		v.gapID, v.gapSeq = e.ID, e.Seq
		v.gap = &Problem{
			ChainID: v.head.ChainID, Seq: v.gapFrom, Kind: KindDeleted,
			Detail: missing(v.gapFrom, v.gapTo) + fmt.Sprintf("the next event present is %s (seq %d)", printable(e.ID), e.Seq),
		}
		return nil
	case e.Seq < v.expected:
		return bad(KindReordered, fmt.Sprintf("it came where seq %d was expected", v.expected))
	case !bytes.Equal(e.PrevHash, v.prevHash):
		switch {
		case v.n == 1 && v.head.BaseSeq > 0:
			return bad(KindReordered, fmt.Sprintf("it does not link to the checkpoint left by pruning (seq %d)", v.head.BaseSeq))
		case v.n == 1:
			return bad(KindReordered, "it is the chain's first event but links to an earlier one")
		}
		return bad(KindReordered, fmt.Sprintf("it does not link to the event before it (seq %d): the two were swapped, or one of them was rewritten and re-hashed", e.Seq-1))
	}
	if v.sealed != nil {
		if kind, detail := v.checkMAC(e); kind != "" {
			return bad(kind, detail)
		}
	}
	v.expected = e.Seq + 1
	v.prevHash = append(v.prevHash[:0], e.Hash...)
	v.prevTime = e.Time
	v.prevMAC = e.MAC
	v.lastID = e.ID
	return nil
}

// checkMAC checks e's link MAC against the event (or checkpoint) before it,
// which the walk has already checked.
func (v *verifier) checkMAC(e *Event) (kind, detail string) {
	if e.MAC == "" {
		if v.seenMAC {
			return KindUnsealed, "it has no MAC, though an earlier event of the chain has one: its MAC was removed"
		}
		return "", "" // written before sealing existed
	}
	id := macKeyID(e.MAC)
	if v.mac(id) == nil {
		return KindUnknownKey, fmt.Sprintf("its MAC names key %s, which the keyring does not hold", printable(id))
	}
	v.seenMAC = true
	prevSeq := e.Seq - 1
	if prevSeq == 0 {
		if linkMAC(v.mac(id), id, e.ChainID, e.Seq, e.Hash, "") == e.MAC {
			return "", ""
		}
		return KindForged, "its MAC does not match: the chain was rewritten and re-hashed by someone without the key"
	}
	// The seal of the event before was made under the key current when it
	// was appended: usually its own MAC's (or this one's, for an event
	// sealed at upgrade or just before a rotation); any key held, else.
	follows := func(c string) bool {
		m := v.mac(c)
		if m == nil {
			return false
		}
		s := headSeal(m, c, e.ChainID, prevSeq, v.prevTime, v.prevHash, v.prevMAC)
		return linkMAC(v.mac(id), id, e.ChainID, e.Seq, e.Hash, s) == e.MAC
	}
	prevID := macKeyID(v.prevMAC)
	if prevID != "" && follows(prevID) || prevID != id && follows(id) {
		return "", ""
	}
	for _, c := range v.sealed.Keys.IDs() {
		if c != prevID && c != id && follows(c) {
			return "", ""
		}
	}
	if v.n == 1 && v.head.BaseSeq > 0 {
		return KindForged, fmt.Sprintf("its MAC does not follow from the checkpoint left by pruning (seq %d): the checkpoint was made up, and the events before this one deleted by hand", v.head.BaseSeq)
	}
	return KindForged, fmt.Sprintf("its MAC does not follow from the event before it (seq %d): the chain was rewritten by someone without the key, or events after seq %d were deleted and the head moved back before this event was appended", prevSeq, prevSeq)
}

// mac returns a reset HMAC under the key with id, or nil when the keyring
// does not hold it. One per key for the whole walk: an HMAC costs
// allocations to set up, and a chain has a handful of keys at most.
func (v *verifier) mac(id string) hash.Hash {
	if m, ok := v.macs[id]; ok {
		if m != nil {
			m.Reset()
		}
		return m
	}
	var m hash.Hash
	if key, err := v.sealed.Keys.Key(id); err == nil {
		m = hmac.New(sha256.New, key)
	}
	if v.macs == nil {
		v.macs = make(map[string]hash.Hash, 2)
	}
	v.macs[id] = m
	return m
}

// sealAtEnd checks the head's seal against the newest event (or the
// checkpoint when none remains); atEnd has matched their seq and hash.
func (v *verifier) sealAtEnd() *Problem {
	h := v.head
	if v.sealed == nil || h.Seq == 0 {
		return nil
	}
	p := &Problem{ChainID: h.ChainID} // about the head: no seq or event named
	if h.Seal == "" {
		p.Kind, p.Detail = KindUnsealed, "the chain's head has no seal: it was removed, or the head was written before sealing existed and keyward has not started since"
		return p
	}
	id := macKeyID(h.Seal)
	m := v.mac(id)
	if m == nil {
		p.Kind, p.Detail = KindUnknownKey, fmt.Sprintf("the chain's head is sealed with key %s, which the keyring does not hold", printable(id))
		return p
	}
	if headSeal(m, id, h.ChainID, h.Seq, v.prevTime, v.prevHash, v.prevMAC) == h.Seal {
		return nil
	}
	p.Kind = KindHeadMismatch
	p.Detail = fmt.Sprintf("the head's seal does not match its newest event (seq %d): newer events were deleted and the head moved back, or the head was edited, by someone without the key", h.Seq)
	return p
}

// atEnd compares the last event read with the head.
func (v *verifier) atEnd() *Problem {
	h := v.head
	last := v.expected - 1 // the last seq read, or BaseSeq when none
	p := &Problem{ChainID: h.ChainID, Seq: last, EventID: v.lastID, Kind: KindHeadMismatch}
	switch {
	case last < h.Seq:
		p.Seq, p.EventID, p.Kind = last+1, "", KindDeleted
		p.Detail = missing(last+1, h.Seq) + fmt.Sprintf("the log ends at seq %d, but the chain's head records seq %d", last, h.Seq)
		if v.n == 0 {
			p.Detail = missing(last+1, h.Seq) + fmt.Sprintf("no events remain, but the chain's head records seq %d", h.Seq)
		}
	case last > h.Seq:
		p.Detail = fmt.Sprintf("the log goes on past the head, which records seq %d", h.Seq)
	case !bytes.Equal(v.prevHash, h.Hash):
		if v.n == 0 {
			// Nothing left after pruning everything: the checkpoint is the head.
			p.Detail = "the checkpoint left by pruning differs from the head at the same seq"
		} else {
			p.Detail = "its hash differs from the head's (it was rewritten and re-hashed, or the head was edited)"
		}
	default:
		return nil
	}
	return p
}

// missing opens a detail with the size of a gap, when it is more than the
// one event the sentence already names.
func missing(from, to int64) string {
	if from == to {
		return ""
	}
	return fmt.Sprintf("seqs %d to %d are all missing; ", from, to)
}
