package web_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	pathpkg "path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
)

// The API's answers are held to web/openapi/openapi.json here: newAPI's
// server is wrapped in contract.check, so every request an API test makes
// and its answer (status, headers, body) are validated against the document
// with libopenapi-validator, and a mismatch fails the test that made the
// server, naming the request.

// openAPIFile is the document, as the tests (run in web/) find it.
const openAPIFile = "openapi/openapi.json"

// contract is the document, loaded once per test binary.
type contract struct {
	// mu serialises validation: the validator keeps caches it does not
	// promise to guard, and the API tests make concurrent requests.
	mu        sync.Mutex
	validator validator.Validator
	schemas   schema_validation.SchemaValidator
	event     *base.Schema // one line of a JSON Lines export
	paths     []docPath
	// answered are the operations ("GET /api/v1/sessions") a success
	// (2xx, 3xx) was checked for, across the test binary.
	answered map[string]bool
}

// docPath is one path of the document and, by method, its operations.
type docPath struct {
	template string
	segments []string
	ops      map[string]docOperation
}

// docOperation is what the checks beside the validator need of an
// operation: the statuses it documents without a body.
type docOperation struct {
	name     string // "GET /api/v1/sessions/{id}"
	bodiless map[string]bool
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		return nil, err
	}
	return newContract(spec)
})

func newContract(spec []byte) (*contract, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIFile, err)
	}
	// Security is the handlers' to judge (and the API tests'): the session
	// cookie's name varies with the deployment, which a document cannot say.
	v, errs := validator.NewValidator(doc, config.WithoutSecurityValidation())
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", openAPIFile, errs)
	}
	c := &contract{validator: v, schemas: schema_validation.NewSchemaValidator(), answered: map[string]bool{}}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIFile, err)
	}
	event := model.Model.Components.Schemas.GetOrZero("Event")
	if event == nil {
		return nil, fmt.Errorf("%s: no Event schema", openAPIFile)
	}
	c.event = event.Schema()
	if c.paths, err = docPaths(spec); err != nil {
		return nil, err
	}
	return c, nil
}

// httpMethods are the members of a Path Item that are operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// docPaths reads the paths and what each operation documents without a body.
func docPaths(spec []byte) ([]docPath, error) {
	type response struct {
		Ref     string                     `json:"$ref"`
		Content map[string]json.RawMessage `json:"content"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]response `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, err
	}
	var out []docPath
	for template, item := range doc.Paths {
		p := docPath{template: template, segments: strings.Split(template, "/"), ops: map[string]docOperation{}}
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op struct {
				Responses map[string]response `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, template, err)
			}
			o := docOperation{name: strings.ToUpper(method) + " " + template, bodiless: map[string]bool{}}
			for status, r := range op.Responses {
				if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
					r = doc.Components.Responses[name]
				}
				if len(r.Content) == 0 {
					o.bodiless[status] = true
				}
			}
			p.ops[strings.ToUpper(method)] = o
		}
		out = append(out, p)
	}
	return out, nil
}

// matches reports whether a request path fits the template.
func (p docPath) matches(path string) bool {
	segs := strings.Split(path, "/")
	if len(segs) != len(p.segments) {
		return false
	}
	for i, s := range p.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if s != segs[i] {
			return false
		}
	}
	return true
}

// methodsAt returns the methods the document has for a path (over every
// template it fits, as http.ServeMux finds a route per method).
func (c *contract) methodsAt(path string) []string {
	var methods []string
	for _, p := range c.paths {
		if !p.matches(path) {
			continue
		}
		for m := range p.ops {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	slices.Sort(methods)
	return methods
}

// operation returns the documented operation a request is for, if any.
func (c *contract) operation(method, path string) (docOperation, bool) {
	for _, p := range c.paths {
		if op, ok := p.ops[method]; ok && p.matches(path) {
			if !strings.Contains(p.template, "{") {
				return op, true
			}
		}
	}
	for _, p := range c.paths {
		if op, ok := p.ops[method]; ok && p.matches(path) {
			return op, true
		}
	}
	return docOperation{}, false
}

// reporter is the part of testing.TB a check reports to.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checked wraps h so that every answer of the JSON API is checked against
// the document; t is failed, naming the request, on any mismatch.
func checked(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	return checkedUnder(t, h, "")
}

// checkedAdmin is checkedUnder for the admin listener (--admin-addr): it
// serves the admin API alone, so only those answers are the document's.
func checkedAdmin(t testing.TB, h http.Handler, base string) http.Handler {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	return c.wrap(t, h, base, func(path string) bool { return strings.HasPrefix(path, "/api/v1/admin/") })
}

// checkedUnder is checked for a keyward served under a base path: requests
// are checked with the base path taken off, as keyward reads them (it
// serves paths that come with the base path and paths already stripped).
func checkedUnder(t testing.TB, h http.Handler, base string) http.Handler {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	return c.wrap(t, h, base, documentedPath)
}

// wrap checks h's answers to the requests whose path (without base) is in
// scope.
func (c *contract) wrap(t reporter, h http.Handler, base string, scope func(path string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if rest, ok := strings.CutPrefix(path, base); ok && base != "" && strings.HasPrefix(rest, "/") {
			path = rest
		}
		if !scope(path) {
			h.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		// The answer is held back until it is checked, so that a failure
		// is reported while the test that asked is still waiting for it.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		answer := rec.Body.Bytes()

		asked := r.Clone(r.Context())
		asked.URL.Path, asked.URL.RawPath = path, ""
		asked.Body = io.NopCloser(bytes.NewReader(body))
		if problems := c.check(asked, res, answer); len(problems) > 0 {
			t.Errorf("openapi.json: %s %s answered %d, which the document does not allow:\n\t%s\n\tbody: %.600s",
				r.Method, r.URL.RequestURI(), res.StatusCode, strings.Join(problems, "\n\t"), answer)
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(answer)
	})
}

// documentedPath reports whether path is the JSON API's (or a health
// probe's): the answers the document describes.
func documentedPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// check returns what is wrong with an answer, by the document.
func (c *contract) check(req *http.Request, res *http.Response, body []byte) []string {
	if req.Method == http.MethodHead {
		// A GET without its body; net/http serves it from the GET route.
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	op, ok := c.operation(req.Method, req.URL.Path)
	if !ok {
		return c.checkUnrouted(req, res, body)
	}
	if res.StatusCode < 400 {
		c.answered[op.name] = true
	}
	var problems []string
	reqOK, reqErrs := c.validator.ValidateHttpRequest(req)
	if !reqOK && res.StatusCode < 400 {
		problems = append(problems, "the request is not one the document allows, yet it was answered "+res.Status)
		problems = append(problems, describe(reqErrs)...)
	}
	if reqOK && res.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte(`"Unknown field `)) {
		problems = append(problems, "the document allows a field the handler does not know")
	}
	req.Body = io.NopCloser(bytes.NewReader(nil))
	res.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := c.validator.ValidateHttpResponse(req, res); !ok {
		problems = append(problems, describe(errs)...)
	}
	status := fmt.Sprint(res.StatusCode)
	if op.bodiless[status] && len(body) > 0 {
		problems = append(problems, "the document has no body for "+status+", yet there is one")
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/x-ndjson") && res.StatusCode == http.StatusOK {
		problems = append(problems, c.checkLines(body)...)
	}
	return problems
}

// checkLines holds each line of a JSON Lines export to the Event schema,
// which the document names for it in words (OpenAPI 3.1 has no schema for
// a sequence of JSON values).
func (c *contract) checkLines(body []byte) []string {
	var problems []string
	for i, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if len(line) == 0 && len(body) == 0 {
			break
		}
		if ok, errs := c.schemas.ValidateSchemaBytes(c.event, line); !ok {
			problems = append(problems, fmt.Sprintf("line %d is not an Event:", i+1))
			problems = append(problems, describe(errs)...)
		}
	}
	return problems
}

// checkUnrouted checks the answer to a method and path the document does
// not have: 404 not_found, or 405 method_not_allowed with Allow listing
// exactly the documented methods, or a CORS preflight answered 204. Before
// any route is chosen, a body too large is refused, so is a cross-site
// request with the cookie, and a path not in clean form is sent to its
// clean form.
func (c *contract) checkUnrouted(req *http.Request, res *http.Response, body []byte) []string {
	methods := c.methodsAt(req.URL.Path)
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
	switch clean := cleanPath(req.URL.Path); {
	case res.StatusCode == http.StatusForbidden && !safe:
		return errorBody(res, body, "forbidden")
	case clean != req.URL.Path:
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusMovedPermanently || !strings.HasSuffix(strings.SplitN(loc, "?", 2)[0], clean) {
			return []string{fmt.Sprintf("a path not in clean form: want 301 to %s", clean)}
		}
		return nil
	case req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" && res.StatusCode == http.StatusNoContent:
		if res.Header.Get("Access-Control-Allow-Origin") == "" || len(body) > 0 {
			return []string{"a preflight's 204 must allow the origin and have no body"}
		}
		return nil
	case res.StatusCode == http.StatusRequestEntityTooLarge:
		return errorBody(res, body, "request_too_large")
	case len(methods) == 0:
		if res.StatusCode != http.StatusNotFound {
			return []string{"the document has no such path: want 404 not_found"}
		}
		return errorBody(res, body, "not_found")
	}
	if res.StatusCode != http.StatusMethodNotAllowed {
		return []string{fmt.Sprintf("the document has this path only for %v: want 405 method_not_allowed", methods)}
	}
	problems := errorBody(res, body, "method_not_allowed")
	allow := slices.Sorted(slices.Values(res.Header.Values("Allow")))
	if !slices.Equal(allow, methods) {
		problems = append(problems, fmt.Sprintf("Allow = %v, the document has %v", allow, methods))
	}
	return problems
}

// errorBody checks an answer given before any documented operation: the
// API's error object with the code.
func errorBody(res *http.Response, body []byte, code string) []string {
	var problems []string
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problems = append(problems, fmt.Sprintf("Content-Type = %q, want application/json", ct))
	}
	if res.Header.Get("X-Request-Id") == "" {
		problems = append(problems, "no X-Request-Id")
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		problems = append(problems, fmt.Sprintf("want the error object with code %q (%v)", code, err))
	}
	return problems
}

// describe turns the validator's findings into lines.
func describe(errs []*liberrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		line := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			line += ": " + e.Reason
		}
		for _, s := range e.SchemaValidationErrors {
			line += fmt.Sprintf(" [%s at %s]", s.Reason, s.FieldPath)
		}
		out = append(out, line)
	}
	return out
}

// recordingReporter keeps what a check reports.
type recordingReporter struct {
	mu      sync.Mutex
	reports []string
}

func (r *recordingReporter) Helper() {}
func (r *recordingReporter) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, fmt.Sprintf(format, args...))
}

// TestContractCatchesMismatches: the check fails answers the document does
// not allow, and passes the ones it does. Each case is an answer made up by
// hand, sent through the check as a real server's would be.
func TestContractCatchesMismatches(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	const (
		acct    = "acct_0123456789abcdefghjkmnpqrs"
		sess    = "sess_0123456789abcdefghjkmnpqrs"
		account = `{"id":"` + acct + `","email":"ada@example.com","email_verified":false,"created_at":"2026-01-02T03:04:05Z","two_factor_enabled":false}`
	)
	session := `{"id":"` + sess + `","current":true,"created_at":"2026-01-02T03:04:05Z","last_seen_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-03T03:04:05Z","ip":"127.0.0.1","user_agent":"x","device":{"browser":"Unknown browser","os":"Unknown OS","type":"unknown"},"aal":1,"amr":["pwd"]}`
	jsonHeaders := []string{"Content-Type", "application/json; charset=utf-8", "X-Request-Id", "r1"}
	tests := []struct {
		name         string
		method, path string
		body         string // request
		status       int
		header       []string
		answer       string
		want         string // "" when the answer is right; else part of the report
	}{
		{"a documented answer", "GET", "/api/v1/sessions/current", "", 200, jsonHeaders,
			`{"account":` + account + `,"session":` + session + `}`, ""},
		{"a field too many", "GET", "/api/v1/sessions/current", "", 200, jsonHeaders,
			`{"account":` + account + `,"session":` + session + `,"token":"kws_x"}`, "additional properties 'token' not allowed"},
		{"a field missing", "GET", "/api/v1/sessions/current", "", 200, jsonHeaders,
			`{"account":` + account + `}`, "session"},
		{"a field of the wrong type", "GET", "/api/v1/sessions", "", 200, jsonHeaders, `{"sessions":"none"}`, "sessions"},
		{"an undocumented status", "GET", "/api/v1/sessions", "", 418, jsonHeaders,
			`{"error":{"code":"internal","message":"m"}}`, "response code '418' does not exist"},
		{"a code the route does not give at that status", "GET", "/api/v1/sessions", "", 401, jsonHeaders,
			`{"error":{"code":"invalid_credentials","message":"m"}}`, "$.error.code"},
		{"a code no route gives", "GET", "/api/v1/sessions", "", 401, jsonHeaders,
			`{"error":{"code":"no_such_code","message":"m"}}`, "$.error.code"},
		{"429 without Retry-After", "POST", "/api/v1/accounts", `{"email":"a@example.com","password":"p"}`, 429, jsonHeaders,
			`{"error":{"code":"too_many_attempts","message":"m"}}`, "Retry-After"},
		{"429 with Retry-After", "POST", "/api/v1/accounts", `{"email":"a@example.com","password":"p"}`, 429, append([]string{"Retry-After", "3"}, jsonHeaders...),
			`{"error":{"code":"too_many_attempts","message":"m"}}`, ""},
		{"no X-Request-Id", "GET", "/api/v1/sessions", "", 200, []string{"Content-Type", "application/json"}, `{"sessions":[]}`, "X-Request-Id"},
		{"an invalid request accepted", "POST", "/api/v1/accounts", `{"email":7,"password":"p"}`, 201, jsonHeaders,
			`{"account":` + account + `}`, "the request is not one the document allows"},
		{"an invalid request refused", "POST", "/api/v1/accounts", `{"email":7,"password":"p"}`, 400, jsonHeaders,
			`{"error":{"code":"invalid_request","message":"m"}}`, ""},
		{"a documented field refused as unknown", "POST", "/api/v1/sessions", `{"email":"a@example.com","password":"p","device_token":"kwd_x"}`, 400, jsonHeaders,
			`{"error":{"code":"invalid_request","message":"Unknown field \"device_token\" (field names are case-sensitive)."}}`, "a field the handler does not know"},
		{"a body where the document has none", "DELETE", "/api/v1/sessions/current", "", 204, []string{"X-Request-Id", "r1"}, `{}`, "no body for 204"},
		{"identity headers missing", "GET", "/api/v1/auth/check", "", 200, []string{"X-Request-Id", "r1", "X-Keyward-Account-Id", acct}, "", "X-Keyward-Email"},
		{"identity headers", "GET", "/api/v1/auth/check?aal=2", "", 200, []string{"X-Request-Id", "r1", "X-Keyward-Account-Id", acct, "X-Keyward-Email", "a@example.com",
			"X-Keyward-Session-Id", sess, "X-Keyward-Aal", "2", "X-Keyward-Amr", "pwd,otp,mfa"}, "", ""},
		{"a redirect without Location", "GET", "/api/v1/auth/forward", "", 302, []string{"X-Request-Id", "r1"}, "", "Location"},
		{"an export line that is not an Event", "GET", "/api/v1/account/audit/export?format=jsonl", "", 200,
			[]string{"Content-Type", "application/x-ndjson; charset=utf-8", "X-Request-Id", "r1", "Content-Disposition", `attachment; filename="keyward-audit.jsonl"`},
			"{\"id\":\"x\"}\n", "line 1 is not an Event"},
		{"an undocumented path answered", "GET", "/api/v1/nothing", "", 200, jsonHeaders, `{}`, "want 404"},
		{"an undocumented path refused", "GET", "/api/v1/nothing", "", 404, jsonHeaders, `{"error":{"code":"not_found","message":"m"}}`, ""},
		{"an undocumented method with the wrong Allow", "PATCH", "/api/v1/sessions/current", "", 405, append([]string{"Allow", "GET"}, jsonHeaders...),
			`{"error":{"code":"method_not_allowed","message":"m"}}`, "Allow = [GET], the document has [DELETE GET]"},
		{"an undocumented method", "PATCH", "/api/v1/sessions/current", "", 405, append([]string{"Allow", "GET", "Allow", "DELETE"}, jsonHeaders...),
			`{"error":{"code":"method_not_allowed","message":"m"}}`, ""},
		{"a page is not the API's", "GET", "/signin", "", 200, nil, "<html>", ""},
		{"under a base path", "GET", "/auth/api/v1/sessions", "", 200, jsonHeaders, `{"sessions":[]}`, ""},
		{"under a base path, wrong", "GET", "/auth/api/v1/sessions", "", 200, jsonHeaders, `{"sessions":{}}`, "sessions"},
		{"under a base path, stripped", "GET", "/api/v1/nothing", "", 200, jsonHeaders, `{}`, "want 404"},
		{"a path not in clean form", "POST", "/api/v1/admin/../sessions/revoke-others", "", 301, []string{"Location", "/api/v1/sessions/revoke-others", "X-Request-Id", "r1"}, "", ""},
		{"a path not in clean form, answered", "POST", "/api/v1/admin/../sessions/revoke-others", "", 404, jsonHeaders, `{"error":{"code":"not_found","message":"m"}}`, "want 301"},
		{"refused before routing, cross-site", "POST", "/api/v1/admin/../sessions/revoke-others", "", 403, jsonHeaders, `{"error":{"code":"forbidden","message":"m"}}`, ""},
		{"refused before routing, wrong code", "POST", "/api/v1/nothing", "", 403, jsonHeaders, `{"error":{"code":"insufficient_scope","message":"m"}}`, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &recordingReporter{}
			base := "" // the cases under /auth are served under that base path
			if strings.HasPrefix(tt.path, "/auth/") || strings.HasPrefix(tt.name, "under a base path") {
				base = "/auth"
			}
			h := c.wrap(rep, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got, _ := io.ReadAll(r.Body); string(got) != tt.body {
					t.Errorf("the handler read %q, want %q", got, tt.body)
				}
				for i := 0; i+1 < len(tt.header); i += 2 {
					w.Header().Add(tt.header[i], tt.header[i+1])
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}), base, documentedPath)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Body.String() != tt.answer {
				t.Errorf("the answer passed on is %d %q, want %d %q", rec.Code, rec.Body, tt.status, tt.answer)
			}
			got := strings.Join(rep.reports, "\n")
			switch {
			case tt.want == "" && got != "":
				t.Errorf("a right answer was reported:\n%s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("report %q does not say %q", got, tt.want)
			}
		})
	}
}

// unanswered lists the operations of the document that no test got a
// success answer from through a checked server.
func (c *contract) unanswered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.paths {
		for _, op := range p.ops {
			if !c.answered[op.name] {
				out = append(out, op.name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestMain runs the tests and then, on a full run (no -run, -skip or
// -short), fails unless every operation of the document had a success
// answer checked against it: a route no API test calls is a route whose
// answers nothing holds to the document.
func TestMain(m *testing.M) {
	code := m.Run()
	full := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" && !testing.Short()
	if c, err := loadContract(); code == 0 && full && err == nil {
		if missing := c.unanswered(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "openapi.json: no test got a success answer, checked against the document, from:\n\t%s\n", strings.Join(missing, "\n\t"))
			code = 1
		}
	}
	os.Exit(code)
}

// TestContractCountsAnsweredOperations: an operation counts as answered
// once a success for it was checked, not on an error.
func TestContractCountsAnsweredOperations(t *testing.T) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newContract(spec)
	if err != nil {
		t.Fatal(err)
	}
	before := c.unanswered()
	if !slices.Contains(before, "GET /api/v1/sessions") || !slices.Contains(before, "DELETE /api/v1/sessions/{id}") {
		t.Fatalf("unanswered before any request = %v", before)
	}
	answer := func(method, path string, status int, body string) {
		h := c.wrap(&recordingReporter{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "r1")
			if body != "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}), "", documentedPath)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, path, nil))
	}
	answer("GET", "/api/v1/sessions", 200, `{"sessions":[]}`)
	answer("DELETE", "/api/v1/sessions/sess_x", 404, `{"error":{"code":"not_found","message":"m"}}`)
	after := c.unanswered()
	if slices.Contains(after, "GET /api/v1/sessions") || !slices.Contains(after, "DELETE /api/v1/sessions/{id}") || len(after) != len(before)-1 {
		t.Errorf("unanswered after a 200 and a 404 = %v", after)
	}
}

// cleanPath is path as http.ServeMux cleans it (a trailing slash kept).
func cleanPath(p string) string {
	clean := pathpkg.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}
