package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// newEvent returns an event without its chain fields (Seq, PrevHash, Hash).
func newEvent(chainID string, typ audit.Type, tm time.Time, id string) *keyward.Event {
	return &keyward.Event{
		ID:        id,
		ChainID:   chainID,
		Time:      tm,
		Type:      typ,
		Outcome:   audit.Success,
		IP:        "192.0.2.10",
		UserAgent: "Mozilla/5.0",
		Actor:     audit.ActorSelf,
		Details:   map[string]string{},
	}
}

// appendEvents appends each event to its chain the way the service does: in
// a transaction that locks the head and links the event to it.
func appendEvents(t testing.TB, s keyward.Store, evs ...*keyward.Event) {
	t.Helper()
	for _, e := range evs {
		err := s.InTx(t.Context(), func(q keyward.Queries) error {
			h, err := q.LockAuditHead(t.Context(), e.ChainID)
			if err != nil {
				return err
			}
			e.Seq, e.PrevHash = h.Seq+1, h.Hash
			e.Hash = fakeHash(h.Hash, e.ID, e.Seq)
			// Stand-ins for the keyed MACs (audit.Seal): the store keeps
			// them as given, the event's with it, the head's in the head.
			e.MAC, e.HeadSeal = "k1:mac-"+e.ID, headSealOf(e)
			return q.AppendEvent(t.Context(), e)
		})
		must(t, err, "append event to "+e.ChainID)
		e.HeadSeal = "" // never read back with the event
	}
}

// headSealOf is the stand-in head seal appendEvents gives e.
func headSealOf(e *keyward.Event) string { return "k1:seal-" + e.ID }

func chainEvents(t testing.TB, s queryer, chainID string) []*keyward.Event {
	t.Helper()
	var out []*keyward.Event
	must(t, s.EachChainEvent(t.Context(), chainID, func(e *keyward.Event) error {
		out = append(out, e)
		return nil
	}), "EachChainEvent "+chainID)
	return out
}

func eventIDs[E *keyward.Event | keyward.Event](evs []E) []string {
	ids := []string{}
	for _, e := range evs {
		switch e := any(e).(type) {
		case *keyward.Event:
			ids = append(ids, e.ID)
		case keyward.Event:
			ids = append(ids, e.ID)
		}
	}
	return ids
}

func seqs(evs []*keyward.Event) []int64 {
	out := []int64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func head(t testing.TB, s keyward.Store, chainID string) audit.Head {
	t.Helper()
	var h audit.Head
	must(t, s.InTx(t.Context(), func(q keyward.Queries) error {
		var err error
		h, err = q.LockAuditHead(t.Context(), chainID)
		return err
	}), "LockAuditHead "+chainID)
	return h
}

// newer reports whether a comes before b in the newest-first order.
func newer(a, b *keyward.Event) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// filterEvents is the reference implementation of EventFilter.
func filterEvents(all []*keyward.Event, f keyward.EventFilter) []*keyward.Event {
	var out []*keyward.Event
	for _, e := range all {
		switch {
		case f.ChainID != "" && e.ChainID != f.ChainID,
			len(f.Types) > 0 && !slices.Contains(f.Types, e.Type),
			!f.Since.IsZero() && e.Time.Before(f.Since),
			!f.Until.IsZero() && !e.Time.Before(f.Until),
			f.Before != nil && !(e.Time.Before(f.Before.Time) || e.Time.Equal(f.Before.Time) && e.ID < f.Before.ID):
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, newer)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

func testAudit(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		h := head(t, s, a.ID)
		check(t, "head of a new chain", h, audit.Head{ChainID: a.ID})

		e1 := newEvent(a.ID, audit.AccountCreated, at(0), newID(eventPrefix))
		e1.Details = nil
		e2 := newEvent(a.ID, audit.SigninFailed, at(time.Second+time.Microsecond), newID(eventPrefix))
		e2.Outcome, e2.Reason, e2.Actor = audit.Failure, "invalid_password", audit.ActorSystem
		e2.Details = map[string]string{"email": "A@example.com", "note": "ünïcødé ✓", "empty": ""}
		e3 := newEvent(a.ID, audit.SessionRevoked, at(2*time.Second), newID(eventPrefix))
		e3.SessionID, e3.Actor, e3.IP, e3.UserAgent = newID(sessionPrefix), audit.ActorAdmin, "", ""
		appendEvents(t, s, e1, e2, e3)

		got := chainEvents(t, s, a.ID)
		want := []*keyward.Event{e1, e2, e3}
		check(t, "chain events", got, want)
		for _, e := range got {
			if e.Details == nil {
				t.Errorf("event %d: Details is nil, want an empty map", e.Seq)
			}
			if e.Time.Location() != time.UTC {
				t.Errorf("event %d: Time in %v, want UTC", e.Seq, e.Time.Location())
			}
		}
		list, err := s.ListEvents(ctx, keyward.EventFilter{ChainID: a.ID})
		must(t, err, "ListEvents")
		check(t, "listed events", list, []keyward.Event{*e3, *e2, *e1})
		for _, e := range list {
			if e.Details == nil {
				t.Errorf("listed event %d: Details is nil, want an empty map", e.Seq)
			}
		}
		check(t, "head", head(t, s, a.ID), audit.Head{ChainID: a.ID, Seq: 3, Hash: e3.Hash, Seal: headSealOf(e3)})
		heads, err := s.AuditHeads(ctx)
		must(t, err, "AuditHeads")
		check(t, "AuditHeads", heads, []audit.Head{{ChainID: a.ID, Seq: 3, Hash: e3.Hash, Seal: headSealOf(e3)}})
	})

	t.Run("append out of sequence", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		appendEvents(t, s, newEvent(a.ID, audit.AccountCreated, at(0), newID(eventPrefix)), newEvent(a.ID, audit.SigninSucceeded, at(1), newID(eventPrefix)))
		before := head(t, s, a.ID)
		newChain := newID(accountPrefix)
		cases := []struct {
			name  string
			chain string
			seq   func(h audit.Head) int64
		}{
			{"gap", a.ID, func(h audit.Head) int64 { return h.Seq + 2 }},
			{"replay", a.ID, func(h audit.Head) int64 { return h.Seq }},
			{"zero", a.ID, func(audit.Head) int64 { return 0 }},
			{"new chain not at 1", newChain, func(audit.Head) int64 { return 2 }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newEvent(c.chain, audit.Signout, at(time.Hour), newID(eventPrefix))
				err := s.InTx(ctx, func(q keyward.Queries) error {
					h, err := q.LockAuditHead(ctx, c.chain)
					if err != nil {
						return err
					}
					e.Seq, e.PrevHash = c.seq(h), h.Hash
					e.Hash = fakeHash(h.Hash, e.ID, e.Seq)
					return q.AppendEvent(ctx, e)
				})
				if err == nil {
					t.Errorf("AppendEvent with Seq %d: got no error, want one", e.Seq)
				}
				e.Seq = before.Seq + 2
				if err := s.AppendEvent(ctx, e); err == nil {
					t.Errorf("AppendEvent outside a transaction with Seq %d: got no error, want one", e.Seq)
				}
			})
		}
		check(t, "head after failed appends", head(t, s, a.ID), before)
		check(t, "chain after failed appends", seqs(chainEvents(t, s, a.ID)), []int64{1, 2})
		check(t, "new chain after failed appends", seqs(chainEvents(t, s, newChain)), []int64{})

		t.Run("outside a transaction, in sequence", func(t *testing.T) {
			e := newEvent(a.ID, audit.Signout, at(time.Hour), newID(eventPrefix))
			e.Seq, e.PrevHash = before.Seq+1, before.Hash
			e.Hash = fakeHash(e.PrevHash, e.ID, e.Seq)
			must(t, s.AppendEvent(ctx, e), "AppendEvent")
			check(t, "head", head(t, s, a.ID), audit.Head{ChainID: a.ID, Seq: 3, Hash: e.Hash})
		})
	})

	t.Run("query", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		b := newAccount(t, s, "b@example.com")
		chains := []string{a.ID, b.ID, audit.SystemChain}
		types := []audit.Type{audit.SigninSucceeded, audit.SigninFailed, audit.Signout, audit.PasswordChanged}
		r := rand.New(rand.NewPCG(1, 2))
		var all []*keyward.Event
		for range 60 {
			var id [16]byte
			for i := range id {
				id[i] = byte(r.IntN(256))
			}
			// 12 instants for 60 events: many ties on Time.
			e := newEvent(chains[r.IntN(len(chains))], types[r.IntN(len(types))], at(time.Duration(r.IntN(12))*time.Minute), idString(eventPrefix, id))
			all = append(all, e)
		}
		appendEvents(t, s, all...)

		byOrder := slices.Clone(all)
		slices.SortFunc(byOrder, newer)
		var tie *keyward.Event // an event with an older one at the same instant
		for i := 0; i+1 < len(byOrder) && tie == nil; i++ {
			if byOrder[i].Time.Equal(byOrder[i+1].Time) && i > 5 {
				tie = byOrder[i]
			}
		}
		if tie == nil {
			t.Fatal("fixture has no tie on Time")
		}
		cases := []struct {
			name string
			f    keyward.EventFilter
		}{
			{"everything", keyward.EventFilter{}},
			{"one chain", keyward.EventFilter{ChainID: a.ID}},
			{"system chain", keyward.EventFilter{ChainID: audit.SystemChain}},
			{"unknown chain", keyward.EventFilter{ChainID: newID(accountPrefix)}},
			{"one type", keyward.EventFilter{Types: []audit.Type{audit.SigninFailed}}},
			{"two types of one chain", keyward.EventFilter{ChainID: b.ID, Types: []audit.Type{audit.SigninFailed, audit.Signout}}},
			{"a type with no events", keyward.EventFilter{Types: []audit.Type{audit.TwoFactorEnabled}}},
			{"since is inclusive", keyward.EventFilter{Since: at(4 * time.Minute)}},
			{"until is exclusive", keyward.EventFilter{Until: at(7 * time.Minute)}},
			{"window", keyward.EventFilter{ChainID: a.ID, Since: at(2 * time.Minute), Until: at(5 * time.Minute)}},
			{"empty window", keyward.EventFilter{Since: at(5 * time.Minute), Until: at(5 * time.Minute)}},
			{"limit", keyward.EventFilter{Limit: 7}},
			{"limit above count", keyward.EventFilter{ChainID: a.ID, Limit: 1000}},
			{"before, tie on time broken by id", keyward.EventFilter{Before: &keyward.EventCursor{Time: tie.Time, ID: tie.ID}}},
			{"before an instant", keyward.EventFilter{Before: &keyward.EventCursor{Time: at(6 * time.Minute), ID: idString(eventPrefix, [16]byte{})}}},
			{"before, between two instants", keyward.EventFilter{Before: &keyward.EventCursor{Time: at(6*time.Minute + time.Second), ID: "ev_zzzzzzzzzzzzzzzzzzzzzzzzzw"}}},
			{"before, one chain and limit", keyward.EventFilter{ChainID: tie.ChainID, Before: &keyward.EventCursor{Time: tie.Time, ID: tie.ID}, Limit: 4}},
			{"everything at once", keyward.EventFilter{ChainID: a.ID, Types: types[:3], Since: at(time.Minute), Until: at(10 * time.Minute), Before: &keyward.EventCursor{Time: at(8 * time.Minute), ID: "ev_g0000000000000000000000000"}, Limit: 3}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				want := filterEvents(all, c.f)
				got, err := s.ListEvents(ctx, c.f)
				must(t, err, "ListEvents")
				if check(t, "ListEvents ids", eventIDs(got), eventIDs(want)) && len(want) > 0 {
					check(t, "first event", got[0], *want[0])
				}
				var streamed []*keyward.Event
				must(t, s.EachEvent(ctx, c.f, func(e *keyward.Event) error {
					streamed = append(streamed, e)
					return nil
				}), "EachEvent")
				if check(t, "EachEvent ids", eventIDs(streamed), eventIDs(want)) && len(want) > 0 {
					check(t, "first streamed event", streamed[0], want[0])
				}
			})
		}

		t.Run("pages", func(t *testing.T) {
			for _, f := range []keyward.EventFilter{{}, {ChainID: a.ID}, {Types: types[1:3]}} {
				want := filterEvents(all, f)
				var got []keyward.Event
				f.Limit = 7
				for page := 0; ; page++ {
					if page > len(all) {
						t.Fatal("paging does not end")
					}
					evs, err := s.ListEvents(ctx, f)
					must(t, err, "ListEvents")
					got = append(got, evs...)
					if len(evs) < f.Limit {
						break
					}
					last := evs[len(evs)-1]
					f.Before = &keyward.EventCursor{Time: last.Time, ID: last.ID}
				}
				check(t, fmt.Sprintf("pages of chain %q types %v", f.ChainID, f.Types), eventIDs(got), eventIDs(want))
			}
		})

		t.Run("stop streaming", func(t *testing.T) {
			errStop := errors.New("stop")
			calls := 0
			err := s.EachEvent(ctx, keyward.EventFilter{}, func(*keyward.Event) error { calls++; return errStop })
			check(t, "EachEvent returns fn's error", errors.Is(err, errStop), true)
			check(t, "EachEvent calls after the error", calls, 1)
			calls = 0
			err = s.EachChainEvent(ctx, a.ID, func(*keyward.Event) error { calls++; return errStop })
			check(t, "EachChainEvent returns fn's error", errors.Is(err, errStop), true)
			check(t, "EachChainEvent calls after the error", calls, 1)
		})

		t.Run("chain order", func(t *testing.T) {
			for _, chain := range chains {
				var want []string
				for _, e := range all {
					if e.ChainID == chain {
						want = append(want, e.ID)
					}
				}
				got := chainEvents(t, s, chain)
				check(t, "ids of "+chain, eventIDs(got), want)
				for i, e := range got {
					if e.Seq != int64(i+1) {
						t.Errorf("%s: event %d has Seq %d", chain, i, e.Seq)
					}
					if i > 0 && !slices.Equal(e.PrevHash, got[i-1].Hash) {
						t.Errorf("%s: event %d PrevHash does not link", chain, e.Seq)
					}
				}
			}
			check(t, "unknown chain", len(chainEvents(t, s, newID(accountPrefix))), 0)
		})

		t.Run("heads", func(t *testing.T) {
			var want []audit.Head
			for _, chain := range chains {
				evs := chainEvents(t, s, chain)
				if len(evs) == 0 {
					continue
				}
				last := evs[len(evs)-1]
				want = append(want, audit.Head{ChainID: chain, Seq: last.Seq, Hash: last.Hash, Seal: headSealOf(last)})
			}
			got, err := s.AuditHeads(ctx)
			must(t, err, "AuditHeads")
			byChain := func(x, y audit.Head) int { return strings.Compare(x.ChainID, y.ChainID) }
			slices.SortFunc(got, byChain)
			slices.SortFunc(want, byChain)
			check(t, "AuditHeads", got, want)
		})
	})

	t.Run("seal head", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "seal@example.com")
		e1, e2 := newEvent(a.ID, audit.AccountCreated, at(0), newID(eventPrefix)), newEvent(a.ID, audit.Signout, at(time.Minute), newID(eventPrefix))
		appendEvents(t, s, e1, e2)
		steps := []struct {
			name  string
			seq   int64
			seal  string
			want  bool
			after string
		}{
			// A head written before sealing existed has seal "".
			{"sealed already", 2, "k1:other", false, headSealOf(e2)},
			{"unknown chain", 1, "k1:other", false, ""},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				chain := a.ID
				if st.name == "unknown chain" {
					chain = newID(accountPrefix)
				}
				ok, err := s.SealAuditHead(ctx, chain, st.seq, st.seal)
				must(t, err, "SealAuditHead")
				check(t, "sealed", ok, st.want)
				if chain == a.ID {
					check(t, "seal", head(t, s, chain).Seal, st.after)
				}
			})
		}
		// An unsealed head: a chain appended to with no seal, as before sealing.
		b := newAccount(t, s, "unsealed@example.com")
		old := newEvent(b.ID, audit.AccountCreated, at(0), newID(eventPrefix))
		must(t, s.InTx(ctx, func(q keyward.Queries) error {
			h, err := q.LockAuditHead(ctx, b.ID)
			if err != nil {
				return err
			}
			old.Seq, old.PrevHash, old.Hash = h.Seq+1, h.Hash, fakeHash(h.Hash, old.ID, 1)
			return q.AppendEvent(ctx, old)
		}), "append without a seal")
		check(t, "unsealed head", head(t, s, b.ID).Seal, "")
		ok, err := s.SealAuditHead(ctx, b.ID, 2, "k1:moved")
		must(t, err, "SealAuditHead at a seq the head is not at")
		check(t, "sealed a head that moved", ok, false)
		check(t, "seal after a refused one", head(t, s, b.ID).Seal, "")
		ok, err = s.SealAuditHead(ctx, b.ID, 1, "k1:first")
		must(t, err, "SealAuditHead")
		check(t, "sealed", ok, true)
		check(t, "seal", head(t, s, b.ID).Seal, "k1:first")
		ok, err = s.SealAuditHead(ctx, b.ID, 1, "k1:second")
		must(t, err, "SealAuditHead again")
		check(t, "sealed twice", ok, false)
		check(t, "seal after a second one", head(t, s, b.ID).Seal, "k1:first")
	})

	t.Run("prune", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		p := newAccount(t, s, "p@example.com")
		q := newAccount(t, s, "q@example.com")
		var pe, qe []*keyward.Event
		for i := range 10 {
			pe = append(pe, newEvent(p.ID, audit.SigninSucceeded, at(time.Duration(i)*time.Minute), newID(eventPrefix)))
		}
		for i := range 3 {
			qe = append(qe, newEvent(q.ID, audit.SigninSucceeded, at(time.Duration(i)*time.Minute), newID(eventPrefix)))
		}
		appendEvents(t, s, pe...)
		appendEvents(t, s, qe...)
		last := pe[9]
		// The checkpoint is the last pruned event: its seq, hash, MAC and time.
		base := func(e *keyward.Event) audit.Head {
			return audit.Head{ChainID: p.ID, Seq: 10, Hash: last.Hash, Seal: headSealOf(last), BaseSeq: e.Seq, BaseHash: e.Hash, BaseMAC: e.MAC, BaseTime: e.Time}
		}
		steps := []struct {
			name    string
			chain   string
			before  time.Time
			deleted int
			left    []int64
			head    audit.Head
		}{
			{"older than the fifth", p.ID, at(4 * time.Minute), 4, []int64{5, 6, 7, 8, 9, 10}, base(pe[3])},
			{"again", p.ID, at(4 * time.Minute), 0, []int64{5, 6, 7, 8, 9, 10}, base(pe[3])},
			{"earlier", p.ID, at(time.Minute), 0, []int64{5, 6, 7, 8, 9, 10}, base(pe[3])},
			{"one microsecond later", p.ID, at(4*time.Minute + time.Microsecond), 1, []int64{6, 7, 8, 9, 10}, base(pe[4])},
			{"everything", p.ID, at(time.Hour), 5, []int64{}, base(last)},
			{"unknown chain", newID(accountPrefix), at(time.Hour), 0, []int64{}, audit.Head{}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				n, err := s.PruneEvents(ctx, st.chain, st.before)
				must(t, err, "PruneEvents")
				check(t, "deleted", n, st.deleted)
				check(t, "left", seqs(chainEvents(t, s, st.chain)), st.left)
				if st.chain == p.ID {
					check(t, "head", head(t, s, p.ID), st.head)
				}
				list, err := s.ListEvents(ctx, keyward.EventFilter{ChainID: st.chain})
				must(t, err, "ListEvents")
				check(t, "listed", len(list), len(st.left))
			})
		}
		check(t, "other chain untouched", seqs(chainEvents(t, s, q.ID)), []int64{1, 2, 3})

		t.Run("append after pruning everything", func(t *testing.T) {
			e := newEvent(p.ID, audit.Signout, at(2*time.Hour), newID(eventPrefix))
			appendEvents(t, s, e)
			check(t, "seq", e.Seq, int64(11))
			check(t, "prev hash", e.PrevHash, last.Hash)
			want := base(last)
			want.Seq, want.Hash, want.Seal = 11, e.Hash, headSealOf(e)
			check(t, "head", head(t, s, p.ID), want)
		})

		t.Run("heads", func(t *testing.T) {
			got, err := s.AuditHeads(ctx)
			must(t, err, "AuditHeads")
			for _, h := range got {
				if h.ChainID == p.ID {
					check(t, "p's head", h.BaseSeq, int64(10))
				}
			}
		})

		t.Run("clock skew leaves no gap", func(t *testing.T) {
			// Nodes' clocks disagree a little: seq 4 carries an earlier time
			// than seq 3. Pruning before 3m may only remove seqs 1 and 2:
			// removing seq 4 too would leave a gap no verifier can cross.
			k := newAccount(t, s, "k@example.com")
			var ke []*keyward.Event
			for _, m := range []int{0, 1, 5, 2, 6} {
				ke = append(ke, newEvent(k.ID, audit.SigninSucceeded, at(time.Duration(m)*time.Minute), newID(eventPrefix)))
			}
			appendEvents(t, s, ke...)
			n, err := s.PruneEvents(ctx, k.ID, at(3*time.Minute))
			must(t, err, "PruneEvents")
			check(t, "deleted", n, 2)
			check(t, "left", seqs(chainEvents(t, s, k.ID)), []int64{3, 4, 5})
			h := head(t, s, k.ID)
			check(t, "base", []any{h.BaseSeq, h.BaseHash}, []any{int64(2), ke[1].Hash})
		})
	})

	t.Run("several appends in one transaction", func(t *testing.T) {
		// What a transaction appended, it reads back, in order: a store that
		// sends an append late must still send it before the next statement.
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		e1 := newEvent(a.ID, audit.PasswordChanged, at(0), newID(eventPrefix))
		e2 := newEvent(a.ID, audit.SessionRevoked, at(time.Second), newID(eventPrefix))
		must(t, s.InTx(ctx, func(q keyward.Queries) error {
			for i, e := range []*keyward.Event{e1, e2} {
				h, err := q.LockAuditHead(ctx, a.ID)
				must(t, err, "LockAuditHead")
				check(t, fmt.Sprintf("head before append %d", i+1), h.Seq, int64(i))
				e.Seq, e.PrevHash = h.Seq+1, h.Hash
				e.Hash = fakeHash(h.Hash, e.ID, e.Seq)
				must(t, q.AppendEvent(ctx, e), "AppendEvent")
			}
			check(t, "chain inside the transaction", chainEvents(t, q, a.ID), []*keyward.Event{e1, e2})
			list, err := q.ListEvents(ctx, keyward.EventFilter{ChainID: a.ID})
			must(t, err, "ListEvents inside the transaction")
			check(t, "listed inside the transaction", eventIDs(list), []string{e2.ID, e1.ID})
			return nil
		}), "InTx")
		check(t, "chain", chainEvents(t, s, a.ID), []*keyward.Event{e1, e2})
		check(t, "head", head(t, s, a.ID), audit.Head{ChainID: a.ID, Seq: 2, Hash: e2.Hash})
	})

	t.Run("a failed append fails its transaction", func(t *testing.T) {
		// The service returns AppendEvent's error from fn: the change the
		// event records must not commit without it.
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		appendEvents(t, s, newEvent(a.ID, audit.AccountCreated, at(0), newID(eventPrefix)))
		before := head(t, s, a.ID)
		err := s.InTx(ctx, func(q keyward.Queries) error {
			if err := q.SetPasswordHash(ctx, a.ID, "changed"); err != nil {
				return err
			}
			h, err := q.LockAuditHead(ctx, a.ID)
			if err != nil {
				return err
			}
			e := newEvent(a.ID, audit.PasswordChanged, at(time.Second), newID(eventPrefix))
			e.Seq, e.PrevHash = h.Seq+2, h.Hash // a gap
			e.Hash = fakeHash(h.Hash, e.ID, e.Seq)
			return q.AppendEvent(ctx, e)
		})
		wantCode(t, "InTx with an append out of sequence", err, keyward.CodeConflict)
		got, err := s.AccountByID(ctx, a.ID)
		must(t, err, "AccountByID")
		check(t, "password hash", got.PasswordHash, a.PasswordHash)
		check(t, "head", head(t, s, a.ID), before)
		check(t, "chain", seqs(chainEvents(t, s, a.ID)), []int64{1})
	})

	t.Run("concurrent appenders", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := newAccount(t, s, "a@example.com")
		const workers, each = 10, 20
		_, errs := race(workers, func(w int) (struct{}, error) {
			for i := range each {
				err := s.InTx(ctx, func(q keyward.Queries) error {
					h, err := q.LockAuditHead(ctx, a.ID)
					if err != nil {
						return err
					}
					e := newEvent(a.ID, audit.SigninSucceeded, at(time.Duration(w*each+i)*time.Millisecond), newID(eventPrefix))
					audit.Link(h, e) // the real hash: the chain must verify, as `keyward audit verify` does
					return q.AppendEvent(ctx, e)
				})
				if err != nil {
					return struct{}{}, fmt.Errorf("append %d: %w", i, err)
				}
			}
			return struct{}{}, nil
		})
		for w, err := range errs {
			if err != nil {
				t.Errorf("worker %d: %v", w, err)
			}
		}
		got := chainEvents(t, s, a.ID)
		if len(got) != workers*each {
			t.Fatalf("got %d events, want %d", len(got), workers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has Seq %d: seqs are not contiguous", i, e.Seq)
			}
			if i > 0 && !slices.Equal(e.PrevHash, got[i-1].Hash) {
				t.Fatalf("event %d does not link to %d", e.Seq, got[i-1].Seq)
			}
		}
		h := head(t, s, a.ID)
		check(t, "head", h, audit.Head{ChainID: a.ID, Seq: workers * each, Hash: got[len(got)-1].Hash})
		problem, n, err := audit.VerifyChain(h, func(fn func(*keyward.Event) error) error {
			return s.EachChainEvent(ctx, a.ID, fn)
		})
		must(t, err, "VerifyChain")
		if problem != nil || n != workers*each {
			t.Errorf("VerifyChain: %v after %d events, want intact after %d", problem, n, workers*each)
		}
	})
}
