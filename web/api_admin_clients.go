package web

import (
	"net/http"
	"time"

	keyward "github.com/keyward/keyward"
)

// clientJSON is the Client object of the admin API: never its secret.
type clientJSON struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	FirstParty             bool      `json:"first_party"`
	Public                 bool      `json:"public"`
	CreatedAt              time.Time `json:"created_at"`
}

func clientOf(c *keyward.OIDCClient) clientJSON {
	out := clientJSON{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		FirstParty: c.FirstParty, Public: c.Public(), CreatedAt: c.CreatedAt}
	if out.RedirectURIs == nil {
		out.RedirectURIs = []string{}
	}
	if out.PostLogoutRedirectURIs == nil {
		out.PostLogoutRedirectURIs = []string{}
	}
	return out
}

func (s *Server) apiAdminClients(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	list, err := s.svc.AdminOIDCClients(r.Context(), by)
	if err != nil {
		return err
	}
	out := make([]clientJSON, 0, len(list))
	for i := range list {
		out = append(out, clientOf(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
	return nil
}

// newClientRequest is the body of POST /api/v1/admin/clients.
type newClientRequest struct {
	Name                   *string  `json:"name"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	FirstParty             bool     `json:"first_party"`
	Public                 bool     `json:"public"`
}

func (s *Server) apiAdminCreateClient(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	var in newClientRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := required(namedField{"name", in.Name}); err != nil {
		return err
	}
	c, secret, err := s.svc.AdminCreateOIDCClient(r.Context(), by, keyward.OIDCClientSpec{
		Name: *in.Name, RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		FirstParty: in.FirstParty, Public: in.Public,
	})
	if err != nil {
		return err
	}
	out := map[string]any{"client": clientOf(c)}
	if secret != "" {
		out["client_secret"] = secret
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) apiAdminDeleteClient(w http.ResponseWriter, r *http.Request, by keyward.Admin) error {
	if err := s.svc.AdminDeleteOIDCClient(r.Context(), by, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
