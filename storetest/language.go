package storetest

import (
	"testing"

	"github.com/keyward/keyward"
)

// testAccountLanguage: an account keeps the language its mails are
// written in, from its creation and as it is changed, in and out of a
// transaction; a snapshot carries it (fillEveryKind).
func testAccountLanguage(t *testing.T, newStore func(t testing.TB) keyward.Store) {
	s := newStore(t)
	ctx := t.Context()
	old := newAccount(t, s, "old@example.com")
	got, err := s.AccountByID(ctx, old.ID)
	must(t, err, "AccountByID")
	check(t, "language of an account made without one", got.Language, "")

	a := &keyward.Account{ID: newID(accountPrefix), Email: "olena@example.com", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$x", CreatedAt: at(0), Language: "uk"}
	must(t, s.CreateAccount(ctx, a), "CreateAccount in Ukrainian")
	got, err = s.AccountByEmail(ctx, "Olena@example.com")
	must(t, err, "AccountByEmail")
	check(t, "account made in Ukrainian", got, a)

	must(t, s.SetAccountLanguage(ctx, a.ID, "en"), "SetAccountLanguage")
	got, err = s.AccountByID(ctx, a.ID)
	must(t, err, "AccountByID")
	check(t, "language after the change", got.Language, "en")

	must(t, s.InTx(ctx, func(q keyward.Queries) error { return q.SetAccountLanguage(ctx, a.ID, "uk") }), "SetAccountLanguage in a transaction")
	err = s.InTx(ctx, func(q keyward.Queries) error {
		if err := q.SetAccountLanguage(ctx, a.ID, "en"); err != nil {
			return err
		}
		return keyward.Errorf(keyward.CodeConflict, "Try again.")
	})
	wantCode(t, "a transaction that fails", err, keyward.CodeConflict)
	got, err = s.AccountByID(ctx, a.ID)
	must(t, err, "AccountByID")
	check(t, "language after a rolled-back change", got.Language, "uk")
	got, err = s.AccountByID(ctx, old.ID)
	must(t, err, "AccountByID")
	check(t, "another account's language", got.Language, "")

	wantCode(t, "SetAccountLanguage of an unknown account", s.SetAccountLanguage(ctx, newID(accountPrefix), "uk"), keyward.CodeNotFound)
}
