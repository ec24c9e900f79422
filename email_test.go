package keyward

import "testing"

func TestParseEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "ada@example.com", "ada@example.com", true},
		{"trimmed", "  ada@example.com\t", "ada@example.com", true},
		{"plus and dots", "ada.l+sec@mail.example.co.uk", "ada.l+sec@mail.example.co.uk", true},
		{"unicode", "jörg@bücher.example", "jörg@bücher.example", true},
		{"mixed case kept", "Ada@Example.com", "Ada@Example.com", true},
		{"empty", "", "", false},
		{"no at", "ada.example.com", "", false},
		{"two ats", "a@b@example.com", "", false},
		{"no dot in domain", "ada@localhost", "", false},
		{"display name", "Ada <ada@example.com>", "", false},
		{"space inside", "ada lovelace@example.com", "", false},
		{"empty label", "ada@example..com", "", false},
		{"hyphen label", "ada@-example.com", "", false},
		{"newline", "ada@example.com\nBcc: x@y.z", "", false},
		{"too long", string(make([]byte, 300)) + "@example.com", "", false},
		{"quoted local", `"ada"@example.com`, "", false},
		{"invalid UTF-8", "\xff\xfe@example.com", "", false},
		{"invalid UTF-8 in the domain", "ada@exa\xc3mple.com", "", false},
		{"replacement character", "\ufffd\ufffd@example.com", "", false},
		// Mails now go out: an address literal would have the mail relay
		// connect to any host the person names (an inner network's).
		{"address literal", "ada@[127.0.0.1]", "", false},
		{"IPv6 address literal", "ada@[IPv6:2001:db8::1]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEmail(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseEmail(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && ErrorCode(err) != CodeInvalidEmail {
				t.Fatalf("code = %q, want %q", ErrorCode(err), CodeInvalidEmail)
			}
		})
	}
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", "a@b", "Ada <a@b.c>", "\x00@\x00.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseEmail(s)
		if err != nil {
			return
		}
		if again, err := ParseEmail(got); err != nil || again != got {
			t.Fatalf("accepted %q but not its own result %q: %v", s, got, err)
		}
	})
}
