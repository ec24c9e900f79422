// Package device turns a User-Agent header into the few words a person
// recognises their device by ("Chrome on Windows, desktop").
package device

import (
	"strings"
	"unicode/utf8"

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

// maxNameLength bounds a browser's or system's name. For an agent it does
// not know, the parser names the browser after the whole agent, which then
// would fill the sessions page, the audit log and every session check.
const maxNameLength = 64

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
	d.Browser, d.OS = clip(d.Browser, maxNameLength), clip(d.OS, maxNameLength)
	if strings.TrimSpace(d.Browser) == "" {
		d.Browser = "Unknown browser"
	}
	if strings.TrimSpace(d.OS) == "" {
		d.OS = "Unknown OS"
	}
	return d
}

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// String is the short human form: "Chrome on Windows".
func (d Device) String() string { return d.Browser + " on " + d.OS }

// knownNames are the browsers and systems the parser recognises by name.
// For any other agent it names the browser after the agent's own text.
var knownNames = map[string]bool{
	useragent.Windows: true, useragent.WindowsPhone: true, useragent.WindowsNT: true,
	useragent.WindowsPhoneOS: true, useragent.Android: true, useragent.MacOS: true,
	useragent.IOS: true, useragent.Linux: true, useragent.FreeBSD: true,
	useragent.ChromeOS: true, useragent.BlackBerry: true, useragent.CrOS: true,
	useragent.Harmony: true,
	useragent.Opera:   true, useragent.OperaMini: true, useragent.OperaTouch: true,
	useragent.Chrome: true, useragent.HeadlessChrome: true, useragent.Firefox: true,
	useragent.InternetExplorer: true, useragent.Safari: true, useragent.Edge: true,
	useragent.Vivaldi: true, useragent.MobileSafari: true, useragent.NetFront: true,
	useragent.Mozilla: true, useragent.Msie: true, useragent.SamsungBrowser: true,
	useragent.GoogleAdsBot: true, useragent.Googlebot: true, useragent.Twitterbot: true,
	useragent.FacebookExternalHit: true, useragent.Applebot: true, useragent.Bingbot: true,
	useragent.YandexBot: true, useragent.YandexAdNet: true,
	useragent.FacebookApp: true, useragent.InstagramApp: true, useragent.TiktokApp: true,
}

// Known keeps only the names the parser recognises, and reports whether
// any is left. Words that reach someone else (a mail to an account's
// owner, caused by whoever sent the request) must not be the sender's.
func (d Device) Known() (Device, bool) {
	if !knownNames[d.Browser] {
		d.Browser = "Unknown browser"
	}
	if !knownNames[d.OS] {
		d.OS = "Unknown OS"
	}
	return d, knownNames[d.Browser] || knownNames[d.OS]
}
