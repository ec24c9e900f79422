package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// verdict is a row's outcome against its target.
type verdict string

const (
	pass verdict = "PASS"
	fail verdict = "FAIL"
	info verdict = "info" // a figure without a target, shown for context
)

// row is one line of the table: scenario | figure | value | baseline |
// ratio | target | verdict.
type row struct {
	Scenario string
	Figure   string
	Value    string
	Baseline string
	Ratio    string
	Target   string
	Verdict  verdict
}

// check returns pass when ok, else fail.
func check(ok bool) verdict {
	if ok {
		return pass
	}
	return fail
}

// anyFailed reports whether a row failed its target.
func anyFailed(rows []row) bool {
	for _, r := range rows {
		if r.Verdict == fail {
			return true
		}
	}
	return false
}

// anyErrored reports whether a scenario could not run at all.
func anyErrored(rows []row) bool {
	for _, r := range rows {
		if r.Figure == "error" {
			return true
		}
	}
	return false
}

var tableHeader = row{"scenario", "figure", "value", "baseline", "ratio", "target", "verdict"}

func (r row) cells() []string {
	return []string{r.Scenario, r.Figure, r.Value, r.Baseline, r.Ratio, r.Target, string(r.Verdict)}
}

// renderText writes rows as a plain table with aligned columns, for a
// terminal: columns are separated by " | ", the header by dashes.
func renderText(w io.Writer, rows []row) error {
	all := append([]row{tableHeader}, rows...)
	widths := make([]int, len(tableHeader.cells()))
	for _, r := range all {
		for i, c := range r.cells() {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString("\n")
	}
	line(tableHeader.cells())
	dashes := make([]string, len(widths))
	for i, n := range widths {
		dashes[i] = strings.Repeat("-", n)
	}
	line(dashes)
	for _, r := range rows {
		line(r.cells())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// renderMarkdown writes rows as a GitHub-flavoured Markdown table.
func renderMarkdown(w io.Writer, rows []row) error {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" ")
			b.WriteString(mdEscape(c))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	line(tableHeader.cells())
	b.WriteString("|" + strings.Repeat("---|", len(tableHeader.cells())) + "\n")
	for _, r := range rows {
		cells := r.cells()
		if r.Verdict == pass || r.Verdict == fail {
			cells[6] = "**" + cells[6] + "**"
		}
		line(cells)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps a cell inside its column: a pipe would end it, a newline
// the row.
func mdEscape(s string) string {
	if s == "" {
		return "–"
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// Formatting of figures.

// fmtRate formats a rate with thousands separators: "41,234/s".
func fmtRate(v float64) string { return fmtInt(int64(math.Round(v))) + "/s" }

// fmtInt formats n with thousands separators.
func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtDur formats a latency with three significant digits in a unit a
// person reads: "850 µs", "1.23 ms", "2.51 s".
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	default:
		return sig3(d.Seconds()) + " s"
	}
}

// sig3 formats v (>= 1) with three significant digits, more for larger
// whole numbers: 1.23, 12.3, 123, 1234.
func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// fmtBytes formats a size in binary units: "12.3 MiB".
func fmtBytes(n int64) string {
	if n < 0 {
		return "-" + fmtBytes(-n)
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return sig3(v) + " " + []string{"KiB", "MiB", "GiB", "TiB"}[i]
}

// fmtRatio formats a ratio as a percentage of the baseline: "93.4 %".
func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", v*100)
}
