package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testTime is a fixed instant with sub-microsecond digits, to show they are
// ignored.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// sampleEvent is an event with every field set.
func sampleEvent(tb testing.TB) *Event {
	tb.Helper()
	return &Event{
		ID:        "01HZX3K7Q2J6V8W9Y0A1B2C3D4",
		ChainID:   "acct_42",
		Seq:       17,
		Time:      testTime,
		Type:      SigninFailed,
		Outcome:   Failure,
		Reason:    "invalid_password",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		SessionID: "sess_9",
		Actor:     ActorSelf,
		Details:   map[string]string{"method": "password", "attempt": "3"},
		PrevHash:  bytes.Repeat([]byte{0xab}, 32),
	}
}

// buildChain links n events into a new chain, as the service would.
func buildChain(tb testing.TB, chainID string, n int) ([]*Event, Head) {
	tb.Helper()
	head := Head{ChainID: chainID}
	events := make([]*Event, 0, n)
	for i := range n {
		e := &Event{
			ID:        fmt.Sprintf("ev%02d", i+1),
			ChainID:   chainID,
			Time:      testTime.Add(time.Duration(i) * time.Minute),
			Type:      SigninSucceeded,
			Outcome:   Success,
			IP:        "198.51.100.1",
			UserAgent: "curl/8.5.0",
			Actor:     ActorSelf,
			Details:   map[string]string{"n": fmt.Sprint(i)},
		}
		Link(head, e)
		head.Seq, head.Hash = e.Seq, e.Hash
		events = append(events, e)
	}
	return events, head
}

// eachOf streams events the way a Store's EachChainEvent does, handing out
// one reused Event so that the verifier cannot keep pointers into it.
func eachOf(events []*Event) func(func(*Event) error) error {
	return func(fn func(*Event) error) error {
		var cur Event
		for _, e := range events {
			cur = *e
			cur.PrevHash = bytes.Clone(e.PrevHash)
			cur.Hash = bytes.Clone(e.Hash)
			if err := fn(&cur); err != nil {
				return err
			}
		}
		return nil
	}
}

// rehash recomputes e's own hash, as a forger who knows the algorithm would.
func rehash(e *Event) { e.Hash = ChainHash(e.PrevHash, e) }

// canonicalByHand is the encoding documented on ChainHash, written
// independently of appendCanonical (as an operator re-implementing it would).
func canonicalByHand(prev []byte, e *Event) []byte {
	var buf bytes.Buffer
	item := func(p []byte) {
		binary.Write(&buf, binary.BigEndian, uint64(len(p)))
		buf.Write(p)
	}
	num := func(v int64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		item(b[:])
	}
	item([]byte("keyward/audit/event"))
	item([]byte{1})
	item([]byte(e.ID))
	item([]byte(e.ChainID))
	num(e.Seq)
	num(e.Time.UTC().Truncate(time.Microsecond).UnixNano() / 1000)
	for _, s := range []string{string(e.Type), string(e.Outcome), e.Reason, e.IP, e.UserAgent, e.SessionID, string(e.Actor)} {
		item([]byte(s))
	}
	num(int64(len(e.Details)))
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		item([]byte(k))
		item([]byte(e.Details[k]))
	}
	item(prev)
	return buf.Bytes()
}

func sha256Sum(p []byte) []byte {
	s := sha256.Sum256(p)
	return s[:]
}

func TestChainHashMatchesDocumentedEncoding(t *testing.T) {
	e := sampleEvent(t)
	got := ChainHash(e.PrevHash, e)
	want := sha256Sum(canonicalByHand(e.PrevHash, e))
	if !bytes.Equal(got, want) {
		t.Fatalf("ChainHash = %x, want %x (the documented encoding)", got, want)
	}
}

// TestChainHashVector pins one hash, so that a change to the encoding (which
// would break every stored chain) cannot pass unnoticed. Operators
// re-implementing verify can check themselves against it.
func TestChainHashVector(t *testing.T) {
	e := sampleEvent(t)
	const want = "c38c22861ff245c99b33eb024ed67da3b241692b9332306ece53ee3a70ffbbf3"
	if got := hex.EncodeToString(ChainHash(e.PrevHash, e)); got != want {
		t.Errorf("ChainHash(sample) = %s, want %s", got, want)
	}
}

// TestChainHashCoversEveryField changes each field of Event in turn (found by
// reflection, so a field added later is covered too) and wants a new hash.
func TestChainHashCoversEveryField(t *testing.T) {
	base := sampleEvent(t)
	want := ChainHash(base.PrevHash, base)
	typ := reflect.TypeFor[Event]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Hash" || f.Name == "MAC" || f.Name == "HeadSeal" {
			continue // the result, and the keyed seal made over it (seal_test.go)
		}
		t.Run(f.Name, func(t *testing.T) {
			e := sampleEvent(t)
			v := reflect.ValueOf(e).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Int64:
				v.SetInt(v.Int() + 1)
			case reflect.Slice:
				v.SetBytes(append(bytes.Clone(v.Bytes()), 1))
			case reflect.Map:
				e.Details["attempt"] = "4"
			case reflect.Struct: // time.Time
				e.Time = e.Time.Add(time.Microsecond)
			default:
				t.Fatalf("field %s has kind %s: teach this test (and ChainHash) about it", f.Name, v.Kind())
			}
			if got := ChainHash(e.PrevHash, e); bytes.Equal(got, want) {
				t.Errorf("changing %s left the hash at %x", f.Name, got)
			}
		})
	}
}

func TestChainHashEqualities(t *testing.T) {
	utc := sampleEvent(t)
	tests := []struct {
		name  string
		edit  func(e *Event)
		equal bool // whether the hash must stay the same
	}{
		{"same instant in another zone", func(e *Event) { e.Time = e.Time.In(time.FixedZone("X", 5*3600)) }, true},
		{"nanoseconds below the microsecond", func(e *Event) { e.Time = e.Time.Truncate(time.Microsecond) }, true},
		{"details built in another order", func(e *Event) { e.Details = map[string]string{"attempt": "3", "method": "password"} }, true},
		{"one microsecond later", func(e *Event) { e.Time = e.Time.Add(time.Microsecond) }, false},
		{"bytes moved between IP and user agent", func(e *Event) {
			e.IP, e.UserAgent = e.IP+e.UserAgent[:1], e.UserAgent[1:]
		}, false},
		{"bytes moved between detail key and value", func(e *Event) {
			e.Details = map[string]string{"method": "password", "attempt3": ""}
		}, false},
		{"detail moved into reason", func(e *Event) {
			e.Reason += "attempt3"
			delete(e.Details, "attempt")
		}, false},
		{"empty session vs none", func(e *Event) { e.SessionID = "" }, false},
	}
	want := ChainHash(utc.PrevHash, utc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent(t)
			tt.edit(e)
			got := ChainHash(e.PrevHash, e)
			if bytes.Equal(got, want) != tt.equal {
				t.Errorf("hash after edit = %x, original %x, want equal=%v", got, want, tt.equal)
			}
		})
	}
}

func TestChainHashNilAndEmptyAreTheSame(t *testing.T) {
	e := sampleEvent(t)
	e.Details = nil
	a := ChainHash(nil, e)
	e.Details = map[string]string{}
	b := ChainHash([]byte{}, e)
	if !bytes.Equal(a, b) {
		t.Errorf("nil prev/details hash %x, empty %x: a store cannot tell them apart, so they must match", a, b)
	}
}

func TestLink(t *testing.T) {
	t.Run("genesis", func(t *testing.T) {
		e := sampleEvent(t)
		Link(Head{ChainID: e.ChainID}, e)
		if e.Seq != 1 || len(e.PrevHash) != 0 {
			t.Errorf("first event: Seq %d PrevHash %x, want 1 and empty", e.Seq, e.PrevHash)
		}
		if want := ChainHash(nil, e); !bytes.Equal(e.Hash, want) {
			t.Errorf("Hash = %x, want %x", e.Hash, want)
		}
	})
	t.Run("after head", func(t *testing.T) {
		e := sampleEvent(t)
		head := Head{ChainID: e.ChainID, Seq: 41, Hash: bytes.Repeat([]byte{7}, 32), BaseSeq: 20, BaseHash: []byte{1}}
		Link(head, e)
		if e.Seq != 42 || !bytes.Equal(e.PrevHash, head.Hash) {
			t.Errorf("Seq %d PrevHash %x, want 42 and %x", e.Seq, e.PrevHash, head.Hash)
		}
		head.Hash[0] = 0 // the event must not share the head's memory
		if e.PrevHash[0] != 7 {
			t.Errorf("PrevHash aliases head.Hash")
		}
		if want := ChainHash(e.PrevHash, e); !bytes.Equal(e.Hash, want) {
			t.Errorf("Hash = %x, want %x", e.Hash, want)
		}
	})
}

func TestVerifyChain(t *testing.T) {
	const chain = "acct_1"
	tests := []struct {
		name string
		// tamper changes the stored events (a copy) and head; nil keeps them.
		tamper   func(tb testing.TB, ev []*Event, head *Head) []*Event
		wantKind string // "" for an intact chain
		wantSeq  int64
		wantID   string
		wantN    int
		inDetail string
	}{
		{name: "intact", wantN: 10},
		{name: "new chain, no events", tamper: func(_ testing.TB, _ []*Event, h *Head) []*Event {
			*h = Head{ChainID: chain}
			return nil
		}},
		{name: "sub-microsecond time change is not an edit", wantN: 10, tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
			ev[4].Time = ev[4].Time.Truncate(time.Microsecond)
			return ev
		}},

		// Edits.
		{name: "type edited", wantKind: KindEdited, wantSeq: 5, wantID: "ev05", wantN: 5, inDetail: "hash does not match",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[4].Type = PasswordChanged; return ev }},
		{name: "outcome edited", wantKind: KindEdited, wantSeq: 1, wantID: "ev01", wantN: 1,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[0].Outcome = Failure; return ev }},
		{name: "time edited", wantKind: KindEdited, wantSeq: 3, wantID: "ev03", wantN: 3,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[2].Time = ev[2].Time.Add(-time.Hour); return ev }},
		{name: "IP edited in the newest", wantKind: KindEdited, wantSeq: 10, wantID: "ev10", wantN: 10,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[9].IP = "10.0.0.1"; return ev }},
		{name: "detail added", wantKind: KindEdited, wantSeq: 6, wantID: "ev06", wantN: 6,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[5].Details["note"] = "x"; return ev }},
		{name: "detail removed", wantKind: KindEdited, wantSeq: 6, wantID: "ev06", wantN: 6,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[5].Details = nil; return ev }},
		{name: "seq edited", wantKind: KindEdited, wantSeq: 9, wantID: "ev04", wantN: 4,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[3].Seq = 9; return ev }},
		{name: "prev link edited", wantKind: KindEdited, wantSeq: 7, wantID: "ev07", wantN: 7,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[6].PrevHash[0] ^= 1; return ev }},
		{name: "hash edited", wantKind: KindEdited, wantSeq: 7, wantID: "ev07", wantN: 7,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[6].Hash[31] ^= 1; return ev }},
		{name: "contents of two events swapped, seqs kept", wantKind: KindEdited, wantSeq: 3, wantID: "ev07", wantN: 3,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
				a, b := *ev[2], *ev[6]
				a.Seq, b.Seq = b.Seq, a.Seq
				*ev[2], *ev[6] = b, a
				return ev
			}},

		// Re-hashed forgeries: each event's own hash is right, the links are not.
		{name: "middle event rewritten and re-hashed", wantKind: KindReordered, wantSeq: 6, wantID: "ev06", wantN: 6,
			inDetail: "does not link to the event before it (seq 5)",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
				ev[4].Type = PasswordChanged
				rehash(ev[4])
				return ev
			}},
		{name: "prev link edited and re-hashed", wantKind: KindReordered, wantSeq: 7, wantID: "ev07", wantN: 7,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
				ev[6].PrevHash = ev[4].Hash
				rehash(ev[6])
				return ev
			}},
		{name: "newest rewritten and re-hashed", wantKind: KindHeadMismatch, wantSeq: 10, wantID: "ev10", wantN: 10,
			inDetail: "differs from the head",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
				ev[9].Outcome = Failure
				rehash(ev[9])
				return ev
			}},
		{name: "forged genesis links to something", wantKind: KindReordered, wantSeq: 1, wantID: "ev01", wantN: 1,
			inDetail: "first event",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event {
				ev[0].PrevHash = []byte{1}
				rehash(ev[0])
				return ev
			}},
		{name: "event from another chain spliced in", wantKind: KindReordered, wantSeq: 4, wantID: "ev04", wantN: 4,
			inDetail: "belongs to chain acct_2",
			tamper: func(tb testing.TB, ev []*Event, _ *Head) []*Event {
				other, _ := buildChain(tb, "acct_2", 10)
				ev[3] = other[3]
				return ev
			}},

		// Deletions.
		{name: "middle deleted", wantKind: KindDeleted, wantSeq: 5, wantN: 9, inDetail: "the next event present is ev06 (seq 6)",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { return slices.Delete(ev, 4, 5) }},
		{name: "three deleted", wantKind: KindDeleted, wantSeq: 4, wantN: 7, inDetail: "seqs 4 to 6 are all missing; the next event present is ev07 (seq 7)",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { return slices.Delete(ev, 3, 6) }},
		{name: "first deleted", wantKind: KindDeleted, wantSeq: 1, wantN: 9, inDetail: "next event present is ev02 (seq 2)",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { return ev[1:] }},
		{name: "newest deleted", wantKind: KindDeleted, wantSeq: 10, wantN: 9, inDetail: "the log ends at seq 9, but the chain's head records seq 10",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { return ev[:9] }},
		{name: "newest two deleted", wantKind: KindDeleted, wantSeq: 9, wantN: 8, inDetail: "seqs 9 to 10 are all missing; the log ends at seq 8",
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { return ev[:8] }},
		{name: "everything deleted", wantKind: KindDeleted, wantSeq: 1, wantN: 0, inDetail: "no events remain",
			tamper: func(_ testing.TB, _ []*Event, _ *Head) []*Event { return nil }},

		// Reordering.
		{name: "two neighbours swapped", wantKind: KindReordered, wantSeq: 5, wantID: "ev05", wantN: 5,
			inDetail: "came where seq 4 was expected",
			tamper:   func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[3], ev[4] = ev[4], ev[3]; return ev }},
		{name: "two far apart swapped", wantKind: KindReordered, wantSeq: 8, wantID: "ev08", wantN: 4,
			tamper: func(_ testing.TB, ev []*Event, _ *Head) []*Event { ev[2], ev[7] = ev[7], ev[2]; return ev }},
		{name: "event duplicated", wantKind: KindReordered, wantSeq: 3, wantID: "ev03", wantN: 4,
			inDetail: "came where seq 4 was expected",
			tamper:   func(_ testing.TB, ev []*Event, _ *Head) []*Event { return slices.Insert(ev, 3, ev[2]) }},

		// The head.
		{name: "event added past the head", wantKind: KindHeadMismatch, wantSeq: 11, wantID: "ev11", wantN: 11,
			inDetail: "past the head",
			tamper: func(tb testing.TB, ev []*Event, h *Head) []*Event {
				e := &Event{ID: "ev11", ChainID: chain, Time: testTime, Type: Signout, Outcome: Success, Actor: ActorSelf}
				Link(*h, e)
				return append(ev, e)
			}},
		{name: "head hash edited", wantKind: KindHeadMismatch, wantSeq: 10, wantID: "ev10", wantN: 10,
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event { h.Hash = []byte{1, 2, 3}; return ev }},

		// Pruning.
		{name: "pruned checkpoint verifies", wantN: 6,
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event {
				h.BaseSeq, h.BaseHash = 4, ev[3].Hash
				return ev[4:]
			}},
		{name: "pruned everything verifies", wantN: 0,
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event {
				h.BaseSeq, h.BaseHash = 10, ev[9].Hash
				return nil
			}},
		{name: "pruned, first survivor deleted", wantKind: KindDeleted, wantSeq: 5, wantN: 5,
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event {
				h.BaseSeq, h.BaseHash = 4, ev[3].Hash
				return ev[5:]
			}},
		{name: "pruned, checkpoint hash edited", wantKind: KindReordered, wantSeq: 5, wantID: "ev05", wantN: 1,
			inDetail: "checkpoint left by pruning (seq 4)",
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event {
				h.BaseSeq, h.BaseHash = 4, []byte{9}
				return ev[4:]
			}},
		{name: "pruned everything, checkpoint differs from head", wantKind: KindHeadMismatch, wantSeq: 10,
			tamper: func(_ testing.TB, ev []*Event, h *Head) []*Event {
				h.BaseSeq, h.BaseHash = 10, ev[8].Hash
				return nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, head := buildChain(t, chain, 10)
			if tt.tamper != nil {
				events = tt.tamper(t, events, &head)
			}
			p, n, err := VerifyChain(head, eachOf(events))
			if err != nil {
				t.Fatalf("VerifyChain: error %v", err)
			}
			if n != tt.wantN {
				t.Errorf("events checked = %d, want %d", n, tt.wantN)
			}
			if tt.wantKind == "" {
				if p != nil {
					t.Fatalf("problem = %v, want none", p)
				}
				return
			}
			if p == nil {
				t.Fatalf("problem = nil, want %s at seq %d", tt.wantKind, tt.wantSeq)
			}
			if p.Kind != tt.wantKind || p.Seq != tt.wantSeq || p.EventID != tt.wantID || p.ChainID != chain {
				t.Errorf("problem = {%s seq %d id %q chain %q}, want {%s seq %d id %q chain %q}\n(%v)",
					p.Kind, p.Seq, p.EventID, p.ChainID, tt.wantKind, tt.wantSeq, tt.wantID, chain, p)
			}
			t.Log(p)
			if !strings.Contains(p.Detail, tt.inDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.inDetail)
			}
		})
	}
}

func TestVerifyChainEachErrors(t *testing.T) {
	events, head := buildChain(t, "acct_1", 5)
	storeErr := errors.New("connection reset")
	tests := []struct {
		name     string
		each     func(fn func(*Event) error) error
		wantErr  error
		wantKind string
	}{
		{"store fails", func(fn func(*Event) error) error {
			_ = fn(events[0])
			return storeErr
		}, storeErr, ""},
		{"store wraps the stop", func(fn func(*Event) error) error {
			tampered := *events[1]
			tampered.IP = "x"
			for _, e := range []*Event{events[0], &tampered} {
				if err := fn(e); err != nil {
					return fmt.Errorf("sqlite: %w", err)
				}
			}
			return nil
		}, nil, KindEdited},
		{"store ignores the stop", func(fn func(*Event) error) error {
			tampered := *events[1]
			tampered.IP = "x"
			for _, e := range []*Event{events[0], &tampered, events[2], events[3], events[4]} {
				_ = fn(e)
			}
			return nil
		}, nil, KindEdited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := VerifyChain(head, tt.each)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			var gotKind string
			if p != nil {
				gotKind = p.Kind
			}
			if gotKind != tt.wantKind {
				t.Errorf("problem kind = %q, want %q (%v)", gotKind, tt.wantKind, p)
			}
		})
	}
}

func TestProblemError(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"edited", Problem{ChainID: "acct_7", Seq: 17, EventID: "01HABC", Kind: KindEdited, Detail: "its hash does not match its content"},
			"event 01HABC (seq 17) of chain acct_7 was edited: its hash does not match its content"},
		{"deleted", Problem{ChainID: "acct_7", Seq: 4, Kind: KindDeleted, Detail: "the next event present is 01HB (seq 5)"},
			"event at seq 4 of chain acct_7 was deleted: the next event present is 01HB (seq 5)"},
		{"reordered", Problem{ChainID: "system", Seq: 5, EventID: "e5", Kind: KindReordered, Detail: "it came where seq 4 was expected"},
			"event e5 (seq 5) of chain system is out of place: it came where seq 4 was expected"},
		{"head", Problem{ChainID: "acct_7", Seq: 10, EventID: "e10", Kind: KindHeadMismatch, Detail: "d"},
			"event e10 (seq 10) of chain acct_7 does not match the chain's head: d"},
		{"id with a newline is quoted", Problem{ChainID: "acct_7", Seq: 1, EventID: "e1\nOK all good", Kind: KindEdited, Detail: "d"},
			`event "e1\nOK all good" (seq 1) of chain acct_7 was edited: d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}

func BenchmarkChainHash(b *testing.B) {
	e := sampleEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		ChainHash(e.PrevHash, e)
	}
}

func BenchmarkVerifyChain(b *testing.B) {
	events, head := buildChain(b, "acct_1", 1000)
	each := eachOf(events)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p, _, err := VerifyChain(head, each)
		if p != nil || err != nil {
			b.Fatalf("VerifyChain: %v %v", p, err)
		}
		n += len(events)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
