package web_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// docsImagesEnv names the folder where TestBrowserPictures writes the
// README's pictures of the four sections. From the repository's root:
//
//	KEYWARD_DOCS_IMAGES=$PWD/docs/images go test ./web -run TestBrowserPictures -count=1
const docsImagesEnv = "KEYWARD_DOCS_IMAGES"

// TestBrowserPictures opens every page at desktop and phone sizes, light
// and dark: each lays out without sideways scrolling in each, and its
// picture goes to KEYWARD_TEST_SCREENSHOTS (all pages) and
// KEYWARD_DOCS_IMAGES (the four sections, for the README).
func TestBrowserPictures(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	site := newBrowserSite(t)
	// Some forty pages and pictures: more than a journey's usual minute.
	b := startBrowserWithin(t, site, "pictures", 5*time.Minute)
	ada := b.device("device 1")
	ada.signUp(journeyEmail, journeyPassword)
	key, _ := ada.enableTOTP(oathtool)
	ada.press(`form[data-codes-saved] button`)
	// A second device, so that the sessions page lists two.
	phone := b.newDevice("device 2")
	phone.signIn(journeyEmail, journeyPassword)
	phone.fill("#code", oathtoolCode(t, oathtool, key, time.Now().Add(30*time.Second)))
	phone.press(`form[action="/signin/2fa"] button[type="submit"]`)
	phone.wantPath("device 2 signed in", "/settings/security")
	visitor := b.newDevice("visitor")

	docs := os.Getenv(docsImagesEnv)
	if docs != "" {
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pages := []struct {
		name, path string
		who        *device
		section    bool // one of the four sections: a README picture
	}{
		{"sign-in", "/signin", visitor, false},
		{"sign-up", "/signup", visitor, false},
		{"forgot-password", "/forgot-password", visitor, false},
		{"overview", "/settings/security", ada, false},
		{"password", "/settings/security/password", ada, true},
		{"two-factor", "/settings/security/two-factor", ada, true},
		{"sessions", "/settings/security/sessions", ada, true},
		{"audit-log", "/settings/security/audit", ada, true},
		{"email", "/settings/security/email", ada, false},
	}
	sizes := []struct {
		name          string
		width, height int64
	}{{"desktop", desktopWidth, desktopHeight}, {"phone", phoneWidth, phoneHeight}}
	for _, size := range sizes {
		for _, scheme := range []string{"light", "dark"} {
			for _, p := range pages {
				d := p.who
				d.viewport(size.width, size.height)
				d.colorScheme(scheme)
				if st := d.open(p.path); st != 200 {
					d.fatalf("%s: status %d", p.path, st)
				}
				if eval[bool](d, "sideways", `document.documentElement.scrollWidth > innerWidth`) {
					d.fatalf("%s at %s width scrolls sideways", p.path, size.name)
				}
				if !d.b.savesPictures() && docs == "" {
					continue
				}
				shot := act(d, "picture of "+p.name, chromedp.CaptureScreenshot())
				name := p.name + "-" + size.name + "-" + scheme + ".png"
				if d.b.shots != "" {
					writePicture(t, filepath.Join(d.b.shots, "pictures-"+name), shot)
				}
				if docs != "" && p.section {
					writePicture(t, filepath.Join(docs, name), shot)
				}
			}
		}
	}
}

func (b *browserRun) savesPictures() bool { return b.shots != "" }

// writePicture saves a PNG compressed as far as the standard library goes,
// so that the committed pictures stay small.
func writePicture(t testing.TB, path string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if buf.Len() > len(shot) {
		buf.Reset()
		buf.Write(shot)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
