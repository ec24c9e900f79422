package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	keyward "github.com/keyward/keyward"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"untrusted peer: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, proxies, "203.0.113.5"},
		{"trusted proxy", "10.0.0.2:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"client-chosen hop before the real one", "10.0.0.2:4000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.2:4000", []string{"198.51.100.1, 10.0.0.7, 10.0.0.9"}, proxies, "198.51.100.1"},
		{"several headers", "10.0.0.2:4000", []string{"1.2.3.4", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"garbled hop stops the walk", "10.0.0.2:4000", []string{"198.51.100.1, not-an-ip"}, proxies, "10.0.0.2"},
		{"only proxies", "10.0.0.2:4000", []string{"10.0.0.3"}, proxies, "10.0.0.3"},
		{"ipv6 proxy and client", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::7"}, proxies, "2001:db8:1::7"},
		{"mapped address", "[::ffff:203.0.113.5]:80", nil, nil, "203.0.113.5"},
		{"no header from a proxy", "10.0.0.2:4000", nil, proxies, "10.0.0.2"},
		{"unparsable remote", "pipe", nil, proxies, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1", "198.51.100.1, 10.0.0.3")
	f.Add("[::1]:1", ",,, ,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := clientIP(r, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		if got != "" {
			if _, err := netip.ParseAddr(got); err != nil {
				t.Fatalf("clientIP(%q, %q) = %q, not an address", remote, xff, got)
			}
		}
	})
}

func FuzzDecodeFlash(f *testing.F) {
	f.Add("ok.SGVsbG8")
	f.Add("warning.")
	f.Add("nope.SGVsbG8")
	f.Fuzz(func(t *testing.T, v string) {
		text, kind, ok := decodeFlash(v)
		if !ok {
			return
		}
		if kind != flashOK && kind != flashWarning && kind != flashError || !utf8.ValidString(text) || text == "" {
			t.Fatalf("decodeFlash(%q) = %q, %q", v, text, kind)
		}
	})
}

func TestDecodeJSON(t *testing.T) {
	const ok = ""
	tests := []struct {
		name, body, ctype string
		code              keyward.Code
		message           string // part of the message, for refusals
	}{
		{"accepted", `{"email":"a@b.c","password":"x"}`, "", ok, ""},
		{"accepted with charset and spaces", " {\n\"password\": \"x\", \"email\": \"a@b.c\"} \n", "application/json; charset=utf-8", ok, ""},
		{"escaped characters and pairs", `{"email":"\u0061@b.c","password":"\ud83d\udc0e\ufffd"}`, "", ok, ""},
		{"null member", `{"email":"a@b.c","password":null}`, "", keyward.CodeInvalidRequest, `The field "password" is required`},
		{"wrong content type", `{"email":"a@b.c","password":"x"}`, "text/plain", keyward.CodeUnsupportedMedia, "application/json"},
		{"no content type", `{"email":"a@b.c","password":"x"}`, "-", keyward.CodeUnsupportedMedia, "application/json"},
		{"too large", `{"email":"` + strings.Repeat("a", maxBodyBytes) + `"}`, "", keyward.CodeRequestTooLarge, "1 MiB"},
		{"empty", "", "", keyward.CodeInvalidRequest, "empty"},
		{"blank", " \n", "", keyward.CodeInvalidRequest, "empty"},
		{"not JSON", `{"email":`, "", keyward.CodeInvalidRequest, "not valid JSON"},
		{"trailing object", `{"email":"a@b.c","password":"x"}{}`, "", keyward.CodeInvalidRequest, "a single JSON object"},
		{"trailing text", `{"email":"a@b.c","password":"x"} x`, "", keyward.CodeInvalidRequest, "a single JSON object"},
		{"array", `[]`, "", keyward.CodeInvalidRequest, "must be a JSON object"},
		{"wrong type", `{"email":1,"password":"x"}`, "", keyward.CodeInvalidRequest, `The field "email" has the wrong type`},
		{"unknown field", `{"email":"a@b.c","password":"x","admin":true}`, "", keyward.CodeInvalidRequest, `Unknown field "admin"`},
		{"upper-case name", `{"EMAIL":"a@b.c","password":"x"}`, "", keyward.CodeInvalidRequest, `Unknown field "EMAIL"`},
		{"capitalised name", `{"email":"a@b.c","Password":"x"}`, "", keyward.CodeInvalidRequest, `Unknown field "Password"`},
		{"duplicate name", `{"email":"a@b.c","password":"x","email":"c@d.e"}`, "", keyward.CodeInvalidRequest, `The field "email" appears more than once`},
		{"duplicate by escape", `{"email":"a@b.c","password":"x","\u0065mail":"c@d.e"}`, "", keyward.CodeInvalidRequest, `The field "email" appears more than once`},
		{"duplicate null", `{"email":"a@b.c","password":"x","password":null}`, "", keyward.CodeInvalidRequest, "more than once"},
		{"invalid UTF-8 in a value", "{\"email\":\"\xff\xfe@b.c\",\"password\":\"x\"}", "", keyward.CodeInvalidRequest, "not valid UTF-8"},
		{"invalid UTF-8 in a name", "{\"em\xffail\":\"a@b.c\"}", "", keyward.CodeInvalidRequest, "not valid UTF-8"},
		{"truncated UTF-8", "{\"email\":\"a@b.c\",\"password\":\"\xf0\x9f\x90\"}", "", keyward.CodeInvalidRequest, "not valid UTF-8"},
		{"lone low surrogate", `{"email":"a@b.c","password":"\udc00"}`, "", keyward.CodeInvalidRequest, `The field "password" holds an escaped lone surrogate`},
		{"lone high surrogate", `{"email":"a@b.c","password":"x\ud800y"}`, "", keyward.CodeInvalidRequest, "lone surrogate"},
		{"reversed pair", `{"email":"a@b.c","password":"\udc0e\ud83d"}`, "", keyward.CodeInvalidRequest, "lone surrogate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/sessions", strings.NewReader(tt.body))
			switch tt.ctype {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tt.ctype)
			}
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxBodyBytes)
			var in credentials
			err := in.read(r)
			if got := keyward.ErrorCode(err); got != tt.code || !strings.Contains(keyward.ErrorMessage(err), tt.message) {
				t.Fatalf("read(%.60q) = %q %q, want %q saying %q", tt.body, got, keyward.ErrorMessage(err), tt.code, tt.message)
			}
		})
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"email":"a@b.c","password":"x"}`, "application/json")
	f.Add(`{"email":1}`, "application/json; charset=utf-8")
	f.Add(`{}{}`, "text/plain")
	f.Add(`{"email":"a","password":"b","email":"c"}`, "application/json")
	f.Add(`{"EMAIL":"a","password":"b"}`, "application/json")
	f.Add("{\"email\":\"\xff\",\"password\":\"b\"}", "application/json")
	f.Add(`{"email":"\udc00","password":"\ud800\udc00\ufffd"}`, "application/json")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		r := httptest.NewRequest("POST", "/api/v1/sessions", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		var in credentials
		err := in.read(r)
		if err == nil {
			if in.Email == nil || in.Password == nil {
				t.Fatalf("accepted %q without both fields", body)
			}
			checkStrictJSON(t, body, *in.Email, *in.Password)
			return
		}
		// Every refusal is a client error with a code from the table.
		if st := status(err); st < 400 || st >= 500 {
			t.Fatalf("decoding %q (%s) answered %d: %v", body, ctype, st, err)
		}
	})
}

// checkStrictJSON checks an accepted body against the input rules with
// encoding/json, which is lenient on each of them: valid UTF-8; each
// top-level name exactly "email" or "password", once; and no U+FFFD in a
// value that the body did not spell (so none came of a lone surrogate).
func checkStrictJSON(t *testing.T, body, email, password string) {
	t.Helper()
	if !utf8.ValidString(body) {
		t.Fatalf("accepted invalid UTF-8: %q", body)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	seen := map[string]bool{}
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			continue
		}
		name, isName := tok.(string)
		if !isName || depth != 1 {
			continue
		}
		if name != "email" && name != "password" || seen[name] {
			t.Fatalf("accepted %q: name %q unknown or repeated", body, name)
		}
		seen[name] = true
		// Skip the member's value (a string or null: anything else fails).
		if _, err := dec.Token(); err != nil {
			break
		}
	}
	spelt := strings.Contains(body, "\ufffd") || strings.Contains(strings.ToLower(body), `\ufffd`)
	if (strings.ContainsRune(email, utf8.RuneError) || strings.ContainsRune(password, utf8.RuneError)) && !spelt {
		t.Fatalf("accepted %q as %q, %q: U+FFFD the body did not spell", body, email, password)
	}
}

func FuzzParseEventQuery(f *testing.F) {
	f.Add("limit=10&type=signin.failed&since=2026-01-01&until=2026-02-01T00:00:00Z")
	f.Add("limit=-1&cursor=%00")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if _, err := parseEventQuery(v); err != nil && !keyward.IsCode(err, keyward.CodeInvalidRequest) {
			t.Fatalf("parseEventQuery(%q): %v", raw, err)
		}
	})
}
