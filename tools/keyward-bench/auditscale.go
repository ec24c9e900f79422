package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// Targets of the audit log at scale: pages and filters fast on a long log,
// exports streamed in flat memory, appends with the chain fast enough.
const (
	pageP99Target     = 10 * time.Millisecond
	filteredP99Target = 20 * time.Millisecond
	exportRateTarget  = 100_000
	exportLiveTarget  = 8 << 20 // live-heap growth during the export: flat, whatever the log's length
	appendRateTarget  = 5_000
	pageQueries       = 1000
	appendWriters     = 4
	pageLimit         = 50
)

// auditScale builds (or reuses) the store for engine and measures it.
func (b *bench) auditScale(ctx context.Context, engine string) ([]row, error) {
	cfg := defaultGenConfig(b.opts.events)
	scen := fmt.Sprintf("audit at scale (%s)", engine)
	var (
		st        keyward.Store
		meta      storeMeta
		built     bool
		size      int64
		err       error
		afterwork func() error // undoes the append measurement
		cache     string       // SQLite: how much of the file was in the page cache
	)
	local := &cleanups{}
	defer local.run(b.log)
	start := time.Now()
	switch engine {
	case "sqlite":
		var path string
		path, meta, built, err = b.sqliteAuditStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		st = s
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		cache = b.pageCache(ctx, path)
		all, err := st.AuditHeads(ctx)
		if err != nil {
			st.Close()
			return nil, err
		}
		// The heads of the chains the run appends to, to put back after it
		// (a chain without a head yet starts from zero).
		heads := map[string]headState{}
		for _, id := range meta.Append {
			heads[id] = headState{}
		}
		for _, h := range all {
			if _, ok := heads[h.ChainID]; ok {
				heads[h.ChainID] = headState{h.Seq, h.Hash}
			}
		}
		afterwork = func() error {
			if err := st.Close(); err != nil {
				return err
			}
			return restoreSQLiteHeads(context.Background(), path, heads)
		}
	case "postgres":
		dbURL, err := createDatabase(ctx, b.opts.databaseURL, local)
		if err != nil {
			return nil, err
		}
		b.logf("postgres: building the audit store of %s events in a fresh database", fmtInt(int64(cfg.Events)))
		if meta, err = buildPostgresAudit(ctx, dbURL, cfg, b.logf); err != nil {
			return nil, err
		}
		meta.BuildSeconds, built = time.Since(start).Seconds(), true
		s, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return nil, err
		}
		st = s
		afterwork = st.Close
		if c, err := pgxSize(ctx, dbURL); err == nil {
			size = c
		}
	default:
		return nil, fmt.Errorf("unknown engine %q", engine)
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()

	var rows []row
	how := "cached, built " + meta.Built.Format(time.DateOnly)
	if built {
		how = fmt.Sprintf("built now in %v, %s by %s", time.Duration(meta.BuildSeconds*float64(time.Second)).Round(time.Second),
			fmtRate(float64(meta.Events)/meta.BuildSeconds), meta.Method)
	}
	rows = append(rows, row{scen, "store", fmt.Sprintf("%s events (big account %s, %s others), %s; %s",
		fmtInt(int64(meta.Events)), fmtInt(meta.BigEvents), fmtInt(int64(meta.Accounts)), fmtBytes(size), how), "", "", "", info})

	if cache != "" {
		rows = append(rows, row{scen, "store file in the OS page cache", cache, "", "", "", info})
	}
	m, err := measureAudit(ctx, st, meta, b.opts.appendFor, b.logf)
	rows = append(rows, m.rows(scen)...)
	closed = true
	if aerr := afterwork(); aerr != nil {
		err = errors.Join(err, fmt.Errorf("undoing the append measurement: %w", aerr))
	}
	return rows, err
}

// pageCache reports how much of the store file was in the page cache and,
// unless --cold, reads it in.
func (b *bench) pageCache(ctx context.Context, path string) string {
	before, err := pageCacheResidency(path)
	if err != nil {
		return "unknown: " + err.Error()
	}
	desc := fmt.Sprintf("%.0f %% found", before*100)
	if b.opts.cold {
		if err := evictFile(path); err != nil {
			return desc + "; could not evict it: " + err.Error()
		}
		after, _ := pageCacheResidency(path)
		return fmt.Sprintf("%s, %.0f %% after evicting it (--cold): a cold start", desc, after*100)
	}
	b.logf("sqlite: reading the store once into the page cache (%.0f %% there); --cold skips this", before*100)
	t0 := time.Now()
	if err := warmFile(ctx, path); err != nil {
		return desc + "; " + err.Error()
	}
	after, _ := pageCacheResidency(path)
	return fmt.Sprintf("%s, %.0f %% after reading it once (%s) as a running server would have", desc, after*100, fmtDur(time.Since(t0)))
}

// auditFigures are the measured figures of one store.
type auditFigures struct {
	newest, oneType, twoTypes, dateRange, deep latencies
	exported                                   int64
	exportTime                                 time.Duration
	heapBefore, heapPeak, heapAfter            uint64 // HeapAlloc: live and not yet collected
	liveBefore, livePeak                       uint64 // the live heap as of each GC
	allocPerEvent                              float64
	appended                                   int64
	appendTime                                 time.Duration
	appendErrs                                 int64
	appendFirstErr                             error
	// CPU time of the bench process (where the store runs) during the
	// export and the appends: steadier than their rates on a shared
	// machine, whose other work takes turns with them.
	exportCPU, appendCPU time.Duration
	// exportRead is what the process read from storage during the export
	// (/proc/self/io read_bytes; -1 when unknown): the page cache's misses,
	// whatever the machine's load.
	exportRead int64
}

// storageRead is the bytes this process has caused to be read from
// storage (read_bytes of /proc/self/io), or -1.
func storageRead() int64 {
	return procField("/proc/self/io", "read_bytes:")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type latencies []time.Duration

// q returns the nearest-rank percentile p (0 < p <= 100).
func (l latencies) q(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (l latencies) summary() string {
	return fmt.Sprintf("p99 %s · p50 %s", fmtDur(l.q(99)), fmtDur(l.q(50)))
}

func (f auditFigures) rows(scen string) []row {
	var rows []row
	page := func(figure string, l latencies, target time.Duration) {
		if len(l) == 0 {
			return
		}
		rows = append(rows, row{scen, figure, l.summary(), "", "", "p99 < " + fmtDur(target), check(l.q(99) < target)})
	}
	page("newest page of the big account", f.newest, pageP99Target)
	page("page filtered by one type", f.oneType, filteredP99Target)
	page("page filtered by two types", f.twoTypes, filteredP99Target)
	page("page filtered by a 30-day range", f.dateRange, filteredP99Target)
	page("page deep in the log (cursor)", f.deep, pageP99Target)
	if f.exportTime > 0 {
		rate := float64(f.exported) / f.exportTime.Seconds()
		rows = append(rows,
			row{scen, "export of the big account (CSV)", fmt.Sprintf("%s (%s events in %v)", fmtRate(rate), fmtInt(f.exported), f.exportTime.Round(time.Millisecond)),
				"", "", "≥ " + fmtRate(exportRateTarget), check(rate >= exportRateTarget)},
			row{scen, "live heap growth during the export", fmt.Sprintf("%s (live heap %s before, peak %s; heap incl. garbage %s → peak %s; %.0f B allocated per event)",
				fmtBytes(int64(f.livePeak)-int64(f.liveBefore)), fmtBytes(int64(f.liveBefore)), fmtBytes(int64(f.livePeak)),
				fmtBytes(int64(f.heapBefore)), fmtBytes(int64(f.heapPeak)), f.allocPerEvent),
				"", "", "< " + fmtBytes(exportLiveTarget), check(f.livePeak-f.liveBefore < exportLiveTarget)})
		if f.exported > 0 && f.exportRead >= 0 {
			rows = append(rows, row{scen, "export: read from storage (page cache misses)", fmt.Sprintf("%s, %.0f B per event",
				fmtBytes(f.exportRead), float64(f.exportRead)/float64(f.exported)), "", "", "", info})
		}
		if f.exported > 0 && f.exportCPU > 0 {
			rows = append(rows, row{scen, "export: CPU per event (the bench process)", fmt.Sprintf("%s (%s events per second of CPU; %.0f %% of the export's time on CPU)",
				fmtDur(f.exportCPU/time.Duration(f.exported)), fmtInt(int64(float64(f.exported)/f.exportCPU.Seconds())), 100*f.exportCPU.Seconds()/f.exportTime.Seconds()), "", "", "", info})
		}
	}
	if f.appendTime > 0 {
		rate := float64(f.appended) / f.appendTime.Seconds()
		v := fmt.Sprintf("%s (%d writers, %v)", fmtRate(rate), appendWriters, f.appendTime.Round(100*time.Millisecond))
		if f.appendErrs > 0 {
			v += fmt.Sprintf("; %d failed: %v", f.appendErrs, f.appendFirstErr)
		}
		rows = append(rows, row{scen, "append with the chain (InTx: LockAuditHead, Link, AppendEvent)", v,
			"", "", "≥ " + fmtRate(appendRateTarget), check(rate >= appendRateTarget && f.appendErrs == 0)})
		if f.appended > 0 && f.appendCPU > 0 {
			rows = append(rows, row{scen, "append: CPU per event (the bench process, and the server's on PostgreSQL not counted)", fmtDur(f.appendCPU / time.Duration(f.appended)), "", "", "", info})
		}
	}
	return rows
}

// liveHeap is the heap the last GC found reachable.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// measureAudit measures pages, export and appends on st.
func measureAudit(ctx context.Context, st keyward.Store, meta storeMeta, appendFor time.Duration, logf func(string, ...any)) (auditFigures, error) {
	var f auditFigures
	big := meta.Big
	rng := rand.New(rand.NewPCG(1, 2))
	// The service asks for one more event than the page shows, to know
	// whether there is a next page.
	newest := keyward.EventFilter{ChainID: big, Limit: pageLimit + 1}
	timeQueries := func(what string, n int, filter func(i int) keyward.EventFilter) (latencies, error) {
		lat := make(latencies, 0, n)
		for i := range n {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			t0 := time.Now()
			evs, err := st.ListEvents(ctx, filter(i))
			d := time.Since(t0)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			if len(evs) == 0 {
				return nil, fmt.Errorf("%s: no events", what)
			}
			lat = append(lat, d)
		}
		return lat, nil
	}
	logf("audit: warming up, then %d newest pages", pageQueries)
	if _, err := timeQueries("warm-up", 100, func(int) keyward.EventFilter { return newest }); err != nil {
		return f, err
	}
	var err error
	if f.newest, err = timeQueries("newest page", pageQueries, func(int) keyward.EventFilter { return newest }); err != nil {
		return f, err
	}
	logf("audit: filtered pages")
	if f.oneType, err = timeQueries("filtered page", pageQueries, func(int) keyward.EventFilter {
		return keyward.EventFilter{ChainID: big, Types: []audit.Type{audit.SigninFailed}, Limit: pageLimit + 1}
	}); err != nil {
		return f, err
	}
	if f.twoTypes, err = timeQueries("filtered page", pageQueries, func(int) keyward.EventFilter {
		return keyward.EventFilter{ChainID: big, Types: []audit.Type{audit.PasswordChanged, audit.TwoFactorDisabled}, Limit: pageLimit + 1}
	}); err != nil {
		return f, err
	}
	// A 30-day window in the middle of the year of events.
	cfg := defaultGenConfig(meta.Events)
	until := cfg.End.Add(-cfg.Span / 2)
	if f.dateRange, err = timeQueries("date range page", pageQueries, func(int) keyward.EventFilter {
		return keyward.EventFilter{ChainID: big, Since: until.Add(-30 * 24 * time.Hour), Until: until, Limit: pageLimit + 1}
	}); err != nil {
		return f, err
	}

	// Export the big account: events/s and the heap meanwhile. Every k-th
	// event's position is kept as a cursor for the deep pages.
	logf("audit: exporting the big account (%s events) to CSV", fmtInt(meta.BigEvents))
	cursors := make([]keyward.EventCursor, 0, pageQueries+1)
	stride := max(1, meta.BigEvents/pageQueries)
	// HeapAlloc (sampled) includes garbage not yet collected, so its peak
	// follows GOGC; the live heap after each GC (runtime/metrics) is what
	// the export retains, and must not grow with the log's length.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.heapBefore = ms.HeapAlloc
	f.liveBefore = liveHeap()
	allocBefore := ms.TotalAlloc
	var peak, livePeak atomic.Uint64
	peak.Store(ms.HeapAlloc)
	livePeak.Store(f.liveBefore)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		var m runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			if l := liveHeap(); l > livePeak.Load() {
				livePeak.Store(l)
			}
		}
	}()
	w := audit.NewCSVWriter(io.Discard)
	cpu0, read0 := processCPU(), storageRead()
	t0 := time.Now()
	var n int64
	err = st.EachEvent(ctx, keyward.EventFilter{ChainID: big}, func(e *keyward.Event) error {
		n++
		if n%stride == 0 && len(cursors) < cap(cursors) {
			cursors = append(cursors, keyward.EventCursor{Time: e.Time, ID: e.ID})
		}
		return w.Write(e)
	})
	if err == nil {
		err = w.Flush()
	}
	f.exportTime = time.Since(t0)
	f.exportCPU = processCPU() - cpu0
	f.exportRead = -1
	if read1 := storageRead(); read0 >= 0 && read1 >= 0 {
		f.exportRead = read1 - read0
	}
	stopSampling()
	sampled.Wait()
	runtime.ReadMemStats(&ms)
	f.heapAfter, f.heapPeak = ms.HeapAlloc, max(peak.Load(), ms.HeapAlloc)
	f.livePeak = max(livePeak.Load(), liveHeap())
	f.exported = n
	if n > 0 {
		f.allocPerEvent = float64(ms.TotalAlloc-allocBefore) / float64(n)
	}
	if err != nil {
		return f, fmt.Errorf("export: %w", err)
	}
	if n != meta.BigEvents {
		return f, fmt.Errorf("export: %d events, want %d", n, meta.BigEvents)
	}

	// Pages deep in the log: from a cursor between 10 % and 100 % deep.
	logf("audit: %d pages deep in the log", pageQueries)
	if len(cursors) > 10 {
		deep := cursors[len(cursors)/10:]
		if f.deep, err = timeQueries("deep page", pageQueries, func(int) keyward.EventFilter {
			c := deep[rng.IntN(len(deep))]
			return keyward.EventFilter{ChainID: big, Before: &c, Limit: pageLimit + 1}
		}); err != nil {
			return f, err
		}
	}

	// Appends the way the service records an event, 4 writers on 4
	// accounts, for appendFor.
	logf("audit: appending for %v with %d writers", appendFor, appendWriters)
	actx, cancel := context.WithTimeout(ctx, appendFor)
	defer cancel()
	var wg sync.WaitGroup
	var appended, failed atomic.Int64
	var firstErr, cutErr error
	var errOnce, cutOnce sync.Once
	cpu0 = processCPU()
	t0 = time.Now()
	for wi := range appendWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chain := meta.Append[wi%len(meta.Append)]
			g := &generator{rng: rand.New(rand.NewPCG(uint64(wi), uint64(time.Now().UnixNano())))}
			for actx.Err() == nil {
				now := time.Now().UTC().Truncate(time.Microsecond)
				e := &keyward.Event{ChainID: chain, Type: audit.SigninSucceeded, Outcome: audit.Success, Actor: audit.ActorSelf,
					Time: now, IP: "203.0.113.7", UserAgent: benchUserAgents[0], SessionID: g.id("sess_", now),
					Details: map[string]string{audit.DetailMethod: audit.MethodPassword}}
				e.ID = g.id("ev_", now)
				err := st.InTx(actx, func(q keyward.Queries) error {
					head, err := q.LockAuditHead(actx, chain)
					if err != nil {
						return err
					}
					audit.Link(head, e)
					return q.AppendEvent(actx, e)
				})
				if err != nil {
					if actx.Err() != nil {
						// Cut by the end of the measurement; kept in case
						// no append finished at all (a store that hangs).
						cutOnce.Do(func() { cutErr = err })
						return
					}
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				appended.Add(1)
			}
		}()
	}
	wg.Wait()
	f.appendTime = time.Since(t0)
	f.appendCPU = processCPU() - cpu0
	f.appended, f.appendErrs, f.appendFirstErr = appended.Load(), failed.Load(), firstErr
	if f.appended == 0 && f.appendErrs == 0 && cutErr != nil {
		f.appendErrs, f.appendFirstErr = 1, fmt.Errorf("no append finished within %v: %w", appendFor, cutErr)
	}
	return f, ctx.Err()
}
