package web

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCodesOnScreen: new codes open again only for the session that made
// them, with its token, within their window.
func TestCodesOnScreen(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const token, session = "kws_the-browser-token", "sess_one"
	shown := codesOnScreen{Session: session, Until: now.Add(codesOnScreenWindow), Heading: "Your new backup codes", Codes: []string{"abcde-fghj-kmnp", "qrstv-wxyz-2345"}}
	sealed, err := sealCodes(token, shown)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openCodes(token, session, sealed, now.Add(time.Minute))
	if err != nil || !slices.Equal(got.Codes, shown.Codes) || got.Heading != shown.Heading {
		t.Fatalf("the same session: got %+v, %v; want the codes", got, err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name, token, session, value string
		at                          time.Time
	}{
		{"another session's token", "kws_another-token", session, sealed, now},
		{"another session id", token, "sess_two", sealed, now},
		{"after the window", token, session, sealed, now.Add(codesOnScreenWindow)},
		{"tampered", token, session, string(tampered), now},
		{"not base64", token, session, "%%%", now},
		{"too short", token, session, "AAAA", now},
		{"empty", token, session, "", now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, err := openCodes(c.token, c.session, c.value, c.at); err == nil || len(got.Codes) != 0 {
				t.Errorf("opened: %+v", got)
			}
		})
	}
	for _, code := range shown.Codes {
		if strings.Contains(sealed, code) {
			t.Errorf("the sealed value shows the code %s", code)
		}
	}
}

// FuzzOpenCodes: a cookie value from the browser never panics, and never
// opens without the token.
func FuzzOpenCodes(f *testing.F) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	sealed, err := sealCodes("kws_token", codesOnScreen{Session: "sess_one", Until: now.Add(time.Minute), Codes: []string{"abcde-fghj-kmnp"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, value string) {
		if c, err := openCodes("kws_other", "sess_one", value, now); err == nil {
			t.Errorf("opened with another token: %+v", c)
		}
		_, _ = openCodes("kws_token", "sess_one", value, now)
	})
}
