// Command oidcapp is a small web application on another domain that signs
// people in with keyward as its OpenID Connect provider ("Sign in with
// keyward"), with github.com/coreos/go-oidc and golang.org/x/oauth2 and
// nothing of keyward's: the authorization code flow with PKCE, the ID
// token checked (signature, iss, aud, exp, nonce), userinfo, and
// RP-initiated logout.
//
// Register it first (the redirect URI is this app's /callback):
//
//	keyward client create --name "Oidcapp" \
//	  --redirect-uri http://127.0.0.1:8091/callback \
//	  --post-logout-redirect-uri http://127.0.0.1:8091/
//
// then run it with what that printed:
//
//	OIDC_CLIENT_SECRET=kwc_… go run ./examples/oidcapp \
//	  -issuer https://auth.example.com -client-id cl_…
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8091", "address to listen on")
	issuer := flag.String("issuer", "", "keyward's public URL (the OpenID Connect issuer)")
	clientID := flag.String("client-id", "", "the client id keyward client create printed")
	flag.Parse()
	app, err := newApp(context.Background(), *issuer, *clientID, os.Getenv("OIDC_CLIENT_SECRET"), "http://"+*addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("open http://%s/\n", *addr)
	log.Fatal(http.ListenAndServe(*addr, app))
}

// app is the relying party.
type app struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	provider *oidc.Provider
	base     string // this app's own URL
	// sessions are the signed-in people, by a random cookie value. A real
	// application keeps them in its own store.
	mu       sync.Mutex
	sessions map[string]person
}

type person struct {
	Subject, Email string
	IDToken        string // for RP-initiated logout's id_token_hint
}

// newApp discovers the provider (its endpoints and keys) at issuer.
func newApp(ctx context.Context, issuer, clientID, secret, base string) (http.Handler, error) {
	if issuer == "" || clientID == "" {
		return nil, errors.New("-issuer and -client-id are required")
	}
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	a := &app{
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
		base:     base,
		sessions: map[string]person{},
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(),
			RedirectURL: base + "/callback", Scopes: []string{oidc.ScopeOpenID, "email"},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	return mux, nil
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<title>Oidcapp</title>
{{if .}}<p>Signed in as {{.Email}}.</p>
<form method="post" action="/logout"><button>Sign out</button></form>
{{else}}<p><a href="/login">Sign in with keyward</a></p>{{end}}
`))

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	var p *person
	if c, err := r.Cookie("oidcapp_session"); err == nil {
		a.mu.Lock()
		if s, ok := a.sessions[c.Value]; ok {
			p = &s
		}
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, p)
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// flowCookie keeps one value of the sign-in under way (state, nonce, PKCE
// verifier) in the browser, for the callback to check.
func flowCookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int((10 * time.Minute).Seconds())})
}

// login sends the browser to keyward with a fresh state, nonce and PKCE
// verifier (S256: keyward accepts nothing else).
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	flowCookie(w, "oidcapp_state", state)
	flowCookie(w, "oidcapp_nonce", nonce)
	flowCookie(w, "oidcapp_verifier", verifier)
	http.Redirect(w, r, a.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback checks the state, redeems the code with the verifier, checks
// the ID token and its nonce, and reads userinfo.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	cookie := func(name string) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
	if e := r.URL.Query().Get("error"); e != "" {
		http.Error(w, "keyward said: "+e+": "+r.URL.Query().Get("error_description"), http.StatusForbidden)
		return
	}
	if state := cookie("oidcapp_state"); state == "" || r.URL.Query().Get("state") != state {
		http.Error(w, "state does not match: start again", http.StatusBadRequest)
		return
	}
	tok, err := a.oauth.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(cookie("oidcapp_verifier")))
	if err != nil {
		http.Error(w, "code exchange failed", http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(r.Context(), raw)
	if err != nil || idt.Nonce != cookie("oidcapp_nonce") {
		http.Error(w, "the ID token does not check out", http.StatusBadGateway)
		return
	}
	info, err := a.provider.UserInfo(r.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject {
		http.Error(w, "userinfo failed", http.StatusBadGateway)
		return
	}
	id := random()
	a.mu.Lock()
	a.sessions[id] = person{Subject: idt.Subject, Email: info.Email, IDToken: raw}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "oidcapp_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the app's session and keyward's (RP-initiated logout), and
// comes back to the home page.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	var hint string
	if c, err := r.Cookie("oidcapp_session"); err == nil {
		a.mu.Lock()
		hint = a.sessions[c.Value].IDToken
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: "oidcapp_session", Path: "/", MaxAge: -1})
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := a.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {a.base + "/"}}
	http.Redirect(w, r, meta.EndSession+"?"+q.Encode(), http.StatusSeeOther)
}
