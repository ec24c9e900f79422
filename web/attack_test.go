package web_test

import (
	"testing"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/web"
)

// TestAttackBodyThatIsNotAnObject: the API says a body is one JSON object;
// "null", which is none, started a 2FA setup (the one route whose fields are
// all optional) instead of answering 400 invalid_request.
func TestAttackBodyThatIsNotAnObject(t *testing.T) {
	e := newAPI(t, keyward.DefaultConfig(), web.Config{})
	tok := e.signUpIn(t, "ada@example.com")
	for _, body := range []string{`null`, ` null `} {
		t.Run(body, func(t *testing.T) {
			wantStatus(t, e.call(t, "POST", "/api/v1/account/2fa/setup", tok, body), 400, "invalid_request")
		})
	}
}
