package provider

import (
	"context"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// A grant's ID tokens, its access tokens and userinfo carry the user's
// roles and the claims JWT_CLAIMS_FROM_APP_METADATA lists, from the
// account's app_metadata (internal/claims), as keel's own access tokens do:
// read with the grant's session (GetSession), at each token issued, so a
// change shows from the grant's next refresh; userinfo reads them live.
// What breaks a limit is left out with a warning: a token is never refused
// for it.

// claimsOfRequest is what the grant of a token request puts in its tokens:
// a refresh has read its session already; a code's exchange or a device's
// poll reads it. A request of no grant (a machine's) has none.
func (s *storage) claimsOfRequest(ctx context.Context, req op.TokenRequest) (map[string]any, error) {
	if r, ok := req.(*refreshRequest); ok {
		return s.p.cfg.AppMetadataClaims.ForToken(ctx, s.p.log, r.sess.UserID, r.sess.AppMetadata), nil
	}
	sid := sessionOf(ctx, req)
	if sid == "" {
		return nil, nil
	}
	sess, err := s.liveGrant(ctx, sid)
	if err != nil {
		return nil, err
	}
	return s.p.cfg.AppMetadataClaims.ForToken(ctx, s.p.log, sess.UserID, sess.AppMetadata), nil
}
