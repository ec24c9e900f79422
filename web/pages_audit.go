package web

import (
	"net/http"
	"net/url"

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
	field := ""
	if err != nil || (!q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until)) {
		// The API's words name its parameters; the form's, its fields.
		field, err = auditFilterError(qv, q)
	}
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
		return s.rerender(w, r, "audit.html", &v, err, field)
	}
	now := s.requestTime()
	for i := range page.Events {
		v.Events = append(v.Events, newEventRow(&page.Events[i], p.session.ID, now))
	}
	if page.NextCursor != "" {
		v.NextHref = auditLink(auditPath, filters, "cursor", page.NextCursor)
	}
	return s.renderPage(w, r, http.StatusOK, "audit.html", &v)
}

// auditFilterError is what is wrong with the dates of the audit page's
// filter, in the form's words (From, To), and the field it is about.
func auditFilterError(qv url.Values, q keyward.EventQuery) (field string, err error) {
	if _, err := audit.ParseTimeBound(qv.Get("since"), false); err != nil {
		return "since", invalid("Enter the From date as a date, like 2026-12-03.")
	}
	if _, err := audit.ParseTimeBound(qv.Get("until"), true); err != nil {
		return "until", invalid("Enter the To date as a date, like 2026-12-03.")
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return "since", invalid("The From date must be on or before the To date.")
	}
	return "", invalid("These filters could not be read. Clear them and try again.")
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.exportAudit(w, r, p)
}
