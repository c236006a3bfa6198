// Package db is keel's storage seen from the HTTP handlers and the jobs: the
// small Store interface, the rows it returns, and the errors every adapter
// translates its database's own errors into. It imports nothing beyond the
// standard library. The adapters live beside it, one package per engine,
// each with its migrations and queries:
//
//	db/sqlite    SQLite (modernc, pure Go): the zero-setup default
//	db/postgres  PostgreSQL (pgx): any number of replicas on one database
//
// sqlc generates each adapter's typed queries into gen/db/<engine>; the
// account logic over them is written once, in db/sqlite/accounts.go and
// db/sqlite/mfa.go (the second factor) and db/sqlite/passkeys.go, and
// generated for PostgreSQL (db/postgres/accounts_gen.go, mfa_gen.go, ...).
package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"slices"
	"time"
)

// User is an account as the API shows it: never the password hash.
type User struct {
	ID            int64
	Email         string
	CreatedAt     time.Time // UTC, millisecond precision on every engine
	EmailVerified bool
	// UserMetadata is what the user keeps about themselves (PATCH /profile),
	// AppMetadata what the operator keeps about them (PATCH
	// /admin/users/{id}): each a JSON object's text, at most
	// MaxMetadataBytes; "" where a read leaves it out (GET /profile's
	// bearer check reads UserMetadata only).
	UserMetadata string
	AppMetadata  string
}

// Session is one login: the access tokens it issues name it, and it holds
// the state of its refresh token (never the token itself, only its SHA-256).
// A session ends by being deleted.
type Session struct {
	ID         string
	UserID     int64
	CreatedAt  time.Time
	LastUsedAt time.Time // the last login or refresh
	UserAgent  string
	// Generation counts the refresh tokens the session has issued (1 at
	// login); RefreshHash is the hash of the current one, issued at RotatedAt.
	Generation       int64
	RefreshHash      string
	RotatedAt        time.Time
	RefreshExpiresAt time.Time
	// AAL is the session's assurance level (AAL1, or AAL2 after a second
	// factor); AMR is how its first factor was shown, RFC 8176 methods
	// separated by spaces ("pwd"; empty is "pwd").
	AAL string
	AMR string
	// LevelGen counts the session's level changes (each raise to AAL2, each
	// lowering): its access tokens carry it, and one of an older generation
	// is refused. LevelAt is when the level last changed, or the session
	// started: AAL2 lasts AAL2_MAX_AGE from it, and an AAL1 session of an
	// account with a verified factor MFA_PENDING_TTL.
	LevelGen int64
	LevelAt  time.Time
	// PasskeyID or IdentityID is the passkey or provider account the session
	// was started with (zero for a password): removing it ends the session.
	PasskeyID  string
	IdentityID int64
	// ClientID is the OAuth client the session is a grant to (docs/provider.md),
	// empty for keel's own sessions: its refresh tokens are that client's
	// only, at /oauth2/token, never keel's POST /token/refresh.
	ClientID string
	// HasFactor, read by GetSession, says the account has a verified factor.
	HasFactor bool
	// AppMetadata, read by GetSession, is the account's app_metadata (a JSON
	// object's text): the roles and listed claims of the tokens the session
	// issues (internal/claims).
	AppMetadata string
	// AuthTime is when the session's user last proved themselves (a
	// password, a TOTP or recovery code, a user-verifying passkey, a fresh
	// provider sign-in); zero when never. Changing the account's
	// authenticators needs it recent (REAUTH_MAX_AGE).
	AuthTime time.Time
	// CheckedHash, for a password sign-in only, is the password hash its
	// password was checked against; it is not stored. CreateSession stores
	// the session only while it is still the account's hash: a reset or a
	// password change that commits during the bcrypt comparison leaves the
	// sign-in without a session (ErrSignInStale).
	CheckedHash string
	// Rehash, with CheckedHash, is keel's own hash of the password that
	// checked out against a foreign hash an import stored: CreateSession
	// puts it in CheckedHash's place in the sign-in's transaction, only
	// while CheckedHash is still the account's (so a password changed
	// meanwhile stays changed). It is not stored with the session.
	Rehash string
}

// OneTimeToken is an emailed token (its SHA-256 in Hash) that confirms
// Email (PurposeVerifyEmail) or lets its user set a new password
// (PurposeResetPassword), once, until ExpiresAt.
type OneTimeToken struct {
	Hash      string
	UserID    int64
	Purpose   string
	Email     string
	ExpiresAt time.Time
}

// The purposes of one-time tokens.
const (
	PurposeVerifyEmail   = "verify-email"
	PurposeResetPassword = "reset-password"
	// PurposeUnlockMFA unlocks a TOTP factor locked by wrong codes (the
	// link mailed when it locked).
	PurposeUnlockMFA = "unlock-mfa"
)

// Credentials are what login compares a password against.
type Credentials struct {
	UserID       int64
	PasswordHash string
}

// OAuthFlow is a sign-in with an OpenID Connect provider between keel's
// redirect to the provider and the provider's callback: one use, until
// ExpiresAt. The state itself is never stored, only its hash (HashToken).
type OAuthFlow struct {
	StateHash     string
	Provider      string
	Nonce         string
	Verifier      string // keel's PKCE verifier, for the code exchange
	CodeChallenge string // the app's, for POST /oauth/token
	RedirectTo    string
	LinkUserID    int64 // the signed-in user linking a provider; 0 for a sign-in
	// LinkSessionID is the session of the signed-in user linking a
	// provider ("" for a sign-in): the link is bound to it (RedeemOAuthCode).
	LinkSessionID string
	ExpiresAt     time.Time
}

// OAuthCode is the one-time code a callback gives the app (its hash), bound
// to the app's PKCE challenge: one use, until ExpiresAt.
type OAuthCode struct {
	Hash          string
	UserID        int64
	Provider      string
	CodeChallenge string
	// Link, for a link flow's code, is the identity to link to UserID once
	// the app redeems the code with its verifier (nil for a sign-in), and
	// LinkSessionID the session of UserID's that started the link flow: the
	// link is refused once that session has ended (RedeemOAuthCode).
	Link          *ProviderUser
	LinkSessionID string
	// IdentityID is, for a sign-in's code, the identity the user signed in
	// with: the session the code starts records it (Session.IdentityID).
	IdentityID int64
	// AuthTime is when the provider authenticated the user, for a sign-in
	// whose ID token proved it fresh (zero otherwise): the session
	// RedeemOAuthCode starts gets it as its own.
	AuthTime  time.Time
	ExpiresAt time.Time
}

// Identity is a provider account (Provider, Subject) linked to a user.
type Identity struct {
	ID        int64
	UserID    int64
	Provider  string
	Subject   string
	Email     string
	CreatedAt time.Time
}

// ProviderUser is who a verified ID token says signed in.
type ProviderUser struct {
	Provider      string
	Subject       string
	Email         string // lower-cased; required
	EmailVerified bool
	// LinkByEmail: the provider may link this sign-in to the account with
	// its email when it verified it (OIDC_<NAME>_LINK_BY_EMAIL). Policy,
	// not a claim: SignInWithProvider reads it, nothing stores it.
	LinkByEmail bool
}

// How SignInWithProvider found its user.
const (
	SignInReturning = "returning" // the identity was linked before
	SignInLinked    = "linked"    // linked now to the account with its (verified) email
	SignInNewUser   = "new_user"  // a new account, without a password
)

// Errors the adapters return in place of their engines' own. Each names what
// is missing, so that the HTTP layer maps each to one answer in one place
// (server/errors.go) instead of every handler translating "not found".
var (
	// ErrNoUser is an account that is not there (deleted, or never was).
	ErrNoUser = errors.New("db: no such user")
	// ErrNoSession is a session that is not there, or not the user's: it
	// ended (logout, revocation, password change, deletion) or never was.
	ErrNoSession = errors.New("db: no such session")
	// ErrSignInStale is a sign-in whose proof changed before its session
	// was stored: the password hash it checked is no longer the account's,
	// or the passkey it used is gone (a reset took it). No session is made.
	ErrSignInStale = errors.New("db: the sign-in's password or passkey changed meanwhile")
	// ErrNoToken is a one-time token that is unknown, spent or expired.
	ErrNoToken = errors.New("db: no such one-time token")
	// ErrStale is a conditional update that lost: the row no longer holds
	// the value the caller read (another refresh rotated the token first).
	ErrStale = errors.New("db: stale")
	// ErrEmailTaken is a second account for an email, in any letter case.
	ErrEmailTaken = errors.New("db: email already registered")
	// ErrNoFlow is a sign-in flow that is unknown, used or expired.
	ErrNoFlow = errors.New("db: no such sign-in flow")
	// ErrNoIdentity is an identity that is not there, or not the user's.
	ErrNoIdentity = errors.New("db: no such identity")
	// ErrIdentityTaken is a provider account already linked to another user.
	ErrIdentityTaken = errors.New("db: identity linked to another account")
	// ErrAccountExists is a provider sign-in whose email belongs to an
	// account that may not be linked to it silently: the provider or the
	// account has not verified the address.
	ErrAccountExists = errors.New("db: an account has this email")
	// ErrEmailUnverified is a way in (here, a link flow's identity) added to
	// an account whose address is unproved: it would belong to whoever
	// squatted the address, and survive the owner's proof of it.
	ErrEmailUnverified = errors.New("db: the account's email is not verified")
	// ErrLastWayIn is removing the identity or passkey an account cannot do
	// without: it has no password and nothing else to sign in with.
	ErrLastWayIn = errors.New("db: the account's last way to sign in")

	// ErrNoPasskey is a passkey that is not the user's, or not there (or, at
	// sign-in, a credential id no account has).
	ErrNoPasskey = errors.New("db: no such passkey")
	// ErrPasskeyTaken is a credential id registered already (to any account).
	ErrPasskeyTaken = errors.New("db: passkey registered already")
	// ErrNoCeremony is a passkey ceremony that is unknown, used or expired.
	ErrNoCeremony = errors.New("db: no such passkey ceremony")

	// ErrNoFactor is a second factor that is not the user's, or not there.
	ErrNoFactor = errors.New("db: no such factor")
	// ErrFactorExists is a second verified factor of one kind for an account.
	ErrFactorExists = errors.New("db: the account has a verified factor")
	// ErrCodeUsed is a TOTP code whose time step is not after the factor's
	// last accepted one (a replay, or an older code), or a recovery code that
	// is unknown or spent.
	ErrCodeUsed = errors.New("db: code already used")
	// ErrFactorLocked is a TOTP factor that has counted as many wrong codes
	// in a row as its bound: it takes no code until it is unlocked.
	ErrFactorLocked = errors.New("db: factor locked by wrong codes")
)

// Store is what keel needs of a database: one interface per concern,
// composed. Both adapters satisfy it, and one test suite (db/storetest, a
// file per concern) holds them to the same behaviour. A new concern gets an
// interface of its own here rather than more methods in another's.
type Store interface {
	Accounts
	Sessions
	OneTimeTokens
	Housekeeping
	RateLimits
	Identities
	Factors
	Proofs
	Passkeys
	Live
	SocketPlaces
	Events
	Bans
	Transfer
	UserChanges
	Admins
	// Close releases the database.
	Close() error
}

// Accounts are the users themselves.
type Accounts interface {
	// CreateUser stores a new account. Emails are unique regardless of
	// letter case (ErrEmailTaken); createdAt is kept to the millisecond.
	// after, when not nil, runs in the same transaction with the new user
	// (to insert the jobs the change causes); its error rolls it all back.
	CreateUser(ctx context.Context, email, passwordHash string, createdAt time.Time, after func(*sql.Tx, User) error) (User, error)
	// GetUser returns the account with id, or ErrNoUser.
	GetUser(ctx context.Context, id int64) (User, error)
	// GetCredentials returns the password hash of the account with email,
	// matched regardless of letter case, or ErrNoUser.
	GetCredentials(ctx context.Context, email string) (Credentials, error)
	// DeleteUser deletes the account with id, its sessions and its tokens,
	// or returns ErrNoUser. after runs in that transaction (see
	// "after hooks" on Sessions).
	DeleteUser(ctx context.Context, id int64, after ...func(*sql.Tx) error) error
}

// Sessions are the logins: their refresh state, their ending, and a password
// change, which ends the others.
//
// After hooks: a method that takes after (one func, or any number) runs each
// that is not nil in the transaction of its change, once the change is made
// and only when it is (a refusal runs none), so that what the change causes
// (its event, the jobs it queues) commits or rolls back with it; a hook's
// error rolls it all back and is returned.
type Sessions interface {
	// CreateSession stores a new session; past db.MaxSessions it ends the
	// user's least recently used ones, announced like every ending. Under
	// the account's lock it checks that the sign-in's proof still holds:
	// s.CheckedHash (when set) is the account's password hash and
	// s.PasskeyID (when set) the account's passkey, else ErrSignInStale;
	// and that the account is under no ban active at s.CreatedAt, else
	// ErrBanned; then it replaces the checked hash with s.Rehash, when
	// set. after runs in that transaction (the sign-in's event).
	CreateSession(ctx context.Context, s Session, after ...func(*sql.Tx) error) error
	// GetSessionUser returns the user of the session, in one query, or
	// ErrNoSession when the session has ended (or is not the user's).
	GetSessionUser(ctx context.Context, sessionID string, userID int64) (User, error)
	// GetSessionCredentials is GetSessionUser for a password check.
	GetSessionCredentials(ctx context.Context, sessionID string, userID int64) (Credentials, error)
	// GetSession returns the session with id (its refresh state) or ErrNoSession.
	GetSession(ctx context.Context, id string) (Session, error)
	// RotateRefresh replaces the session's refresh token hash oldHash by
	// newHash in one conditional statement and returns the new generation;
	// ErrStale when oldHash is no longer current (another refresh won) or
	// the session has ended.
	RotateRefresh(ctx context.Context, id, oldHash, newHash string, now, expiresAt time.Time) (int64, error)
	// ListSessions returns the user's sessions, newest first.
	ListSessions(ctx context.Context, userID int64) ([]Session, error)
	// DeleteSession ends the user's session id, or returns ErrNoSession.
	DeleteSession(ctx context.Context, userID int64, id string, after ...func(*sql.Tx) error) error
	// EndSession ends the session id, whoever's it is (reuse detection); a
	// session already gone is no error, and runs no after hook.
	EndSession(ctx context.Context, id string, after ...func(*sql.Tx) error) error
	// DeleteSessions ends every session of the user but keep ("" keeps none).
	DeleteSessions(ctx context.Context, userID int64, keep string, after ...func(*sql.Tx) error) error
	// ChangePassword stores a new password hash and ends every other
	// session of the user than keep, in one transaction, or returns
	// ErrNoSession when keep has ended. after, when not nil, runs in that
	// transaction (to queue the owner's mail); its error rolls it all back,
	// as for every after below.
	ChangePassword(ctx context.Context, userID int64, passwordHash, keep string, after func(*sql.Tx) error) error
}

// OneTimeTokens are the emailed tokens: the address's verification and the
// password reset, the two proofs of the address.
type OneTimeTokens interface {
	// CreateOneTimeToken stores an emailed token's hash.
	CreateOneTimeToken(ctx context.Context, t OneTimeToken) error
	// TokenCredentials returns the user of an unspent one-time token of
	// purpose and their password hash, without spending it (a verification
	// checks the password first), or ErrNoToken (unknown, used or expired at
	// now).
	TokenCredentials(ctx context.Context, hash, purpose string, now time.Time) (Credentials, error)
	// VerifyEmail spends userID's verification token, marks its address
	// verified and trusts the account's identities (the caller has checked
	// that userID's holder asks: the password or a session of the account),
	// or returns ErrNoToken (unknown, used, expired at now, or another
	// user's, which stays unspent). after runs in the transaction of a
	// verification that marked the address verified (none when the
	// address changed since the mail).
	VerifyEmail(ctx context.Context, hash string, userID int64, now time.Time, after ...func(*sql.Tx) error) error
	// ResetPassword spends a reset token, stores the new password hash, ends
	// every session of the user and drops its untrusted identities (the
	// mailbox's owner has proved the address), in one transaction, and
	// returns the user's id (to tell them), or ErrNoToken (unknown, used or
	// expired at now). When the account's address was unproved it also
	// removes every identity, passkey, passkey ceremony, factor and recovery
	// code, and voids the sign-in codes and link flows (all of it may be a
	// squatter's), then marks the address verified if it is still the one
	// the token was mailed to. after, when not nil, runs in that
	// transaction with the user's id.
	ResetPassword(ctx context.Context, hash, passwordHash string, now time.Time, after func(*sql.Tx, int64) error) (int64, error)
}

// Housekeeping is what the periodic jobs and the health check ask.
type Housekeeping interface {
	// PruneAccounts deletes the sessions, one-time tokens, sign-in flows and
	// codes, passkey ceremonies and unverified factors that expired before now (they can never
	// be used again) and returns how many. Each session's ending is recorded
	// (session.ended, why expired) in the transaction that deletes it.
	PruneAccounts(ctx context.Context, now time.Time) (int64, error)

	// CountUsers returns the number of accounts.
	CountUsers(ctx context.Context) (int64, error)
	// CountUsersBefore returns the number of accounts created before t: an
	// install that had users before its first signing key signed HS256
	// tokens then (internal/token's migration window).
	CountUsersBefore(ctx context.Context, t time.Time) (int64, error)
	// Ping checks that the database answers a query.
	Ping(ctx context.Context) error
}

// RateLimits count requests per key (client address, email, account).
type RateLimits interface {
	// TakeRateToken admits one request from key under a limit of perMinute
	// a minute (with a burst of as many) and returns 0, or refuses it and
	// returns how long key must wait; now is the caller's clock. PostgreSQL
	// keeps the limit in the database, the same for every replica; SQLite,
	// whose keel is one process, keeps it in memory.
	TakeRateToken(ctx context.Context, key string, perMinute int, now time.Time) (time.Duration, error)
	// ReturnRateToken gives key back one token a TakeRateToken under the
	// same perMinute took, for a request that turned out not to count (a
	// right TOTP code): never more than the burst. Taking first and giving
	// back keeps concurrent requests that do count within the limit.
	ReturnRateToken(ctx context.Context, key string, perMinute int, now time.Time) error
	// PruneRateLimits forgets the keys that would be admitted as if new at
	// now and returns how many.
	PruneRateLimits(ctx context.Context, now time.Time) (int64, error)
}

// Identities are sign-in with OpenID Connect providers: flows, codes and
// the provider accounts linked to users.
type Identities interface {
	// CreateOAuthFlow stores a sign-in flow.
	CreateOAuthFlow(ctx context.Context, f OAuthFlow) error
	// TakeOAuthFlow spends the flow with stateHash, or returns ErrNoFlow
	// (unknown, used, or expired at now).
	TakeOAuthFlow(ctx context.Context, stateHash string, now time.Time) (OAuthFlow, error)
	// SignInWithProvider finds or creates the user p names and stores code
	// for them, in one transaction holding the user's row lock from before
	// the code is stored (so a reset either commits first or waits and
	// voids the code), and says how it found them (SignIn*):
	// the user its identity is linked to; else the account with its email,
	// linked now when p's provider may link by email (p.LinkByEmail) and has
	// verified the address (ErrAccountExists otherwise). Linking a verified
	// account drops its untrusted identities and, when there were any, ends
	// its sessions; linking an account whose address was unproved first
	// clears it as a reset of one does (ResetPassword) and its password
	// too, then marks the address verified;
	// else a new account without a password, whose identity is trusted when
	// p's email is verified. after, when not nil, runs in that transaction
	// with the user and how it was found (to queue the new account's
	// verification mail, or the owner's mail about a link). A user under a
	// ban active at now gets no code (ErrBanned), and nothing is changed.
	SignInWithProvider(ctx context.Context, p ProviderUser, code OAuthCode, now time.Time, after func(*sql.Tx, User, string) error) (User, string, error)
	// CreateOAuthCode stores a code (a link flow's, which carries Link).
	CreateOAuthCode(ctx context.Context, c OAuthCode) error
	// RedeemOAuthCode redeems the code with hash, whose stored challenge
	// must equal challenge (the S256 of the app's verifier), for the
	// session sess (its UserID is the code's), in one transaction under the
	// user's row lock: for a link flow's code, it links the identity first.
	// So a password reset or a verification of the address either commits
	// first, voiding the code, or waits, and then drops the link and ends
	// the session like any other. ErrNoToken when the code is unknown, used
	// or expired at now, or challenge is not its own, or, a sign-in's code,
	// its identity (IdentityID) is no longer its user's (both spend it all
	// the same); ErrNoUser when its user is being deleted. A link is bound
	// to the session that started its flow: ErrNoSession when that has
	// ended, ErrIdentityTaken when the identity is another user's,
	// ErrEmailUnverified when the account's address is unproved, ErrBanned
	// when the account is under a ban active at sess.CreatedAt; each
	// spends the code, links nothing, starts no session, and comes with the
	// code. The identity is linked trusted unless the account still has an
	// untrusted identity; linking one again is no error. It returns the
	// code. after, when not nil, runs in the transaction of a redemption
	// (not of a refusal) with the code.
	RedeemOAuthCode(ctx context.Context, hash, challenge string, sess Session, now time.Time, after func(*sql.Tx, OAuthCode) error) (OAuthCode, error)
	// ListIdentities returns the user's identities, oldest first.
	ListIdentities(ctx context.Context, userID int64) ([]Identity, error)
	// DeleteIdentity unlinks the user's identity id, ends the sessions it
	// started (announced) and deletes its sign-in codes not yet redeemed:
	// ErrNoIdentity when it is not the user's,
	// ErrLastWayIn when the account has no password, no other identity and
	// no passkey. after, when not nil, runs in that transaction.
	DeleteIdentity(ctx context.Context, userID, id int64, after func(*sql.Tx) error) error
	// Second factor (TOTP) and assurance.

}

// Factors are the second factor (TOTP), its recovery codes, and the
// assurance levels they raise and lower.
type Factors interface {
	// GetSessionAccess returns, in one query, the user of the session, the
	// session's assurance and level generation, and whether the account has a
	// verified factor, or ErrNoSession when the session has ended (or is not
	// the user's).
	GetSessionAccess(ctx context.Context, sessionID string, userID int64) (SessionAccess, error)
	// CreateFactor stores a new, unverified factor and deletes the user's
	// other unverified ones (one enrolment at a time).
	CreateFactor(ctx context.Context, f Factor) error
	// GetFactor returns the user's factor id, or ErrNoFactor.
	GetFactor(ctx context.Context, userID int64, id string) (Factor, error)
	// ListFactors returns the user's factors, oldest first.
	ListFactors(ctx context.Context, userID int64) ([]Factor, error)
	// ConfirmFactor accepts a code of time step from the unverified factor
	// id, in one transaction: it sets the factor's last step (ErrCodeUsed
	// when step is not after it), marks it verified (ErrFactorExists when the
	// account has a verified factor of its kind), replaces the account's
	// recovery codes by recoveryHashes and raises the session to AAL2 (up;
	// ErrStale when the session is no longer at up.Generation), and
	// announces the factor (FactorAdded, see "Session endings"); after,
	// when not nil, runs in that transaction.
	ConfirmFactor(ctx context.Context, id string, step int64, recoveryHashes []string, up Upgrade, after func(*sql.Tx) error) error
	// UseFactorCode accepts a code of time step from the factor id
	// (ErrCodeUsed when step is not after its last step) and raises the
	// session to AAL2 (ErrStale as in ConfirmFactor), in one transaction;
	// after runs in it.
	UseFactorCode(ctx context.Context, id string, step int64, up Upgrade, after ...func(*sql.Tx) error) error
	// UseRecoveryCode spends the recovery code of up.UserID whose hash is
	// hash (ErrCodeUsed when unknown or spent), unlocks the account's factor
	// (its failures back to 0) and raises the session to AAL2 (ErrStale as
	// in ConfirmFactor), in one transaction; after runs in it.
	UseRecoveryCode(ctx context.Context, hash string, up Upgrade, after ...func(*sql.Tx) error) error
	// CountFactorAttempt counts a code against the verified factor id
	// before the caller judges it and returns the count (Factor.Failures),
	// unless maxFailures are counted already: then ErrFactorLocked (ErrNoFactor
	// when there is no such verified factor). A compare-and-set, so attempts
	// at once never count past maxFailures. A step taken by ConfirmFactor or
	// UseFactorCode (a right code) sets the count back to 0. locked, when
	// not nil, runs in the transaction of the count that reaches
	// maxFailures, the one that locks the factor.
	CountFactorAttempt(ctx context.Context, id string, maxFailures int64, locked func(*sql.Tx) error) (int64, error)
	// UnlockFactor spends an unlock token (PurposeUnlockMFA) and sets the
	// failures of its user's factors back to 0, in one transaction, and
	// returns the user's id; ErrNoToken when it is unknown, used or expired
	// at now.
	UnlockFactor(ctx context.Context, hash string, now time.Time) (int64, error)
	// DeleteFactor deletes the user's factor id (ErrNoFactor); when no
	// verified factor is left, the account's recovery codes go and its
	// sessions are lowered to AAL1 (a new level generation each), in the
	// same transaction; after, when not nil, runs in it too.
	DeleteFactor(ctx context.Context, userID int64, id string, after func(*sql.Tx) error) error
	// LowerSession lowers the AAL2 session id, read at level generation
	// levelGen, to AAL1 at now (its AAL2 has outlived AAL2_MAX_AGE), with a
	// new level generation; ErrStale when it is no longer AAL2 at levelGen
	// (another request lowered or raised it first) or has ended.
	LowerSession(ctx context.Context, id string, levelGen int64, now time.Time) error
	// ReplaceRecoveryCodes voids the user's recovery codes and stores
	// hashes, asked for by the user's session sessionID: ErrNoSession when
	// that has ended (read under the account's lock, so a reset that ended
	// every session since the request's bearer check leaves no codes of
	// the caller's). after, when not nil, runs in that transaction.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, sessionID string, hashes []string, after func(*sql.Tx) error) error
	// ResealFactorSecrets rewrites factors' sealed secrets, verified or not
	// (keel secrets reseal, after MFA_KEY or JWT_SECRET changed): it reads
	// them in batches of batch factors in id order and, in one transaction
	// per batch, stores for each what reseal returns for it when that is not
	// nil (nil keeps it). Each rewrite is a compare-and-set on the sealed
	// bytes read, so a factor enrolled again meanwhile keeps its new secret.
	// It returns how many it rewrote; an error of reseal rolls its batch back
	// and is returned (earlier batches stay rewritten).
	ResealFactorSecrets(ctx context.Context, batch int, reseal func(id string, sealed []byte) ([]byte, error)) (int, error)
	// CountRecoveryCodes returns how many unspent recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userID int64) (int64, error)
}

// Proofs are fresh proofs of a session's user (reauthentication). Every
// upgrade to AAL2 (ConfirmFactor, UseFactorCode, UseRecoveryCode) stamps the
// session's auth time too.
type Proofs interface {
	// StampAuthTime records a proof the caller checked (a password, a
	// user-verifying passkey): the session's auth time becomes pr.At, or
	// ErrNoSession when the session has ended (or is not pr.UserID's).
	StampAuthTime(ctx context.Context, pr Proof) error
	// ProveWithFactorCode accepts a code of time step from the factor id
	// (which the caller read as pr.UserID's; ErrCodeUsed when step is not
	// after its last step; a right code sets its failures back to 0, as in
	// UseFactorCode) and stamps the session's auth time, in one transaction
	// (ErrNoSession as in StampAuthTime, spending nothing).
	ProveWithFactorCode(ctx context.Context, id string, step int64, pr Proof) error
	// ProveWithRecoveryCode spends the recovery code of pr.UserID whose hash
	// is hash (ErrCodeUsed when unknown or spent), unlocks the account's
	// factor as UseRecoveryCode does, and stamps the session's auth time, in
	// one transaction (ErrNoSession as in StampAuthTime).
	ProveWithRecoveryCode(ctx context.Context, hash string, pr Proof) error
}

// Passkeys are WebAuthn credentials and their ceremonies.
type Passkeys interface {
	// CreatePasskeyCeremony stores the state of a ceremony between its
	// options and its answer.
	CreatePasskeyCeremony(ctx context.Context, c PasskeyCeremony) error
	// TakePasskeyCeremony spends the ceremony id, or returns ErrNoCeremony
	// (unknown, used, or expired at now).
	TakePasskeyCeremony(ctx context.Context, id string, now time.Time) (PasskeyCeremony, error)
	// CreatePasskey stores a registered passkey: ErrPasskeyTaken when its
	// credential id is registered already (to this or another account),
	// ErrNoUser when the user is gone, ErrTooManyPasskeys past MaxPasskeys,
	// ErrNoCeremony when p.UserHandle is not the account's handle (which it
	// becomes when the account has none), ErrNoSession when the user's
	// session sessionID, which registers it, has ended (checked under the
	// account's lock). after, when not nil, runs in that transaction.
	CreatePasskey(ctx context.Context, p Passkey, sessionID string, after func(*sql.Tx) error) error
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID int64) ([]Passkey, error)
	// PasskeyHandle returns the account's WebAuthn user handle, nil before
	// its first passkey registration (or when its passkeys predate handles);
	// ErrNoUser when the account is not there.
	PasskeyHandle(ctx context.Context, userID int64) ([]byte, error)
	// PasskeyAccount finds the account a discoverable sign-in's user handle
	// names (its handle, or for an account without one, its id as 8 bytes
	// big endian) and returns it with its passkeys: ErrNoPasskey when no
	// account, or one without passkeys.
	PasskeyAccount(ctx context.Context, handle []byte) (int64, []Passkey, error)
	// GetPasskeyByCredential returns the passkey with the credential id, or
	// ErrNoPasskey.
	GetPasskeyByCredential(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records a sign-in with the passkey as read (p): its new sign
	// count, user verification and backup state, at now; ErrStale when the
	// passkey has changed since it was read (another sign-in counted first)
	// or is gone.
	UsePasskey(ctx context.Context, p Passkey, signCount int64, userVerified, backupState bool, now time.Time) error
	// RenamePasskey renames the user's passkey id and returns it, or
	// ErrNoPasskey.
	RenamePasskey(ctx context.Context, userID int64, id, name string) (Passkey, error)
	// DeletePasskey removes the user's passkey id and ends the sessions it
	// started (announced): ErrNoPasskey when it is not the user's,
	// ErrLastWayIn when the account has no password, no identity and no
	// other passkey. after, when not nil, runs in that transaction.
	DeletePasskey(ctx context.Context, userID int64, id string, after func(*sql.Tx) error) error
}

// Live is how the sockets hear of sessions ending.
type Live interface {
	// Session endings, for the WebSockets they close (server/live.go). Every
	// method of Store that ends sessions (DeleteUser, DeleteSession,
	// EndSession, DeleteSessions, ChangePassword, ResetPassword,
	// DeleteIdentity, DeletePasskey, BanUser) announces
	// them in the same transaction: PostgreSQL sends a NOTIFY, delivered to
	// every replica only when the transaction commits; SQLite, whose keel is
	// one process, tells its own watchers after the commit. PruneAccounts
	// announces nothing: a session whose refresh token expired has no live
	// access token (JWT_TTL is shorter than REFRESH_TTL).
	//
	// ConfirmFactor announces the account's new factor the same way
	// (db.FactorAdded), so that every replica closes the sockets of the
	// account's aal1 sessions.

	// WatchSessions hands w every announcement until ctx ends, and returns
	// ctx's error.
	WatchSessions(ctx context.Context, w SessionWatch) error
	// LiveSessions returns those of ids that are sessions that have not
	// ended, in one query (or one per few thousand ids).
	LiveSessions(ctx context.Context, ids []string) ([]string, error)
}

// SocketPlaces count a session's sockets across the cluster.
type SocketPlaces interface {
	// The places of a session's sockets, counted for the whole cluster (on
	// PostgreSQL a table every replica shares; on SQLite, one process, in
	// memory). A place is a lease: it counts until expires, unless renewed,
	// so the places of a replica that died without giving them back free
	// themselves.
	//
	// TakeSocketPlace claims place id for a socket of sessionID on replica,
	// leased until expires, when the session holds fewer than max places
	// live at now; ok is false when it holds max already. Concurrent takes
	// for one session, on any replica, never hold more than max. A session
	// that has ended gives ErrNoSession (its places go with it).
	TakeSocketPlace(ctx context.Context, sessionID, id, replica string, max int, now, expires time.Time) (ok bool, err error)
	// RenewSocketPlaces moves the leases of the places ids on to expires.
	RenewSocketPlaces(ctx context.Context, ids []string, expires time.Time) error
	// GiveBackSocketPlace frees place id (nothing when it is not held).
	GiveBackSocketPlace(ctx context.Context, id string) error
}

// SessionWatch is what WatchSessions calls; each func runs on the watch's
// one goroutine and must not block.
type SessionWatch struct {
	// Ended is an announcement: the sessions it names have ended.
	Ended func(SessionsEnded)
	// Resync says announcements may have been missed, or are heard only from
	// now on: once the watch listens (on PostgreSQL, after each connection
	// to the database, the first included). The caller checks what it holds
	// against LiveSessions.
	Resync func()
	// Lost is a failure of the watch (PostgreSQL: its connection), which
	// retries after a second; announcements until then are missed.
	Lost func(error)
	// FactorAdded is an announcement that an account has a verified second
	// factor now (nil: not heard).
	FactorAdded func(FactorAdded)
}

// FactorAdded names an account that has just verified a second factor: its
// sessions at aal1 have not shown it, so their sockets close; Keep is the
// session that verified it (at aal2 now). It is the payload of PostgreSQL's
// notification.
type FactorAdded struct {
	UserID int64  `json:"u"`
	Keep   string `json:"k,omitempty"`
}

// SessionsEnded names sessions that ended together: Session, of the user
// UserID; or, when Session is "", every session of UserID but Keep ("" keeps
// none). It is the payload of PostgreSQL's notification, a few dozen bytes.
type SessionsEnded struct {
	UserID  int64  `json:"u"`
	Session string `json:"s,omitempty"`
	Keep    string `json:"k,omitempty"`
	// Sessions, when not empty, are the ended sessions instead (those a
	// removed passkey or provider account started: at most a few dozen).
	Sessions []string `json:"l,omitempty"`
}

// Ends reports whether the session id of the user userID is among e's.
func (e SessionsEnded) Ends(userID int64, id string) bool {
	if userID != e.UserID {
		return false
	}
	if e.Session != "" {
		return id == e.Session
	}
	if len(e.Sessions) > 0 {
		return slices.Contains(e.Sessions, id)
	}
	return id != e.Keep
}

// The kinds of a passkey ceremony.
const (
	CeremonyRegister = "register"
	CeremonyLogin    = "login"
	// CeremonyReauth proves the signed-in user UserID again with one of
	// their own passkeys (POST /reauthenticate).
	CeremonyReauth = "reauth"
)

// PasskeyCeremony is a passkey registration or sign-in between its options
// and its answer. Session is go-webauthn's session data (the challenge
// among it) as JSON; UserID is the registering or reauthenticating user (0
// for a sign-in).
type PasskeyCeremony struct {
	ID        string
	UserID    int64
	Kind      string
	Session   []byte
	ExpiresAt time.Time
}

// Passkey is a WebAuthn credential of an account: what verifies its
// signatures (PublicKey), the last signature counter seen, and its flags
// (BackupEligible is fixed at registration; BackupState may change).
type Passkey struct {
	ID              string
	UserID          int64
	CredentialID    []byte
	Name            string
	PublicKey       []byte
	AttestationType string
	AAGUID          []byte
	Transports      []string
	SignCount       int64
	UserVerified    bool
	BackupEligible  bool
	BackupState     bool
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero until its first sign-in
	// UserHandle is the account's WebAuthn user handle the passkey was
	// registered with: CreatePasskey gives it to an account that has none
	// (PasskeyHandle). It is the account's, not stored with the passkey, so
	// the reads leave it nil.
	UserHandle []byte
}

// The assurance levels of a session (NIST SP 800-63B): AAL1 after a first
// factor (a password), AAL2 after a second one (a TOTP or recovery code).
const (
	AAL1 = "aal1"
	AAL2 = "aal2"
)

// FactorTOTP is the kind of a TOTP factor (RFC 6238).
const FactorTOTP = "totp"

// SessionAccess is what the bearer check of every request reads: the
// session's user, the session's assurance, and whether the account has a
// verified second factor (then an AAL1 session may do little but verify one).
type SessionAccess struct {
	User User
	AAL  string
	// AuthTime is the session's last proof, as in Session: not read by
	// GetSessionAccess (every request would parse a time for a few
	// operations), set by the bearer check for those that need it.
	AuthTime  time.Time
	HasFactor bool
	LevelGen  int64 // the session's level generation (as in Session)
}

// Proof is a proof of the user of session SessionID (of UserID) at At: it
// stamps the session's auth time.
type Proof struct {
	SessionID string
	UserID    int64
	At        time.Time
}

// Factor is a second factor of an account. Secret is sealed (internal/mfa):
// the database never holds it in the clear. LastStep is the last accepted
// TOTP time step; an unverified factor is pruned at ExpiresAt.
type Factor struct {
	ID        string
	UserID    int64
	Kind      string
	Secret    []byte
	Verified  bool
	LastStep  int64
	CreatedAt time.Time
	ExpiresAt time.Time
	// Failures counts the codes taken since the last right one
	// (CountFactorAttempt); at the caller's bound the factor is locked.
	Failures int64
}

// Upgrade raises a session to AAL2 and replaces its refresh token: the
// session read at Generation gets generation Generation+2 with the refresh
// token hashed as RefreshHash, expiring at RefreshExpiresAt.
type Upgrade struct {
	SessionID        string
	UserID           int64
	Generation       int64
	RefreshHash      string
	Now              time.Time
	RefreshExpiresAt time.Time
}

// Migration is one migration the binary holds and whether the database has it:
// keel's own (goose, in db/<engine>/migrations) or River's.
type Migration struct {
	Source  string // "keel" or "river"
	Version int64
	Name    string
	Applied bool
}

// HashToken is how keel stores a high-entropy token (refresh, verification,
// reset) and looks it up: SHA-256, hex. A slow hash such as bcrypt would add
// nothing, since nobody can guess 256 random bits, and would cost every refresh.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Millis is t in UTC to the millisecond: the precision every engine keeps.
func Millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
