package password

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Violation codes, as the API reports them.
const (
	CodeTooShort      = "password_too_short"
	CodeTooLong       = "password_too_long"
	CodeBreached      = "password_breached"
	CodeTooWeak       = "password_too_weak"
	CodeContainsEmail = "password_contains_email"
	// CodeNotText: the password is not valid UTF-8. Only a hand-made
	// request sends that; it is the API's invalid_request, the code a JSON
	// body with invalid UTF-8 gets, so both ways in answer the same.
	CodeNotText = "invalid_request"
)

// Violation is a policy rule a password breaks. Message is a sentence for
// the person choosing the password; it never contains the password.
type Violation struct {
	Code    string
	Message string
	// Key and Args make Message in another language: Message is
	// fmt.Sprintf(Key, Args...).
	Key  string
	Args []any
}

func (v *Violation) Error() string { return v.Message }

// violation is a Violation whose message is format with args.
func violation(code, format string, args ...any) *Violation {
	return &Violation{Code: code, Message: fmt.Sprintf(format, args...), Key: format, Args: args}
}

const (
	defaultMinLength = 8
	defaultMaxLength = 1024
	minMaxLength     = 64 // NIST 800-63B: at least 64 must be accepted
	defaultMinScore  = 2
	// zxcvbn is slow on long input (12 s for 1024 characters, 1 s for 100
	// chosen l33t symbols), and Check runs before any account exists, so
	// only the first strengthRunes are scored: at most about 50 ms, and a
	// password whose first 32 characters are easy to guess is weak anyway.
	strengthRunes = 32

	// maxBytesPerRune is UTF-8's longest encoding of a code point: a
	// password of MaxLength code points is at most this many times as long
	// in bytes, so anything longer is refused before it is normalised.
	maxBytesPerRune = utf8.UTFMax
)

// Policy decides whether a new password is acceptable, after NIST 800-63B
// rev 4 and ASVS 5 V6.2: length, breached and common lists, the email,
// the product's own words and zxcvbn strength, checked in that order.
// There are no composition rules. The zero Policy applies the defaults
// below and no breached list; DefaultPolicy adds CommonPasswords.
type Policy struct {
	// MinLength in code points after NFKC: 8 when 0, never below 8.
	MinLength int
	// MaxLength in code points after NFKC: 1024 when 0, never below 64.
	MaxLength int
	// MinScore is the zxcvbn score (0..4) below which a password is too
	// weak: 2 when 0, no strength rule when negative. 2 means at least
	// about a million guesses: with throttled sign-in, argon2id hashing and
	// the breached lists above it, that resists online guessing, while 3
	// would refuse many memorable passphrases NIST would accept.
	MinScore int
	// ContextWords are the product's words, e.g. "keyward": a password
	// built from them is too weak.
	ContextWords []string
	// Breached are consulted in order. One that fails (HIBP unreachable)
	// is logged and skipped: an outage must not block sign-up.
	Breached []BreachedChecker
	// Logger receives checker failures; nil discards them.
	Logger *slog.Logger
}

// DefaultPolicy returns the default Policy with CommonPasswords as its
// breached list.
func DefaultPolicy() Policy {
	return Policy{
		MinLength: defaultMinLength,
		MaxLength: defaultMaxLength,
		MinScore:  defaultMinScore,
		Breached:  []BreachedChecker{CommonPasswords()},
	}
}

func (p Policy) limits() (minLen, maxLen, minScore int) {
	minLen, maxLen, minScore = max(p.MinLength, defaultMinLength), p.MaxLength, p.MinScore
	if maxLen == 0 {
		maxLen = defaultMaxLength
	}
	maxLen = max(maxLen, minMaxLength)
	if minScore == 0 {
		minScore = defaultMinScore
	}
	return minLen, maxLen, minScore
}

// MaxBytes is the longest password p can accept, in bytes as sent: 4 bytes
// for each of MaxLength code points (4096 by default). Longer input is
// refused before any normalisation: NFKC's work grows with its input, and
// a request body of 1 MiB normalises to up to 18 times as many code points.
// Its cost: a password that only normalises to MaxLength code points (one
// typed as decomposed Hangul jamo, 9 bytes a syllable) may be refused.
func (p Policy) MaxBytes() int {
	_, maxLen, _ := p.limits()
	return maxBytesPerRune * maxLen
}

// admit is the first rule, cheap and before any normalisation: at most
// MaxBytes, and valid UTF-8 (NFKC would otherwise keep invalid bytes as
// they are, or a decoder upstream collapse them to U+FFFD, so that
// different byte strings became one password).
func (p Policy) admit(pw string) error {
	if len(pw) > p.MaxBytes() {
		_, maxLen, _ := p.limits()
		return tooLong(maxLen)
	}
	if !utf8.ValidString(pw) {
		return violation(CodeNotText, "The password is not valid text (UTF-8). Type it again.")
	}
	return nil
}

func tooLong(maxLen int) *Violation {
	return violation(CodeTooLong, "This password is too long. Use at most %d characters.", maxLen)
}

// Check returns nil when pw is acceptable for the account with email, a
// *Violation telling why not, or ctx's error when ctx ended during a
// breached check.
func (p Policy) Check(ctx context.Context, pw, email string) error {
	minLen, maxLen, minScore := p.limits()
	if err := p.admit(pw); err != nil {
		return err
	}
	// Counted on the normalised form: what is hashed. admit bounded it.
	pw = Normalize(pw)
	switch n := utf8.RuneCountInString(pw); {
	case n < minLen:
		return violation(CodeTooShort, "This password is too short. Use at least %d characters.", minLen)
	case n > maxLen:
		return tooLong(maxLen)
	}

	for _, c := range p.Breached {
		found, err := c.Breached(ctx, pw)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if p.Logger != nil {
				p.Logger.WarnContext(ctx, "breached-password check failed, skipped", "checker", fmt.Sprintf("%T", c), "err", err)
			}
			continue
		}
		if found {
			return violation(CodeBreached, "This password appears in lists of breached or common passwords. Choose another.")
		}
	}

	folded := fold(pw)
	if containsEmail(folded, email) {
		return violation(CodeContainsEmail, "This password contains your email address or part of it. Choose another.")
	}

	// What is left without the product words must pass the strength rule
	// on its own (the default one when that rule is off).
	restMin := minScore
	if restMin < 1 {
		restMin = defaultMinScore
	}
	if rest, found := p.withoutContextWords(folded); found && score(rest, userInputs(email, nil)) < restMin {
		return violation(CodeTooWeak, "This password is built from the name of this service, which makes it easy to guess. Choose another.")
	}

	if minScore > 0 && score(pw, userInputs(email, p.ContextWords)) < minScore {
		return violation(CodeTooWeak, "This password is too easy to guess. Try a longer one, for example a few unrelated words.")
	}
	return nil
}

// Strength returns the zxcvbn score 0..4 of pw, for a strength meter, with
// the email and the context words as words an attacker would try first. A
// password Check would refuse before normalising (too many bytes, not
// UTF-8) gets that *Violation instead of a score.
func (p Policy) Strength(pw, email string) (int, error) {
	if err := p.admit(pw); err != nil {
		return 0, err
	}
	return score(Normalize(pw), userInputs(email, p.ContextWords)), nil
}

// withoutContextWords returns folded with every context word removed, and
// whether there was any.
func (p Policy) withoutContextWords(folded string) (rest string, found bool) {
	rest = folded
	for _, w := range p.ContextWords {
		w = fold(w)
		if utf8.RuneCountInString(w) < 3 || !strings.Contains(rest, w) {
			continue
		}
		rest, found = strings.ReplaceAll(rest, w, ""), true
	}
	return rest, found
}

func score(pw string, inputs []string) int {
	n := 0
	for i := range pw {
		if n == strengthRunes {
			pw = pw[:i]
			break
		}
		n++
	}
	return zxcvbn.PasswordStrength(pw, inputs).Score
}

// containsEmail reports whether folded (a folded password) contains the
// email's local part (without a +tag, when that leaves 3 characters or
// more) or the whole email.
func containsEmail(folded, email string) bool {
	if email == "" {
		return false
	}
	local := email
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		local = email[:at]
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if l := fold(local); utf8.RuneCountInString(l) >= 3 && strings.Contains(folded, l) {
		return true
	}
	whole := fold(email)
	return whole != "" && strings.Contains(folded, whole)
}

// userInputs lists the words zxcvbn should treat as known to an attacker:
// the email, its local part and the pieces of it, and the context words.
func userInputs(email string, words []string) []string {
	var in []string
	if email != "" {
		email = strings.ToLower(email)
		local, _, _ := strings.Cut(email, "@")
		in = append(in, email, local)
		in = append(in, strings.FieldsFunc(local, func(r rune) bool { return !isAlnum(r) })...)
	}
	for _, w := range words {
		in = append(in, strings.ToLower(w))
	}
	return in
}

// fold lower-cases s and keeps only letters and digits, so that
// "Alice.Smith" and "alice_smith" compare equal.
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isAlnum(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
