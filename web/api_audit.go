package web

import (
	"fmt"
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

func (s *Server) apiAuditEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := parseEventQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.svc.Events(r.Context(), p.account.ID, q)
	if err != nil {
		return err
	}
	records := make([]audit.Record, len(page.Events))
	for i := range page.Events {
		records[i] = audit.RecordOf(&page.Events[i])
	}
	var next *string
	if page.NextCursor != "" {
		next = &page.NextCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": records, "next_cursor": next})
	return nil
}

func (s *Server) apiAuditExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.exportAudit(w, r, p)
}

// exportStall is how long an export may wait for a client to read.
const exportStall = 30 * time.Second

// exportAudit streams the caller's log as CSV or JSON Lines, in constant
// memory however long it is. Errors before the first byte are answered
// normally; after it, the stream is cut short and the cause logged.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	format := r.URL.Query().Get("format")
	var (
		write func(*keyward.Event) error
		flush func() error
		ctype string
	)
	switch format {
	case "csv":
		cw := audit.NewCSVWriter(w)
		write, flush, ctype = cw.Write, cw.Flush, "text/csv; charset=utf-8"
	case "jsonl":
		jw := audit.NewJSONLWriter(w)
		write, flush, ctype = jw.Write, func() error { return nil }, "application/x-ndjson; charset=utf-8"
	default:
		return keyward.Errorf(keyward.CodeInvalidRequest, "format must be csv or jsonl.")
	}
	q, err := parseEventQuery(r.URL.Query())
	if err != nil {
		return err
	}
	q.Cursor, q.Limit = "", 0
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="keyward-audit.%s"`, format))
	// A client that stops reading must not hold a store connection for
	// ever: every few hundred events the write deadline moves on, so a
	// stalled download fails within exportStall and releases it.
	rc := http.NewResponseController(w)
	n := 0
	started := false
	err = s.svc.ExportEvents(r.Context(), p.account.ID, q, func(e *keyward.Event) error {
		if n%256 == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(exportStall)) // unsupported writers just stream
		}
		n++
		started = true
		return write(e)
	})
	if err == nil {
		err = flush()
	}
	if err != nil && started {
		s.log.ErrorContext(r.Context(), "audit export cut short", "request_id", requestID(w), "err", err)
		return nil
	}
	if err != nil {
		w.Header().Del("Content-Disposition")
	}
	return err
}
