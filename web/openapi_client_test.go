package web_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// oapiCodegen is the generator the client test runs: a common one that
// reads OpenAPI 3.1 as it is (no down-conversion).
const oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

// clientModule is the module the generated client is built in; the runtime
// is the generated code's one dependency.
const clientModule = `module keyward.test/apiclient

go 1.26

require github.com/oapi-codegen/runtime v1.9.0
`

// clientProgram uses the generated client's types and methods, named after
// the document's schemas and operationIds, against a running keyward.
const clientProgram = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"keyward.test/apiclient/apiclient"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	ctx := context.Background()
	server, password := os.Args[1], os.Args[2]
	c, err := apiclient.NewClientWithResponses(server)
	if err != nil {
		fail("client: %v", err)
	}
	doc, err := c.GetOpenAPIWithResponse(ctx)
	if err != nil || doc.JSON200 == nil {
		fail("openapi.json: %v %v", err, doc)
	}
	up, err := c.SignUpWithResponse(ctx, apiclient.SignUpJSONRequestBody{Email: "ada@example.com", Password: password})
	if err != nil || up.JSON201 == nil {
		fail("sign-up: %v %s", err, up.Body)
	}
	in, err := c.SignInWithResponse(ctx, apiclient.SignInJSONRequestBody{Email: "ada@example.com", Password: password})
	if err != nil || in.JSON201 == nil {
		fail("sign-in: %v %s", err, in.Body)
	}
	bearer := func(ctx context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+in.JSON201.Token)
		return nil
	}
	current, err := c.GetCurrentSessionWithResponse(ctx, bearer)
	if err != nil || current.JSON200 == nil {
		fail("current session: %v %s", err, current.Body)
	}
	sessions, err := c.ListSessionsWithResponse(ctx, bearer)
	if err != nil || sessions.JSON200 == nil {
		fail("sessions: %v %s", err, sessions.Body)
	}
	wrong, err := c.SignInWithResponse(ctx, apiclient.SignInJSONRequestBody{Email: "ada@example.com", Password: "not the password"})
	if err != nil || wrong.JSON401 == nil {
		fail("wrong password: %v %s", err, wrong.Body)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"openapi":        (*doc.JSON200)["openapi"],
		"email":          up.JSON201.Account.Email,
		"same_account":   current.JSON200.Account.Id == up.JSON201.Account.Id,
		"aal":            current.JSON200.Session.Aal,
		"sessions":       len(sessions.JSON200.Sessions),
		"wrong_password": wrong.JSON401.Error.Code,
	})
}
`

// TestOpenAPIGoClient: a Go client generated from the document by
// oapi-codegen (from the 3.1 document itself) compiles, and a program using
// it signs up, signs in and asks who it is against a keyward whose answers
// are held to the document as in every API test.
func TestOpenAPIGoClient(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and builds a client: not with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to generate the client: %v", err)
	}
	spec, err := filepath.Abs(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		// Its own module, outside any workspace, with the toolchain that
		// runs the tests; modules come from the cache or the proxy.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(clientModule), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(clientProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	run("run", oapiCodegen, "-generate", "types,client", "-package", "apiclient", "-o", filepath.Join("apiclient", "client.go"), spec)
	run("mod", "tidy")
	bin := filepath.Join(dir, "client")
	run("build", "-o", bin, ".")

	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	out, err := exec.Command(bin, e.srv.URL, apiPassword).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("the generated client: %v\n%s", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	want := map[string]any{"openapi": "3.1.0", "email": "ada@example.com", "same_account": true, "aal": 1.0, "sessions": 1.0, "wrong_password": "invalid_credentials"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %s)", k, got[k], v, out)
		}
	}
}
