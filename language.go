package keyward

import (
	"context"
	"strings"
)

// maxLanguageCode bounds a language code kept on an account: "uk",
// "en-GB", and room to spare.
const maxLanguageCode = 16

// languageCode is code fit to keep on an account: a BCP 47 shaped code
// (letters, digits and hyphens, lower-cased), or "" for anything else.
// Which languages exist is the web layer's and the mailer's business;
// either reads a code it does not know as the default.
func languageCode(code string) string {
	if code == "" || len(code) > maxLanguageCode {
		return ""
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return strings.ToLower(code)
}

// SetLanguage keeps the language the caller chose for the account's
// mails. It is not an audit event: a language changes nothing about who
// can get in, and a mail in the other language still reaches its owner.
func (s *Service) SetLanguage(ctx context.Context, caller *Session, code string) error {
	code = languageCode(code)
	if code == "" {
		return Errorf(CodeInvalidRequest, "Choose one of the languages offered.")
	}
	// Through changeAccount: every node drops the account it may hold,
	// so that the next mail is written in the new language.
	return s.changeAccount(ctx, caller.AccountID, func(q Queries) error {
		if err := callerStillSignedIn(ctx, q, caller); err != nil {
			return err
		}
		return q.SetAccountLanguage(ctx, caller.AccountID, code)
	})
}
