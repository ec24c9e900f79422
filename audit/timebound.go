package audit

import "time"

// ParseTimeBound reads a filter's since or until as people type it: an RFC
// 3339 time, or a YYYY-MM-DD day in UTC. A day stands for its start, or with
// endOfDay for the start of the next day, so that an until day includes the
// whole of that day. "" is the zero time: no bound.
func ParseTimeBound(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, err
	}
	if endOfDay {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
