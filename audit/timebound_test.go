package audit

import (
	"testing"
	"time"
)

func TestParseTimeBound(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		endOfDay bool
		want     time.Time
		wantErr  bool
	}{
		{"empty is no bound", "", false, time.Time{}, false},
		{"RFC 3339 in UTC", "2026-03-01T10:00:00Z", false, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), false},
		{"RFC 3339 with an offset comes back in UTC", "2026-03-01T12:00:00+02:00", true, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), false},
		{"fractional seconds", "2026-03-01T10:00:00.5Z", false, time.Date(2026, 3, 1, 10, 0, 0, 5e8, time.UTC), false},
		{"a day is its start", "2026-03-01", false, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"an until day includes the whole day", "2026-03-01", true, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), false},
		{"the last day of a year", "2026-12-31", true, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"not a date", "yesterday", false, time.Time{}, true},
		{"no such day", "2026-02-30", false, time.Time{}, true},
		{"a time without a zone", "2026-03-01T10:00:00", false, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimeBound(tt.in, tt.endOfDay)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("ParseTimeBound(%q, %v) = %v, %v; want %v (error %v)", tt.in, tt.endOfDay, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
