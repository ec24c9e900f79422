package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	keyward "github.com/keyward/keyward"
)

// statusOf is the one table from error codes to HTTP statuses. A code that
// is not here answers 500 internal with a generic message.
var statusOf = map[keyward.Code]int{
	keyward.CodeInvalidRequest:     http.StatusBadRequest,
	keyward.CodeRequestTooLarge:    http.StatusRequestEntityTooLarge,
	keyward.CodeUnsupportedMedia:   http.StatusUnsupportedMediaType,
	keyward.CodeUnauthenticated:    http.StatusUnauthorized,
	keyward.CodeForbidden:          http.StatusForbidden,
	keyward.CodeNotFound:           http.StatusNotFound,
	keyward.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	keyward.CodeTooManyAttempts:    http.StatusTooManyRequests,
	keyward.CodeReauthRequired:     http.StatusForbidden,
	keyward.CodeUnavailable:        http.StatusServiceUnavailable,
	keyward.CodeInternal:           http.StatusInternalServerError,
	keyward.CodeConflict:           http.StatusConflict,
	keyward.CodeInvalidEmail:       http.StatusBadRequest,
	keyward.CodeEmailTaken:         http.StatusConflict,
	keyward.CodeSignupDisabled:     http.StatusForbidden,
	keyward.CodeInvalidCredentials: http.StatusUnauthorized,
	keyward.CodeInvalidCode:        http.StatusUnauthorized,
	keyward.CodeMFATokenExpired:    http.StatusUnauthorized,
	keyward.CodeInvalidCurrentPass: http.StatusForbidden,
	keyward.CodeAlreadyEnabled:     http.StatusConflict,
	keyward.CodeNoPendingSetup:     http.StatusConflict,
	keyward.CodeNotEnabled:         http.StatusConflict,
	keyward.CodePasswordTooShort:   http.StatusBadRequest,
	keyward.CodePasswordTooLong:    http.StatusBadRequest,
	keyward.CodePasswordBreached:   http.StatusBadRequest,
	keyward.CodePasswordTooWeak:    http.StatusBadRequest,
	keyward.CodePasswordHasEmail:   http.StatusBadRequest,
	keyward.CodeInvalidToken:       http.StatusBadRequest,
	keyward.CodeMFARequired:        http.StatusForbidden,
	keyward.CodeAlreadyVerified:    http.StatusConflict,
	keyward.CodeEmailNotVerified:   http.StatusForbidden,
	keyward.CodePasswordResetReq:   http.StatusForbidden,
	keyward.CodeInvalidCredential:  http.StatusUnauthorized,
	keyward.CodeNoPasskeys:         http.StatusConflict,
	keyward.CodeTooManyPasskeys:    http.StatusConflict,
	keyward.CodePasskeysOff:        http.StatusNotImplemented,
	keyward.CodeAccountDisabled:    http.StatusForbidden,
	keyward.CodeInsufficientScope:  http.StatusForbidden,
}

// statusError overrides the table for one route where API.md gives a code
// another status (invalid_code is 401 at sign-in but 400 while enabling).
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// status returns the HTTP status for err.
func status(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	if s, ok := statusOf[keyward.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    keyward.Code `json:"code"`
	Message string       `json:"message"`
}

// writeError answers with err: JSON for the API, a page for a person. The
// client sees the code and a safe message; the cause goes to the log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorAs(w, r, err, !isAPI(r))
}

// writeErrorAs is writeError with the choice of a page or JSON made by the
// caller.
func (s *Server) writeErrorAs(w http.ResponseWriter, r *http.Request, err error, page bool) {
	code := keyward.ErrorCode(err)
	st := status(err)
	if st >= 500 {
		s.log.Log(r.Context(), levelFor(st), "request failed", "request_id", requestID(w), "code", code, "err", err)
	}
	// The message is in the reader's language; the code never changes.
	p := s.locale.Printer(s.language(r))
	msg := p.ErrorMessage(err)
	if code != keyward.CodeInternal && st == http.StatusInternalServerError {
		code, msg = keyward.CodeInternal, p.ErrorMessage(keyward.Internal(err))
	}
	setRetryAfter(w, err, st)
	if page {
		s.renderErrorPage(w, r, st, msg)
		return
	}
	detail := errorDetail{Code: code, Message: msg}
	if st == http.StatusUnauthorized {
		s.writeUnauthorized(w, detail)
		return
	}
	writeJSON(w, st, errorBody{Error: detail})
}

// maxErrorBodies bounds the encoded 401 answers kept (there are a few,
// in each language).
const maxErrorBodies = 48

// writeUnauthorized writes a 401 with d, encoded once: an unknown token
// (the answer to a flood of made-up ones) costs no encoding. Every 401's
// message is a constant, so the answers kept are few.
func (s *Server) writeUnauthorized(w http.ResponseWriter, d errorDetail) {
	var body []byte
	if b, ok := s.errorBodies.Load(d); ok {
		body = b.([]byte)
	} else {
		var buf bytes.Buffer
		_ = json.NewEncoder(&buf).Encode(errorBody{Error: d}) // our own type: cannot fail
		body = buf.Bytes()
		if s.errorBodyCount.Add(1) <= maxErrorBodies {
			s.errorBodies.Store(d, body)
		}
	}
	w.Header()["Content-Type"] = jsonContentType[:1:1]
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(body)
}

// setRetryAfter tells a throttled or unavailable client when to come back:
// the error's own wait, or a second for a 503 that names none.
func setRetryAfter(w http.ResponseWriter, err error, status int) {
	var ke *keyward.Error
	switch {
	case errors.As(err, &ke) && ke.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ke.RetryAfter.Seconds()))))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
}

// writeJSON writes v with status. Encoding our own types cannot fail in a
// way the client could act on, so a failure is only logged by the caller's
// access log through the short body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType[:1:1]
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
