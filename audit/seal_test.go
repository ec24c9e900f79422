package audit

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

// ring is Keys with several keys, the last current, as after rotations.
type ring struct{ ids []string }

func (r ring) Current() (string, []byte) {
	id := r.ids[len(r.ids)-1]
	return id, r.key(id)
}

func (r ring) Key(id string) ([]byte, error) {
	if !slices.Contains(r.ids, id) {
		return nil, fmt.Errorf("no key %s", id)
	}
	return r.key(id), nil
}

func (r ring) IDs() []string { return r.ids }

func (ring) key(id string) []byte { return bytes.Repeat([]byte(id[1:]), 32)[:32] }

// sealChain links and seals events onto head under keys, as the service's
// append does, and returns the new head.
func sealChain(keys Keys, head Head, events []*Event) Head {
	for _, e := range events {
		e.PrevHash, e.Hash, e.MAC = nil, nil, ""
		Link(head, e)
		if keys != nil {
			Seal(keys, head, e)
		}
		head.Seq, head.Hash, head.Seal = e.Seq, e.Hash, e.HeadSeal
		e.HeadSeal = "" // never stored with the event
	}
	return head
}

func TestVerifySealed(t *testing.T) {
	k1, k12 := ring{[]string{"k1"}}, ring{[]string{"k1", "k2"}}
	now := testTime.Add(time.Hour)
	const retention = 400 * 24 * time.Hour
	tests := []struct {
		name string
		// build returns the events left, the head, and the keys verify holds.
		build func(events []*Event) ([]*Event, Head, Keys)
		now   time.Time
		kind  string // "" when intact
	}{
		{"intact", func(evs []*Event) ([]*Event, Head, Keys) {
			return evs, sealChain(k1, Head{ChainID: "c"}, evs), k1
		}, now, ""},
		{"a rotation half way", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(k1, Head{ChainID: "c"}, evs[:3])
			return evs, sealChain(k12, h, evs[3:]), k12
		}, now, ""},
		{"sealed with a key no longer held", func(evs []*Event) ([]*Event, Head, Keys) {
			return evs, sealChain(k1, Head{ChainID: "c"}, evs), ring{[]string{"k2"}}
		}, now, KindUnknownKey},
		{"rewritten and re-hashed", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(k1, Head{ChainID: "c"}, evs)
			macs := make([]string, len(evs))
			for i, e := range evs {
				macs[i] = e.MAC
				e.IP = "10.6.6.6"
			}
			h2 := sealChain(nil, Head{ChainID: "c"}, evs)
			for i, e := range evs {
				e.MAC = macs[i] // the old MACs, all the forger has
			}
			h.Hash = h2.Hash
			return evs, h, k1
		}, now, KindForged},
		{"truncated, the head moved back", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(k1, Head{ChainID: "c"}, evs)
			last := evs[len(evs)-2]
			h.Seq, h.Hash = last.Seq, last.Hash
			return evs[:len(evs)-1], h, k1
		}, now, KindHeadMismatch},
		{"truncated, then appended to", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(k1, Head{ChainID: "c"}, evs[:5])
			h.Seq, h.Hash = evs[3].Seq, evs[3].Hash // seq 5 gone, its seal left
			return append(evs[:4:4], evs[5:]...), sealChain(k1, h, evs[5:]), k1
		}, now, KindForged},
		{"a MAC removed", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(k1, Head{ChainID: "c"}, evs)
			evs[2].MAC = ""
			return evs, h, k1
		}, now, KindUnsealed},
		{"written before sealing, then sealed", func(evs []*Event) ([]*Event, Head, Keys) {
			h := sealChain(nil, Head{ChainID: "c"}, evs[:3])
			last := evs[2]
			h.Seal = SealHead(k1, "c", last.Seq, last.Time, last.Hash, last.MAC)
			return evs, sealChain(k1, h, evs[3:]), k1
		}, now, ""},
		{"written before sealing, never sealed", func(evs []*Event) ([]*Event, Head, Keys) {
			return evs, sealChain(nil, Head{ChainID: "c"}, evs), k1
		}, now, KindUnsealed},
		{"pruned after the retention period", func(evs []*Event) ([]*Event, Head, Keys) {
			left, h := prune(evs, sealChain(k1, Head{ChainID: "c"}, evs), 2)
			return left, h, k1
		}, testTime.Add(retention + time.Hour), ""},
		{"pruned too young", func(evs []*Event) ([]*Event, Head, Keys) {
			left, h := prune(evs, sealChain(k1, Head{ChainID: "c"}, evs), 2)
			return left, h, k1
		}, now, KindYoungCheckpoint},
		{"pruned, the checkpoint's time made older", func(evs []*Event) ([]*Event, Head, Keys) {
			left, h := prune(evs, sealChain(k1, Head{ChainID: "c"}, evs), 2)
			h.BaseTime = h.BaseTime.Add(-retention)
			return left, h, k1
		}, now, KindForged},
		{"pruned, the checkpoint's time removed", func(evs []*Event) ([]*Event, Head, Keys) {
			left, h := prune(evs, sealChain(k1, Head{ChainID: "c"}, evs), 2)
			h.BaseTime = time.Time{}
			return left, h, k1
		}, now, KindForged},
		{"pruned with retention off", func(evs []*Event) ([]*Event, Head, Keys) {
			left, h := prune(evs, sealChain(k1, Head{ChainID: "c"}, evs), 2)
			return left, h, k1
		}, time.Time{}, KindYoungCheckpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, _ := buildChain(t, "c", 6)
			evs, head, keys := tt.build(evs)
			c := Sealed{Keys: keys, Now: tt.now, Retention: retention}
			if tt.now.IsZero() {
				c.Now, c.Retention = now, 0
			}
			p, _, err := VerifySealed(head, c, eachOf(evs))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = p.Kind
			}
			if got != tt.kind {
				t.Fatalf("problem = %v, want kind %q", p, tt.kind)
			}
		})
	}
}

// prune removes the first n events as PruneEvents does: the last one
// removed becomes the checkpoint.
func prune(evs []*Event, h Head, n int) ([]*Event, Head) {
	last := evs[n-1]
	h.BaseSeq, h.BaseHash, h.BaseMAC, h.BaseTime = last.Seq, last.Hash, last.MAC, last.Time
	return evs[n:], h
}

// BenchmarkSeal is what sealing adds to an append: two HMAC-SHA256.
func BenchmarkSeal(b *testing.B) {
	keys := OneKey{ID: "k1", Secret: make([]byte, 32)}
	evs, head := buildChain(b, "acct_06eah81yg1hhnen12jy3vkz43g", 2)
	head.Seal = "k1:" + macEncoding.EncodeToString(make([]byte, 32))
	e := evs[1]
	b.ReportAllocs()
	for b.Loop() {
		Seal(keys, head, e)
	}
}

// BenchmarkVerifySealed is BenchmarkVerifyChain with the seal checked too.
func BenchmarkVerifySealed(b *testing.B) {
	keys := OneKey{ID: "k1", Secret: make([]byte, 32)}
	events, _ := buildChain(b, "acct_1", 1000)
	head := sealChain(keys, Head{ChainID: "acct_1"}, events)
	each := eachOf(events)
	c := Sealed{Keys: keys, Now: testTime, Retention: time.Hour}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p, _, err := VerifySealed(head, c, each)
		if p != nil || err != nil {
			b.Fatalf("VerifySealed: %v %v", p, err)
		}
		n += len(events)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
