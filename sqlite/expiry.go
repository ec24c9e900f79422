package sqlite

import (
	"context"

	"github.com/keyward/keyward"
)

// DeleteExpired implements keyward.Expiry: one DELETE per kind, in the
// caller's transaction or each on its own.
func (q *queries) DeleteExpired(ctx context.Context, c keyward.Cutoffs) (keyward.Expired, error) {
	var out keyward.Expired
	type del struct {
		n     *int
		op    string
		query string
		args  []any
		skip  bool
	}
	sessions := del{n: &out.Sessions, op: "delete expired sessions"}
	switch {
	case !c.Now.IsZero() && !c.SessionIdleBefore.IsZero():
		sessions.query, sessions.args = `DELETE FROM sessions WHERE expires_us <= ? OR last_seen_us < ?`, []any{toUS(c.Now), toUS(c.SessionIdleBefore)}
	case !c.Now.IsZero():
		sessions.query, sessions.args = `DELETE FROM sessions WHERE expires_us <= ?`, []any{toUS(c.Now)}
	case !c.SessionIdleBefore.IsZero():
		sessions.query, sessions.args = `DELETE FROM sessions WHERE last_seen_us < ?`, []any{toUS(c.SessionIdleBefore)}
	default:
		sessions.skip = true
	}
	for _, d := range []del{
		sessions,
		{&out.MFAChallenges, "delete expired mfa challenges", `DELETE FROM mfa_challenges WHERE expires_us <= ?`, []any{toUS(c.Now)}, c.Now.IsZero()},
		{&out.PasskeyChallenges, "delete expired passkey challenges", `DELETE FROM passkey_challenges WHERE expires_us <= ?`, []any{toUS(c.Now)}, c.Now.IsZero()},
		{&out.PendingTOTP, "delete expired pending totp", `DELETE FROM pending_totp WHERE expires_us <= ?`, []any{toUS(c.Now)}, c.Now.IsZero()},
		{&out.Throttles, "delete stale throttles", `DELETE FROM throttles WHERE last_failure_us < ?`, []any{toUS(c.ThrottlesBefore)}, c.ThrottlesBefore.IsZero()},
		{&out.Invalidations, "delete invalidations", `DELETE FROM invalidations WHERE at_us < ?`, []any{toUS(c.InvalidationsBefore)}, c.InvalidationsBefore.IsZero()},
		{&out.EmailTokens, "delete expired email tokens", `DELETE FROM email_tokens WHERE expires_us <= ?`, []any{toUS(c.Now)}, c.Now.IsZero()},
		{&out.Mails, "delete finished mails", `DELETE FROM outbox WHERE sent_us < ?1 OR failed_us < ?1`, []any{toUS(c.MailsBefore)}, c.MailsBefore.IsZero()},
		{&out.Webhooks, "delete finished webhooks", `DELETE FROM webhook_outbox WHERE coalesce(sent_us, failed_us) < ?`, []any{toUS(c.WebhooksBefore)}, c.WebhooksBefore.IsZero()},
	} {
		if d.skip {
			continue // a zero cut-off deletes nothing
		}
		n, err := q.execCount(ctx, d.op, d.query, d.args...)
		if err != nil {
			return out, err
		}
		*d.n = n
	}
	return out, nil
}
