package provider

import (
	"context"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
)

// AuthRequest is one authorization request from a client, from
// /oauth2/authorize until its code is exchanged (or it expires): what the
// client asked for, and, once the login step accepted it, who did and the
// grant's session.
type AuthRequest struct {
	ID            string
	ClientID      string
	RedirectURI   string
	Scopes        []string
	State         string
	Nonce         string
	ResponseType  string
	ResponseMode  string
	CodeChallenge string // S256 only: keel refuses every other method
	// MaxAge is the client's max_age in seconds, or -1 when it asked none
	// (prompt=login asks 0).
	MaxAge    int64
	Prompt    []string
	ACRValues []string
	Resource  string

	// Set when the login step accepted the request: the user, the grant's
	// session (a new keel session for the client, whose id is the ID
	// token's sid), and what the sign-in behind it proved.
	UserID    int64
	SessionID string
	AuthTime  time.Time
	AMR       string // RFC 8176 methods, space-separated
	ACR       string // db.AAL1 or db.AAL2
	Done      bool

	// CodeExpiresAt is when the request's code expires (zero before it has
	// one); CodeUsed says it was exchanged.
	CodeExpiresAt time.Time
	CodeUsed      bool

	CreatedAt time.Time
	ExpiresAt time.Time // OP_REQUEST_TTL after CreatedAt
}

// Errors of the Store.
var (
	// ErrNoRequest is an authorization request that is not there (never
	// was, expired and pruned, or exchanged), or, for AcceptAuthRequest, no
	// longer pending.
	ErrNoRequest = errors.New("provider: no such authorization request")
	// ErrCodeSpent is a code that was exchanged already (SpendAuthCode).
	ErrCodeSpent = errors.New("provider: authorization code used")
	// ErrNoConsent is a consent the user has not given (WithdrawConsent).
	ErrNoConsent = errors.New("provider: no such consent")
)

// Consent is what a user gave a client: the scopes, since when.
type Consent struct {
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
}

// Store keeps the provider's state; db/sqlite and db/postgres implement it
// (db/sqlite/provider.go, twinned), held to one behaviour by
// db/storetest's provider suite. The grants themselves are keel sessions
// (db.Session.ClientID), kept by db.Sessions.
type Store interface {
	// CreateAuthRequest stores a new request.
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	// GetAuthRequest returns the request id, expired or not, or ErrNoRequest.
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// AcceptAuthRequest starts the grant's session sess (a new one, with
	// ClientID set, capped and checked as every db.Sessions.CreateSession)
	// and records it, its user and acr in the request id, in one
	// transaction; ErrNoRequest when the request is not pending at now
	// (unknown, accepted already, or expired), and then no session starts.
	AcceptAuthRequest(ctx context.Context, id string, sess db.Session, acr string, now time.Time) error
	// SaveAuthCode records the SHA-256 of the accepted request's code and
	// when it expires, and keeps the request until keepUntil (its
	// ExpiresAt, which PruneAuthRequests reads); ErrNoRequest when the
	// request is not accepted or has a code already.
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, keepUntil time.Time) error
	// AuthRequestByCode returns the request whose code has the SHA-256
	// codeHash, spent or not, expired or not, or ErrNoRequest.
	AuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	// SpendAuthCode marks the request's code exchanged, once: ErrCodeSpent
	// for the second of two exchanges, ErrNoRequest when there is no code.
	SpendAuthCode(ctx context.Context, id string) error
	// DeleteAuthRequest removes the request id; one that is not there is no
	// error.
	DeleteAuthRequest(ctx context.Context, id string) error
	// PruneAuthRequests removes the requests that expired by now and
	// returns how many.
	PruneAuthRequests(ctx context.Context, now time.Time) (int64, error)
	// GrantScopes returns the scopes the grant (session) sessionID was
	// given when it started, which its refreshes and userinfo never exceed
	// (none: nil, no error).
	GrantScopes(ctx context.Context, sessionID string) ([]string, error)
	// Consent returns the scopes userID consented to give clientID (none:
	// nil, no error).
	Consent(ctx context.Context, userID int64, clientID string) ([]string, error)
	// SaveConsent records that userID consents to give clientID scopes,
	// replacing what was recorded.
	SaveConsent(ctx context.Context, userID int64, clientID string, scopes []string, at time.Time) error
	// ListConsents returns userID's consents, oldest first.
	ListConsents(ctx context.Context, userID int64) ([]Consent, error)
	// WithdrawConsent removes userID's consent to clientID and ends every
	// grant (session) of userID's to that client, announced, in one
	// transaction; ErrNoConsent when there is none.
	WithdrawConsent(ctx context.Context, userID int64, clientID string) error
}
