package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
)

// openAPIDocument is the OpenAPI 3.1 document of the JSON API, written by
// hand (docs/api.md says how it is kept). The tests hold it to the routes
// and every answer to it; production only serves it.
//
//go:embed openapi/openapi.json
var openAPIDocument []byte

// openAPIPath is where the document is served.
const openAPIPath = "/api/v1/openapi.json"

// apiOpenAPI serves the document with this deployment's server URL.
func (s *Server) apiOpenAPI(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.openAPI()
	if err != nil {
		return err
	}
	w.Header()["Content-Type"] = jsonContentType[:1:1]
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return nil
}

// openAPIServerURL is the document's server URL: {public_url}, the public
// URL's origin and the base path, or the base path alone (a relative URL,
// resolved against where the document was fetched) without a public URL.
func (s *Server) openAPIServerURL() string {
	if u := s.publicBase(); u != "" {
		return u
	}
	return "/"
}

// withServer returns doc with its top-level "servers" replaced by one server
// at url; every other member is kept as it is written, in its order.
func withServer(doc []byte, url string) ([]byte, error) {
	servers, err := json.Marshal([]map[string]string{{
		"url":         url,
		"description": "This keyward: its public URL and base path.",
	}})
	if err != nil {
		return nil, err
	}
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, fmt.Errorf("openapi: the document is not a JSON object")
	}
	var out bytes.Buffer
	out.WriteString("{\n")
	replaced := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		name := tok.String() // the token is only valid until the next read
		value, err := dec.ReadValue()
		if err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		if out.Len() > 2 {
			out.WriteString(",\n")
		}
		key, _ := json.Marshal(name)
		out.WriteString("  ")
		out.Write(key)
		out.WriteString(": ")
		if name == "servers" {
			value, replaced = servers, true
		}
		out.Write(value)
	}
	if !replaced {
		return nil, fmt.Errorf("openapi: the document has no servers")
	}
	out.WriteString("\n}\n")
	return out.Bytes(), nil
}
