package audit

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/device"
)

// exportEvents is a small log with the awkward values an export must survive.
func exportEvents(tb testing.TB) []*Event {
	tb.Helper()
	base := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	return []*Event{
		{ID: "ev1", ChainID: "acct_1", Seq: 1, Time: base, Type: SigninSucceeded, Outcome: Success,
			IP: "203.0.113.7", UserAgent: chromeWindows, SessionID: "sess_1", Actor: ActorSelf,
			Details: map[string]string{DetailMethod: MethodTOTP}},
		{ID: "ev2", ChainID: "acct_1", Seq: 2, Time: base.Add(time.Second), Type: SigninFailed, Outcome: Failure,
			Reason: "invalid_password", IP: "2001:db8::1", UserAgent: "=HYPERLINK(\"http://evil\")\r\n2,evil", Actor: ActorSelf},
		{ID: "ev3", ChainID: "acct_1", Seq: 3, Time: base.Add(2 * time.Second), Type: SessionRevoked, Outcome: Success,
			IP: "198.51.100.1", UserAgent: "a,\"quoted\"\nline", Actor: ActorAdmin,
			Details: map[string]string{DetailDevice: "-2+3", "note": "<b>&</b>\n"}},
	}
}

// writeAll exports events with w and flushes.
func writeAll(tb testing.TB, w EventWriter, events []*Event) {
	tb.Helper()
	for _, e := range events {
		if err := w.Write(e); err != nil {
			tb.Fatalf("Write(%s): %v", e.ID, err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatalf("Flush: %v", err)
	}
}

// readCSV parses an export back the way any RFC 4180 reader would.
func readCSV(tb testing.TB, data []byte) [][]string {
	tb.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = csvColumns
	rows, err := r.ReadAll()
	if err != nil {
		tb.Fatalf("reading the CSV back: %v\n%s", err, data)
	}
	return rows
}

func TestCSVRoundTrip(t *testing.T) {
	events := exportEvents(t)
	var buf bytes.Buffer
	writeAll(t, NewCSVWriter(&buf), events)
	rows := readCSV(t, buf.Bytes())

	header := csvHeader()
	if !reflect.DeepEqual(rows[0], header[:]) {
		t.Errorf("header = %q, want %q", rows[0], header)
	}
	if got, want := len(rows)-1, len(events); got != want {
		t.Fatalf("rows after the header = %d, want one per event (%d)\n%s", got, want, buf.Bytes())
	}
	// The device columns are the parser's reading; the cells must be safe whatever it reads.
	d2, d3 := device.Parse(events[1].UserAgent), device.Parse(events[2].UserAgent)
	if !strings.HasPrefix(d2.Browser, "=") {
		t.Fatalf("the parser read %q as browser %q: pick a user agent whose browser starts a formula", events[1].UserAgent, d2.Browser)
	}
	want := [][]string{
		{"ev1", "2026-05-01T12:00:00.123456Z", "signin.succeeded", "success", "", "203.0.113.7", chromeWindows,
			"Chrome", "Windows", "desktop", "sess_1", "self", `{"method":"totp"}`},
		{"ev2", "2026-05-01T12:00:01.123456Z", "signin.failed", "failure", "invalid_password", "2001:db8::1",
			// encoding/csv reads a quoted CRLF back as LF.
			"'=HYPERLINK(\"http://evil\")\n2,evil", SafeCell(d2.Browser), d2.OS, d2.Type, "", "self", "{}"},
		{"ev3", "2026-05-01T12:00:02.123456Z", "session.revoked", "success", "", "198.51.100.1", "a,\"quoted\"\nline",
			d3.Browser, d3.OS, d3.Type, "", "admin", `{"device":"-2+3","note":"<b>&</b>\n"}`},
	}
	for i, w := range want {
		if got := rows[i+1]; !reflect.DeepEqual(got, w) {
			t.Errorf("row %d =\n%q\nwant\n%q", i+1, got, w)
		}
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\r\n")) {
		t.Errorf("records must end in CRLF (RFC 4180)")
	}
}

func TestCSVEmptyExportHasHeader(t *testing.T) {
	var buf bytes.Buffer
	writeAll(t, NewCSVWriter(&buf), nil)
	if got, want := buf.String(), "id,time,type,outcome,reason,ip,user_agent,browser,os,device_type,session_id,actor,details\r\n"; got != want {
		t.Errorf("empty export = %q, want %q", got, want)
	}
}

// TestCSVRowForgery tries to smuggle rows through every text field.
func TestCSVRowForgery(t *testing.T) {
	payloads := []struct {
		name, s string
	}{
		{"CRLF then row", "x\r\n2,evil,signin.succeeded"},
		{"LF then row", "x\n2,evil"},
		{"CR then row", "x\r2,evil"},
		{"quote breaks out", "x\",\"y\r\n2,evil"},
		{"lone quote", "\""},
	}
	fields := []struct {
		name string
		set  func(e *Event, s string)
	}{
		{"user agent", func(e *Event, s string) { e.UserAgent = s }},
		{"reason", func(e *Event, s string) { e.Reason = s }},
		{"ip", func(e *Event, s string) { e.IP = s }},
		{"id", func(e *Event, s string) { e.ID = s }},
		{"session", func(e *Event, s string) { e.SessionID = s }},
		{"detail value", func(e *Event, s string) { e.Details = map[string]string{"k": s} }},
		{"detail key", func(e *Event, s string) { e.Details = map[string]string{s: "v"} }},
	}
	for _, p := range payloads {
		for _, f := range fields {
			t.Run(p.name+"/"+f.name, func(t *testing.T) {
				e := sampleEvent(t)
				f.set(e, p.s)
				var buf bytes.Buffer
				writeAll(t, NewCSVWriter(&buf), []*Event{e, sampleEvent(t)})
				if rows := readCSV(t, buf.Bytes()); len(rows) != 3 {
					t.Errorf("rows = %d, want 3 (header and two events)\n%q", len(rows), buf.String())
				}
			})
		}
	}
}

func TestSafeCell(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"formula", "=1+1", "'=1+1"},
		{"hyperlink", `=HYPERLINK("http://evil","x")`, `'=HYPERLINK("http://evil","x")`},
		{"plus", "+1", "'+1"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"NUL", "\x00=1", "'\x00=1"},
		{"empty", "", ""},
		{"plain", "signin.failed", "signin.failed"},
		{"ipv6", "::1", "::1"},
		{"time", "2026-05-01T12:00:00Z", "2026-05-01T12:00:00Z"},
		{"equals later", "a=b", "a=b"},
		{"quote first", "'already", "'already"},
		{"space first", " =1", " =1"},
		{"json", `{"a":"=1"}`, `{"a":"=1"}`},
		{"unicode", "Überweisung", "Überweisung"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SafeCell(tt.in); got != tt.want {
				t.Errorf("SafeCell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestCSVEveryCellIsSafe puts a formula in every field an event has and
// wants no cell of the export to start one.
func TestCSVEveryCellIsSafe(t *testing.T) {
	const f = "=cmd|' /C calc'!A0"
	e := &Event{ID: f, ChainID: f, Time: time.Unix(0, 0), Type: Type(f), Outcome: Outcome(f), Reason: f, IP: f,
		UserAgent: f, SessionID: f, Actor: Actor(f), Details: map[string]string{f: f}}
	var buf bytes.Buffer
	writeAll(t, NewCSVWriter(&buf), []*Event{e})
	for i, cell := range readCSV(t, buf.Bytes())[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r\x00", rune(cell[0])) {
			t.Errorf("column %s = %q starts a formula", csvHeader()[i], cell)
		}
	}
}

func TestJSONL(t *testing.T) {
	events := exportEvents(t)
	forged := *events[0]
	forged.ID = "ev4"
	forged.UserAgent = "x\n{\"id\":\"evil\"}\r\u2028\u2029"
	forged.Details = map[string]string{"k": "\n{\"id\":\"evil2\"}\n"}
	events = append(events, &forged)

	var buf bytes.Buffer
	writeAll(t, NewJSONLWriter(&buf), events)

	sc := bufio.NewScanner(&buf)
	var n int
	for sc.Scan() {
		line := sc.Bytes()
		if n >= len(events) {
			t.Fatalf("line %d is more than one per event: %s", n+1, line)
		}
		var got Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v\n%s", n+1, err, line)
		}
		want := RecordOf(events[n])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d =\n%+v\nwant\n%+v", n+1, got, want)
		}
		if bytes.ContainsAny(line, "\r\u2028\u2029") {
			t.Errorf("line %d holds a raw line separator: %q", n+1, line)
		}
		n++
	}
	if n != len(events) {
		t.Errorf("lines = %d, want %d", n, len(events))
	}
}

// failWriter fails every write, like a client that went away.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWritersReportErrors(t *testing.T) {
	tests := []struct {
		name string
		w    EventWriter
	}{
		{"csv", NewCSVWriter(failWriter{})},
		{"jsonl", NewJSONLWriter(failWriter{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for _, e := range exportEvents(t) {
				if err = tt.w.Write(e); err != nil {
					break
				}
			}
			if err == nil {
				err = tt.w.Flush()
			}
			if err == nil {
				t.Errorf("error = nil, want the writer's failure")
			}
		})
	}
}

// benchEvent is a typical event: a browser sign-in with a detail.
func benchEvent(tb testing.TB) *Event {
	tb.Helper()
	e := sampleEvent(tb)
	e.UserAgent = chromeWindows
	return e
}

// benchExport writes events with w until the benchmark ends and reports the
// throughput an export of a long log can expect.
func benchExport(b *testing.B, newWriter func(io.Writer) EventWriter) {
	e := benchEvent(b)
	var out countWriter
	w := newWriter(&out)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := w.Write(e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(out)/float64(n), "bytes/event")
}

// countWriter discards what it is given and counts it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func BenchmarkCSVWrite(b *testing.B) {
	benchExport(b, func(w io.Writer) EventWriter { return NewCSVWriter(w) })
}

func BenchmarkJSONLWrite(b *testing.B) {
	benchExport(b, func(w io.Writer) EventWriter { return NewJSONLWriter(w) })
}

// ExampleNewCSVWriter shows a spreadsheet-safe export of one event.
func ExampleNewCSVWriter() {
	w := NewCSVWriter(stdout{})
	_ = w.Write(&Event{ID: "ev1", Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Type: SigninFailed,
		Outcome: Failure, Reason: "invalid_password", IP: "203.0.113.7", UserAgent: "=1+1", Actor: ActorSelf})
	_ = w.Flush()
	// Output:
	// id,time,type,outcome,reason,ip,user_agent,browser,os,device_type,session_id,actor,details
	// ev1,2026-05-01T12:00:00Z,signin.failed,failure,invalid_password,203.0.113.7,'=1+1,'=1+1,Unknown OS,unknown,,self,{}
}

// stdout prints what an example writes, with CRLF shown as the line end it is.
type stdout struct{}

func (stdout) Write(p []byte) (int, error) {
	fmt.Print(strings.ReplaceAll(string(p), "\r\n", "\n"))
	return len(p), nil
}

// TestJSONLWritesWithoutFlush: a caller that streams to an
// http.ResponseWriter may never call Flush, so every line must reach w at once.
func TestJSONLWritesWithoutFlush(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for i, e := range exportEvents(t) {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
		if got := bytes.Count(buf.Bytes(), []byte("\n")); got != i+1 {
			t.Errorf("after %d writes, %d lines reached the writer, want %d", i+1, got, i+1)
		}
	}
}
