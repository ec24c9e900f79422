package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
)

// currentSessionJSON is the session check's answer: a struct, not a map,
// so encoding it sorts no keys. It is comparable, which the answer cache
// relies on.
type currentSessionJSON struct {
	Account accountJSON `json:"account"`
	Session sessionJSON `json:"session"`
}

// serveSessionCheck answers GET /api/v1/sessions/current on the checks'
// short way (see middleware): from the node's cached session, read in
// place.
func (s *Server) serveSessionCheck(w http.ResponseWriter, r *http.Request) error {
	p, err := s.authenticateShared(r)
	if err != nil {
		return err
	}
	return s.apiCurrentSession(w, r, &p)
}

// apiCurrentSession answers GET /api/v1/sessions/current, the check every
// application behind keyward makes on each of its own requests.
func (s *Server) apiCurrentSession(w http.ResponseWriter, r *http.Request, p *principal) error {
	view := currentSessionJSON{Account: accountOf(p.account), Session: sessionOf(p.session, p.session.ID)}
	body := s.checkAnswers.body(view)
	w.Header()["Content-Type"] = jsonContentType[:1:1] // net/http adds Content-Length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// checkAnswers remembers, per session, the encoded session-check answer
// together with the view it was encoded from. An answer is reused only for
// an identical view, so it can never be stale: a session touched, an
// account's email or 2FA changed, make a different view and a new answer.
// Encoding the answer (five times through time.Time.MarshalJSON, validated
// again by encoding/json) was the largest part of the check's own cost.
type checkAnswers struct {
	mu       sync.RWMutex
	max      int // answers
	maxBytes int // of their bodies: a user agent makes an answer long
	bytes    int
	m        map[string]*encodedCheck // by session id
}

type encodedCheck struct {
	view currentSessionJSON
	body []byte
}

func newCheckAnswers(max, maxBytes int) *checkAnswers {
	return &checkAnswers{max: max, maxBytes: maxBytes, m: make(map[string]*encodedCheck)}
}

// body returns view encoded as writeJSON would encode it. The bytes are
// shared: callers only write them.
func (c *checkAnswers) body(view currentSessionJSON) []byte {
	id := view.Session.ID
	c.mu.RLock()
	e := c.m[id]
	c.mu.RUnlock()
	if e != nil && e.view == view {
		return e.body
	}
	var buf bytes.Buffer
	// Our own type: encoding cannot fail. The copy keeps no spare capacity.
	_ = json.NewEncoder(&buf).Encode(view)
	e = &encodedCheck{view: view, body: bytes.Clone(buf.Bytes())}
	c.mu.Lock()
	if len(c.m) >= c.max || c.bytes+len(e.body) > c.maxBytes {
		// Bounded and simple, as the session cache: ended sessions' answers
		// go too, and live ones are encoded again at their next check.
		clear(c.m)
		c.bytes = 0
	}
	if old := c.m[id]; old != nil {
		c.bytes -= len(old.body)
	}
	c.m[id] = e
	c.bytes += len(e.body)
	c.mu.Unlock()
	return e.body
}
