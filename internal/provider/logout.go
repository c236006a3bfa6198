package provider

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/keelhq/keel/internal/clients"
)

// checkPostLogout holds end_session's post_logout_redirect_uri to keel's
// rule (clients.Client.PostLogoutAllowed: exact, but a native client's
// loopback IP literal on any port), before pkg/op, whose own match lets a
// native client's loopback URI stand for any loopback host, localhost
// included, and either scheme. The client is the request's client_id, else
// the id_token_hint's azp: read here unverified only to find whose rule
// applies, since pkg/op verifies the hint next and refuses a forged one.
func (p *Provider) checkPostLogout(r *http.Request) *oidc.Error {
	uri := r.Form.Get("post_logout_redirect_uri")
	if uri == "" {
		return nil
	}
	id := r.Form.Get("client_id")
	if id == "" {
		id = hintParty(r.Form.Get("id_token_hint"))
	}
	if id == "" {
		return nil // pkg/op redirects nowhere but keel's own page without a client
	}
	c, err := p.clients.GetClient(r.Context(), id)
	if errors.Is(err, clients.ErrNoClient) {
		return nil // pkg/op answers invalid_client
	}
	if err != nil || !c.PostLogoutAllowed(uri) {
		return oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not one the client registered")
	}
	return nil
}

// hintParty is the azp (else the single aud) of an ID token, unverified; ""
// when it cannot be read.
func hintParty(hint string) string {
	parts := strings.Split(hint, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		AZP string          `json:"azp"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(b, &claims) != nil {
		return ""
	}
	if claims.AZP != "" {
		return claims.AZP
	}
	var aud string
	if json.Unmarshal(claims.Aud, &aud) == nil {
		return aud
	}
	var auds []string
	if json.Unmarshal(claims.Aud, &auds) == nil && len(auds) == 1 {
		return auds[0]
	}
	return ""
}
