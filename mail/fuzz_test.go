package mail_test

import (
	"bytes"
	"errors"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/mail"
	"github.com/keyward/keyward/mail/mailtest"
)

// FuzzMessageHeaders: whatever the product name, recipient, device or IP
// (typed by people, or sent by clients), a built message has exactly
// keyward's headers, each once, and parses back.
func FuzzMessageHeaders(f *testing.F) {
	f.Add("Example", "ann@example.com", "Chrome on macOS", "203.0.113.5")
	f.Add("Evil\r\nBcc: v@example.net", "ann@example.com\r\nBcc: v@example.net", "x\r\n\r\nbody", "1\n2")
	f.Add("Ünïcode ✓", "jürgen@exämple.de", "", "")
	f.Add("=?utf-8?q?x?=", "a@b.c", "<script>", "\x00")
	want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, product, to, device, ip string) {
		m, err := mail.New(mail.Config{ProductName: product, PublicURL: "https://id.example.com", From: "a@example.com"}, mail.Folder{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("mail.New: %v", err)
		}
		c := resetMail(to)
		c.Device, c.IP = device, ip
		msg, err := m.Message("mail_1", c)
		if err != nil {
			if !errors.Is(err, mail.ErrBadAddress) {
				t.Fatalf("Message: %v", err)
			}
			return
		}
		var b bytes.Buffer
		if _, err := msg.WriteTo(&b); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		head, _, _ := bytes.Cut(b.Bytes(), []byte("\r\n\r\n"))
		var names []string
		for _, line := range strings.Split(string(head), "\r\n") {
			if line == "" || line[0] == ' ' || line[0] == '\t' {
				continue // a folded continuation
			}
			name, _, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("header line %q has no colon:\n%s", line, head)
			}
			names = append(names, textproto.CanonicalMIMEHeaderKey(name))
		}
		slices.Sort(names)
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("headers %v, want %v:\n%s", names, want, head)
		}
		if _, err := mailtest.ParseMessage(b.Bytes()); err != nil {
			t.Fatalf("the message does not parse: %v", err)
		}
	})
}
