package locale

import (
	"math"
	"strconv"
	"time"
)

// Dates and times are put together here rather than by the printer's %d,
// which groups digits by the language ("2 026" in Ukrainian): a year is
// not a quantity. Every date is shown in UTC; the pages turn it into the
// reader's zone where a script can.

// Date is t's day in the printer's language: "3 December 2026",
// "3 грудня 2026" (the month in the genitive, as a Ukrainian date has it).
func (p *Printer) Date(t time.Time) string {
	t = t.UTC()
	return p.T("date.day", strconv.Itoa(t.Day()), p.T(monthKeys[t.Month()-1]), strconv.Itoa(t.Year()))
}

// DateTime is t's day and minute: "3 December 2026, 15:04 UTC",
// "3 грудня 2026 о 15:04 UTC".
func (p *Printer) DateTime(t time.Time) string {
	return p.T("date.time", p.Date(t), t.UTC().Format("15:04 UTC"))
}

// Duration says a length of time in whole days, hours or minutes, as long
// as a link works: "30 minutes", "7 днів". It is the accusative a duration
// takes in Ukrainian ("діє 1 хвилину", "21 годину").
func (p *Printer) Duration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return p.N("duration.days", int(d.Round(24*time.Hour)/(24*time.Hour)))
	case d >= 2*time.Hour:
		return p.N("duration.hours", int(d.Round(time.Hour)/time.Hour))
	default:
		return p.N("duration.minutes", int(d.Round(time.Minute)/time.Minute))
	}
}

// Relative says how long ago (or how soon) t is from now, the way a person
// would: "just now", "5 хвилин тому", "yesterday", "через 2 години".
// Beyond about four weeks it gives the date instead.
func (p *Printer) Relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	ago := func(past, ahead string, n int) string {
		if future {
			return p.N(ahead, n)
		}
		return p.N(past, n)
	}
	switch {
	case d < 45*time.Second:
		return p.T("time.just_now")
	case d < 90*time.Second:
		return ago("time.minutes_ago", "time.in_minutes", 1)
	case d < 45*time.Minute:
		return ago("time.minutes_ago", "time.in_minutes", roundDiv(d, time.Minute))
	case d < 90*time.Minute:
		return ago("time.hours_ago", "time.in_hours", 1)
	case d < 22*time.Hour:
		return ago("time.hours_ago", "time.in_hours", roundDiv(d, time.Hour))
	case d < 36*time.Hour:
		if future {
			return p.T("time.tomorrow")
		}
		return p.T("time.yesterday")
	case d < 26*24*time.Hour:
		return ago("time.days_ago", "time.in_days", roundDiv(d, 24*time.Hour))
	default:
		return p.T("time.on_date", p.Date(t))
	}
}

func roundDiv(d, unit time.Duration) int {
	return int(math.Round(float64(d) / float64(unit)))
}

// monthKeys are the months' names, January first.
var monthKeys = [12]string{"date.month.1", "date.month.2", "date.month.3", "date.month.4", "date.month.5", "date.month.6",
	"date.month.7", "date.month.8", "date.month.9", "date.month.10", "date.month.11", "date.month.12"}
