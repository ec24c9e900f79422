package metrics

import (
	"testing"
	"time"
)

func TestHistogramSnapshot(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 600 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		h.Observe(d)
	}
	cumulative, count, sum := h.Snapshot()
	want := map[time.Duration]uint64{500 * time.Microsecond: 2, time.Millisecond: 3, 2500 * time.Microsecond: 3, 5 * time.Millisecond: 4, 10 * time.Second: 4}
	for i, b := range DurationBuckets() {
		if w, ok := want[b]; ok && cumulative[i] != w {
			t.Errorf("bucket le=%v = %d, want %d", b, cumulative[i], w)
		}
	}
	if count != 5 {
		t.Errorf("count = %d, want 5 (the minute falls in +Inf)", count)
	}
	if wantSum := 500*time.Microsecond + 600*time.Microsecond + 3*time.Millisecond + time.Minute; sum != wantSum {
		t.Errorf("sum = %v, want %v", sum, wantSum)
	}
}

func TestRouteClasses(t *testing.T) {
	m := New()
	r := m.Route("GET /api/v1/sessions/{id}")
	if r.Method != "GET" || r.Pattern != "/api/v1/sessions/{id}" {
		t.Fatalf("Route = %q %q, want GET /api/v1/sessions/{id}", r.Method, r.Pattern)
	}
	if again := m.Route("GET /api/v1/sessions/{id}"); again != r {
		t.Error("a pattern registered twice made two routes")
	}
	if any := m.Route("/api/"); any.Method != "ANY" {
		t.Errorf("a method-less pattern's method = %q, want ANY", any.Method)
	}
	for _, tt := range []struct {
		status int
		class  string
	}{{200, "2xx"}, {302, "3xx"}, {404, "4xx"}, {503, "5xx"}, {0, "2xx"}, {999, "5xx"}, {-1, "5xx"}} {
		r := m.Route("GET /x")
		before := make([]uint64, Classes)
		for i := range Classes {
			_, h := r.Class(i)
			_, before[i], _ = h.Snapshot()
		}
		r.Observe(tt.status, time.Millisecond)
		for i := range Classes {
			class, h := r.Class(i)
			_, n, _ := h.Snapshot()
			if grew := n > before[i]; grew != (class == tt.class) {
				t.Errorf("status %d counted in %s: %v, want only in %s", tt.status, class, grew, tt.class)
			}
		}
	}
}

// BenchmarkCountRequest is what the metrics add to each request: a
// histogram observation and a labelled count.
func BenchmarkCountRequest(b *testing.B) {
	m := New()
	r := m.Route("GET /api/v1/sessions/current")
	for b.Loop() {
		r.Observe(200, 3*time.Microsecond)
		m.SessionChecks.Inc(CheckValid)
	}
}
