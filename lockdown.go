package keyward

import (
	"context"
	"strconv"

	"github.com/keyward/keyward/audit"
)

// Lockdown is "This wasn't me", from the link of a notification: every
// session of the account ends, waiting second steps and pending 2FA setups
// are dropped, a pending email change is cancelled, and the password stops
// working until it is reset by mail (sign-in answers
// password_reset_required after a correct password). The link works once.
// It returns how many sessions ended.
func (s *Service) Lockdown(ctx context.Context, token string, c Client) (int, error) {
	now := s.clock()
	tok, err := s.emailTokenFor(ctx, token, lockdownTokenPrefix, []TokenPurpose{PurposeLockdown}, audit.AccountLockedDown, c)
	if err != nil {
		return 0, err
	}
	revoked := 0
	err = s.changeAccount(ctx, tok.AccountID, func(q Queries) error {
		if consumed, err := q.ConsumeEmailToken(ctx, tok.TokenHash); err != nil || !consumed {
			return orInvalidToken(err)
		}
		a, err := q.LockAccount(ctx, tok.AccountID)
		if err != nil {
			return notFoundAs(err, invalidToken())
		}
		if err := q.SetLockedDown(ctx, a.ID, &now); err != nil {
			return err
		}
		if _, err := q.DeleteMFAChallenges(ctx, a.ID); err != nil {
			return err
		}
		if err := q.DeletePendingTOTP(ctx, a.ID); err != nil {
			return err
		}
		// Whoever caused the notice may have asked to move the account to
		// an address of theirs.
		if _, err := q.DeleteEmailTokens(ctx, a.ID, PurposeEmailChange); err != nil {
			return err
		}
		if revoked, err = s.endOtherSessions(ctx, q, sessionsEnding{accountID: a.ID, client: c, reason: "locked_down"}); err != nil {
			return err
		}
		e := event(a.ID, audit.AccountLockedDown, c, "")
		e.Time = now
		e.Details = map[string]string{audit.DetailRevokedSessions: strconv.Itoa(revoked)}
		return s.record(ctx, q, e)
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

// Notifications is what the account is mailed about beyond the mails that
// cannot be turned off (factor and password changes, new addresses).
type Notifications struct {
	NewDeviceSignIn bool
}

// Notifications returns the caller's settings.
func (s *Service) Notifications(ctx context.Context, caller *Session) (Notifications, error) {
	a, err := s.store.AccountByID(ctx, caller.AccountID)
	if err != nil {
		return Notifications{}, err
	}
	return Notifications{NewDeviceSignIn: !a.NewDeviceMailOff}, nil
}

// SetNotifications stores the caller's settings, and records the change:
// turning off the new-device mail is what someone who took a session would
// do first, so the owner must be able to see it.
func (s *Service) SetNotifications(ctx context.Context, caller *Session, n Notifications, c Client) error {
	return s.changeAccount(ctx, caller.AccountID, func(q Queries) error {
		if err := callerStillSignedIn(ctx, q, caller); err != nil {
			return err
		}
		if err := q.SetNewDeviceMail(ctx, caller.AccountID, n.NewDeviceSignIn); err != nil {
			return err
		}
		e := event(caller.AccountID, audit.NotificationsChanged, c, caller.ID)
		e.Time = s.clock()
		e.Details = map[string]string{audit.DetailNewDeviceMail: onOff(n.NewDeviceSignIn)}
		return s.record(ctx, q, e)
	})
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
