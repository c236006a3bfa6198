package server

// Sessions' levels and lifetimes: every access token carries its session's
// level generation (the claim lvl), which moves on with each raise to aal2
// and each lowering, so a token minted before either is refused (401: its
// client refreshes). aal2 lasts AAL2_MAX_AGE from the raise, then the
// session is aal1 again and asks for a code; a session waiting for its
// second factor lives MFA_PENDING_TTL; and every session ends
// SESSION_MAX_AGE after it started, however often it is refreshed. The bearer
// check reads the generation in the query it makes anyway
// (GetSessionAccess); the deadlines bound the exp of the session's tokens,
// so it reads no time, and the refresh enforces them.

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/token"
)

// The defaults of the lifetimes when Config leaves them zero (cmd/keel's).
const (
	DefaultAAL2MaxAge    = 12 * time.Hour
	DefaultSessionMaxAge = 30 * 24 * time.Hour
	DefaultMFAPendingTTL = 10 * time.Minute
)

func (s *Server) aal2MaxAge() time.Duration { return cmp.Or(s.cfg.AAL2MaxAge, DefaultAAL2MaxAge) }
func (s *Server) sessionMaxAge() time.Duration {
	return cmp.Or(s.cfg.SessionMaxAge, DefaultSessionMaxAge)
}
func (s *Server) mfaPendingTTL() time.Duration {
	return cmp.Or(s.cfg.MFAPendingTTL, DefaultMFAPendingTTL)
}

// refreshExpiry is when a refresh token issued at now for a session that
// started at created expires: REFRESH_TTL from now, but never past the
// session's SESSION_MAX_AGE (then pruning takes the session too).
func (s *Server) refreshExpiry(created, now time.Time) time.Time {
	exp := now.Add(s.cfg.RefreshTTL)
	if end := created.Add(s.sessionMaxAge()); end.Before(exp) {
		return end
	}
	return exp
}

// pending reports whether a session waits for its second factor: aal1, of
// an account with a verified factor.
func pending(aal string, hasFactor bool) bool { return aal != db.AAL2 && hasFactor }

// checkLevel is the bearer check's rule on the session's level, for the
// token p and what GetSessionAccess read: a token of another level
// generation is a bad token (401; its client refreshes). The session's
// deadlines need no check here: they bound its tokens' exp (tokenLimit).
func checkLevel(p token.Principal, acc db.SessionAccess) error {
	if p.Level != acc.LevelGen {
		return errBadBearer
	}
	return nil
}

// tokenLimit is when the session's access tokens must expire by, so that
// none outlives its deadlines (within the clock leeway every token has):
// SESSION_MAX_AGE after its start; AAL2_MAX_AGE after it became aal2; and,
// while it waits for its second factor, MFA_PENDING_TTL after it began to
// (its start, or the loss of its aal2). Past them the refresh ends, lowers
// or refuses the session (checkRefresh).
func (s *Server) tokenLimit(sess db.Session) time.Time {
	limit := sess.CreatedAt.Add(s.sessionMaxAge())
	var level time.Time
	switch {
	case sess.AAL == db.AAL2:
		level = sess.LevelAt.Add(s.aal2MaxAge())
	case sess.HasFactor:
		level = sess.LevelAt.Add(s.mfaPendingTTL())
	}
	if !level.IsZero() && level.Before(limit) {
		return level
	}
	return limit
}

// readSignIn reads, for a session a sign-in has just stored, what its
// first token needs and the sign-in did not read: whether the account has a
// verified factor, which bounds an aal1 session's first token (tokenLimit),
// and the account's app_metadata (claimsOf), in one query (GetSession, the
// one a refresh reads them with).
func (s *Server) readSignIn(ctx context.Context, sess *db.Session) error {
	stored, err := s.store.GetSession(ctx, sess.ID)
	if errors.Is(err, db.ErrNoSession) {
		// Ended as soon as it started (a ban, a reset, a sign-out of
		// every session): the sign-in still gets its pair, as before the
		// read, which keel refuses from the first use (no roles in it).
		return nil
	}
	if err != nil {
		return err
	}
	sess.HasFactor, sess.AppMetadata = stored.HasFactor, stored.AppMetadata
	return nil
}

// checkRefresh is the refresh's rule on the session's level and lifetimes:
// it lowers an aal2 session past AAL2_MAX_AGE (sess then reads as lowered;
// db.ErrStale when another request moved it first: read it again), ends a
// session past SESSION_MAX_AGE or one that waited for its second factor
// longer than MFA_PENDING_TTL, and refuses to refresh a session waiting for
// its second factor since it started (a password without the code gets no
// more time than MFA_PENDING_TTL). A session that lost its aal2 (to
// AAL2_MAX_AGE or the removal of its factor) is refreshed at aal1, to verify
// a code again.
func (s *Server) checkRefresh(ctx context.Context, sess *db.Session, now time.Time) error {
	switch {
	case !now.Before(sess.CreatedAt.Add(s.sessionMaxAge())):
		return s.endSession(ctx, sess.ID, "SESSION_MAX_AGE reached", nil)
	case sess.AAL == db.AAL2 && !now.Before(sess.LevelAt.Add(s.aal2MaxAge())):
		if err := s.store.LowerSession(ctx, sess.ID, sess.LevelGen, now); err != nil {
			return err
		}
		sess.AAL, sess.LevelGen, sess.LevelAt = db.AAL1, sess.LevelGen+1, now
	}
	if !pending(sess.AAL, sess.HasFactor) {
		return nil
	}
	if !now.Before(sess.LevelAt.Add(s.mfaPendingTTL())) {
		return s.endSession(ctx, sess.ID, "second factor not verified within MFA_PENDING_TTL", nil)
	}
	if sess.LevelGen == 0 {
		return errBadRefresh
	}
	return nil
}
