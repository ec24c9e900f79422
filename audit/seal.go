package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"time"
)

// The hash chain shows that events are consistent with each other and with
// the head, but anyone who can write the database can rewrite both. The
// seal adds what the database does not hold: a key (derived from the
// keyring, kept outside the database). Two MACs, both HMAC-SHA256:
//
//	link MAC, stored with event n:   m(n) = MAC("keyward/audit/link", chain, seq(n), hash(n), s(n-1))
//	head seal, stored in the head:   s(n) = MAC("keyward/audit/head", chain, seq(n), time(n), hash(n), m(n))
//
// with s(0) = "" for a chain's first event, and s(b) made from the pruning
// checkpoint (the last pruned event's seq, time, hash and MAC) for the first
// event after it. Items are encoded as in ChainHash (each with its length).
// Both are stored as "<key id>:<base64url of the 32 bytes>".
//
// Why two: s(n) is kept only in the head, and is overwritten by the next
// append, so once the chain has moved on, no row holds it. Someone who
// deletes the newest events and moves the head back cannot produce the seal
// the older event needs (they would need the key), and if they leave a wrong
// one, the next event appended links to it and its MAC no longer follows
// from the event before it: the truncation stays visible. The time in s(n)
// is what lets a pruning checkpoint's time be trusted: the first event after
// the checkpoint is sealed over it.
//
// Each MAC names its key, so a rotation changes nothing already written:
// new links use the current key and old ones verify under theirs (as long as
// the keyring holds it). A seal is checked under the key that made the MAC
// it covers, then under every other key held (s(n-1) is made under the key
// current when event n was appended, which may be newer than m(n-1)'s).

// Keys are the MAC keys of the seal, by key id.
type Keys interface {
	// Current returns the id and key that new links are sealed with.
	Current() (id string, key []byte)
	// Key returns the key with id, or an error when it is not held.
	Key(id string) ([]byte, error)
	// IDs lists every key id held.
	IDs() []string
}

const (
	linkTag = "keyward/audit/link"
	headTag = "keyward/audit/head"
)

var macEncoding = base64.RawURLEncoding

// Seal sets e.MAC and e.HeadSeal once Link(head, e) has set its place in
// the chain, under the current key. head is the head Link was given.
func Seal(keys Keys, head Head, e *Event) {
	id, key := keys.Current()
	m := hmac.New(sha256.New, key) // one for both MACs: an append's hot path
	e.MAC = linkMAC(m, id, e.ChainID, e.Seq, e.Hash, head.Seal)
	m.Reset()
	e.HeadSeal = headSeal(m, id, e.ChainID, e.Seq, e.Time, e.Hash, e.MAC)
}

// SealHead returns the head seal of a chain whose newest event (or, when
// none remains, whose pruning checkpoint) is described by the arguments:
// what a head written before sealing existed gets, once its chain verifies.
func SealHead(keys Keys, chainID string, seq int64, t time.Time, eventHash []byte, mac string) string {
	id, key := keys.Current()
	return headSeal(hmac.New(sha256.New, key), id, chainID, seq, t, eventHash, mac)
}

// linkMAC and headSeal compute the MACs described above with m, a fresh
// (or reset) HMAC under the key named id.
func linkMAC(m hash.Hash, id string, chainID string, seq int64, eventHash []byte, prevSeal string) string {
	var buf [256]byte
	b := appendString(buf[:0], linkTag)
	b = appendString(b, chainID)
	b = appendInt(b, seq)
	b = appendBytes(b, eventHash)
	b = appendString(b, prevSeal)
	return macText(m, id, b)
}

func headSeal(m hash.Hash, id string, chainID string, seq int64, t time.Time, eventHash []byte, mac string) string {
	var buf [256]byte
	b := appendString(buf[:0], headTag)
	b = appendString(b, chainID)
	b = appendInt(b, seq)
	var us int64
	if !t.IsZero() {
		us = t.UnixMicro()
	}
	b = appendInt(b, us)
	b = appendBytes(b, eventHash)
	b = appendString(b, mac)
	return macText(m, id, b)
}

// macText is "<id>:<base64url of m's MAC of msg>".
func macText(m hash.Hash, id string, msg []byte) string {
	m.Write(msg)
	var sum [sha256.Size]byte
	out := make([]byte, 0, len(id)+1+macEncoding.EncodedLen(sha256.Size))
	out = append(out, id...)
	out = append(out, ':')
	return string(macEncoding.AppendEncode(out, m.Sum(sum[:0])))
}

// macKeyID is the key id a MAC or seal names ("" when malformed).
func macKeyID(mac string) string {
	id, _, ok := strings.Cut(mac, ":")
	if !ok {
		return ""
	}
	return id
}

// OneKey is Keys with a single key: for tests and benchmarks, and for
// tools that verify a log with a key they were given.
type OneKey struct {
	ID     string
	Secret []byte
}

// Current returns the one key.
func (k OneKey) Current() (string, []byte) { return k.ID, k.Secret }

// Key returns the key when id is its id.
func (k OneKey) Key(id string) ([]byte, error) {
	if id != k.ID {
		return nil, fmt.Errorf("audit: unknown key %q", id)
	}
	return k.Secret, nil
}

// IDs returns the one id.
func (k OneKey) IDs() []string { return []string{k.ID} }
