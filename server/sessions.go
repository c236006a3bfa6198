package server

import (
	"cmp"
	"context"
	"errors"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
)

// ListSessions lists the caller's live sessions, newest first.
func (s *Server) ListSessions(ctx context.Context, _ oapi.ListSessionsRequestObject) (oapi.ListSessionsResponseObject, error) {
	p := mustPrincipal(ctx)
	rows, err := s.store.ListSessions(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make(oapi.ListSessions200JSONResponse, 0, len(rows))
	clients := map[string]*oapi.OAuth2ClientRef{}
	for _, r := range rows {
		if now.Before(r.RefreshExpiresAt) {
			sess := toSession(r, p.SessionID)
			// A grant to a client (docs/provider.md) names it.
			if sess.Client, err = s.clientRef(ctx, r.ClientID, clients); err != nil {
				return nil, err
			}
			out = append(out, sess)
		}
	}
	return out, nil
}

// DeleteSession ends one of the caller's sessions; another user's is as
// unknown as one that never was (404).
func (s *Server) DeleteSession(ctx context.Context, req oapi.DeleteSessionRequestObject) (oapi.DeleteSessionResponseObject, error) {
	p := mustPrincipal(ctx)
	err := s.store.DeleteSession(ctx, p.UserID, req.ID, s.loggedOut(ctx, p.UserID, req.ID))
	if errors.Is(err, db.ErrNoSession) {
		return nil, errUnknownSession // not "your session has ended": another one is unknown
	}
	if err != nil {
		return nil, err
	}
	return oapi.DeleteSession204Response{}, nil
}

// DeleteSessions ends every session of the caller, its own included.
func (s *Server) DeleteSessions(ctx context.Context, _ oapi.DeleteSessionsRequestObject) (oapi.DeleteSessionsResponseObject, error) {
	p := mustPrincipal(ctx)
	if err := s.store.DeleteSessions(ctx, p.UserID, "", s.loggedOut(ctx, p.UserID, "")); err != nil {
		return nil, err
	}
	return oapi.DeleteSessions204Response{}, nil
}

// toSession is the API's view of a session: never its refresh state.
func toSession(r db.Session, current string) oapi.Session {
	return oapi.Session{
		ID: r.ID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(),
		UserAgent: r.UserAgent, Current: r.ID == current, Aal: oapi.AAL(cmp.Or(r.AAL, db.AAL1)),
	}
}
