package openid_test

import (
	"testing"

	"golang.org/x/oauth2"

	keyward "github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/postgres/pgtest"
)

// TestTwoNodesOnPostgres: two keyward nodes on one PostgreSQL database and
// one key ring, as behind a load balancer. The browser signs in and gets
// its code from one; the relying party redeems it, refreshes, and reads
// userinfo on the other; a session ended on the first ends the grant on
// the second.
func TestTwoNodesOnPostgres(t *testing.T) {
	store := pgtest.New(t) // skips without KEYWARD_TEST_DATABASE_URL, unless KEYWARD_TEST_REQUIRE names postgres
	a := startNode(t, keywardtest.Options{Store: store})
	b := startNode(t, keywardtest.Options{Store: store, Keys: a.env.Keys})
	acct := signUp(t, a)
	ctx := t.Context()

	// The client is registered once; each node's issuer differs only in its
	// port, so the relying party talks to b with b's discovery and sends
	// the browser to a.
	rpB, _ := newRelyingParty(t, b, keyward.OIDCClientSpec{})
	c, err := a.env.Svc.OIDCClient(ctx, rpB.cfg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	rpA := *rpB
	rpA.cfg.Endpoint.AuthURL = a.issuer + "/oauth/authorize"

	browser := newBrowser(t, rpA.redirect)
	verifier, challenge := pkce()
	q := authorize(t, a, browser, &rpA, "st", "nn", challenge)
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code from node a: %v", q)
	}
	// Node b redeems what node a issued (its iss is b's, so the relying
	// party checks the signature with b's keys: the same keys).
	tok, err := rpB.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange on node b: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rpB.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token from node b: %v", err)
	}
	if idt.Subject != acct.ID || idt.Audience[0] != c.ID {
		t.Errorf("ID token: sub %q aud %v", idt.Subject, idt.Audience)
	}
	next, err := rpB.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh on node b: %v", err)
	}
	if _, err := rpB.provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err != nil {
		t.Fatalf("userinfo on node b: %v", err)
	}

	// The browser's session ends on node a: the grant ends on node b.
	sessions, err := a.env.Svc.Sessions(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if err := a.env.Svc.SignOut(ctx, &s, keyward.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rpB.provider.UserInfo(ctx, oauth2.StaticTokenSource(next)); err == nil {
		t.Error("node b answers userinfo after the session ended on node a")
	}
	if _, err := rpB.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err == nil {
		t.Error("node b refreshes after the session ended on node a")
	}
}
