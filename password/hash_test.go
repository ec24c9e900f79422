package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// weakParams hash quickly, for tests where the parameters do not matter.
func weakParams() Params { return Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} }

func newHasher(tb testing.TB, p Params) *Hasher {
	tb.Helper()
	return NewHasher(p, 4, time.Second)
}

func mustHash(tb testing.TB, h *Hasher, pw string) string {
	tb.Helper()
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		tb.Fatalf("Hash(%q): %v", pw, err)
	}
	return enc
}

func TestHashFormat(t *testing.T) {
	h := newHasher(t, DefaultParams())
	enc := mustHash(t, h, "correct horse battery staple")
	want := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !want.MatchString(enc) {
		t.Errorf("Hash = %q, want match for %s", enc, want)
	}
	if again := mustHash(t, h, "correct horse battery staple"); again == enc {
		t.Errorf("two hashes of one password are equal (%q): salt not random", enc)
	}
}

func TestHashVerify(t *testing.T) {
	long := strings.Repeat("Tromsø otters juggle lanterns. ", 5)[:128]
	tests := []struct {
		name     string
		hashed   string // password given to Hash
		verified string // password given to Verify
		wantOK   bool
	}{
		{"round trip", "correct horse battery staple", "correct horse battery staple", true},
		{"wrong password", "correct horse battery staple", "correct horse battery stapler", false},
		{"empty against non-empty", "correct horse battery staple", "", false},
		{"unicode and spaces", "correct horse 🐎 battery", "correct horse 🐎 battery", true},
		{"NFKC: full-width equals ASCII", "Ｐａｓｓ ｗｏｒｄ", "Pass word", true},
		{"NFKC: composed equals decomposed", "caf\u00e9 au lait", "cafe\u0301 au lait", true},
		{"128 characters", long, long, true},
		{"no truncation: first 127 of 128", long, long[:127], false},
		{"no truncation: 128 plus one", long, long + "x", false},
	}
	h := newHasher(t, DefaultParams())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustHash(t, h, tc.hashed)
			ok, rehash, err := h.Verify(context.Background(), enc, tc.verified)
			if err != nil || ok != tc.wantOK || rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tc.wantOK)
			}
		})
	}
}

func TestVerifyRehash(t *testing.T) {
	const pw = "correct horse battery staple"
	def := newHasher(t, DefaultParams())
	tests := []struct {
		name       string
		hashWith   Params
		verifyPw   string
		wantOK     bool
		wantRehash bool
	}{
		{"same params", DefaultParams(), pw, true, false},
		{"weaker params", Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, pw, true, true},
		{"stronger params", Params{Memory: 19456, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, pw, true, true},
		{"other salt length", Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32}, pw, true, true},
		{"other key length", Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 16}, pw, true, true},
		{"more threads", Params{Memory: 19456, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, pw, true, true},
		{"weaker params, wrong password", Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, pw + "!", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustHash(t, newHasher(t, tc.hashWith), pw)
			ok, rehash, err := def.Verify(context.Background(), enc, tc.verifyPw)
			if err != nil || ok != tc.wantOK || rehash != tc.wantRehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want %v, %v, nil", enc, ok, rehash, err, tc.wantOK, tc.wantRehash)
			}
		})
	}
}

func TestVerifyBcrypt(t *testing.T) {
	const pw = "correct horse battery staple"
	b, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
	if err != nil {
		t.Fatal(err)
	}
	enc2a := string(b)
	// 80 bytes whose first 72 are what the hash below was made from: bcrypt
	// itself would accept it.
	pw80 := strings.Repeat("0123456789", 8)
	b72, err := bcrypt.GenerateFromPassword([]byte(pw80[:72]), 4)
	if err != nil {
		t.Fatal(err)
	}
	// A system that did not normalise stored the hash of the full-width form.
	const fullWidth = "Ｐａｓｓ ｗｏｒｄ ｓｔａｐｌｅ"
	bfw, err := bcrypt.GenerateFromPassword([]byte(fullWidth), 4)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		encoded    string
		pw         string
		wantOK     bool
		wantRehash bool
	}{
		{"$2a$ cost 10", enc2a, pw, true, true},
		{"$2b$", "$2b$" + enc2a[4:], pw, true, true},
		{"$2y$", "$2y$" + enc2a[4:], pw, true, true},
		{"wrong password", enc2a, pw + "!", false, false},
		{"72 bytes", string(b72), pw80[:72], true, true},
		{"over 72 bytes never truncated", string(b72), pw80, false, false},
		{"hash of the password as typed, not NFKC", string(bfw), fullWidth, true, true},
	}
	h := newHasher(t, DefaultParams())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tc.encoded, tc.pw)
			if err != nil || ok != tc.wantOK || rehash != tc.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tc.wantOK, tc.wantRehash)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newHasher(t, weakParams())
	good := mustHash(t, h, "pw")
	salt, key := strings.Split(good, "$")[4], strings.Split(good, "$")[5]
	tests := []struct{ name, encoded string }{
		{"empty", ""},
		{"plain text", "correct horse battery staple"},
		{"argon2i", "$argon2i$v=19$m=8192,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=8192,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=8192,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=8192,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt},
		{"empty key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$"},
		{"extra field", good + "$x"},
		{"params out of order", "$argon2id$v=19$t=1,m=8192,p=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=8192,t=1,p=1,keyid=1$" + salt + "$" + key},
		{"t=0", "$argon2id$v=19$m=8192,t=0,p=1$" + salt + "$" + key},
		{"p=0", "$argon2id$v=19$m=8192,t=1,p=0$" + salt + "$" + key},
		{"p=256", "$argon2id$v=19$m=8192,t=1,p=256$" + salt + "$" + key},
		{"m below 8p", "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + key},
		{"m too large", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"m overflows", "$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key},
		{"t too large", "$argon2id$v=19$m=8192,t=4294967295,p=1$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=08192,t=1,p=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "==$" + key},
		{"salt not base64", "$argon2id$v=19$m=8192,t=1,p=1$!!!!$" + key},
		{"short salt", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$" + key},
		{"short key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$AAAA"},
		{"bcrypt truncated", "$2a$10$abc"},
		{"bcrypt bad cost", "$2a$xx$" + strings.Repeat("a", 53)},
		{"bcrypt cost 31", "$2a$31$" + strings.Repeat("a", 53)},
		{"bcrypt $2x$", "$2x$10$" + strings.Repeat("a", 53)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tc.encoded, "pw")
			if !errors.Is(err, ErrMalformedHash) || ok || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", tc.encoded, ok, rehash, err)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	h := newHasher(t, weakParams())
	for _, pw := range []string{"", "correct horse battery staple", "Ｐａｓｓ"} {
		if err := h.DummyVerify(context.Background(), pw); err != nil {
			t.Errorf("DummyVerify(%q) = %v, want nil", pw, err)
		}
	}
	if ok, _, err := h.Verify(context.Background(), h.dummy, ""); ok || err != nil {
		t.Errorf("Verify(dummy, \"\") = %v, %v; want false, nil", ok, err)
	}
}

// TestConcurrencyBound holds the slots from the test itself, so that no
// timing decides the outcome: with every slot taken, a call can only fail.
func TestConcurrencyBound(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(weakParams(), 2, time.Millisecond)
	enc := mustHash(t, h, "pw")

	var releases []func()
	for range 2 {
		release, err := h.acquire(ctx)
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		releases = append(releases, release)
	}
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Hash", func(ctx context.Context) error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify", func(ctx context.Context) error { _, _, err := h.Verify(ctx, enc, "pw"); return err }},
		{"DummyVerify", func(ctx context.Context) error { return h.DummyVerify(ctx, "pw") }},
	}
	for _, c := range calls {
		if err := c.call(ctx); !errors.Is(err, ErrBusy) {
			t.Errorf("%s with all slots taken = %v, want ErrBusy", c.name, err)
		}
	}

	t.Run("ctx deadline while waiting", func(t *testing.T) {
		slow := NewHasher(weakParams(), 1, time.Hour)
		release, err := slow.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		_, err = slow.Hash(ctx, "pw")
		if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Hash = %v, want ErrBusy and DeadlineExceeded", err)
		}
	})
	t.Run("ctx already cancelled, slot free", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		free := NewHasher(weakParams(), 1, time.Hour)
		if _, err := free.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrBusy) {
			t.Errorf("Hash = %v, want context.Canceled", err)
		}
	})

	releases[0]()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Errorf("Hash after a slot was freed = %v, want nil", err)
	}
	releases[1]()
}

func TestNewHasherDefaults(t *testing.T) {
	if got, want := NewHasher(Params{}, 1, 0).Params(), DefaultParams(); got != want {
		t.Errorf("NewHasher(Params{}).Params() = %+v, want %+v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewHasher with SaltLen 4 did not panic")
		}
	}()
	NewHasher(Params{SaltLen: 4}, 1, 0)
}

func FuzzVerify(f *testing.F) {
	h := NewHasher(weakParams(), 0, time.Second)
	good := mustHash(f, h, "pw")
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, string(b), "", "$", "$argon2id$", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$2b$04$", "$2y$" + string(b)[4:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		// Valid but costly hashes are fine, just slow: leave them out.
		if p, _, _, err := parsePHC(encoded); err == nil && uint64(p.Memory)*uint64(p.Time) > 1<<16 {
			t.Skip()
		}
		if cost, err := bcrypt.Cost([]byte(encoded)); err == nil && cost > 6 {
			t.Skip()
		}
		ok, _, err := h.Verify(context.Background(), encoded, "pw")
		if ok && err != nil {
			t.Errorf("Verify = true, %v", err)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams(), 1, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := NewHasher(DefaultParams(), 1, time.Second)
	enc := mustHash(b, h, "correct horse battery staple")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, enc, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func TestBoundedSharesTheHashingSlots(t *testing.T) {
	h := NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, time.Millisecond)
	inside := make(chan struct{})
	leave := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.Bounded(context.Background(), func() { close(inside); <-leave })
	}()
	<-inside
	if _, err := h.Hash(context.Background(), "correct horse battery staple"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash while Bounded holds the only slot = %v, want ErrBusy", err)
	}
	if err := h.Bounded(context.Background(), func() {}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Bounded = %v, want ErrBusy", err)
	}
	close(leave)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := h.Bounded(context.Background(), func() {}); err != nil {
		t.Fatalf("Bounded after the slot freed: %v", err)
	}
}

// TestOverLongPasswordsTakeNoSlot holds the only slot: a call that needed
// it could only fail with ErrBusy, so one that answers did no hashing.
func TestOverLongPasswordsTakeNoSlot(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(weakParams(), 1, time.Millisecond)
	longest := strings.Repeat("🐎", 1024) // MaxBytes exactly: 1024 code points
	over := longest + "!"
	if h.MaxBytes() != len(longest) || DefaultPolicy().MaxBytes() != 4096 {
		t.Fatalf("MaxBytes = %d (policy %d), want 4096", h.MaxBytes(), DefaultPolicy().MaxBytes())
	}
	enc := mustHash(t, h, longest)
	if ok, _, err := h.Verify(ctx, enc, longest); !ok || err != nil {
		t.Fatalf("Verify(longest) = %v, %v; want true", ok, err)
	}
	release, err := h.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	flood := strings.Repeat("\uFDFA", 349000)
	for _, pw := range []string{over, flood} {
		if ok, rehash, err := h.Verify(ctx, enc, pw); ok || rehash || err != nil {
			t.Errorf("Verify(%d bytes) = %v, %v, %v; want false at once", len(pw), ok, rehash, err)
		}
		if err := h.DummyVerify(ctx, pw); err != nil {
			t.Errorf("DummyVerify(%d bytes) = %v, want nil at once", len(pw), err)
		}
		if _, err := h.Hash(ctx, pw); !errors.Is(err, ErrTooLong) {
			t.Errorf("Hash(%d bytes) = %v, want ErrTooLong", len(pw), err)
		}
	}
	// The control: at MaxBytes the slot is needed, and taken.
	if _, _, err := h.Verify(ctx, enc, longest); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify(longest) with the slot taken = %v, want ErrBusy", err)
	}

	small := h.WithMaxBytes(100)
	if small.MaxBytes() != 100 {
		t.Errorf("WithMaxBytes(100).MaxBytes() = %d", small.MaxBytes())
	}
	if ok, _, err := small.Verify(ctx, enc, strings.Repeat("a", 101)); ok || err != nil {
		t.Errorf("Verify(101 bytes) under WithMaxBytes(100) = %v, %v; want false at once", ok, err)
	}
	if _, err := small.Hash(ctx, strings.Repeat("a", 100)); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash under WithMaxBytes with the shared slot taken = %v, want ErrBusy", err)
	}
}

// BenchmarkWorstInput is the cost of the longest input a request can carry
// (1 MiB of U+FDFA, which NFKC makes 18 code points each), and of the worst
// one within MaxBytes, at each entry a password takes: refused by bytes
// before any normalisation, the first costs next to nothing.
func BenchmarkWorstInput(b *testing.B) {
	ctx := context.Background()
	p := DefaultPolicy()
	h := NewHasher(DefaultParams(), 1, time.Minute)
	enc := mustHash(b, h, "correct horse battery staple")
	inputs := []struct{ name, pw string }{
		{"1MiB", strings.Repeat("\uFDFA", (1<<20)/3)},
		{"MaxBytes", strings.Repeat("\uFDFA", p.MaxBytes()/3)},
	}
	for _, in := range inputs {
		b.Run("Check/"+in.name, func(b *testing.B) {
			for b.Loop() {
				_ = p.Check(ctx, in.pw, "")
			}
		})
		b.Run("Strength/"+in.name, func(b *testing.B) {
			for b.Loop() {
				_, _ = p.Strength(in.pw, "")
			}
		})
		b.Run("Verify/"+in.name, func(b *testing.B) {
			for b.Loop() {
				_, _, _ = h.Verify(ctx, enc, in.pw)
			}
		})
	}
}

// TestWork: every slow hash is counted with its cost, and DummyVerify does
// the work of a wrong password against a hash of the hasher's parameters.
func TestWork(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, weakParams())
	other := newHasher(t, Params{Memory: 9216, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	current, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	older, err := other.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cost := int64(weakParams().Memory)
	tests := []struct {
		name string
		do   func()
		want Work
	}{
		{"hash", func() { h.Hash(ctx, "x") }, Work{Argon2: 1, Argon2Cost: cost}},
		{"wrong password", func() { h.Verify(ctx, current, "wrong") }, Work{Argon2: 1, Argon2Cost: cost}},
		{"dummy verify", func() { h.DummyVerify(ctx, "wrong") }, Work{Argon2: 1, Argon2Cost: cost}},
		{"wrong password, not in NFKC form", func() { h.Verify(ctx, current, "ﬁve") }, Work{Argon2: 2, Argon2Cost: 2 * cost}},
		{"dummy verify, not in NFKC form", func() { h.DummyVerify(ctx, "ﬁve") }, Work{Argon2: 2, Argon2Cost: 2 * cost}},
		{"a hash of other parameters costs its own", func() { h.Verify(ctx, older, "wrong") }, Work{Argon2: 1, Argon2Cost: 9216}},
		{"bcrypt", func() { h.Verify(ctx, string(legacy), "wrong") }, Work{Bcrypt: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.Work()
			tt.do()
			after := h.Work()
			got := Work{after.Argon2 - before.Argon2, after.Argon2Cost - before.Argon2Cost, after.Bcrypt - before.Bcrypt}
			if got != tt.want {
				t.Errorf("work = %+v, want %+v", got, tt.want)
			}
		})
	}
}
