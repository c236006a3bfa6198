package sqlite

// Sign-in with OpenID Connect providers, over the generated queries. Like
// accounts.go it is written once: db/twin generates
// db/postgres/identities_gen.go from it, so it uses only what both adapters
// name alike (see accounts.go).

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
)

// CreateOAuthFlow implements db.Store.
func (d *DB) CreateOAuthFlow(ctx context.Context, f db.OAuthFlow) error {
	return d.write.CreateOAuthFlow(ctx, gen.CreateOAuthFlowParams{
		StateHash: f.StateHash, Provider: f.Provider, Nonce: f.Nonce, Verifier: f.Verifier,
		CodeChallenge: f.CodeChallenge, RedirectTo: f.RedirectTo,
		LinkUserID:    sql.NullInt64{Int64: f.LinkUserID, Valid: f.LinkUserID != 0},
		LinkSessionID: sql.NullString{String: f.LinkSessionID, Valid: f.LinkSessionID != ""},
		ExpiresAt:     db.Millis(f.ExpiresAt),
	})
}

// TakeOAuthFlow implements db.Store. An expired flow is deleted too: it
// could never be used again.
func (d *DB) TakeOAuthFlow(ctx context.Context, stateHash string, now time.Time) (db.OAuthFlow, error) {
	row, err := d.write.TakeOAuthFlow(ctx, stateHash)
	if err != nil {
		return db.OAuthFlow{}, translate(err, db.ErrNoFlow)
	}
	if !now.Before(row.ExpiresAt) {
		return db.OAuthFlow{}, db.ErrNoFlow
	}
	return db.OAuthFlow{
		StateHash: stateHash, Provider: row.Provider, Nonce: row.Nonce, Verifier: row.Verifier,
		CodeChallenge: row.CodeChallenge, RedirectTo: row.RedirectTo, LinkUserID: row.LinkUserID.Int64,
		LinkSessionID: row.LinkSessionID.String, ExpiresAt: db.Millis(row.ExpiresAt),
	}, nil
}

// createCode stores the callback's one-time code for userID.
func createCode(ctx context.Context, q *gen.Queries, code db.OAuthCode, userID int64) error {
	var link db.ProviderUser
	if code.Link != nil {
		link = *code.Link
	}
	return q.CreateOAuthCode(ctx, gen.CreateOAuthCodeParams{
		Hash: code.Hash, UserID: userID, Provider: code.Provider, CodeChallenge: code.CodeChallenge,
		LinkSubject: link.Subject, LinkEmail: link.Email, LinkEmailVerified: link.EmailVerified,
		LinkSessionID: sql.NullString{String: code.LinkSessionID, Valid: code.LinkSessionID != ""},
		IdentityID:    sql.NullInt64{Int64: code.IdentityID, Valid: code.IdentityID != 0},
		AuthTime:      nullTime(code.AuthTime),
		ExpiresAt:     db.Millis(code.ExpiresAt),
	})
}

// CreateOAuthCode implements db.Store.
func (d *DB) CreateOAuthCode(ctx context.Context, c db.OAuthCode) error {
	return createCode(ctx, d.write, c, c.UserID)
}

// createIdentity links p to userID; a unique violation is p linked already.
func createIdentity(ctx context.Context, q *gen.Queries, userID int64, p db.ProviderUser, trusted bool, now time.Time) error {
	if err := roomForIdentity(ctx, q, userID); err != nil {
		return err
	}
	err := q.CreateIdentity(ctx, gen.CreateIdentityParams{
		UserID: userID, Provider: p.Provider, Subject: p.Subject, Email: p.Email, Trusted: trusted, CreatedAt: db.Millis(now)})
	if errors.Is(translate(err, nil), db.ErrEmailTaken) {
		return db.ErrIdentityTaken
	}
	return err
}

// dropUntrusted is what proving an account's address does to whoever
// squatted it unproved (see the identities migration): its untrusted
// identities go and, when there were any, so does everything they may have
// obtained: sessions, codes not yet redeemed, and link flows under way.
// It says which sessions ended, for the caller's transaction to announce
// (none, a zero value, when there was nothing to drop).
func dropUntrusted(ctx context.Context, q *gen.Queries, userID int64) (db.SessionsEnded, error) {
	var none db.SessionsEnded
	n, err := q.DeleteUntrustedIdentities(ctx, userID)
	if err != nil || n == 0 {
		return none, err
	}
	if err := q.DeleteSessionsExcept(ctx, gen.DeleteSessionsExceptParams{UserID: userID, Keep: ""}); err != nil {
		return none, err
	}
	return db.SessionsEnded{UserID: userID}, voidGrants(ctx, q, userID)
}

// voidGrants deletes the user's sign-in codes not yet redeemed and the link
// flows under way: after a password reset or the proof of the address, no
// way to a new session opened before it is left.
func voidGrants(ctx context.Context, q *gen.Queries, userID int64) error {
	if err := q.DeleteUserOAuthCodes(ctx, userID); err != nil {
		return err
	}
	return q.DeleteUserLinkFlows(ctx, sql.NullInt64{Int64: userID, Valid: true})
}

// SignInWithProvider implements db.Store. Two first sign-ins of one person
// at once can both miss the identity and the email; the loser's insert then
// fails on a unique index, and it looks again (once), finding the winner's.
// It looks again too when the identity it found was gone once it held the
// user's row lock (a reset or an unlink committed meanwhile), and when the
// account with the email it found has the identity it missed (a first
// sign-in committed between the two lookups).
func (d *DB) SignInWithProvider(ctx context.Context, p db.ProviderUser, code db.OAuthCode, now time.Time, after func(*sql.Tx, db.User, string) error) (u db.User, how string, err error) {
	for attempt := 0; ; attempt++ {
		err = d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (ended db.SessionsEnded, err error) {
			u, how, ended, err = signIn(ctx, q, p, now)
			if err != nil {
				return ended, err
			}
			// Under the account's lock (signIn's): a banned account gets
			// no code, and nothing signIn changed (a link by email) stays.
			if err := notBanned(ctx, q, u.ID, now); err != nil {
				return db.SessionsEnded{}, err
			}
			// The session the code starts records the identity, which
			// ends it when unlinked.
			if code.IdentityID, err = q.GetIdentityID(ctx, gen.GetIdentityIDParams{Provider: p.Provider, Subject: p.Subject}); err != nil {
				return ended, err
			}
			if err := createCode(ctx, q, code, u.ID); err != nil || after == nil {
				return ended, err
			}
			return ended, after(tx, u, how)
		})
		lostRace := errors.Is(err, db.ErrIdentityTaken) || (how == db.SignInNewUser && errors.Is(err, db.ErrEmailTaken))
		if !lostRace || attempt == 1 {
			return u, how, err
		}
	}
}

// signIn is SignInWithProvider's lookup, in its transaction; it also says
// which sessions it ended (a link by email that dropped untrusted identities).
func signIn(ctx context.Context, q *gen.Queries, p db.ProviderUser, now time.Time) (db.User, string, db.SessionsEnded, error) {
	var none db.SessionsEnded
	id, err := q.GetIdentityUser(ctx, gen.GetIdentityUserParams{Provider: p.Provider, Subject: p.Subject})
	switch {
	case err == nil:
		// The user's row lock, before the code is stored, as on every
		// path (a new account's row is this transaction's own): a reset
		// then either commits first or waits for this sign-in and voids
		// its code. Without it, under PostgreSQL's READ COMMITTED the
		// reset's delete cannot see a code not yet committed, and the code
		// outlives the reset.
		n, err := q.LockUser(ctx, id)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return db.User{}, "", none, err
		}
		// Look again under the lock: a reset or an unlink that committed
		// meanwhile may have taken the identity. The caller looks again
		// from the start (once), as after a lost race of first sign-ins.
		if again, err := q.GetIdentityUser(ctx, gen.GetIdentityUserParams{Provider: p.Provider, Subject: p.Subject}); err != nil || again != id {
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return db.User{}, "", none, err
			}
			return db.User{}, "", none, db.ErrIdentityTaken
		}
		row, err := q.GetUser(ctx, id)
		if err != nil {
			return db.User{}, "", none, translate(err, db.ErrNoUser)
		}
		return db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: row.EmailVerified}, db.SignInReturning, none, nil
	case !errors.Is(err, sql.ErrNoRows):
		return db.User{}, "", none, err
	}
	existing, err := q.GetUserByEmail(ctx, p.Email)
	switch {
	case err == nil:
		// A first sign-in of the same provider user that committed between
		// the two lookups (on PostgreSQL each statement sees what has
		// committed when it starts) made both the account and the
		// identity: look again from the start (once), which finds it.
		if _, err := q.GetIdentityUser(ctx, gen.GetIdentityUserParams{Provider: p.Provider, Subject: p.Subject}); err == nil {
			return db.User{}, "", none, db.ErrIdentityTaken
		}
		// Linking by email is for providers the operator allows to
		// (OIDC_<NAME>_LINK_BY_EMAIL), and only when the provider has
		// proved the address: otherwise whoever registered it at the
		// provider would take over the keel account.
		if !p.LinkByEmail || !p.EmailVerified {
			return db.User{}, "", none, db.ErrAccountExists
		}
		u := db.User{ID: existing.ID, Email: existing.Email, CreatedAt: db.Millis(existing.CreatedAt), EmailVerified: true}
		n, err := q.LockUser(ctx, u.ID)
		if err := oneRow(n, err, db.ErrNoUser); err != nil {
			return db.User{}, "", none, err
		}
		// Read again under the lock: a verification or reset may have
		// committed since the lookup.
		locked, err := q.GetUser(ctx, u.ID)
		if err != nil {
			return db.User{}, "", none, translate(err, db.ErrNoUser)
		}
		var ended db.SessionsEnded
		if locked.EmailVerified {
			// An identity that squatted the address unproved loses the
			// account, and so does all it may hold.
			ended, err = dropUntrusted(ctx, q, u.ID)
		} else {
			// Nobody had proved the address: whatever the account holds,
			// its password too, may be a squatter's. It is the provider's
			// user's now, and holds nothing else.
			ended, err = takeOver(ctx, q, u)
		}
		if err != nil {
			return db.User{}, "", none, err
		}
		return u, db.SignInLinked, ended, createIdentity(ctx, q, u.ID, p, true, now)
	case !errors.Is(err, sql.ErrNoRows):
		return db.User{}, "", none, err
	}
	// A new account, with no password: it signs in through the provider,
	// and may set a password through the reset mail.
	row, err := q.CreateUser(ctx, gen.CreateUserParams{Email: p.Email, PasswordHash: "", CreatedAt: db.Millis(now)})
	if err != nil {
		return db.User{}, db.SignInNewUser, none, translate(err, nil)
	}
	if p.EmailVerified {
		if _, err := q.MarkEmailVerified(ctx, gen.MarkEmailVerifiedParams{ID: row.ID, Email: row.Email}); err != nil {
			return db.User{}, "", none, err
		}
	}
	u := db.User{ID: row.ID, Email: row.Email, CreatedAt: db.Millis(row.CreatedAt), EmailVerified: p.EmailVerified}
	// Trusted only when the provider has verified the address: otherwise
	// nobody has proved it, and whoever does later takes the account over.
	if err := createIdentity(ctx, q, u.ID, p, p.EmailVerified, now); err != nil {
		return db.User{}, db.SignInNewUser, none, err
	}
	return u, db.SignInNewUser, none, nil
}

// linkIdentity links p to userID, whose row the caller's transaction q has
// locked, at the request of the user's session sessionID (the rules of
// db.Store's RedeemOAuthCode); lostRace says that its insert lost to
// another link of p that committed meanwhile, so that the caller may look
// again.
func linkIdentity(ctx context.Context, q *gen.Queries, userID int64, sessionID string, p db.ProviderUser, now time.Time) (lostRace bool, err error) {
	// The session that asked for the link must still be there. The owner's
	// reset may have committed since the link flow began: it dropped the
	// untrusted identities and ended every session, the squatter's with
	// them, but the count below would find none left and link the
	// squatter's identity trusted, a way back in that survives the reset.
	// The reset does all that in the transaction that updates the user's
	// row, so under the caller's lock either it committed first (the
	// session is gone: the link is refused) or it waits for this link to
	// commit, untrusted, and drops it.
	if _, err := q.GetSessionUser(ctx, gen.GetSessionUserParams{SessionID: sessionID, UserID: userID}); err != nil {
		return false, translate(err, db.ErrNoSession)
	}
	// Nothing is linked to an account whose address is unproved: the
	// link would be the squatter's way back after the owner's proof. Read
	// under the caller's lock, so a verification that commits meanwhile
	// is seen.
	user, err := q.GetUser(ctx, userID)
	if err != nil {
		return false, translate(err, db.ErrNoUser)
	}
	if !user.EmailVerified {
		return false, db.ErrEmailUnverified
	}
	owner, err := q.GetIdentityUser(ctx, gen.GetIdentityUserParams{Provider: p.Provider, Subject: p.Subject})
	switch {
	case err == nil && owner != userID:
		return false, db.ErrIdentityTaken
	case err == nil: // linked already: nothing to add
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	// Trusted when the signed-in user owns the account for sure: not while
	// it still has an untrusted identity, whose holder may be the one
	// linking (a squatter making itself a way back that would survive the
	// owner's password reset).
	untrusted, err := q.CountUntrustedIdentities(ctx, userID)
	if err != nil {
		return false, err
	}
	err = createIdentity(ctx, q, userID, p, untrusted == 0, now)
	return errors.Is(err, db.ErrIdentityTaken), err
}

// expired is db.ErrNoToken when a code expiring at expiresAt is no longer
// good at now.
func expired(expiresAt, now time.Time) error {
	if !now.Before(expiresAt) {
		return db.ErrNoToken
	}
	return nil
}

// toOAuthCode is the code with hash that row holds.
func toOAuthCode(hash string, row gen.TakeOAuthCodeRow) db.OAuthCode {
	c := db.OAuthCode{Hash: hash, UserID: row.UserID, Provider: row.Provider, CodeChallenge: row.CodeChallenge,
		LinkSessionID: row.LinkSessionID.String, IdentityID: row.IdentityID.Int64, AuthTime: timeOrZero(row.AuthTime),
		ExpiresAt: db.Millis(row.ExpiresAt)}
	if row.LinkSubject != "" {
		c.Link = &db.ProviderUser{Provider: row.Provider, Subject: row.LinkSubject, Email: row.LinkEmail, EmailVerified: row.LinkEmailVerified}
	}
	return c
}

// RedeemOAuthCode implements db.Store. The code, the link and the session
// are one transaction, under the user's row lock, taken before the code (in
// the order of a password reset, which updates the user's row and then
// voids the codes): a reset or a verification of the address that proves
// it either commits first, and the code is gone (ErrNoToken), or waits for
// the redemption to commit and then drops its link and ends its session
// like any other. With the code taken in a transaction of its own, a reset
// committing before the session was made would leave the squatter a fresh
// session in the account it had lost.
//
// A code that passed its check and then failed (the link's session ended,
// its identity another's, or the database's error) rolls everything back,
// the code's deletion with it, and is then deleted in a second small
// transaction: a code that failed redemption is never retried. Deleting it
// in a first transaction of its own instead would take the one transaction
// away again. (A deleted user's codes went with it, by the foreign key.)
// Two links of one provider user at once can both
// miss it; the loser's insert fails on the unique index, and it redeems
// again (once), the code being back after the rollback.
func (d *DB) RedeemOAuthCode(ctx context.Context, hash, challenge string, sess db.Session, now time.Time, after func(*sql.Tx, db.OAuthCode) error) (db.OAuthCode, error) {
	for attempt := 0; ; attempt++ {
		var c db.OAuthCode
		var refused error // the code's check failed: its deletion commits, nothing else happens
		var ended []db.SessionsEnded
		taken, lostRace := false, false
		err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
			userID, err := q.GetOAuthCodeUser(ctx, hash)
			if err != nil {
				return translate(err, db.ErrNoToken)
			}
			n, err := q.LockUser(ctx, userID)
			if err := oneRow(n, err, db.ErrNoUser); err != nil {
				return err
			}
			// Gone now when a reset voided it while this waited for the lock.
			row, err := q.TakeOAuthCode(ctx, hash)
			if err != nil {
				return translate(err, db.ErrNoToken)
			}
			c = toOAuthCode(hash, row)
			if refused = expired(row.ExpiresAt, now); refused != nil {
				return nil
			}
			// A wrong verifier (someone else's app, or a code intercepted
			// on the way) spends the code all the same: it cannot retry.
			if subtle.ConstantTimeCompare([]byte(challenge), []byte(row.CodeChallenge)) != 1 {
				refused = db.ErrNoToken
				return nil
			}
			// A sign-in code whose identity is no longer the user's (an
			// unlink or a reset took it, and the code outlived it) is
			// refused and spent: its session would name a way in that no
			// longer exists, which no unlink could end. Read under the
			// lock, so an unlink or reset either committed before or waits.
			if c.Link == nil && c.IdentityID != 0 {
				owned, err := q.IdentityOwned(ctx, gen.IdentityOwnedParams{ID: c.IdentityID, UserID: userID})
				if err != nil {
					return err
				}
				if owned == 0 {
					refused = db.ErrNoToken
					return nil
				}
			}
			taken = true
			if c.Link != nil {
				if lostRace, err = linkIdentity(ctx, q, userID, c.LinkSessionID, *c.Link, now); err != nil {
					return err
				}
			}
			// The provider's proof of the user, when the callback found it
			// fresh, is the new session's.
			sess.UserID, sess.IdentityID, sess.AuthTime = userID, c.IdentityID, c.AuthTime
			if c.Link != nil { // the session starts with the identity just linked
				if sess.IdentityID, err = q.GetIdentityID(ctx, gen.GetIdentityIDParams{Provider: c.Link.Provider, Subject: c.Link.Subject}); err != nil {
					return err
				}
			}
			if ended, err = d.createSession(ctx, tx, q, sess); err != nil || after == nil {
				return err
			}
			return after(tx, c)
		})
		switch {
		case err == nil && refused != nil:
			return db.OAuthCode{}, refused
		case err == nil:
			for _, e := range ended {
				d.announced(e)
			}
			return c, nil
		case lostRace && attempt == 0:
			continue
		case taken:
			// Spent even when the client has gone (a cancelled context).
			if derr := d.write.DeleteOAuthCode(context.WithoutCancel(ctx), hash); derr != nil {
				return c, errors.Join(err, derr)
			}
			return c, err
		}
		return db.OAuthCode{}, err
	}
}

// ListIdentities implements db.Store.
func (d *DB) ListIdentities(ctx context.Context, userID int64) ([]db.Identity, error) {
	rows, err := d.read.ListIdentities(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]db.Identity, len(rows))
	for i, r := range rows {
		out[i] = db.Identity{ID: r.ID, UserID: userID, Provider: r.Provider, Subject: r.Subject, Email: r.Email,
			CreatedAt: db.Millis(r.CreatedAt)}
	}
	return out, nil
}

// DeleteIdentity implements db.Store. It locks the user's row first, so of
// two unlinks at once the second counts after the first has committed and
// cannot leave the account with no way in.
func (d *DB) DeleteIdentity(ctx context.Context, userID, id int64, after func(*sql.Tx) error) error {
	return d.ending(ctx, func(tx *sql.Tx, q *gen.Queries) (db.SessionsEnded, error) {
		var none db.SessionsEnded
		n, err := q.LockUser(ctx, userID)
		if err := oneRow(n, err, db.ErrNoIdentity); err != nil {
			return none, err
		}
		ways, err := q.CountWaysIn(ctx, gen.CountWaysInParams{UserID: userID, ID: id})
		if err != nil {
			return none, err
		}
		n, err = q.DeleteIdentity(ctx, gen.DeleteIdentityParams{ID: id, UserID: userID})
		if err := oneRow(n, err, db.ErrNoIdentity); err != nil {
			return none, err
		}
		if ways == 0 {
			return none, db.ErrLastWayIn // rolls the delete back
		}
		// The sessions it started end with it: it is no longer a way in;
		// so do its sign-in codes not yet redeemed, which would start more.
		identity := sql.NullInt64{Int64: id, Valid: true}
		ids, err := q.DeleteSessionsByIdentity(ctx, gen.DeleteSessionsByIdentityParams{UserID: userID, IdentityID: identity})
		if err != nil {
			return none, err
		}
		if err := q.DeleteIdentityOAuthCodes(ctx, gen.DeleteIdentityOAuthCodesParams{UserID: userID, IdentityID: identity}); err != nil {
			return none, err
		}
		return startedBy(userID, ids), then(tx, after)
	})
}
