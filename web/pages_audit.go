package web

import (
	"net/http"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// The audit log page (the seed's "Auditlog"): events as sentences, newest
// first, filtered by type and dates, paged by cursor, exported as files.

const (
	auditPath       = "/settings/security/audit"
	auditExportPath = "/settings/security/audit/export"
)

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	qv := r.URL.Query()
	filters := auditFilters(qv)
	v := auditView{
		layout:    layoutFor(p, "Audit log", sectionAudit),
		Types:     typeOptions(qv.Get("type")),
		Since:     qv.Get("since"),
		Until:     qv.Get("until"),
		Filtered:  len(filters) > 0,
		Paged:     qv.Get("cursor") != "",
		FirstHref: auditLink(auditPath, filters, "", ""),
		CSVHref:   auditLink(auditExportPath, filters, "format", "csv"),
		JSONLHref: auditLink(auditExportPath, filters, "format", "jsonl"),
	}
	q, err := parseEventQuery(qv)
	var page keyward.EventPage
	if err == nil {
		page, err = s.svc.Events(r.Context(), p.account.ID, q)
	}
	if err != nil {
		// A filter typed into the form is shown again with the reason; a
		// cursor is only ever one of our links, so a bad one is the error
		// page, like the API's 400.
		if v.Paged {
			return err
		}
		return s.rerender(w, r, "audit.html", &v, err, "")
	}
	now := s.requestTime()
	for i := range page.Events {
		e := &page.Events[i]
		row := eventRow{
			Sentence: audit.Describe(e),
			IP:       e.IP,
			Failed:   e.Outcome == audit.Failure,
			When:     newTimeView(e.Time, now),
		}
		v.Events = append(v.Events, row)
	}
	if page.NextCursor != "" {
		v.NextHref = auditLink(auditPath, filters, "cursor", page.NextCursor)
	}
	return s.renderPage(w, r, http.StatusOK, "audit.html", &v)
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.exportAudit(w, r, p)
}
