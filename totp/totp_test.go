package totp

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	libtotp "github.com/pquerna/otp/totp"
)

// rfcSecret is the RFC 4226 / RFC 6238 SHA-1 seed, ASCII "12345678901234567890".
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// testNow is a fixed instant 20 s into its step.
var testNow = time.Unix(1_700_000_000, 0)

// needTool returns the path of an external program, skipping the test when
// it is missing unless KEYWARD_TEST_REQUIRE names it, in which case it fails.
func needTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, w := range strings.Split(os.Getenv("KEYWARD_TEST_REQUIRE"), ",") {
		if strings.TrimSpace(w) == name {
			t.Fatalf("%s is required by KEYWARD_TEST_REQUIRE but not found: %v", name, err)
		}
	}
	t.Skipf("%s not installed; skipping (set KEYWARD_TEST_REQUIRE=%s to fail instead)", name, name)
	return ""
}

// mustCode is Code for test set-up, failing the test on error.
func mustCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := Code(secret, at)
	if err != nil {
		t.Fatalf("Code(%q, %v): %v", secret, at, err)
	}
	return c
}

func TestRFC6238(t *testing.T) {
	tests := []struct {
		unix int64
		want string // 8 digits, RFC 6238 Appendix B, SHA-1
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.unix, 10), func(t *testing.T) {
			at := time.Unix(tt.unix, 0)
			// Our Step fed to the library's HOTP, at 8 digits.
			got, err := codeAt(rfcSecret, Step(at), otp.DigitsEight)
			if err != nil || got != tt.want {
				t.Errorf("codeAt(Step(%d), 8) = %q, %v; want %q", tt.unix, got, err, tt.want)
			}
			// The library's own TOTP agrees, so Step matches its time math.
			got, err = libtotp.GenerateCodeCustom(rfcSecret, at, libtotp.ValidateOpts{
				Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1,
			})
			if err != nil || got != tt.want {
				t.Errorf("library GenerateCodeCustom(%d, 8) = %q, %v; want %q", tt.unix, got, err, tt.want)
			}
			// Truncation is value mod 10^digits, so 6 digits are the last 6.
			if got, want := mustCode(t, rfcSecret, at), tt.want[2:]; got != want {
				t.Errorf("Code(%d) = %q, want %q", tt.unix, got, want)
			}
		})
	}
}

func TestRFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489"}
	for count, w := range want {
		t.Run(strconv.Itoa(count), func(t *testing.T) {
			got, err := codeAt(rfcSecret, int64(count), otp.DigitsSix)
			if err != nil || got != w {
				t.Errorf("codeAt(count %d) = %q, %v; want %q", count, got, err, w)
			}
			got, err = hotp.GenerateCodeCustom(rfcSecret, uint64(count), hotp.ValidateOpts{Digits: otp.DigitsSix})
			if err != nil || got != w {
				t.Errorf("hotp.GenerateCodeCustom(count %d) = %q, %v; want %q", count, got, err, w)
			}
		})
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {1111111109, 37037036}, {20000000000, 666666666}}
	for _, tt := range tests {
		if got := Step(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestVerifyWindow(t *testing.T) {
	now := Step(testNow)
	for off := int64(-2); off <= 2; off++ {
		t.Run(strconv.FormatInt(off, 10), func(t *testing.T) {
			code := mustCode(t, rfcSecret, testNow.Add(time.Duration(off)*Period))
			step, ok := Verify(rfcSecret, code, testNow, -1)
			wantOK := off >= -1 && off <= 1
			if ok != wantOK || (ok && step != now+off) {
				t.Errorf("Verify(code at %+d steps) = %d, %v; want %d, %v", off, step, ok, now+off, wantOK)
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	now := Step(testNow)
	tests := []struct {
		name     string
		off      int64 // step of the code, relative to now
		lastStep int64
		wantOK   bool
	}{
		{"no last step (-1)", 0, -1, true},
		{"no last step (0)", 0, 0, true},
		{"last step before", 0, now - 1, true},
		{"same step as last", 0, now, false},
		{"earlier than last", -1, now, false},
		{"earlier than last (2)", 0, now + 1, false},
		{"next step after last", 1, now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := mustCode(t, rfcSecret, testNow.Add(time.Duration(tt.off)*Period))
			step, ok := Verify(rfcSecret, code, testNow, tt.lastStep)
			if ok != tt.wantOK || (ok && step != now+tt.off) {
				t.Errorf("Verify(step %+d, lastStep %d) = %d, %v; want %d, %v",
					tt.off, tt.lastStep-now, step, ok, now+tt.off, tt.wantOK)
			}
		})
	}
}

func TestVerifyInput(t *testing.T) {
	code := mustCode(t, rfcSecret, testNow)
	tests := []struct {
		name   string
		secret string
		code   string
		wantOK bool
	}{
		{"plain", rfcSecret, code, true},
		{"grouped", rfcSecret, code[:3] + " " + code[3:], true},
		{"padded", rfcSecret, "  " + code + "\t", true},
		{"lower-case secret", strings.ToLower(rfcSecret), code, true},
		{"empty", rfcSecret, "", false},
		{"short", rfcSecret, code[:5], false},
		{"long", rfcSecret, code + "0", false},
		{"letter", rfcSecret, code[:5] + "a", false},
		{"sign", rfcSecret, "+" + code[1:], false},
		{"dash", rfcSecret, code[:3] + "-" + code[3:], false},
		{"full-width digits", rfcSecret, "１２３４５６", false},
		{"bad secret", "not base32!", code, false},
		{"huge", rfcSecret, strings.Repeat(" ", 1000) + code, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(tt.secret, tt.code, testNow, -1); ok != tt.wantOK {
				t.Errorf("Verify(%q, %q) ok = %v, want %v", tt.secret, tt.code, ok, tt.wantOK)
			}
		})
	}
}

// TestOathtool checks codes against oath-toolkit, an authenticator no one
// here wrote.
func TestOathtool(t *testing.T) {
	oathtool := needTool(t, "oathtool")
	secret, err := GenerateSecret(rand.NewChaCha8([32]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	now := Step(testNow)
	for off := int64(-2); off <= 2; off++ {
		t.Run(strconv.FormatInt(off, 10), func(t *testing.T) {
			at := testNow.Add(time.Duration(off) * Period)
			out, err := exec.Command(oathtool, "--totp", "-b", "-N", "@"+strconv.FormatInt(at.Unix(), 10), secret).CombinedOutput()
			if err != nil {
				t.Fatalf("oathtool: %v: %s", err, out)
			}
			theirs := strings.TrimSpace(string(out))
			if ours := mustCode(t, secret, at); ours != theirs {
				t.Errorf("Code at %+d steps = %q, oathtool says %q", off, ours, theirs)
			}
			step, ok := Verify(secret, theirs, testNow, -1)
			wantOK := off >= -1 && off <= 1
			if ok != wantOK || (ok && step != now+off) {
				t.Errorf("Verify(oathtool code at %+d steps) = %d, %v; want %d, %v", off, step, ok, now+off, wantOK)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	got, err := GenerateSecret(strings.NewReader("12345678901234567890"))
	if err != nil || got != rfcSecret {
		t.Errorf("GenerateSecret(RFC seed) = %q, %v; want %q", got, err, rfcSecret)
	}

	a, errA := GenerateSecret(rand.NewChaCha8([32]byte{7}))
	b, errB := GenerateSecret(rand.NewChaCha8([32]byte{7}))
	c, errC := GenerateSecret(rand.NewChaCha8([32]byte{8}))
	if errA != nil || errB != nil || errC != nil {
		t.Fatalf("GenerateSecret errors: %v, %v, %v", errA, errB, errC)
	}
	if a != b {
		t.Errorf("same seed gave %q and %q, want equal", a, b)
	}
	if a == c {
		t.Errorf("different seeds both gave %q", a)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if len(a) != 32 || strings.Contains(a, "=") || a != strings.ToUpper(a) || err != nil || len(raw) != 20 {
		t.Errorf("GenerateSecret = %q (len %d, decodes to %d bytes, err %v); want 32 upper-case base32 chars, no padding, 20 bytes",
			a, len(a), len(raw), err)
	}

	if got, err := GenerateSecret(strings.NewReader("short")); err == nil {
		t.Errorf("GenerateSecret(short reader) = %q, nil; want error", got)
	}
}

func TestKeyURL(t *testing.T) {
	tests := []struct {
		name, issuer, account, secret, want string
	}{
		{"plain", "Keyward", "alice@example.com", rfcSecret,
			"otpauth://totp/Keyward:alice@example.com?secret=" + rfcSecret + "&issuer=Keyward&algorithm=SHA1&digits=6&period=30"},
		{"spaces", "ACME Co", "john doe", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/ACME%20Co:john%20doe?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"},
		{"reserved", "A&B+C", "x+y/z?=#%:", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/A%26B%2BC:x%2By%2Fz%3F%3D%23%25%3A?secret=JBSWY3DPEHPK3PXP&issuer=A%26B%2BC&algorithm=SHA1&digits=6&period=30"},
		{"unicode", "Zürich", "é", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/Z%C3%BCrich:%C3%A9?secret=JBSWY3DPEHPK3PXP&issuer=Z%C3%BCrich&algorithm=SHA1&digits=6&period=30"},
		{"padding dropped", "K", "a", "JBSWY3DPEHPK3PX=",
			"otpauth://totp/K:a?secret=JBSWY3DPEHPK3PX&issuer=K&algorithm=SHA1&digits=6&period=30"},
		{"no issuer", "", "alice", "JBSWY3DPEHPK3PXP",
			"otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KeyURL(tt.issuer, tt.account, tt.secret)
			if got != tt.want {
				t.Errorf("KeyURL(%q, %q, %q)\n got %s\nwant %s", tt.issuer, tt.account, tt.secret, got, tt.want)
			}
			// An independent parser reads back what went in.
			key, err := otp.NewKeyFromURL(got)
			if err != nil {
				t.Fatalf("otp.NewKeyFromURL(%s): %v", got, err)
			}
			if key.Issuer() != tt.issuer || key.AccountName() != tt.account ||
				key.Secret() != strings.TrimRight(tt.secret, "=") || key.Period() != 30 || key.Digits() != otp.DigitsSix {
				t.Errorf("parsed back issuer %q account %q secret %q period %d digits %d; want %q %q %q 30 6",
					key.Issuer(), key.AccountName(), key.Secret(), key.Period(), key.Digits(),
					tt.issuer, tt.account, strings.TrimRight(tt.secret, "="))
			}
			if u, err := url.Parse(got); err != nil || u.Query().Get("issuer") != tt.issuer {
				t.Errorf("url.Parse issuer = %q (err %v), want %q", u.Query().Get("issuer"), err, tt.issuer)
			}
		})
	}
}

// TestQRPNG reads the QR code back with zbar, a decoder no one here wrote.
func TestQRPNG(t *testing.T) {
	zbarimg := needTool(t, "zbarimg")
	tests := []struct {
		name    string
		content string
		size    int
	}{
		{"key URL", KeyURL("ACME Co", "alice+2fa@example.com", rfcSecret), 256},
		{"key URL small", KeyURL("Keyward", "bob@example.com", rfcSecret), 160},
		{"long label", KeyURL(strings.Repeat("Issuer ", 8), strings.Repeat("a", 60)+"@example.com", rfcSecret), 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := QRPNG(tt.content, tt.size)
			if err != nil {
				t.Fatalf("QRPNG: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("png.Decode: %v", err)
			}
			if got := img.Bounds().Size(); got.X != tt.size || got.Y != tt.size {
				t.Errorf("image is %v, want %dx%d", got, tt.size, tt.size)
			}
			// The quiet zone is at least four modules of at least one pixel.
			for i := 0; i < tt.size; i++ {
				for d := 0; d < 4; d++ {
					for _, p := range [][2]int{{i, d}, {i, tt.size - 1 - d}, {d, i}, {tt.size - 1 - d, i}} {
						if r, _, _, _ := img.At(p[0], p[1]).RGBA(); r != 0xffff {
							t.Fatalf("pixel %v in the quiet zone is not white", p)
						}
					}
				}
			}
			file := filepath.Join(t.TempDir(), "qr.png")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
			if err != nil {
				t.Fatalf("zbarimg: %v", err)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != tt.content {
				t.Errorf("zbarimg read\n got %q\nwant %q", got, tt.content)
			}
		})
	}
}

func TestQRPNGTooSmall(t *testing.T) {
	if b, err := QRPNG(KeyURL("Keyward", "alice@example.com", rfcSecret), 40); err == nil {
		t.Errorf("QRPNG(size 40) = %d bytes, nil; want error", len(b))
	}
}

func TestGroupKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ABC", "ABC"},
		{"ABCD", "ABCD"},
		{"ABCDE", "ABCD E"},
		{rfcSecret, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"},
	}
	for _, tt := range tests {
		if got := GroupKey(tt.in); got != tt.want {
			t.Errorf("GroupKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	for _, s := range []string{"", "000000", "123 456", " 12345 6 ", "１２３４５６", "abcdef", "\x00\xff", strings.Repeat("9", 70)} {
		f.Add(s)
	}
	now := Step(testNow)
	f.Fuzz(func(t *testing.T, code string) {
		step, ok := Verify(rfcSecret, code, testNow, -1)
		if ok && (step < now-1 || step > now+1) {
			t.Errorf("Verify(%q) accepted step %d outside %d±1", code, step, now)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	code := mustCode(b, rfcSecret, testNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Verify(rfcSecret, code, testNow, -1); !ok {
			b.Fatal("Verify refused a valid code")
		}
	}
}
