// Package device turns a User-Agent header into the few words a person
// recognises their device by ("Chrome on Windows, desktop").
package device

import (
	"strings"

	"github.com/mileusna/useragent"
)

// Device is what the sessions page and the audit log show of a client.
type Device struct {
	Browser string `json:"browser"`
	OS      string `json:"os"`
	Type    string `json:"type"` // desktop, mobile, tablet, bot or unknown
}

// maxUALength bounds the parser's work on hostile input; real agents are far shorter.
const maxUALength = 512

// Parse parses a User-Agent header. Unknown parts are "Unknown".
func Parse(ua string) Device {
	if len(ua) > maxUALength {
		ua = ua[:maxUALength]
	}
	u := useragent.Parse(ua)
	d := Device{Browser: u.Name, OS: u.OS, Type: "unknown"}
	switch {
	case u.Bot:
		d.Type = "bot"
	case u.Tablet:
		d.Type = "tablet"
	case u.Mobile:
		d.Type = "mobile"
	case u.Desktop:
		d.Type = "desktop"
	}
	if strings.TrimSpace(d.Browser) == "" {
		d.Browser = "Unknown browser"
	}
	if strings.TrimSpace(d.OS) == "" {
		d.OS = "Unknown OS"
	}
	return d
}

// String is the short human form: "Chrome on Windows".
func (d Device) String() string { return d.Browser + " on " + d.OS }
