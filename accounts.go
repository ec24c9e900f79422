package keyward

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keyward/audit"
	"github.com/keyward/keyward/metrics"
	"github.com/keyward/keyward/password"
)

// SignUp creates an account from the public sign-up API.
func (s *Service) SignUp(ctx context.Context, email, pw string, c Client) (*Account, error) {
	return s.signUp(ctx, newAccount{email: email, password: pw, client: c})
}

// SignUpAndSignIn is sign-up from the page: the account and its first
// session in one transaction, for one password hash instead of one to store
// and another to check it again straight away. With RequireVerifiedEmail
// the account is created and no session opens: email_not_verified.
func (s *Service) SignUpAndSignIn(ctx context.Context, email, pw string, c Client) (*SignInResult, error) {
	if s.cfg.RequireVerifiedEmail {
		// Opening a session is a sign-in, and sign-in waits for the link:
		// else anyone signs up as an address he cannot read and is in.
		if _, err := s.signUp(ctx, newAccount{email: email, password: pw, client: c}); err != nil {
			return nil, err
		}
		return nil, Errorf(CodeEmailNotVerified, "Your account is created. Confirm your email address: open the link we mailed you, then sign in.")
	}
	var res *SignInResult
	_, err := s.signUp(ctx, newAccount{email: email, password: pw, client: c, also: func(q Queries, a *Account) error {
		var err error
		res, err = s.openSession(ctx, q, sessionOpening{account: a, aal: 1, amr: AMRPassword, client: c, now: s.clock(), method: audit.MethodPassword})
		return err
	}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// signUp creates an account as the person asked for it (actor self).
func (s *Service) signUp(ctx context.Context, n newAccount) (*Account, error) {
	if !s.cfg.SignupEnabled {
		return nil, Errorf(CodeSignupDisabled, "Sign-up is turned off here. Ask the operator for an account.")
	}
	// Every attempt counts against the address (successes too: this bounds
	// account creation and probing for taken emails, not guessing).
	addr := clientAddress(n.client.IP)
	if !s.checks.enter(addr) {
		s.metrics.Throttled.Inc(metrics.ThrottleConcurrent)
		return nil, throttled(time.Second)
	}
	defer s.checks.leave(addr)
	// The attempt is never passed: a success counts too.
	if _, err := s.reserveAttempt(ctx, s.clock(), throttleCheck{signupThrottleKey(addr), s.cfg.SignupThrottle}); err != nil {
		return nil, err
	}
	return s.createAccount(ctx, n)
}

// CreateAccount is the operator's way in (`keyward account create`): it
// works with sign-up turned off and is recorded as done by an admin.
func (s *Service) CreateAccount(ctx context.Context, email, pw string) (*Account, error) {
	return s.AdminCreateAccount(ctx, CommandLineAdmin(), email, pw, Client{})
}

// AdminCreateAccount is CreateAccount from the admin API (accounts:write):
// recorded with the token's name.
func (s *Service) AdminCreateAccount(ctx context.Context, by Admin, email, pw string, c Client) (*Account, error) {
	if err := by.require(ScopeAccountsWrite); err != nil {
		return nil, err
	}
	return s.createAccount(ctx, newAccount{email: email, password: pw, client: c, by: &by})
}

// newAccount is an account asked for, by the person (sign-up) or an admin.
type newAccount struct {
	email, password string
	client          Client
	by              *Admin // the admin who creates it; nil for sign-up
	// also runs in the transaction that creates the account (a first
	// session), if set.
	also func(Queries, *Account) error
}

func (s *Service) createAccount(ctx context.Context, n newAccount) (*Account, error) {
	pw := n.password
	email, err := ParseEmail(n.email)
	if err != nil {
		return nil, err
	}
	if err := s.checkPolicy(ctx, pw, email); err != nil {
		return nil, err
	}
	// Hash first, so that a taken email answers in the time a free one takes;
	// the unique index decides a race.
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.AccountByEmail(ctx, email); err == nil {
		return nil, emailTaken()
	} else if !IsCode(err, CodeNotFound) {
		return nil, err
	}
	a := &Account{ID: s.newID(accountIDPrefix), Email: email, PasswordHash: hash, CreatedAt: s.clock(), Language: languageCode(n.client.Language)}
	err = s.store.InTx(ctx, func(q Queries) error {
		if err := q.CreateAccount(ctx, a); err != nil {
			return err
		}
		e := event(a.ID, audit.AccountCreated, n.client, "")
		if n.by != nil {
			n.by.mark(e)
		}
		if err := s.record(ctx, q, e); err != nil {
			return err
		}
		if err := s.sendVerification(ctx, q, a, n.client, a.CreatedAt); err != nil {
			return err
		}
		if n.also != nil {
			return n.also(q, a)
		}
		return nil
	})
	if IsCode(err, CodeEmailTaken) {
		return nil, emailTaken()
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

func emailTaken() *Error {
	return Errorf(CodeEmailTaken, "An account with this email already exists. Sign in instead.")
}

// checkPolicy applies the password policy and turns its verdict into an Error.
func (s *Service) checkPolicy(ctx context.Context, pw, email string) error {
	return policyError(s.policy.Check(ctx, pw, email))
}

// policyError turns the policy's verdict into an Error.
func policyError(err error) error {
	var v *password.Violation
	if errors.As(err, &v) {
		return &Error{Code: Code(v.Code), Message: v.Message, Key: v.Key, Args: v.Args}
	}
	if err != nil {
		return Internal(err)
	}
	return nil
}

// hash hashes a password, answering 503 when every hashing slot stays busy.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.Hash(ctx, pw)
	return h, hasherError(err)
}

// verifyPassword checks pw against the account's hash.
func (s *Service) verifyPassword(ctx context.Context, a *Account, pw string) (ok, rehash bool, err error) {
	ok, rehash, err = s.hasher.Verify(ctx, a.PasswordHash, pw)
	return ok, rehash, hasherError(err)
}

func hasherError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, password.ErrTooLong):
		// The policy refuses such a password before any hash is asked for.
		return &Error{Code: CodePasswordTooLong, Message: "This password is too long.", Err: err}
	case errors.Is(err, password.ErrBusy):
		return &Error{Code: CodeUnavailable, Message: "The server is busy. Try again in a moment.", RetryAfter: busyRetryAfter, Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeUnavailable, Message: "The request was cancelled.", Err: err}
	default:
		return Internal(err)
	}
}

// busyRetryAfter is what a client is told to wait when hashing is saturated.
const busyRetryAfter = 2 * time.Second
