package web

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	keyward "github.com/keyward/keyward"
)

// statusOverrides are the codes a route answers with another status than
// statusOf's (a statusError): invalid_code while enabling 2FA, and
// invalid_credential while adding a passkey, are bad input.
var statusOverrides = map[keyward.Code][]int{
	keyward.CodeInvalidCode:       {http.StatusBadRequest},
	keyward.CodeInvalidCredential: {http.StatusBadRequest},
}

// TestOpenAPIErrorCodes holds the document's error codes to the one table
// of codes and statuses: ErrorCode lists exactly the codes the table knows,
// and every code an answer of the document names is one its status is
// given for.
func TestOpenAPIErrorCodes(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []keyward.Code `json:"enum"`
				}
			} `json:"schemas"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	documented := slices.Sorted(slices.Values(doc.Components.Schemas.ErrorCode.Enum))
	known := slices.Sorted(maps.Keys(statusOf))
	if !slices.Equal(documented, known) {
		t.Errorf("ErrorCode enum = %v\nstatusOf has %v", documented, known)
	}

	type answer struct {
		Ref     string `json:"$ref"`
		Content struct {
			JSON struct {
				Schema struct {
					Ref        string `json:"$ref"`
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []keyward.Code `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"schema"`
			} `json:"application/json"`
		} `json:"content"`
	}
	checkAnswer := func(where string, status int, raw json.RawMessage) {
		var a answer
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if name, ok := strings.CutPrefix(a.Ref, "#/components/responses/"); ok {
			if err := json.Unmarshal(doc.Components.Responses[name], &a); err != nil {
				t.Fatalf("%s: %s: %v", where, a.Ref, err)
			}
		}
		if status < 400 {
			return
		}
		schema := a.Content.JSON.Schema
		codes := schema.Properties.Error.Properties.Code.Enum
		if schema.Ref != "#/components/schemas/Error" || len(codes) == 0 {
			if where != "GET /readyz" {
				t.Errorf("%s %d: not the error object with its codes", where, status)
			}
			return
		}
		for _, c := range codes {
			if st, ok := statusOf[c]; ok && st != status && !slices.Contains(statusOverrides[c], status) {
				t.Errorf("%s %d lists %s, which is answered %d", where, status, c, st)
			}
		}
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			for s, r := range op.Responses {
				status, err := strconv.Atoi(s)
				if err != nil {
					t.Errorf("%s %s: response %q is not a status (no default: an undocumented status must fail the tests)", method, path, s)
					continue
				}
				checkAnswer(strings.ToUpper(method)+" "+path, status, r)
			}
		}
	}
}
