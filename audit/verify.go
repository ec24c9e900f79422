package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
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
)

// Problem is the first place where a chain fails verification.
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
	var what string
	if p.EventID != "" {
		what = fmt.Sprintf("event %s (seq %d)", printable(p.EventID), p.Seq)
	} else {
		what = fmt.Sprintf("event at seq %d", p.Seq)
	}
	var verb string
	switch p.Kind {
	case KindEdited:
		verb = "was edited"
	case KindDeleted:
		verb = "was deleted"
	case KindReordered:
		verb = "is out of place"
	case KindHeadMismatch:
		verb = "does not match the chain's head"
	default:
		verb = "failed verification (" + printable(p.Kind) + ")"
	}
	return what + " of chain " + printable(p.ChainID) + " " + verb + ": " + p.Detail
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
// rewrite both the events and the head can rewrite history; keeping a copy
// of the heads elsewhere (AuditHeads, exported regularly) closes that gap.
func VerifyChain(head Head, each func(fn func(*Event) error) error) (*Problem, int, error) {
	v := verifier{
		head:     head,
		expected: head.BaseSeq + 1,
		prevHash: bytes.Clone(head.BaseHash),
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
	return v.atEnd(), v.n, nil
}

// verifier is the state of one walk. It keeps only the previous link, so
// memory is constant however long the chain.
type verifier struct {
	head     Head
	n        int
	expected int64  // the seq the next event must have
	prevHash []byte // the hash the next event must link to
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
	v.expected = e.Seq + 1
	v.prevHash = append(v.prevHash[:0], e.Hash...)
	v.lastID = e.ID
	return nil
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
