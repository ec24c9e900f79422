package main

import (
	"strings"
	"testing"
)

// TestClientCommands: a client is registered with its secret printed once,
// listed without it, refused with a redirect URI keyward does not accept,
// and deleted; keys rotate starts a new token signing key.
func TestClientCommands(t *testing.T) {
	dir := t.TempDir()
	code, out := runCmd(t, dir, "", "client", "create", "--name", "PayDesk",
		"--redirect-uri", "https://pay.example/callback", "--redirect-uri", "http://127.0.0.1:8080/cb",
		"--post-logout-redirect-uri", "https://pay.example/")
	if code != 0 || !strings.Contains(out, "client_id: cl_") || !strings.Contains(out, "client_secret: kwc_") {
		t.Fatalf("create = %d %q", code, out)
	}
	id := strings.Fields(strings.SplitN(out, "\n", 2)[0])[1]
	secret := strings.Fields(strings.SplitN(out, "\n", 3)[1])[1]

	code, out = runCmd(t, dir, "", "client", "create", "--name", "Mobile", "--public", "--first-party", "--redirect-uri", "https://app.example/cb")
	if code != 0 || strings.Contains(out, "client_secret") {
		t.Fatalf("public create = %d %q", code, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"client", "create", "--name", "Evil", "--redirect-uri", "http://evil.example/cb"}, "only a loopback host"},
		{[]string{"client", "create", "--name", "Frag", "--redirect-uri", "https://a.example/cb#x"}, "fragment"},
		{[]string{"client", "create", "--redirect-uri", "https://a.example/cb"}, "--name is required"},
		{[]string{"client", "create", "--name", "None"}, "--redirect-uri is required"},
		{[]string{"client", "delete", "cl_nope"}, "no client has the id"},
	} {
		code, out := runCmd(t, dir, "", tt.args...)
		if code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%v = %d %q, want an error saying %q", tt.args, code, out, tt.want)
		}
	}

	code, out = runCmd(t, dir, "", "client", "list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "public, first-party") || strings.Contains(out, secret) {
		t.Fatalf("list = %d %q", code, out)
	}
	code, out = runCmd(t, dir, "", "keys", "rotate")
	if code != 0 || !strings.Contains(out, "token signing key sk_") {
		t.Fatalf("keys rotate = %d %q", code, out)
	}
	if code, out = runCmd(t, dir, "", "client", "delete", id); code != 0 || !strings.Contains(out, "is deleted") {
		t.Fatalf("delete = %d %q", code, out)
	}
	if _, out = runCmd(t, dir, "", "client", "list"); strings.Contains(out, id) {
		t.Errorf("a deleted client is listed: %q", out)
	}
}
