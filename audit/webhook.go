package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AccountRecord is a Record that names its account: an event as an
// operator's view of every log (the webhook) shows it.
type AccountRecord struct {
	Record
	AccountID *string `json:"account_id"` // null for the system log
}

// AccountRecordOf returns the public form of e with its account.
func AccountRecordOf(e *Event) AccountRecord {
	r := AccountRecord{Record: RecordOf(e)}
	if e.ChainID != SystemChain && e.ChainID != "" {
		id := e.ChainID
		r.AccountID = &id
	}
	return r
}

// WebhookPayload is an event as a webhook carries it, in the Standard
// Webhooks shape: the type, when it happened, and the event itself.
type WebhookPayload struct {
	Type      Type          `json:"type"`
	Timestamp time.Time     `json:"timestamp"` // the event's time (the attempt's is in the webhook-timestamp header)
	Data      AccountRecord `json:"data"`
}

// WebhookPayloadOf returns the payload of e.
func WebhookPayloadOf(e *Event) WebhookPayload {
	r := AccountRecordOf(e)
	return WebhookPayload{Type: r.Type, Timestamp: r.Time, Data: r}
}

// Selector picks event types: every type, or those named exactly, or those
// that start with a prefix ending in a dot ("signin." picks signin.failed
// and the other signin.* types). The zero Selector picks every type.
type Selector struct {
	exact    []Type
	prefixes []string
}

// ParseSelector reads a comma-separated list of types and prefixes; an
// empty list (or "*") picks every type. A name that is no type of the
// vocabulary, or a prefix that picks none, is an error: a typo would
// otherwise silently send nothing.
func ParseSelector(list string) (Selector, error) {
	var s Selector
	if strings.TrimSpace(list) == "*" {
		return s, nil
	}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case strings.HasSuffix(item, "."):
			if !slices.ContainsFunc(Types(), func(t Type) bool { return strings.HasPrefix(string(t), item) }) {
				return Selector{}, fmt.Errorf("%q picks no event type", item)
			}
			if !slices.Contains(s.prefixes, item) {
				s.prefixes = append(s.prefixes, item)
			}
		case Known(Type(item)):
			if !slices.Contains(s.exact, Type(item)) {
				s.exact = append(s.exact, Type(item))
			}
		default:
			hint := ""
			if slices.ContainsFunc(Types(), func(t Type) bool { return strings.HasPrefix(string(t), item+".") }) {
				hint = fmt.Sprintf(" (for every %s.* type, write %q)", item, item+".")
			}
			return Selector{}, fmt.Errorf("%q is not an event type%s", item, hint)
		}
	}
	return s, nil
}

// All reports whether s picks every type.
func (s Selector) All() bool { return len(s.exact) == 0 && len(s.prefixes) == 0 }

// Match reports whether s picks t.
func (s Selector) Match(t Type) bool {
	if s.All() || slices.Contains(s.exact, t) {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(string(t), p) {
			return true
		}
	}
	return false
}

// String is the list s was parsed from, normalised: "*" for every type.
func (s Selector) String() string {
	if s.All() {
		return "*"
	}
	items := make([]string, 0, len(s.exact)+len(s.prefixes))
	for _, t := range s.exact {
		items = append(items, string(t))
	}
	return strings.Join(append(items, s.prefixes...), ",")
}
