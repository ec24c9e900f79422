package web

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	keyward "github.com/keyward/keyward"
)

// jsonInput is how request bodies are read: strictly, so that one body has
// one meaning. encoding/json (v1) lets the last of two "email" members win,
// matches "EMAIL" to "email", and turns invalid UTF-8 and escaped lone
// surrogates into U+FFFD, so that different bodies sign up or sign in with
// the same email or password. The v2 prototype refuses all of these; the
// options are spelt out so that a change of its defaults cannot loosen them.
var jsonInput = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// decodeJSON reads exactly one JSON object into v: the body must be declared
// as JSON (a form or text/plain body is how cross-site requests arrive);
// unknown, duplicate or differently cased member names are refused, and so
// are invalid UTF-8, escaped lone surrogates and anything after the object.
// Bodies are small (limitBody caps them), so it reads the whole body first.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return keyward.Errorf(keyward.CodeUnsupportedMedia, "Send the body as application/json.")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body could not be read.")
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body is empty; send a JSON object.")
	case !utf8.Valid(body):
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body is not valid UTF-8.")
	case bytes.TrimSpace(body)[0] != '{':
		// null decodes into a struct as nothing at all, so a route whose
		// fields are all optional would take it for an empty object.
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body must be a JSON object.")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsonInput)
	if err := json.UnmarshalDecode(dec, v, jsonInput); err != nil {
		return jsonError(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body must hold a single JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.As(err, &syn):
		// The member name comes from the client: quoted, never echoed raw.
		name := syn.JSONPointer.LastToken()
		switch {
		case errors.Is(err, jsontext.ErrDuplicateName):
			return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q appears more than once.", name)
		case strings.Contains(syn.Err.Error(), "surrogate"):
			// An escape such as \udc00 names half of a UTF-16 pair, no character.
			return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q holds an escaped lone surrogate (like \\udc00), which is not a character.", name)
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body is not valid JSON.")
	case errors.As(err, &sem):
		name := sem.JSONPointer.LastToken()
		switch {
		case errors.Is(err, json.ErrUnknownName):
			return keyward.Errorf(keyward.CodeInvalidRequest, "Unknown field %q (field names are case-sensitive).", name)
		case name != "":
			return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q has the wrong type.", name)
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body must be a JSON object.")
	default:
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body could not be read as the expected JSON object.")
	}
}

// required returns a 400 naming the first missing field.
func required(fields ...namedField) error {
	for _, f := range fields {
		if f.value == nil {
			return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q is required.", f.name)
		}
	}
	return nil
}

type namedField struct {
	name  string
	value *string
}
