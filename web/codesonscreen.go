package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// New backup codes are shown on a page that must survive a reload (a
// person reloads, or the phone drops the tab) without the server keeping
// them: they are stored only as hashes. So the page's codes travel in a
// cookie sealed with a key derived from the session's own token, which
// only the browser holds (the store has its hash). Another session, even
// of the same account, cannot open it; neither can anyone who reads the
// database or the logs. The seal also names the session and an end, a
// short window after which the codes are not shown again; "I have saved
// them" ends it at once.

// codesOnScreenWindow is how long new codes can be shown again.
const codesOnScreenWindow = 10 * time.Minute

// codesOnScreen is what the sealed cookie holds.
type codesOnScreen struct {
	Session string    `json:"s"`
	Until   time.Time `json:"u"`
	Heading string    `json:"h"`
	Note    string    `json:"n,omitempty"` // the flash shown with them ("2 other sessions were signed out.")
	Codes   []string  `json:"c"`
}

var errCodesSeal = errors.New("backup codes cookie does not open")

// codesKey derives the sealing key from the session token.
func codesKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("keyward: backup codes on screen, v1"))
	return m.Sum(nil)
}

func codesAEAD(token string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(codesKey(token))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealCodes seals c for the session of token.
func sealCodes(token string, c codesOnScreen) (string, error) {
	aead, err := codesAEAD(token)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(c.Session))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openCodes opens a sealed value for the session sessionID of token, and
// refuses one sealed for another session, or whose window ended by now.
func openCodes(token, sessionID, value string, now time.Time) (codesOnScreen, error) {
	var c codesOnScreen
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return c, errCodesSeal
	}
	aead, err := codesAEAD(token)
	if err != nil {
		return c, err
	}
	if len(raw) < aead.NonceSize() {
		return c, errCodesSeal
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(sessionID))
	if err != nil {
		return c, errCodesSeal
	}
	if err := json.Unmarshal(plain, &c); err != nil || c.Session != sessionID || !now.Before(c.Until) || len(c.Codes) == 0 {
		return codesOnScreen{}, errCodesSeal
	}
	return c, nil
}

// keepCodesOnScreen sets the sealed cookie for new codes of p's session.
func (s *Server) keepCodesOnScreen(w http.ResponseWriter, r *http.Request, p *principal, c codesOnScreen) error {
	token, err := s.sessionToken(r)
	if err != nil {
		return err
	}
	c.Session = p.session.ID
	c.Until = s.requestTime().Add(codesOnScreenWindow)
	v, err := sealCodes(token, c)
	if err != nil {
		return err
	}
	// The browser judges the cookie by its own clock; the seal's end by
	// the service's.
	s.setCookie(w, s.cookie.codes, v, time.Now().Add(codesOnScreenWindow))
	return nil
}

// codesStillOnScreen returns the codes p's session was shown, while their
// window lasts. A cookie that does not open is cleared.
func (s *Server) codesStillOnScreen(w http.ResponseWriter, r *http.Request, p *principal) (codesOnScreen, bool) {
	ck, err := r.Cookie(s.cookie.codes)
	if err != nil {
		return codesOnScreen{}, false
	}
	token, err := s.sessionToken(r)
	if err == nil {
		var c codesOnScreen
		if c, err = openCodes(token, p.session.ID, ck.Value, s.requestTime()); err == nil {
			return c, true
		}
	}
	s.clearCookie(w, s.cookie.codes)
	return codesOnScreen{}, false
}
