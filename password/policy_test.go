package password

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// prose is a long text zxcvbn finds strong; prefixes of it are long
// passwords of any length.
const prose = "Eleven quiet otters juggled seventeen brass lanterns beside the frozen harbour of Tromsø, " +
	"while a retired violinist named Oswin hummed something half-remembered from 1987 and counted gulls. "

func longPassword(tb testing.TB, n int) string {
	tb.Helper()
	s := []rune(strings.Repeat(prose, n/len(prose)+1))[:n]
	return string(s)
}

func testPolicy() Policy {
	p := DefaultPolicy()
	p.ContextWords = []string{"keyward", "Keyward Security"}
	return p
}

func checkCode(tb testing.TB, p Policy, pw, email string) string {
	tb.Helper()
	err := p.Check(context.Background(), pw, email)
	if err == nil {
		return ""
	}
	var v *Violation
	if !errors.As(err, &v) {
		tb.Fatalf("Check(%q, %q) = %v, want nil or *Violation", pw, email, err)
	}
	return v.Code
}

func TestPolicyCheck(t *testing.T) {
	const email = "alice.smith@example.com"
	tests := []struct {
		name  string
		pw    string
		email string
		want  string // "" means accepted
	}{
		{"empty", "", email, CodeTooShort},
		{"7 characters", "Zq7#xW2", email, CodeTooShort},
		{"exactly 8", "Zq7#xW2!", email, ""},
		{"64 characters", longPassword(t, 64), email, ""},
		{"128 characters", longPassword(t, 128), email, ""},
		{"1024 characters", longPassword(t, 1024), email, ""},
		{"1025 characters", longPassword(t, 1025), email, CodeTooLong},
		{"no composition rules: lower-case words", "purple monkey dishwasher", email, ""},

		{"unicode and spaces", "correct horse 🐎 battery", email, ""},
		{"full-width letters normalised, 8 code points", "Ｚｑ７＃ｘＷ２！", email, ""},
		{"full-width common password", "Ｐａｓｓｗｏｒｄ", email, CodeBreached},
		{"ligatures counted after NFKC (3 -> 9)", "ﬃﬃﬃ", email, CodeTooWeak},
		{"combining mark counts: 8 code points", "x\u0301Zq7#xW", email, ""},
		{"combining mark counts: 7 code points", "x\u0301Zq7#x", email, CodeTooShort},
		{"emoji count as one", "🐎🐎🐎🐎🐎🐎🐎", email, CodeTooShort},

		{"breached: password", "password", email, CodeBreached},
		{"breached: 123456789", "123456789", email, CodeBreached},
		{"breached: qwerty123", "qwerty123", email, CodeBreached},
		{"breached: case-insensitive", "PassWord1", email, CodeBreached},
		{"breached before email", "password", "password@example.com", CodeBreached},

		{"email: local part", "alice.smith2024", email, CodeContainsEmail},
		{"email: local part, other case and punctuation", "my AliceSmith&roses", email, CodeContainsEmail},
		{"email: whole", "alice.smith@example.com", email, CodeContainsEmail},
		{"email: +tag ignored", "alice rides 42 trains", "alice+kw@example.com", CodeContainsEmail},
		{"email: short local part ignored", "jolly purple dishwasher", "jo@example.com", ""},
		{"email: whole, short local part", "xx jo@example.com xx", "jo@example.com", CodeContainsEmail},
		{"email: empty", "purple monkey dishwasher", "", ""},

		{"product: name and year", "keyward2024!", email, CodeTooWeak},
		{"product: name twice", "Keyward-Keyward", email, CodeTooWeak},
		{"product: name and a common word", "mykeywardpassword", email, CodeTooWeak},
		{"product: two-word context", "keyward security 1", email, CodeTooWeak},
		{"product: name inside a passphrase", "keyward is a great tool for me", email, ""},

		{"weak: sequence", "abcd1234!", email, CodeTooWeak},
		{"weak: repeat", "passwordpassword", email, CodeTooWeak},
		{"weak: one letter", "aaaaaaaaaa", email, CodeTooWeak},
		{"weak: name and year", "jennifer1990", email, CodeTooWeak},
	}
	p := testPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkCode(t, p, tc.pw, tc.email); got != tc.want {
				t.Errorf("Check(%q, %q) = %q, want %q", tc.pw, tc.email, got, tc.want)
			}
		})
	}
}

func TestPolicyLimits(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		pw     string
		want   string
	}{
		{"zero policy: 8 accepted", Policy{}, "Zq7#xW2!", ""},
		{"zero policy: 7 refused", Policy{}, "Zq7#xW2", CodeTooShort},
		{"zero policy: no breached list", Policy{}, "qwerty123", CodeTooWeak},
		{"MinLength below 8 raised to 8", Policy{MinLength: 4}, "Zq7#xW2", CodeTooShort},
		{"MinLength 15", Policy{MinLength: 15}, "purple dishwash", ""},
		{"MinLength 15, 14 refused", Policy{MinLength: 15}, "purple dishwas", CodeTooShort},
		{"MaxLength below 64 raised to 64", Policy{MaxLength: 10}, longPassword(t, 64), ""},
		{"MaxLength below 64, 65 refused", Policy{MaxLength: 10}, longPassword(t, 65), CodeTooLong},
		{"MaxLength of 4-byte characters accepted", Policy{MinScore: -1}, strings.Repeat("🐎", 1024), ""},
		{"MaxBytes + 1 refused", Policy{}, strings.Repeat("🐎", 1024) + "!", CodeTooLong},
		{"MaxBytes follows MaxLength", Policy{MaxLength: 100}, strings.Repeat("🐎", 100) + "!", CodeTooLong},
		{"counted after NFKC: U+FDFA is 18", Policy{MaxLength: 100}, strings.Repeat("\uFDFA", 6), CodeTooLong},
		{"counted after NFKC: 5 × U+FDFA is 90", Policy{MaxLength: 100, MinScore: -1}, strings.Repeat("\uFDFA", 5), ""},
		{"U+FDFA flood refused unread", Policy{}, strings.Repeat("\uFDFA", 349000), CodeTooLong},
		{"invalid UTF-8", Policy{}, "Zq7#xW2!\xff\xfe", CodeNotText},
		{"MinScore 4", Policy{MinScore: 4}, "Zq7#xW2!", CodeTooWeak},
		{"MinScore negative: no strength rule", Policy{MinScore: -1}, "aaaaaaaaaa", ""},
		{"MinScore negative: context rule stays", Policy{MinScore: -1, ContextWords: []string{"keyward"}}, "keyward2024", CodeTooWeak},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkCode(t, tc.policy, tc.pw, ""); got != tc.want {
				t.Errorf("Check(%q) = %q, want %q", tc.pw, got, tc.want)
			}
		})
	}
}

func TestViolationDoesNotEchoPassword(t *testing.T) {
	p := testPolicy()
	p.Breached = append(p.Breached, set{m: map[string]struct{}{"Zebra!Quartz9": {}}})
	tests := []struct{ name, pw, email, want string }{
		{"too short", "Xy7!", "", CodeTooShort},
		{"too long", strings.Repeat("Xy7!", 300), "", CodeTooLong},
		{"breached", "Zebra!Quartz9", "", CodeBreached},
		{"email", "alice.zq9 yes", "alice.zq9@example.com", CodeContainsEmail},
		{"context", "keyward777", "", CodeTooWeak},
		{"weak", "qqqqqqqqqqqq", "", CodeTooWeak},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(context.Background(), tc.pw, tc.email)
			var v *Violation
			if !errors.As(err, &v) || v.Code != tc.want {
				t.Fatalf("Check(%q) = %v, want code %q", tc.pw, err, tc.want)
			}
			if v.Message == "" || !strings.HasSuffix(v.Message, ".") || strings.Contains(v.Message, tc.pw) {
				t.Errorf("Message = %q, want a sentence without the password", v.Message)
			}
			if err.Error() != v.Message {
				t.Errorf("Error() = %q, want the message %q", err.Error(), v.Message)
			}
		})
	}
}

func TestStrength(t *testing.T) {
	p := testPolicy()
	tests := []struct {
		name     string
		pw       string
		email    string
		min, max int
		code     string // a refusal instead of a score
	}{
		{"common", "password", "", 0, 0, ""},
		{"passphrase", "correct horse 🐎 battery", "", 4, 4, ""},
		{"name and year", "jennifer1990", "", 1, 1, ""},
		{"long input is capped, not slow", longPassword(t, 1024), "", 4, 4, ""},
		{"MaxBytes of 4-byte characters scored", strings.Repeat("🐎", 1024), "", 0, 4, ""},
		{"one byte over MaxBytes refused", strings.Repeat("🐎", 1024) + "a", "", 0, 0, CodeTooLong},
		{"U+FDFA flood refused unread", strings.Repeat("\uFDFA", 349000), "", 0, 0, CodeTooLong},
		{"invalid UTF-8", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "", 0, 0, CodeNotText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Strength(tc.pw, tc.email)
			var v *Violation
			if code := ""; errors.As(err, &v) && v.Code != tc.code || err == nil && tc.code != "" {
				if v != nil {
					code = v.Code
				}
				t.Fatalf("Strength(%.40q) refused with %q (%v), want %q", tc.pw, code, err, tc.code)
			}
			if err == nil && (got < tc.min || got > tc.max) {
				t.Errorf("Strength(%.40q) = %d, want %d..%d", tc.pw, got, tc.min, tc.max)
			}
		})
	}
	strength := func(p Policy, pw, email string) int {
		t.Helper()
		n, err := p.Strength(pw, email)
		if err != nil {
			t.Fatalf("Strength(%q): %v", pw, err)
		}
		return n
	}
	// The email and the context words are the first guesses of an attacker.
	const pw = "oswin.tromsoe"
	without, with := strength(Policy{}, pw, ""), strength(p, pw, "oswin.tromsoe@example.com")
	if with >= without {
		t.Errorf("Strength(%q) with the email = %d, want below %d without", pw, with, without)
	}
	without, with = strength(Policy{}, "keyward-shield", ""), strength(p, "keyward-shield", "")
	if with >= without {
		t.Errorf("Strength with context words = %d, want below %d without", with, without)
	}
}

// checkerFunc adapts a function to BreachedChecker.
type checkerFunc func(ctx context.Context, pw string) (bool, error)

func (f checkerFunc) Breached(ctx context.Context, pw string) (bool, error) { return f(ctx, pw) }

func TestCheckSkipsFailingChecker(t *testing.T) {
	const pw = "Zebra!Quartz9 lantern"
	var logs bytes.Buffer
	var consulted []string
	failing := checkerFunc(func(context.Context, string) (bool, error) {
		consulted = append(consulted, "failing")
		return false, errors.New("service unreachable")
	})
	listing := checkerFunc(func(_ context.Context, got string) (bool, error) {
		consulted = append(consulted, "listing")
		return got == pw, nil
	})
	p := Policy{Breached: []BreachedChecker{failing, listing}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	if got := checkCode(t, p, pw, ""); got != CodeBreached {
		t.Errorf("Check = %q, want %q (the checker after the failing one still counts)", got, CodeBreached)
	}
	if got, want := strings.Join(consulted, ","), "failing,listing"; got != want {
		t.Errorf("consulted %s, want %s", got, want)
	}
	if !strings.Contains(logs.String(), "service unreachable") {
		t.Errorf("log = %q, want the checker error", logs.String())
	}
	if strings.Contains(logs.String(), "Zebra") {
		t.Errorf("log = %q contains the password", logs.String())
	}

	p.Logger = nil // no logger: still skipped, no panic
	if got := checkCode(t, p, "another lantern Zebra!Q", ""); got != "" {
		t.Errorf("Check with nil Logger = %q, want accepted", got)
	}
}

func TestCheckContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocking := checkerFunc(func(ctx context.Context, _ string) (bool, error) {
		<-ctx.Done()
		return false, ctx.Err()
	})
	err := Policy{Breached: []BreachedChecker{blocking}}.Check(ctx, "correct horse 🐎 battery", "")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Check = %v, want context.Canceled", err)
	}
}

func FuzzPolicyCheck(f *testing.F) {
	for _, s := range []struct{ pw, email string }{
		{"password", "alice@example.com"},
		{"correct horse 🐎 battery", ""},
		{"keyward2024!", "@"},
		{"Ｐａｓｓｗｏｒｄ", "+@+"},
		{"x\u0301\u0301\u0301\u0301\u0301\u0301\u0301", "a+b@c"},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "\xff@\xfe"},
	} {
		f.Add(s.pw, s.email)
	}
	p := testPolicy()
	codes := map[string]bool{CodeTooShort: true, CodeTooLong: true, CodeBreached: true, CodeTooWeak: true, CodeContainsEmail: true, CodeNotText: true}
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := p.Check(context.Background(), pw, email)
		var v *Violation
		if err != nil && (!errors.As(err, &v) || !codes[v.Code]) {
			t.Fatalf("Check = %v, want nil or a *Violation with a known code", err)
		}
		if err == nil && (utf8.RuneCountInString(Normalize(pw)) < 8 || !utf8.ValidString(pw) || len(pw) > p.MaxBytes()) {
			t.Fatalf("Check accepted %q (%d code points after NFKC)", pw, utf8.RuneCountInString(Normalize(pw)))
		}
		s, serr := p.Strength(pw, email)
		if serr != nil && (!errors.As(serr, &v) || v.Code != CodeTooLong && v.Code != CodeNotText) {
			t.Fatalf("Strength = %v, want a score or a too-long or not-text *Violation", serr)
		}
		if (serr == nil) != (utf8.ValidString(pw) && len(pw) <= p.MaxBytes()) || s < 0 || s > 4 {
			t.Fatalf("Strength(%q) = %d, %v", pw, s, serr)
		}
	})
}
