package web

import (
	"net/url"
	"strconv"
	"strings"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
)

// parseEventQuery reads the audit filters of API.md from a query string:
// limit, cursor, type (repeatable, or comma-separated), since, until. Dates
// are RFC 3339 times or plain YYYY-MM-DD days (UTC; an until day includes
// the whole day), as a date input sends them.
func parseEventQuery(v url.Values) (keyward.EventQuery, error) {
	var q keyward.EventQuery
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, keyward.Errorf(keyward.CodeInvalidRequest, "limit must be a whole number from 1 to 200.")
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	for _, raw := range v["type"] {
		for _, t := range strings.Split(raw, ",") {
			if t = strings.TrimSpace(t); t != "" {
				q.Types = append(q.Types, audit.Type(t))
			}
		}
	}
	var err error
	if q.Since, err = audit.ParseTimeBound(v.Get("since"), false); err != nil {
		return q, keyward.Errorf(keyward.CodeInvalidRequest, "since must be an RFC 3339 time or a YYYY-MM-DD date.")
	}
	if q.Until, err = audit.ParseTimeBound(v.Get("until"), true); err != nil {
		return q, keyward.Errorf(keyward.CodeInvalidRequest, "until must be an RFC 3339 time or a YYYY-MM-DD date.")
	}
	return q, nil
}
