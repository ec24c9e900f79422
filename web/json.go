package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	keyward "github.com/keyward/keyward"
)

// decodeJSON reads exactly one JSON object into v: the body must be declared
// as JSON (a form or text/plain body is how cross-site requests arrive),
// unknown fields are refused, and so is anything after the object.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return keyward.Errorf(keyward.CodeUnsupportedMedia, "Send the body as application/json.")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body must hold a single JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body is not valid JSON.")
	case errors.Is(err, io.EOF):
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body is empty; send a JSON object.")
	case errors.As(err, &typ):
		if typ.Field != "" {
			return keyward.Errorf(keyward.CodeInvalidRequest, "The field %q has the wrong type.", typ.Field)
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body must be a JSON object.")
	default:
		// DisallowUnknownFields reports `json: unknown field "x"`; the field
		// name came from the client, so quote it rather than echo the error.
		if field, ok := unknownField(err); ok {
			return keyward.Errorf(keyward.CodeInvalidRequest, "Unknown field %q.", field)
		}
		return keyward.Errorf(keyward.CodeInvalidRequest, "The body could not be read as the expected JSON object.")
	}
}

func unknownField(err error) (string, bool) {
	const prefix = `json: unknown field "`
	msg := err.Error()
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix && msg[len(msg)-1] == '"' {
		return msg[len(prefix) : len(msg)-1], true
	}
	return "", false
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
