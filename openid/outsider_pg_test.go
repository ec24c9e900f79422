package openid_test

import (
	"sync"
	"testing"

	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
)

// TestOutsiderRacesOnTwoNodes: a code, and then a refresh token, each sent
// to both nodes of one PostgreSQL database at once, as an attacker racing
// the client would. At most one exchange wins, and since the other is a
// reuse, no grant stands afterwards.
func TestOutsiderRacesOnTwoNodes(t *testing.T) {
	store := pgtest.New(t) // skips without KEYWARD_TEST_DATABASE_URL, unless KEYWARD_TEST_REQUIRE names postgres
	a := startNode(t, keywardtest.Options{Store: store})
	b := startNode(t, keywardtest.Options{Store: store, Keys: a.env.Keys})
	acct := signUp(t, a)
	ctx := t.Context()
	rpB, _ := newRelyingParty(t, b, keyward.OIDCClientSpec{FirstParty: true})
	rpA := *rpB
	rpA.cfg.Endpoint = oauth2.Endpoint{AuthURL: a.issuer + "/oauth/authorize", TokenURL: a.issuer + "/oauth/token",
		AuthStyle: rpB.cfg.Endpoint.AuthStyle}
	browser := newBrowser(t, rpA.redirect)

	// race runs fn on both nodes at once and counts the wins.
	race := func(fn func(rp *relyingParty) error) int {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		start := make(chan struct{})
		for _, rp := range []*relyingParty{&rpA, rpB, &rpA, rpB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if fn(rp) == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		return wins
	}
	standing := func() int {
		t.Helper()
		g, err := a.env.Svc.OIDCGrants(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(g)
	}

	for round := range 4 {
		verifier, challenge := pkce()
		code := authorize(t, a, browser, &rpA, "st", "nn", challenge).Get("code")
		wins := race(func(rp *relyingParty) error {
			_, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			return err
		})
		if wins > 1 || standing() != 0 {
			t.Errorf("round %d: a code raced on two nodes: %d exchanges won, %d grants stand", round, wins, standing())
		}

		verifier, challenge = pkce()
		code = authorize(t, a, browser, &rpA, "st", "nn", challenge).Get("code")
		tok, err := rpB.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		wins = race(func(rp *relyingParty) error {
			_, err := rp.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			return err
		})
		if wins > 1 || standing() != 0 {
			t.Errorf("round %d: a refresh token raced on two nodes: %d refreshes won, %d grants stand", round, wins, standing())
		}
	}
}
