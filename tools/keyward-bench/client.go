package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// apiClient speaks keyward's JSON API (API.md) for the scenarios.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(base string, maxConns int) *apiClient {
	tr := &http.Transport{
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &apiClient{base: base, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

// apiResponse is a response read in full.
type apiResponse struct {
	Status     int
	Body       []byte
	RetryAfter string
}

// errorCode returns the "error.code" of an error body, or "".
func (r apiResponse) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (c *apiClient) do(ctx context.Context, method, path string, body any, headers ...string) (apiResponse, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiResponse{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return apiResponse{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "keyward-bench/1 (Go)")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return apiResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return apiResponse{}, err
	}
	return apiResponse{Status: resp.StatusCode, Body: b, RetryAfter: resp.Header.Get("Retry-After")}, nil
}

type credentialsJSON struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (c *apiClient) signUp(ctx context.Context, email, password string) error {
	r, err := c.do(ctx, http.MethodPost, "/api/v1/accounts", credentialsJSON{email, password})
	if err != nil {
		return fmt.Errorf("sign-up: %w", err)
	}
	if r.Status != http.StatusCreated {
		return fmt.Errorf("sign-up: %d %s", r.Status, r.Body)
	}
	return nil
}

// signIn signs in and returns the session token. forwardedFor, when set,
// is sent as X-Forwarded-For (keyward trusts loopback in the bench).
func (c *apiClient) signIn(ctx context.Context, email, password, forwardedFor string) (string, error) {
	var hdr []string
	if forwardedFor != "" {
		hdr = []string{"X-Forwarded-For", forwardedFor}
	}
	r, err := c.do(ctx, http.MethodPost, "/api/v1/sessions", credentialsJSON{email, password}, hdr...)
	if err != nil {
		return "", fmt.Errorf("sign-in: %w", err)
	}
	if r.Status != http.StatusCreated {
		return "", fmt.Errorf("sign-in: %d %s", r.Status, r.Body)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("sign-in: no token in %s", r.Body)
	}
	return out.Token, nil
}

// randomToken returns a session token of keyward's shape ("kws_" and 32
// random bytes, base64url) that no session has.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "kws_" + base64.RawURLEncoding.EncodeToString(b)
}

// randomPassword returns a password keyward's policy accepts (long, random,
// in no breached list).
func randomPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return "Tq9-" + base64.RawURLEncoding.EncodeToString(b)
}
