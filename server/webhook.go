package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/webhook"
)

// Webhook says where keyward sends its audit events: each event the Events
// list picks is written to an outbox in the transaction that records it,
// and Run's worker POSTs it to URL, signed with Secret in the Standard
// Webhooks format, retrying for 24 hours. Every node of one database, and
// every operator command that records events, needs the same settings: a
// process without them writes no deliveries for its events.
type Webhook struct {
	// URL is the receiver, https://host/path (http too; user information
	// is sent as HTTP Basic authentication). Empty turns webhooks off.
	URL string
	// Secret is the shared signing secret, whsec_ and the base64 of 24
	// to 64 random bytes. Required with URL.
	Secret string
	// Events is a comma-separated list of event types and prefixes
	// ending in a dot ("signin.,password.changed"); empty sends every
	// event.
	Events string
	// Timeout bounds one attempt (default 10 s, at most 5 minutes).
	Timeout time.Duration
}

// webhookSetup is a checked Webhook.
type webhookSetup struct {
	sender  *webhook.Sender
	events  audit.Selector
	timeout time.Duration
}

// maxWebhookTimeout bounds an attempt: a claim lasts twice as long, and a
// receiver that takes minutes to answer is down.
const maxWebhookTimeout = 5 * time.Minute

// newWebhook checks w: nil when webhooks are off, an error when any part is
// missing or wrong, so that keyward never starts half-configured. Errors
// name the setting, never the secret nor the URL's credentials.
func newWebhook(w Webhook) (*webhookSetup, error) {
	if w.URL == "" {
		switch {
		case w.Secret != "":
			return nil, errors.New("webhook: a secret is set but no URL: set the receiver's URL too, or remove the secret")
		case w.Events != "":
			return nil, errors.New("webhook: events are chosen but no URL is set")
		}
		return nil, nil
	}
	if w.Secret == "" {
		return nil, errors.New("webhook: a URL is set but no secret: receivers verify every webhook with it (whsec_ and the base64 of 24 to 64 random bytes)")
	}
	if w.Timeout < 0 || w.Timeout > maxWebhookTimeout {
		return nil, fmt.Errorf("webhook: the timeout must be positive and at most %v", maxWebhookTimeout)
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	events, err := audit.ParseSelector(w.Events)
	if err != nil {
		return nil, fmt.Errorf("webhook events: %w", err)
	}
	sender, err := webhook.New(webhook.Config{URL: w.URL, Secret: w.Secret, Timeout: timeout, UserAgent: "keyward-webhooks"})
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &webhookSetup{sender: sender, events: events, timeout: timeout}, nil
}

// WebhookDestination says where audit events go and which, for a start-up
// line: never the secret, nor the URL's user information or query. Empty
// when webhooks are off.
func (s *Server) WebhookDestination() string {
	h := s.core.webhook
	if h == nil {
		return ""
	}
	d := fmt.Sprintf("audit events (%s) are sent to %s", h.events, h.sender.Describe())
	if h.sender.Insecure() {
		d += " over plain http: anyone on the way reads them (IP addresses, user agents); prefer https"
	}
	return d
}
