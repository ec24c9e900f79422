package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// testCodec is a codec with a fixed key (a test's server secret).
func testCodec(tb testing.TB) *CursorCodec {
	tb.Helper()
	return NewCursorCodec(bytes.Repeat([]byte("k"), 32))
}

func TestCursorRoundTrip(t *testing.T) {
	cc := testCodec(t)
	tests := []struct {
		name string
		c    Cursor
		want Cursor // what comes back: time cut to microseconds, in UTC
	}{
		{"typical", Cursor{Time: testTime, ID: "01HZX3K7Q2J6V8W9Y0A1B2C3D4"},
			Cursor{Time: testTime.Truncate(time.Microsecond), ID: "01HZX3K7Q2J6V8W9Y0A1B2C3D4"}},
		{"other zone", Cursor{Time: time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)), ID: "e"},
			Cursor{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ID: "e"}},
		{"before 1970", Cursor{Time: time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC), ID: "apollo"},
			Cursor{Time: time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC), ID: "apollo"}},
		{"zero time, empty id", Cursor{}, Cursor{Time: time.Time{}}},
		{"longest id", Cursor{Time: testTime, ID: strings.Repeat("x", MaxCursorIDLen)},
			Cursor{Time: testTime.Truncate(time.Microsecond), ID: strings.Repeat("x", MaxCursorIDLen)}},
		{"unicode id", Cursor{Time: testTime, ID: "é\x00\n"}, Cursor{Time: testTime.Truncate(time.Microsecond), ID: "é\x00\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cc.Encode("acct_1", tt.c)
			if len(s) > maxCursorLen || strings.ContainsAny(s, "=+/\r\n") {
				t.Errorf("Encode = %q: want base64url without padding, at most %d characters", s, maxCursorLen)
			}
			got, err := cc.Decode("acct_1", s)
			if err != nil {
				t.Fatalf("Decode(Encode(%+v)) error %v", tt.c, err)
			}
			if !got.Time.Equal(tt.want.Time) || got.ID != tt.want.ID || got.Time.Location() != time.UTC {
				t.Errorf("Decode(Encode) = %+v, want %+v (in UTC)", got, tt.want)
			}
		})
	}
}

func TestCursorRejects(t *testing.T) {
	cc := testCodec(t)
	valid := cc.Encode("acct_1", Cursor{Time: testTime, ID: "01HZX3K7Q2J6V8W9Y0A1B2C3D4"})
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	// 26 bytes: the last of its 35 characters carries 2 spare bits.
	short := cc.Encode("acct_1", Cursor{Time: testTime, ID: "e"})
	if len(short) != 35 {
		t.Fatalf("short cursor has %d characters, want 35", len(short))
	}
	shortRaw, _ := base64.RawURLEncoding.DecodeString(short)
	reencode := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return reencode(b)
	}
	tests := []struct {
		name, chain, s string
		codec          *CursorCodec
	}{
		{"empty", "acct_1", "", cc},
		{"garbage", "acct_1", "not a cursor!", cc},
		{"wrong chain", "acct_2", valid, cc},
		{"chain id prefix", "acct_", valid, cc},
		{"other server's key", "acct_1", valid, NewCursorCodec(bytes.Repeat([]byte("o"), 32))},
		{"version byte edited", "acct_1", flip(0), cc},
		{"time edited", "acct_1", flip(5), cc},
		{"id edited", "acct_1", flip(12), cc},
		{"mac edited", "acct_1", flip(len(raw) - 1), cc},
		{"truncated by one character", "acct_1", valid[:len(valid)-1], cc},
		{"truncated by one byte", "acct_1", reencode(raw[:len(raw)-1]), cc},
		{"mac only", "acct_1", reencode(raw[len(raw)-16:]), cc},
		{"extra byte", "acct_1", reencode(append(bytes.Clone(raw), 0)), cc},
		{"padding", "acct_1", base64.URLEncoding.EncodeToString(shortRaw), cc},
		{"padding appended", "acct_1", valid + "==", cc},
		{"standard alphabet", "acct_1", valid[:4] + "+/" + valid[6:], cc},
		{"newline inside", "acct_1", valid[:10] + "\n" + valid[10:], cc},
		{"trailing newline", "acct_1", valid + "\n", cc},
		{"space", "acct_1", " " + valid, cc},
		{"too long", "acct_1", strings.Repeat("A", maxCursorLen+1), cc},
		{"long but well-formed", "acct_1", reencode(bytes.Repeat([]byte{1}, 190)), cc},
		{"non-canonical last character", "acct_1", short[:len(short)-1] + nextChar(short[len(short)-1]), cc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Decode(tt.chain, tt.s)
			if !errors.Is(err, ErrInvalidCursor) {
				t.Errorf("Decode(%q, %q) = %+v, %v; want ErrInvalidCursor", tt.chain, tt.s, got, err)
			}
		})
	}
}

// nextChar returns a base64url character whose value differs from c's only
// in the lowest bit: on the last character of an encoding whose length is not
// a multiple of 3 that bit is spare, so a lax decoder accepts both spellings.
func nextChar(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestCursorCodecGuards(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
	}{
		{"short key", func() { NewCursorCodec(make([]byte, 31)) }},
		{"nil key", func() { NewCursorCodec(nil) }},
		{"id too long to decode", func() {
			testCodec(t).Encode("acct_1", Cursor{ID: strings.Repeat("x", MaxCursorIDLen+1)})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic, want one")
				}
			}()
			tt.fn()
		})
	}
}

func FuzzDecodeCursor(f *testing.F) {
	cc := testCodec(f)
	f.Add(cc.Encode("acct_1", Cursor{Time: testTime, ID: "01HZX3K7Q2J6V8W9Y0A1B2C3D4"}), "acct_1", int64(0), "ev")
	f.Add("", "acct_1", testTime.UnixMicro(), "")
	f.Add("AAAA", "", int64(-1), "x\x00")
	f.Add(strings.Repeat("_", 300), "system", int64(1)<<62, strings.Repeat("z", MaxCursorIDLen))
	f.Fuzz(func(t *testing.T, s, chain string, micros int64, id string) {
		// Any input: no panic; a success must be one of our own cursors.
		if c, err := cc.Decode(chain, s); err == nil {
			if again := cc.Encode(chain, c); again != s {
				t.Errorf("Decode(%q) = %+v, which encodes as %q: two spellings of one cursor", s, c, again)
			}
		} else if !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("Decode(%q) error %v, want ErrInvalidCursor", s, err)
		}
		// Any cursor keyward can make: it comes back the same.
		if len(id) > MaxCursorIDLen {
			return
		}
		in := Cursor{Time: time.UnixMicro(micros), ID: id}
		enc := cc.Encode(chain, in)
		out, err := cc.Decode(chain, enc)
		if err != nil || out.Time.UnixMicro() != micros || out.ID != id {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", in, out, err)
		}
	})
}

func BenchmarkCursorDecode(b *testing.B) {
	cc := testCodec(b)
	s := cc.Encode("acct_1", Cursor{Time: testTime, ID: "01HZX3K7Q2J6V8W9Y0A1B2C3D4"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cc.Decode("acct_1", s); err != nil {
			b.Fatal(err)
		}
	}
}
