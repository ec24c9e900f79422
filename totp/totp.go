// Package totp implements RFC 6238 time-based one-time passwords for
// enrolment and sign-in: secrets, codes, verification with a one-step window
// and replay refusal, the otpauth key URI and its QR code.
//
// The HOTP arithmetic is done by github.com/pquerna/otp; this package fixes
// the parameters (SHA-1, 6 digits, 30 s) and owns the window and replay rules.
// Times before the Unix epoch are not supported.
package totp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

const (
	// Period is the length of one time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
)

// secretBytes is 160 bits, the size RFC 4226 recommends; it encodes to
// exactly 32 base32 characters, so there is never padding.
const secretBytes = 20

// skew is how many steps either side of now a code is accepted for: one
// step back covers a code typed just before it rolled over, one ahead a
// phone clock a little fast (standards.md 14).
const skew = 1

// quietZone is the blank border, in modules, that QR scanners need (ISO/IEC 18004).
const quietZone = 4

// GenerateSecret returns a new 160-bit secret as 32 upper-case base32
// characters without padding, read from rand (crypto/rand.Reader in production).
func GenerateSecret(rand io.Reader) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("totp: read random secret: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// Step returns the RFC 6238 time step (counter) that t falls in.
func Step(t time.Time) int64 {
	return t.Unix() / int64(Period/time.Second)
}

// Code returns the code for secret at time t.
func Code(secret string, t time.Time) (string, error) {
	return codeAt(secret, Step(t), otp.DigitsSix)
}

// codeAt computes the code for one step; digits is a parameter only so that
// the tests can check the step arithmetic against RFC 6238's 8-digit vectors.
func codeAt(secret string, step int64, digits otp.Digits) (string, error) {
	if step < 0 {
		return "", errors.New("totp: time before the Unix epoch")
	}
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits:    digits,
		Algorithm: otp.AlgorithmSHA1,
	})
}

// Verify reports whether code is valid for secret at now, allowing one step
// of drift either way, and returns the step it matched. A step at or before
// lastStep (the caller's last accepted step; 0 or -1 when none) is refused, so
// a code is accepted at most once (RFC 6238 5.2). White space in code is ignored;
// anything but Digits digits is refused without error, as is a bad secret.
func Verify(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	if len(code) > 64 { // no authenticator shows this much; spare the work
		return 0, false
	}
	code = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, code)
	if len(code) != Digits {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}

	// Every step in the window is computed and compared, with no early exit,
	// so timing does not tell which step (if any) matched. The latest match
	// wins: if two steps shared a code, taking the earlier one would leave
	// the later one open to a replay of the same code.
	matched := int64(-1)
	now0 := Step(now)
	for s := now0 - skew; s <= now0+skew; s++ {
		want, err := codeAt(secret, s, otp.DigitsSix)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = s
		}
	}
	if matched < 0 || matched <= lastStep {
		return 0, false
	}
	return matched, true
}

// KeyURL returns the otpauth URI that authenticator apps scan, in Google's
// Key Uri Format: otpauth://totp/Issuer:account?secret=…&issuer=Issuer&…
// Issuer and account are percent-encoded (a space as %20, not '+'); an empty
// issuer is left out. The format forbids ':' in the issuer even encoded,
// since apps split the decoded label at the first colon: the caller keeps
// it out (it is operator configuration).
func KeyURL(issuer, account, secret string) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(escape(issuer))
		b.WriteByte(':')
	}
	b.WriteString(escape(account))
	b.WriteString("?secret=")
	b.WriteString(escape(strings.TrimRight(secret, "="))) // padding breaks some apps
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(escape(issuer))
	}
	fmt.Fprintf(&b, "&algorithm=SHA1&digits=%d&period=%d", Digits, int(Period/time.Second))
	return b.String()
}

// escape percent-encodes everything but RFC 3986 unreserved characters and
// '@' (kept for readable e-mail accounts). net/url is not used: QueryEscape
// writes spaces as '+', which apps show literally in a label, and PathEscape
// leaves ':' and '+' alone.
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '@':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// QRPNG returns a size×size PNG of a QR code (medium error correction) that
// holds exactly content, with whole-pixel modules and a quiet zone of at
// least four modules so that scanners find it.
func QRPNG(content string, size int) ([]byte, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: encode QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("totp: %d px is too small for a QR code of %d modules", size, modules)
	}

	// Two colours: the PNG encoder then writes one bit per pixel.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	offset := (size - modules*scale) / 2 // centred; the rest is quiet zone
	for my := 0; my < modules; my++ {
		for mx := 0; mx < modules; mx++ {
			if y, _, _, _ := color.GrayModel.Convert(code.At(mx, my)).RGBA(); y >= 0x8000 {
				continue // light module: the background already is
			}
			x0, y0 := offset+mx*scale, offset+my*scale
			for y := y0; y < y0+scale; y++ {
				for x := x0; x < x0+scale; x++ {
					img.SetColorIndex(x, y, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// GroupKey formats secret in groups of four characters separated by spaces
// ("ABCD EFGH …"), for typing it into an app by hand.
func GroupKey(secret string) string {
	var b strings.Builder
	for i, r := range []rune(secret) {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
