package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"time"
)

// EventWriter is an export format: events go in one at a time, newest first
// or in any order the caller streams them, and Flush ends the export.
type EventWriter interface {
	Write(e *Event) error
	Flush() error
}

// csvColumns is the width of a CSV row: the Record's fields, with the
// device object spread over three columns.
const csvColumns = 13

// csvHeader names the CSV columns (a function, so no package-level variable
// can be changed by accident).
func csvHeader() [csvColumns]string {
	return [...]string{
		"id", "time", "type", "outcome", "reason", "ip", "user_agent",
		"browser", "os", "device_type", "session_id", "actor", "details",
	}
}

// CSVWriter writes events as RFC 4180 CSV that a spreadsheet can open
// safely. It buffers at most one row, so an export of any size runs in
// constant memory.
type CSVWriter struct {
	w       *csv.Writer
	started bool
	details bytes.Buffer // reused for every row's details JSON
	enc     *json.Encoder
	row     [csvColumns]string
	devices devices
}

// NewCSVWriter returns a writer that emits the header row before the first
// event (or at Flush, so an empty export is still a valid file).
func NewCSVWriter(w io.Writer) *CSVWriter {
	c := &CSVWriter{w: csv.NewWriter(w)}
	c.w.UseCRLF = true // RFC 4180 ends records with CRLF
	c.enc = json.NewEncoder(&c.details)
	c.enc.SetEscapeHTML(false) // a CSV cell is not HTML; keep details readable
	return c
}

// Write appends one row. Every cell passes through SafeCell; a field holding
// CR or LF is quoted by encoding/csv, so it can never start a new row.
func (c *CSVWriter) Write(e *Event) error {
	if err := c.start(); err != nil {
		return err
	}
	r := recordOf(e, c.devices.parse)
	c.details.Reset()
	if err := c.enc.Encode(r.Details); err != nil {
		return err
	}
	var session string
	if r.SessionID != nil {
		session = *r.SessionID
	}
	c.row = [...]string{
		r.ID, r.Time.Format(time.RFC3339Nano), string(r.Type), string(r.Outcome), r.Reason,
		r.IP, r.UserAgent, r.Device.Browser, r.Device.OS, r.Device.Type, session, string(r.Actor),
		string(bytes.TrimSuffix(c.details.Bytes(), []byte("\n"))),
	}
	for i := range c.row {
		c.row[i] = SafeCell(c.row[i])
	}
	return c.w.Write(c.row[:])
}

// Flush writes out buffered rows (and the header, if no event came) and
// reports any error met since the writer was made.
func (c *CSVWriter) Flush() error {
	if err := c.start(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

func (c *CSVWriter) start() error {
	if c.started {
		return nil
	}
	c.started = true
	c.row = csvHeader()
	return c.w.Write(c.row[:])
}

// SafeCell makes s safe to open in a spreadsheet: a cell starting with '=',
// '+', '-', '@', tab, carriage return or NUL would be read as a formula (CSV
// injection, OWASP ASVS 5.0 V1.2.10), so it gets a leading single quote,
// which spreadsheets show as text. Other cells are returned unchanged.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', 0:
		return "'" + s
	}
	return s
}

// JSONLWriter writes one Record per line (JSON Lines). encoding/json escapes
// control characters, U+2028 and U+2029 inside strings, so a value can never
// end its line early and forge another record.
type JSONLWriter struct {
	enc     *json.Encoder
	devices devices
}

// NewJSONLWriter returns a writer that hands each line to w in one Write,
// unbuffered: w (an http.ResponseWriter, a bufio.Writer) does any buffering.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	return &JSONLWriter{enc: json.NewEncoder(w)}
}

// Write appends one line.
func (j *JSONLWriter) Write(e *Event) error {
	r := recordOf(e, j.devices.parse)
	return j.enc.Encode(&r)
}

// Flush does nothing, since every line is already written; it makes
// JSONLWriter an EventWriter like CSVWriter.
func (j *JSONLWriter) Flush() error { return nil }

// Both formats are EventWriters.
var (
	_ EventWriter = (*CSVWriter)(nil)
	_ EventWriter = (*JSONLWriter)(nil)
)
