package keyward_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	keyward "github.com/keyward/keyward"
)

// An application's handler behind RequireSession (package server or web)
// reads who is signed in from the request's context.
func ExampleFromContext() {
	dashboard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := keyward.FromContext(r.Context())
		if !ok {
			http.Error(w, "not signed in", http.StatusUnauthorized) // not behind RequireSession
			return
		}
		fmt.Fprintf(w, "Hello, %s (two-factor: %v)", id.Account.Email, id.Session.AAL >= 2)
	})

	// What RequireSession does before calling the handler.
	r := httptest.NewRequest("GET", "/dashboard", nil)
	r = r.WithContext(keyward.NewContext(r.Context(), keyward.Identity{
		Account: keyward.Account{ID: "acct_1", Email: "ada@example.com"},
		Session: keyward.Session{ID: "sess_1", AccountID: "acct_1", AAL: 1},
	}))
	w := httptest.NewRecorder()
	dashboard.ServeHTTP(w, r)
	fmt.Println(w.Body.String())
	// Output: Hello, ada@example.com (two-factor: false)
}
