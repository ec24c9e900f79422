package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// chainTag separates this hash from every other SHA-256 keyward computes, so
// an event hash can never be confused with, say, a token hash.
const chainTag = "keyward/audit/event"

// chainVersion is bumped if the encoding below ever changes; old events keep
// verifying under the version they were written with.
const chainVersion = 1

// ChainHash returns the hash that links e into its chain after the event
// whose hash is prev. It covers every field of e except Hash; PrevHash is
// covered as prev (callers pass e.PrevHash, or the head's hash in Link).
//
// The hash is SHA-256 over this encoding, so that an operator can
// re-implement verification without reading Go. Every item is written as
// its length in bytes (uint64, big-endian) followed by its bytes, in order:
//
//	tag        the ASCII bytes "keyward/audit/event"
//	version    one byte, 0x01
//	ID         UTF-8 bytes, as are all strings below
//	ChainID
//	Seq        int64, 8 bytes big-endian
//	Time       unix microseconds (UTC), int64, 8 bytes big-endian; rounded
//	           down, because the stores keep microseconds
//	Type
//	Outcome
//	Reason
//	IP
//	UserAgent
//	SessionID  "" when none
//	Actor
//	Details    the number of entries, int64, 8 bytes big-endian, then for
//	           each entry in ascending byte order of its key: key, value
//	prev       the previous event's hash; empty for a chain's first event
//
// Because every item carries its length, no two different events encode to
// the same bytes ("ab"+"c" and "a"+"bc" differ).
func ChainHash(prev []byte, e *Event) []byte {
	sum := chainSum(prev, e)
	return sum[:]
}

// chainSum is ChainHash without the allocation of its result, for the
// verifier's hot loop.
func chainSum(prev []byte, e *Event) [sha256.Size]byte {
	// A stack buffer keeps the common case (short fields) off the heap.
	var buf [1024]byte
	return sha256.Sum256(appendCanonical(buf[:0], prev, e))
}

// appendCanonical appends the encoding documented on ChainHash.
func appendCanonical(b, prev []byte, e *Event) []byte {
	b = appendString(b, chainTag)
	b = appendBytes(b, []byte{chainVersion})
	b = appendString(b, e.ID)
	b = appendString(b, e.ChainID)
	b = appendInt(b, e.Seq)
	b = appendInt(b, e.Time.UnixMicro())
	b = appendString(b, string(e.Type))
	b = appendString(b, string(e.Outcome))
	b = appendString(b, e.Reason)
	b = appendString(b, e.IP)
	b = appendString(b, e.UserAgent)
	b = appendString(b, e.SessionID)
	b = appendString(b, string(e.Actor))
	b = appendInt(b, int64(len(e.Details)))
	if len(e.Details) > 0 {
		var kb [16]string
		keys := kb[:0]
		for k := range e.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, e.Details[k])
		}
	}
	return appendBytes(b, prev)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	return append(b, p...)
}

func appendInt(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint64(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

// Link makes e the next event of the chain whose newest link is head: it sets
// e.Seq to head.Seq+1, e.PrevHash to a copy of head.Hash and e.Hash to
// ChainHash(e.PrevHash, e). The caller sets every other field first,
// e.ChainID included (it must be head.ChainID), and must not change them
// afterwards.
//
// Genesis: a new chain's head is the zero Head (Seq 0, no Hash), so its first
// event has Seq 1 and an empty PrevHash; nothing else marks it. A chain whose
// old events were pruned keeps its head, so linking continues unchanged.
func Link(head Head, e *Event) {
	e.Seq = head.Seq + 1
	e.PrevHash = bytes.Clone(head.Hash)
	e.Hash = ChainHash(e.PrevHash, e)
}
