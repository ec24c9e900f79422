// Command passkey-record records WebAuthn ceremonies made by Chromium's
// virtual authenticators, for the tests of keyward's passkeys: real
// attestations and assertions, made by a browser and an authenticator that
// keyward did not write, answering options that package passkey made with
// challenges known in advance. The recordings are
// passkey/passkeytest/ceremonies.json; package passkeytest serves them to
// the tests.
//
// Run it from the repository's root when the recordings need remaking (a
// new kind of ceremony to test): it needs chromium and the port of
// passkeytest.Origin free.
//
//	go run ./tools/passkey-record
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/passkey"
	"github.com/keyward/keyward/passkey/passkeytest"
)

const out = "passkey/passkeytest/ceremonies.json"

func main() {
	log.SetFlags(0)
	if err := record(); err != nil {
		log.Fatal(err)
	}
}

func record() error {
	exe, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("chromium is needed: %w", err)
	}
	u, err := url.Parse(passkeytest.Origin)
	if err != nil {
		return err
	}
	// The page's origin is localhost, which browsers take for a secure
	// context; the server listens on the loopback address.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", u.Port()))
	if err != nil {
		return fmt.Errorf("the recordings' origin %s needs port %s: %w", passkeytest.Origin, u.Port(), err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>recorder</title>")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	rp, err := passkey.New(passkeytest.Origin, "keyward")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "passkey-record-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(dir), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	if _, err := chromedp.Run(tab, chromedp.Navigate(passkeytest.Origin+"/")); err != nil {
		return err
	}
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return err
	}

	rec := passkeytest.Recording{Origin: passkeytest.Origin, Ceremonies: map[string]passkeytest.Ceremony{}}
	n := 0
	register := func(u passkey.User) func([]byte) (*passkey.Ceremony, error) {
		return func(c []byte) (*passkey.Ceremony, error) { return rp.BeginRegistration(u, c) }
	}
	discoverable := func(c []byte) (*passkey.Ceremony, error) { return rp.BeginLogin(nil, c) }
	// allowing lists only the credential a recorded registration made.
	allowing := func(u passkey.User, registration string) func([]byte) (*passkey.Ceremony, error) {
		return func(c []byte) (*passkey.Ceremony, error) {
			made := rec.Ceremonies[registration].CredentialID()
			u.Credentials = []passkey.Credential{{ID: made}}
			return rp.BeginLogin(&u, c)
		}
	}
	alice := passkey.User{Handle: passkeytest.Handle("alice"), Name: "alice@example.com"}
	bob := passkey.User{Handle: passkeytest.Handle("bob"), Name: "bob@example.com"}
	carol := passkey.User{Handle: passkeytest.Handle("carol"), Name: "carol@example.com"}
	authenticators := []struct {
		options *webauthn.VirtualAuthenticatorOptions
		steps   []step
	}{{
		// A: a synced passkey that verifies its user (a phone, a laptop).
		options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			DefaultBackupEligibility: true, DefaultBackupState: true,
		},
		steps: []step{
			{name: passkeytest.RegisterVerified, user: alice, begin: register(alice)},
			{name: passkeytest.SignInVerified1, user: alice, get: true, begin: discoverable},
			{name: passkeytest.SignInVerified2, user: alice, get: true, begin: discoverable},
			{name: passkeytest.SecondStepVerified, user: alice, get: true, begin: allowing(alice, passkeytest.RegisterVerified)},
			{name: passkeytest.SignInBadSignature, user: alice, get: true, begin: discoverable,
				bits: &webauthn.SetResponseOverrideBitsParams{IsBogusSignature: new(true)}},
			{name: passkeytest.SignInNoPresence, user: alice, get: true, begin: discoverable,
				bits: &webauthn.SetResponseOverrideBitsParams{IsBadUP: new(true)}},
			// Chromium offers no discoverable passkey of a platform
			// authenticator that cannot verify its user: this one says it
			// did not, which is what the relying party sees of one.
			{name: passkeytest.SignInUnverified, user: alice, get: true, begin: discoverable,
				bits: &webauthn.SetResponseOverrideBitsParams{IsBadUV: new(true)}},
			{name: passkeytest.SecondStepUnverified, user: alice, get: true, begin: allowing(alice, passkeytest.RegisterVerified),
				bits: &webauthn.SetResponseOverrideBitsParams{IsBadUV: new(true)}},
		},
	}, {
		// B: a security key with a PIN, bound to itself.
		options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
		steps: []step{
			{name: passkeytest.RegisterSecurityKey, user: bob, begin: register(bob)},
			{name: passkeytest.SignInSecurityKey, user: bob, get: true, begin: discoverable},
		},
	}, {
		// C: an authenticator that cannot verify its user at all.
		options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: false, AutomaticPresenceSimulation: true,
		},
		steps: []step{
			{name: passkeytest.RegisterNoVerification, user: carol, begin: register(carol)},
			{name: passkeytest.SecondStepNoVerification, user: carol, get: true, begin: allowing(carol, passkeytest.RegisterNoVerification)},
		},
	}}
	for _, a := range authenticators {
		id, err := addAuthenticator(tab, a.options)
		if err != nil {
			return err
		}
		for _, st := range a.steps {
			n++
			if err := run(tab, id, &rec, st, passkeytest.Challenge(n)); err != nil {
				return err
			}
		}
		if _, err := chromedp.Call(tab, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
			return err
		}
	}

	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	log.Printf("recorded %d ceremonies in %s", len(rec.Ceremonies), out)
	return nil
}

func addAuthenticator(tab context.Context, o *webauthn.VirtualAuthenticatorOptions) (webauthn.AuthenticatorID, error) {
	res, err := chromedp.Call(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: o})
	return res.AuthenticatorID, err
}

// step is one ceremony to record.
type step struct {
	name  string
	user  passkey.User
	begin func(challenge []byte) (*passkey.Ceremony, error)
	get   bool
	// bits, when set, makes the authenticator misbehave this once.
	bits *webauthn.SetResponseOverrideBitsParams
}

// run makes one ceremony in the browser and records its response.
func run(tab context.Context, auth webauthn.AuthenticatorID, rec *passkeytest.Recording, st step, challenge []byte) error {
	name := st.name
	c, err := st.begin(challenge)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	bits := st.bits
	if bits == nil {
		bits = &webauthn.SetResponseOverrideBitsParams{} // every override off
	}
	bits.AuthenticatorID = auth
	if _, err := chromedp.Call(tab, webauthn.SetResponseOverrideBits, *bits); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	js := `(async () => {
		const options = PublicKeyCredential.parseCreationOptionsFromJSON(%s);
		const credential = await navigator.credentials.create({publicKey: options});
		return JSON.stringify(credential.toJSON());
	})()`
	if st.get {
		js = `(async () => {
			const options = PublicKeyCredential.parseRequestOptionsFromJSON(%s);
			const credential = await navigator.credentials.get({publicKey: options});
			return JSON.stringify(credential.toJSON());
		})()`
	}
	response, err := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(js, c.Options), chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rec.Ceremonies[name] = passkeytest.Ceremony{
		Challenge:  base64.RawURLEncoding.EncodeToString(challenge),
		UserHandle: base64.RawURLEncoding.EncodeToString(st.user.Handle),
		UserName:   st.user.Name,
		Response:   json.RawMessage(response),
	}
	log.Printf("%s: %d bytes", name, len(response))
	return nil
}
