package keyward_test

import (
	"context"
	"slices"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/password"
)

// BenchmarkAuthenticate is the check every request makes. "cached" is the
// steady state of a node following the invalidation log; "store" is every
// check going to the store (as while the log cannot be read).
func BenchmarkAuthenticate(b *testing.B) {
	for _, mode := range []string{"cached", "store", "unknown-token"} {
		b.Run(mode, func(b *testing.B) {
			e := keywardtest.New(b, keywardtest.Options{})
			if mode != "store" {
				runCtx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go e.Svc.RunCacheWatcher(runCtx)
				waitForCache(b, e)
			}
			if _, err := e.Svc.SignUp(ctx, "bench@example.com", goodPassword, laptop); err != nil {
				b.Fatal(err)
			}
			res, err := e.Svc.SignIn(ctx, "bench@example.com", goodPassword, laptop)
			if err != nil {
				b.Fatal(err)
			}
			token := res.Token
			if mode == "unknown-token" {
				token = "kws_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _, err := e.Svc.Authenticate(ctx, token)
					if (err != nil) != (mode == "unknown-token") {
						b.Fatalf("Authenticate: %v", err)
					}
				}
			})
		})
	}
}

// waitForCache gives the watcher its first read of the log.
func waitForCache(tb testing.TB, e *keywardtest.Env) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !e.Svc.CacheEnabled() {
		if time.Now().After(deadline) {
			tb.Fatal("the session cache never switched on")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkSignInWrongPassword(b *testing.B) {
	e := keywardtest.New(b, keywardtest.Options{})
	if _, err := e.Svc.SignUp(ctx, "bench@example.com", goodPassword, laptop); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Clock.Advance(time.Hour) // stay clear of throttling
		_, err := e.Svc.SignIn(ctx, "bench@example.com", "not the password", laptop)
		if !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignInFailure compares the two failures a guesser could tell
// apart only by time: an unknown email and a known email with a wrong
// password. The two alternate within one loop, so that the drift of a
// shared machine falls on both alike, and the medians of each are
// reported ("argon2-default": the production parameters; "argon2-tiny":
// tiny ones, where only the store work remains). Run with e.g.
//
//	go test -run XXX -bench SignInFailure -benchtime 200x .
func BenchmarkSignInFailure(b *testing.B) {
	for _, hasher := range []string{"argon2-tiny", "argon2-default"} {
		b.Run(hasher, func(b *testing.B) {
			o := keywardtest.Options{}
			if hasher == "argon2-default" {
				o.Hasher = password.NewHasher(password.DefaultParams(), 0, 5*time.Second)
			}
			e := keywardtest.New(b, o)
			if _, err := e.Svc.SignUp(ctx, "bench@example.com", goodPassword, laptop); err != nil {
				b.Fatal(err)
			}
			var unknown, known, unknownCPU, knownCPU []time.Duration
			try := func(email string) (wall, cpu time.Duration) {
				e.Clock.Advance(time.Hour) // stay clear of throttling
				start, startCPU := time.Now(), cpuTime()
				_, err := e.Svc.SignIn(ctx, email, "not the password", laptop)
				wall, cpu = time.Since(start), cpuTime()-startCPU
				if !keyward.IsCode(err, keyward.CodeInvalidCredentials) {
					b.Fatal(err)
				}
				return wall, cpu
			}
			tryUnknown := func() {
				w, c := try("nobody@example.com")
				unknown, unknownCPU = append(unknown, w), append(unknownCPU, c)
			}
			tryKnown := func() {
				w, c := try("bench@example.com")
				known, knownCPU = append(known, w), append(knownCPU, c)
			}
			tryUnknown() // the system chain exists, as on a server in use
			unknown, unknownCPU = nil, nil
			for i := 0; b.Loop(); i++ {
				// Alternate which goes first, so neither always follows the other.
				if i%2 == 0 {
					tryUnknown()
					tryKnown()
				} else {
					tryKnown()
					tryUnknown()
				}
			}
			b.ReportMetric(float64(median(unknown).Microseconds()), "µs-unknown-median")
			b.ReportMetric(float64(median(known).Microseconds()), "µs-known-median")
			// CPU time (process-wide; 0 where not measured): what a loaded
			// machine does not blur. Its ticks are coarse, hence the mean.
			b.ReportMetric(float64(mean(unknownCPU).Microseconds()), "µs-cpu-unknown-mean")
			b.ReportMetric(float64(mean(knownCPU).Microseconds()), "µs-cpu-known-mean")
		})
	}
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkSignInDevice is a successful sign-in (tiny argon2 parameters:
// the store work) from a device the account knows, and from a new one,
// which also writes a lockdown link and a notice to the outbox.
//
//	go test -run XXX -bench SignInDevice -benchtime 300x .
func BenchmarkSignInDevice(b *testing.B) {
	for _, known := range []bool{true, false} {
		name := map[bool]string{true: "known", false: "new"}[known]
		b.Run(name, func(b *testing.B) {
			e := keywardtest.New(b, keywardtest.Options{})
			if _, err := e.Svc.SignUp(ctx, "bench@example.com", goodPassword, laptop); err != nil {
				b.Fatal(err)
			}
			c := laptop
			if known {
				res, err := e.Svc.SignIn(ctx, "bench@example.com", goodPassword, laptop)
				if err != nil {
					b.Fatal(err)
				}
				c.DeviceToken = res.DeviceToken
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Svc.SignIn(ctx, "bench@example.com", goodPassword, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
