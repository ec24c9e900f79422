package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestShow(t *testing.T) {
	tm := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	cases := []struct {
		name string
		a, b any
		same bool
	}{
		{"nil and empty bytes", []byte(nil), []byte{}, true},
		{"different bytes", []byte{0, 1}, []byte{0, 2}, false},
		{"nil and empty map", map[string]string(nil), map[string]string{}, true},
		{"maps in any order", map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2", "a": "1"}, true},
		{"same instant, other location", tm, tm.In(time.FixedZone("X", 3600)), false},
		{"same instant, built differently", tm, time.UnixMicro(tm.UnixMicro()).UTC(), true},
		{"nanoseconds differ", tm, tm.Add(1), false},
		{"nil and set time pointer", (*time.Time)(nil), &tm, false},
		{"pointers to equal times", &tm, new(time.UnixMicro(tm.UnixMicro()).UTC()), true},
		{"accounts", keyward.Account{ID: "x", CreatedAt: tm}, keyward.Account{ID: "x", CreatedAt: tm}, true},
		{"strings with quotes", `a"b`, `a\"b`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sa, sb := show(c.a), show(c.b)
			if (sa == sb) != c.same {
				t.Errorf("show(a) = %s\nshow(b) = %s\nsame = %v, want %v", sa, sb, sa == sb, c.same)
			}
		})
	}
}
