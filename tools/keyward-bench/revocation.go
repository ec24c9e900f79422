package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Targets of the revocation across nodes: once node A has answered that a
// session ended, node B stops answering 200 for it within these.
const (
	revocationP99Target   = 10 * time.Millisecond
	revocationWorstTarget = 50 * time.Millisecond
	revocationPollTimeout = 5 * time.Second // a trial whose node B never refuses fails
)

// revocationTrial is what one trial saw.
type revocationTrial struct {
	window    time.Duration // from A's answer to the first request B refused (0: B refused before A answered)
	notified  time.Duration // from A's answer to the notification reaching the bench's own listener (0: before; -1: none)
	fromStart time.Duration // the same from when the sign-out was sent
	stale     int           // requests sent to B after A answered that B answered 200
	polls     int           // requests sent to B during the trial
}

// revocation ends a session on node A and asks node B in a tight loop
// meanwhile, trials times: how long does B keep answering 200? Both nodes
// are on one PostgreSQL database; B learns of the end through its
// invalidation watcher (LISTEN/NOTIFY, and the poll of the log).
func (b *bench) revocation(ctx context.Context, t *target) ([]row, error) {
	scen := "revocation across nodes (" + t.engine + ")"
	a := newAPIClient(t.base, 2)
	defer a.close()
	// One connection to B, kept: the poller is a client that asks again
	// as soon as it has its answer.
	bc := newAPIClient(t.other.base, 1)
	defer bc.close()
	poll := func(ctx context.Context, token string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.other.base+"/api/v1/sessions/current", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := bc.http.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// The bench listens on the channel the nodes announce invalidations
	// on, as node B does: when B is late, was the news late?
	news, stopListening, err := listenInvalidations(ctx, t.dbURL)
	if err != nil {
		return nil, fmt.Errorf("listening to the invalidations: %w", err)
	}
	defer stopListening()
	n := b.opts.revocationTrials
	b.logf("%s: %d trials: sign in on node A, node B answers, sign out on node A while node B is asked in a loop", t.engine, n)
	trials := make([]revocationTrial, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		token, err := a.signIn(ctx, t.email, t.password, "")
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", i+1, err)
		}
		// B answers 200 for it: read from the store, then from its cache.
		for range 3 {
			st, err := poll(ctx, token)
			if err != nil {
				return nil, fmt.Errorf("trial %d: node B: %w", i+1, err)
			}
			if st != http.StatusOK {
				return nil, fmt.Errorf("trial %d: node B answers %d for a session just signed in on node A", i+1, st)
			}
		}
		type answer struct {
			sent   time.Time
			status int
		}
		var answers []answer
		done := make(chan error, 1)
		started := make(chan struct{})
		pctx, cancel := context.WithTimeout(ctx, revocationPollTimeout)
		go func() {
			defer close(done)
			close(started)
			for {
				sent := time.Now()
				st, err := poll(pctx, token)
				if err != nil {
					done <- fmt.Errorf("node B: %w", err)
					return
				}
				answers = append(answers, answer{sent, st})
				switch st {
				case http.StatusOK:
				case http.StatusUnauthorized:
					return
				default:
					done <- fmt.Errorf("node B answered %d", st)
					return
				}
			}
		}()
		<-started
		time.Sleep(2 * time.Millisecond) // B is being asked
		revokeSent := time.Now()
		r, err := a.do(ctx, http.MethodDelete, "/api/v1/sessions/current", nil, "Authorization", "Bearer "+token)
		revoked := time.Now()
		if err == nil && r.Status != http.StatusNoContent {
			err = fmt.Errorf("sign-out on node A: %d %s", r.Status, r.Body)
		}
		if err != nil {
			cancel()
			<-done
			return nil, fmt.Errorf("trial %d: %w", i+1, err)
		}
		perr := <-done
		cancel()
		if perr != nil {
			if errors.Is(perr, context.DeadlineExceeded) {
				perr = fmt.Errorf("node B still answered 200 %v after node A ended the session", revocationPollTimeout)
			}
			return nil, fmt.Errorf("trial %d: %w", i+1, perr)
		}
		var tr revocationTrial
		tr.notified = -1
		if at, ok := news.firstAfter(revokeSent); ok {
			tr.notified = max(0, at.Sub(revoked))
		}
		tr.polls = len(answers)
		last := answers[len(answers)-1]
		tr.window = max(0, last.sent.Sub(revoked))
		tr.fromStart = max(0, last.sent.Sub(revokeSent))
		for _, x := range answers {
			if x.status == http.StatusOK && x.sent.After(revoked) {
				tr.stale++
			}
		}
		trials = append(trials, tr)
	}
	return revocationRows(scen, trials), t.other.kw.exitedDuring("the revocation trials")
}

// revocationRows summarises the trials.
func revocationRows(scen string, trials []revocationTrial) []row {
	windows := make(latencies, len(trials))
	fromStart := make(latencies, len(trials))
	var notified latencies
	missed := 0
	stale, maxStale, polls := 0, 0, 0
	for i, tr := range trials {
		windows[i], fromStart[i] = tr.window, tr.fromStart
		if tr.notified < 0 {
			missed++
		} else {
			notified = append(notified, tr.notified)
		}
		stale += tr.stale
		maxStale = max(maxStale, tr.stale)
		polls += tr.polls
	}
	worst := slices.Max(windows)
	return []row{
		{scen, fmt.Sprintf("node B answering 200 after node A ended the session (%d trials)", len(trials)),
			fmt.Sprintf("p99 %s · p50 %s", fmtDur(windows.q(99)), fmtDur(windows.q(50))), "", "", "p99 < " + fmtDur(revocationP99Target), check(windows.q(99) < revocationP99Target)},
		{scen, "the same, worst trial", fmtDur(worst), "", "", "< " + fmtDur(revocationWorstTarget), check(worst < revocationWorstTarget)},
		{scen, "stale answers (200 to a request sent after node A answered)", fmt.Sprintf("%d in all, at most %d in one trial, of %d requests", stale, maxStale, polls), "", "", "", info},
		{scen, "the notification reaching a listener of the bench's own after node A answered", fmt.Sprintf("p99 %s · p50 %s · worst %s; %d trials without one",
			fmtDur(notified.q(99)), fmtDur(notified.q(50)), fmtDur(notified.q(100)), missed), "", "", "", info},
		{scen, "the same window from when the sign-out was sent", fmt.Sprintf("p99 %s · p50 %s · worst %s", fmtDur(fromStart.q(99)), fmtDur(fromStart.q(50)), fmtDur(slices.Max(fromStart))), "", "", "", info},
	}
}

// invalidationNews is when each notification on the invalidation channel
// reached the bench.
type invalidationNews struct {
	mu sync.Mutex
	at []time.Time
}

func (n *invalidationNews) add(t time.Time) {
	n.mu.Lock()
	n.at = append(n.at, t)
	n.mu.Unlock()
}

// firstAfter is the first notification at or after t.
func (n *invalidationNews) firstAfter(t time.Time) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, at := range n.at {
		if !at.Before(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// listenInvalidations listens, on a connection of its own, to the channel
// keyward's nodes announce invalidations on.
func listenInvalidations(ctx context.Context, dbURL string) (*invalidationNews, func(), error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN keyward_invalidation"); err != nil {
		conn.Close(context.Background())
		return nil, nil, err
	}
	news := &invalidationNews{}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := conn.WaitForNotification(lctx); err != nil {
				return
			}
			news.add(time.Now())
		}
	}()
	return news, func() {
		cancel()
		<-done
		conn.Close(context.Background())
	}, nil
}
