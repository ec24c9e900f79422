package web_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/web"
)

func readJSON(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// operations lists "METHOD /path" of every operation of a document.
func operations(doc map[string]any) map[string]bool {
	ops := map[string]bool{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for method := range item.(map[string]any) {
			if slices.Contains(httpMethods, method) {
				ops[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	return ops
}

func validateDocument(t testing.TB, name string, spec []byte) {
	t.Helper()
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		t.Errorf("%s is not a valid OpenAPI 3.1 document:\n%s", name, strings.Join(describe(errs), "\n"))
	}
}

// TestOpenAPIDocumentIsValid: the document passes the OpenAPI 3.1 schema;
// every operation has a unique operationId (generated clients name their
// methods after it).
func TestOpenAPIDocumentIsValid(t *testing.T) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	validateDocument(t, openAPIFile, spec)
	merged := readJSON(t, openAPIFile)
	if v := merged["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	ids := map[string]string{}
	for path, item := range merged["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			id, _ := op.(map[string]any)["operationId"].(string)
			where := strings.ToUpper(method) + " " + path
			if id == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, ok := ids[id]; ok {
				t.Errorf("operationId %s is both %s and %s", id, other, where)
			}
			ids[id] = where
		}
	}
}

// documentedRoute reports whether a route's path is one the document
// describes: the JSON API, and the health probes beside it.
func documentedRoute(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// TestOpenAPICoversEveryRoute walks both ways: every route of the JSON API
// in routes.go is in the document, and every operation of the document is
// routed.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	s, err := web.New(nil, web.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, pattern := range s.RoutePatterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			// Only the catch-all answers every method under /api/.
			if strings.HasPrefix(pattern, "/api/") && pattern != "/api/" {
				t.Errorf("route %q has no method: the document cannot describe it", pattern)
			}
			continue
		}
		if documentedRoute(path) {
			routed[method+" "+path] = true
		}
	}
	documented := operations(readJSON(t, openAPIFile))
	if len(routed) < 30 {
		t.Fatalf("only %d API routes found: %v", len(routed), slices.Sorted(maps.Keys(routed)))
	}
	for _, r := range slices.Sorted(maps.Keys(routed)) {
		if !documented[r] {
			t.Errorf("route %s is not in %s", r, openAPIFile)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(documented)) {
		if !routed[d] {
			t.Errorf("%s documents %s, which is not routed", openAPIFile, d)
		}
	}
}

// TestOpenAPIVocabularies: the document's event types are the audit
// vocabulary, and its authentication methods the ones sessions record.
func TestOpenAPIVocabularies(t *testing.T) {
	schemas := readJSON(t, openAPIFile)["components"].(map[string]any)["schemas"].(map[string]any)
	enum := func(s any) []string {
		var out []string
		for _, v := range s.(map[string]any)["enum"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	var types []string
	for _, ty := range audit.Types() {
		types = append(types, string(ty))
	}
	amr := schemas["Session"].(map[string]any)["properties"].(map[string]any)["amr"].(map[string]any)["items"]
	for _, tt := range []struct {
		name       string
		documented []string
		known      []string
	}{
		{"EventType (audit.Types)", enum(schemas["EventType"]), types},
		{"Session.amr (keyward.AMR)", enum(amr), keyward.AMR(0xff).Values()},
	} {
		documented, known := slices.Sorted(slices.Values(tt.documented)), slices.Sorted(slices.Values(tt.known))
		if !slices.Equal(documented, known) {
			t.Errorf("%s: the document has %v\nthe code has %v", tt.name, documented, known)
		}
	}
}

// TestOpenAPIServed: GET /api/v1/openapi.json serves the document with the
// deployment's server URL, which follows the public URL and the base path.
func TestOpenAPIServed(t *testing.T) {
	file := readJSON(t, openAPIFile)
	delete(file, "servers")
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name   string
		cfg    web.Config
		path   string
		server string
	}{
		{"default", web.Config{}, "/api/v1/openapi.json", "/"},
		{"public URL", web.Config{PublicURL: mustURL("https://id.example.com")}, "/api/v1/openapi.json", "https://id.example.com"},
		{"base path", web.Config{BasePath: "/auth"}, "/auth/api/v1/openapi.json", "/auth"},
		{"base path, stripped by a proxy", web.Config{BasePath: "/auth"}, "/api/v1/openapi.json", "/auth"},
		{"public URL and base path", web.Config{PublicURL: mustURL("https://example.com/id/auth"), BasePath: "/id/auth"},
			"/id/auth/api/v1/openapi.json", "https://example.com/id/auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := web.New(nil, tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("GET %s = %d %q", tt.path, rec.Code, rec.Header().Get("Content-Type"))
			}
			var served map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil {
				t.Fatal(err)
			}
			servers, _ := served["servers"].([]any)
			if len(servers) != 1 || servers[0].(map[string]any)["url"] != tt.server {
				t.Errorf("servers = %v, want one at %q", servers, tt.server)
			}
			delete(served, "servers")
			if !reflect.DeepEqual(served, file) {
				t.Error("the served document differs from the file in more than its servers")
			}
		})
	}
}

// TestOpenAPIValidatorIsTestOnly: the validator and the generator are the
// tests' tools; the keyward binary serves the document and nothing more.
func TestOpenAPIValidatorIsTestOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "github.com/keyward/keyward/cmd/keyward")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/keyward/keyward/web") {
		t.Fatalf("go list found no web package among %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/pb33f/") || strings.HasPrefix(d, "github.com/oapi-codegen/") {
			t.Errorf("the keyward binary links %s", d)
		}
	}
}
