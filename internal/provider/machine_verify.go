package provider

import (
	"context"
	"errors"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// A machine's token at keel's own admin API (docs/admin.md "Who is an
// admin"): keel takes a client_credentials token it issued itself, and
// nothing else the provider issues. The rules, each of which refuses a
// token that was made for something else:
//
//   - a JWT of this provider: RS256 with a published key, typ "JWT" (what
//     pkg/op writes; keel's own access tokens are at+jwt), iss API_URL,
//     unexpired by keel's clock;
//   - a machine's: sub and client_id the same client (a grant's token
//     names its user, an ID token has no scope), a jti naming no session
//     (a grant's jti does: "<session>.<random>");
//   - for keel: aud exactly the client id. A token asked with a `resource`
//     (RFC 8707) is that resource server's, which must not be able to replay
//     it at keel's admin API;
//   - its client is still there, confidential and registered for the
//     grant, read on every call: deleting the client ends its tokens at
//     once. Its scopes are those of the token the client is still
//     registered for.

// ErrNotMachine is a token VerifyMachine refuses: not a machine's token of
// this provider for keel, expired, or its client is gone.
var ErrNotMachine = errors.New("provider: not a live machine token of keel's")

// Machine is a machine's token VerifyMachine took.
type Machine struct {
	ClientID string
	Scopes   []string
}

// VerifyMachine checks raw by the rules above and returns its machine.
func (p *Provider) VerifyMachine(ctx context.Context, raw string) (Machine, error) {
	if h, ok := header(raw); !ok || h != "JWT" {
		return Machine{}, ErrNotMachine
	}
	ctx = op.ContextWithIssuer(ctx, p.cfg.Issuer)
	c, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ctx, raw, p.op.AccessTokenVerifier(ctx))
	switch {
	case err != nil, !p.now().Before(c.Expiration.AsTime()),
		c.Subject == "" || c.Subject != c.ClientID, c.JWTID == "" || strings.Contains(c.JWTID, "."),
		len(c.Audience) != 1 || c.Audience[0] != c.ClientID:
		return Machine{}, ErrNotMachine
	}
	cl, ok, err := (&storage{p}).machineClient(ctx, c.ClientID)
	if err != nil {
		return Machine{}, err
	}
	if !ok {
		return Machine{}, ErrNotMachine
	}
	m := Machine{ClientID: c.ClientID}
	for _, sc := range c.Scopes {
		if slices.Contains(cl.Scopes, sc) && !slices.Contains(userScopes, sc) {
			m.Scopes = append(m.Scopes, sc)
		}
	}
	return m, nil
}

// header is a compact JWS's typ header, unverified.
func header(raw string) (string, bool) {
	sig, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(sig.Signatures) != 1 {
		return "", false
	}
	typ, _ := sig.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	return typ, true
}
