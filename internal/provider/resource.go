package provider

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// Resource indicators (RFC 8707): a client names the resource server its
// access token is for (an MCP server, an API) with `resource`, at authorize
// and at the token endpoint, and the token's aud names it beside the client
// id, so that server can check the token is for it. keel takes one
// resource, an absolute URI without a fragment, never keel's own audience
// (JWT_AUDIENCE) or its issuer: a client's token must never read as one of
// keel's. At the code's exchange a resource, when sent, must be the one
// authorized; at a refresh the client names it again (the grant does not
// keep it), as MCP clients do.

type resourceKey struct{}

// resourceErrKey carries a refused resource to authorize's check.
type resourceErrKey struct{}

// withResource reads the request's resource parameter into its context,
// or answers why it is refused.
func (p *Provider) withResource(r *http.Request) (*http.Request, *oidc.Error) {
	if err := r.ParseForm(); err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("the request is not a valid form")
	}
	values := r.Form["resource"]
	switch {
	case len(values) == 0:
		return r, nil
	case len(values) > 1:
		return nil, oidc.ErrInvalidTarget().WithDescription("one resource at a time")
	}
	res := values[0]
	u, err := url.Parse(res)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") || res == p.cfg.Issuer ||
		p.cfg.KeelAudience != "" && res == p.cfg.KeelAudience {
		return nil, oidc.ErrInvalidTarget().WithDescription("resource must be an absolute URI without a fragment, not keel's own")
	}
	return r.WithContext(context.WithValue(r.Context(), resourceKey{}, res)), nil
}

// resourceOf is the resource of the request whose context ctx is ("": none).
func resourceOf(ctx context.Context) string {
	res, _ := ctx.Value(resourceKey{}).(string)
	return res
}

// audience is a token's aud: the client, and the resource when one is named.
func audience(clientID, resource string) []string {
	if resource == "" {
		return []string{clientID}
	}
	return []string{clientID, resource}
}
