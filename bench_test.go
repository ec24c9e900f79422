package keyward_test

import (
	"context"
	"testing"
	"time"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
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
