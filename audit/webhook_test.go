package audit

import (
	"strings"
	"testing"
	"time"
)

func TestWebhookPayloadJSON(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"an account's event",
			Event{ID: "ev1", ChainID: "acct_1", Seq: 3, Time: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC),
				Type: SigninFailed, Outcome: Failure, Reason: "invalid_password", IP: "203.0.113.7",
				UserAgent: firefoxLinux, SessionID: "", Actor: ActorSelf, MAC: "k:mac", Hash: []byte{2}},
			`{"type":"signin.failed","timestamp":"2026-01-02T03:04:05.678901Z","data":{"id":"ev1","time":"2026-01-02T03:04:05.678901Z",` +
				`"type":"signin.failed","outcome":"failure","reason":"invalid_password","ip":"203.0.113.7","user_agent":"` + firefoxLinux + `",` +
				`"device":{"browser":"Firefox","os":"Linux","type":"desktop"},"session_id":null,"actor":"self","details":{},"account_id":"acct_1"}}`},
		{"the system log's event has no account",
			Event{ID: "ev2", ChainID: SystemChain, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: SigninFailed,
				Outcome: Failure, Reason: "unknown_email", Actor: ActorSelf, Details: map[string]string{DetailEmailDigest: "k1:ab"}},
			`{"type":"signin.failed","timestamp":"2026-01-02T03:04:05Z","data":{"id":"ev2","time":"2026-01-02T03:04:05Z",` +
				`"type":"signin.failed","outcome":"failure","reason":"unknown_email","ip":"","user_agent":"",` +
				`"device":{"browser":"Unknown browser","os":"Unknown OS","type":"unknown"},"session_id":null,"actor":"self",` +
				`"details":{"email_digest":"k1:ab"},"account_id":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustJSON(t, WebhookPayloadOf(&tt.e)); got != tt.want {
				t.Errorf("JSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		name, in string
		picks    []Type
		skips    []Type
		str      string
		err      string
	}{
		{"empty picks all", "", Types(), nil, "*", ""},
		{"star picks all", " * ", Types(), nil, "*", ""},
		{"one type", "password.changed", []Type{PasswordChanged}, []Type{PasswordReset, SigninFailed}, "password.changed", ""},
		{"prefix", "signin.", []Type{SigninFailed, SigninSucceeded, SigninMFAFailed, SigninThrottled}, []Type{Signout, SessionRevoked}, "signin.", ""},
		{"types and prefixes, spaces, repeats", " 2fa. , signout,signout,,", []Type{TwoFactorEnabled, BackupCodeUsed, BackupCodesRegenerated, Signout},
			[]Type{SigninFailed, PasswordChanged}, "signout,2fa.", ""},
		{"unknown type", "signin.ok", nil, nil, "", `"signin.ok" is not an event type`},
		{"a prefix without its dot", "signin", nil, nil, "", `write "signin."`},
		{"a prefix of nothing", "login.", nil, nil, "", `"login." picks no event type`},
		{"wrong case", "Signout", nil, nil, "", "not an event type"},
		{"a star among names", "signout,*", nil, nil, "", `"*" is not an event type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSelector(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSelector(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.in, err)
			}
			for _, ty := range tt.picks {
				if !s.Match(ty) {
					t.Errorf("does not pick %s", ty)
				}
			}
			for _, ty := range tt.skips {
				if s.Match(ty) {
					t.Errorf("picks %s", ty)
				}
			}
			if got := s.String(); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
			again, err := ParseSelector(s.String())
			if err != nil || again.String() != s.String() {
				t.Errorf("String does not parse back: %q, %v", again.String(), err)
			}
		})
	}
}

// FuzzParseSelector: any list parses or is refused; what parses prints back
// to itself and picks only types of the vocabulary.
func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "*", "signin.", "2fa.,signout", "a,b.", ",,, ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSelector(in)
		if err != nil {
			return
		}
		again, err := ParseSelector(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q: String %q does not parse back (%v)", in, s.String(), err)
		}
		for _, ty := range Types() {
			if s.Match(ty) != again.Match(ty) {
				t.Fatalf("%q: parsed back, %s is picked differently", in, ty)
			}
		}
		if !s.All() && s.Match(Type(in+"x")) && !strings.Contains(in, ".") {
			t.Fatalf("%q picks a type outside the vocabulary", in)
		}
	})
}
