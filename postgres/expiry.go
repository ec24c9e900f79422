package postgres

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
		sessions.query, sessions.args = `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2`, []any{c.Now, c.SessionIdleBefore}
	case !c.Now.IsZero():
		sessions.query, sessions.args = `DELETE FROM sessions WHERE expires_at <= $1`, []any{c.Now}
	case !c.SessionIdleBefore.IsZero():
		sessions.query, sessions.args = `DELETE FROM sessions WHERE last_seen_at < $1`, []any{c.SessionIdleBefore}
	default:
		sessions.skip = true
	}
	for _, d := range []del{
		sessions,
		{&out.MFAChallenges, "delete expired mfa challenges", `DELETE FROM mfa_challenges WHERE expires_at <= $1`, []any{c.Now}, c.Now.IsZero()},
		{&out.PasskeyChallenges, "delete expired passkey challenges", `DELETE FROM passkey_challenges WHERE expires_at <= $1`, []any{c.Now}, c.Now.IsZero()},
		{&out.PendingTOTP, "delete expired pending totp", `DELETE FROM pending_totp WHERE expires_at <= $1`, []any{c.Now}, c.Now.IsZero()},
		{&out.Throttles, "delete stale throttles", `DELETE FROM throttles WHERE last_failure < $1`, []any{c.ThrottlesBefore}, c.ThrottlesBefore.IsZero()},
		{&out.Invalidations, "delete invalidations", `DELETE FROM invalidations WHERE at < $1`, []any{c.InvalidationsBefore}, c.InvalidationsBefore.IsZero()},
		{&out.EmailTokens, "delete expired email tokens", `DELETE FROM email_tokens WHERE expires_at <= $1`, []any{c.Now}, c.Now.IsZero()},
		{&out.Mails, "delete finished mails", `DELETE FROM outbox WHERE sent_at < $1 OR failed_at < $1`, []any{c.MailsBefore}, c.MailsBefore.IsZero()},
		{&out.Webhooks, "delete finished webhooks", `DELETE FROM webhook_outbox WHERE coalesce(sent_at, failed_at) < $1`, []any{c.WebhooksBefore}, c.WebhooksBefore.IsZero()},
	} {
		if d.skip {
			continue // a zero cut-off deletes nothing
		}
		tag, err := q.db.Exec(ctx, d.query, d.args...)
		if err != nil {
			return out, wrap(d.op, err)
		}
		*d.n = int(tag.RowsAffected())
	}
	return out, nil
}
