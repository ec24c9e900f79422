// Package webhook sends keyward's audit events to a receiver in the
// Standard Webhooks format (standardwebhooks.com): each one a POST of its
// JSON body with the headers webhook-id (the event's id), webhook-timestamp
// (the attempt's time, Unix seconds) and webhook-signature ("v1," and the
// base64 HMAC-SHA256, under the shared secret, of id.timestamp.body).
//
// The Sender makes one attempt per call and says whether the receiver took
// it (2xx); the keyward package's webhook worker decides when to try again.
// Nothing the Sender returns or logs holds the secret, nor the URL's user
// information or query: errors are safe to log and to store.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The headers of the Standard Webhooks format.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts a Standard Webhooks secret; the base64 of the key
// follows.
const secretPrefix = "whsec_"

// The key sizes the Standard Webhooks specification allows: at least 24
// bytes (192 bits), at most 64.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Secret is a signing secret. It never prints: String, GoString and
// LogValue show a placeholder, so a secret that reaches a log or an error
// by mistake still says nothing.
type Secret struct{ key []byte }

// ParseSecret reads "whsec_" and the standard base64 of 24 to 64 random
// bytes. Its errors never quote s.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return Secret{}, errors.New(`a webhook secret starts with "whsec_", then the base64 of 24 to 64 random bytes`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Secret{}, errors.New(`the webhook secret after "whsec_" is not standard base64`)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("the webhook secret holds %d bytes; it needs %d to %d random bytes", len(key), MinSecretBytes, MaxSecretBytes)
	}
	return Secret{key: key}, nil
}

// Sign returns the webhook-signature header of one attempt: "v1," and the
// base64 HMAC-SHA256 of id + "." + the Unix seconds of at + "." + body.
func (s Secret) Sign(id string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, at.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const redacted = "whsec_[redacted]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ParseURL checks a receiver's URL: absolute, http or https, with a host.
// Its errors never quote raw, which may hold a password or a token.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("the webhook URL does not parse as a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("the webhook URL must start with https:// or http://")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, errors.New("the webhook URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the webhook URL's port is not a number from 1 to 65535")
		}
	}
	u.Fragment, u.RawFragment = "", "" // never sent
	return u, nil
}

// Redact is u as it may be logged: scheme, host and path, without the user
// information and the query, which may hold credentials.
func Redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := r.String()
	if u.User != nil || u.RawQuery != "" {
		s += " (user information and query not shown)"
	}
	return s
}

// Config says where a Sender sends and how.
type Config struct {
	// URL is the receiver, http(s)://host[:port]/path. User information
	// in it is sent as HTTP Basic authentication.
	URL string
	// Secret is the Standard Webhooks secret, whsec_<base64>.
	Secret string
	// Timeout bounds one attempt, from connecting to the end of the
	// answer (default 10 s).
	Timeout time.Duration
	// UserAgent is sent as User-Agent (default "keyward-webhooks").
	UserAgent string
	// Now is the clock of the webhook-timestamp header (default time.Now).
	Now func() time.Time
}

// maxDrain is how much of an answer's body is read (and discarded), so that
// the connection can be used again; a receiver cannot make a node read more.
const maxDrain = 64 << 10

// Sender POSTs signed webhooks to one receiver. It is safe for concurrent
// use.
type Sender struct {
	url       *url.URL
	secret    *Secret // a pointer: fmt shows a field's pointer as an address, never the key
	client    *http.Client
	timeout   time.Duration
	userAgent string
	now       func() time.Time
}

// New checks cfg and returns its Sender; an error (a URL that is not
// http(s), a secret of the wrong form) names the setting, never its value.
func New(cfg Config) (*Sender, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	secret, err := ParseSecret(cfg.Secret)
	if err != nil {
		return nil, err
	}
	s := &Sender{url: u, secret: &secret, timeout: cfg.Timeout, userAgent: cfg.UserAgent, now: cfg.Now}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.userAgent == "" {
		s.userAgent = "keyward-webhooks"
	}
	if s.now == nil {
		s.now = time.Now
	}
	dialer := &net.Dialer{Timeout: min(s.timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	s.client = &http.Client{
		Timeout: s.timeout,
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    min(s.timeout, 5*time.Second),
			ResponseHeaderTimeout:  s.timeout,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: maxDrain,
		},
		// A redirect is an answer that is not 2xx: the event goes to the
		// URL the operator configured, or is tried again there.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// Describe is the receiver as it may be logged (see Redact).
func (s *Sender) Describe() string { return Redact(s.url) }

// Insecure reports whether events travel in the clear: http to a host that
// is not this machine.
func (s *Sender) Insecure() bool {
	if s.url.Scheme == "https" {
		return false
	}
	host := s.url.Hostname()
	ip := net.ParseIP(host)
	return host != "localhost" && (ip == nil || !ip.IsLoopback())
}

// StatusError is the answer of a receiver that did not take the webhook.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	s := fmt.Sprintf("the receiver answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Code >= 300 && e.Code < 400 {
		s += " (redirects are not followed: point the webhook URL at the final address)"
	}
	return s
}

// SendWebhook makes one attempt: body, signed for this attempt's time,
// POSTed as the event id. nil means the receiver answered 2xx.
func (s *Sender) SendWebhook(ctx context.Context, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(body))
	if err != nil {
		return errors.New("building the webhook request failed")
	}
	at := s.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, s.secret.Sign(id, at, body))
	res, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return &StatusError{Code: res.StatusCode}
	}
	return nil
}

// transportError says why no answer came, without the URL: net/http's
// *url.Error quotes it (minus the password, but with the query).
func (s *Sender) transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("the attempt was cancelled: %w", ctx.Err())
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return errors.New("the receiver did not answer in time")
	}
	return fmt.Errorf("no answer from the receiver: %w", err)
}
