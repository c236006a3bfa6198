// Package clients is keel's registry of OAuth clients, the apps that "Sign
// in with keel" when it acts as an OpenID Provider (docs/provider.md): the
// Client type, the Store the database adapters implement (db/sqlite's
// clients.go, twinned to db/postgres) and the rules a client is held to,
// written once here: how ids and secrets are made and checked, which
// redirect URIs may be registered and which requested URI matches one, and
// which grants and scopes each kind of client may have.
package clients

import (
	"context"
	"errors"
	"time"
)

// A client's kind (RFC 6749 §2.1): a confidential client holds a secret it
// authenticates with; a public one (a browser or native app) cannot keep
// one and proves itself by PKCE alone.
const (
	Confidential = "confidential"
	Public       = "public"
)

// A client's application type (OpenID Connect Registration §2): a web
// client is served from a host with an https redirect URI; a native one
// runs on the user's device and receives the redirect on a loopback port or
// a private-use URI scheme (RFC 8252).
const (
	Web    = "web"
	Native = "native"
)

// The grants a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// The scopes a client may be allowed. ScopeAdmin is for a later issue's
// admin routes, and only ever on a client_credentials token.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
	ScopeAdmin         = "admin"
)

// Grants and Scopes are every grant and scope keel knows, in the order
// they are listed.
var (
	Grants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}
	Scopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess, ScopeAdmin}
)

// Client is one registered client as stored.
type Client struct {
	ID   string // "kc_" and 22 base64url characters: see NewID
	Name string // shown to the user on the consent page
	// SecretHash is the SHA-256 of the secret, in lower-case hex; empty for
	// a public client. The secret itself is shown once, when it is made.
	SecretHash             string
	Kind                   string // Confidential or Public
	AppType                string // Web or Native
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string
	// Dynamic is true for a client that registered itself (RFC 7591): it
	// never gets client_credentials or admin, shows as unverified and is
	// deleted once idle (DeleteIdleDynamicClients).
	Dynamic bool
	// CreatedAt is when it was registered; LastUsedAt when it last obtained
	// a token (zero until then). UTC, to the millisecond once stored.
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// ErrNoClient is the error for a client id the registry does not hold.
var ErrNoClient = errors.New("no such client")

// ErrClientTaken is CreateClient's error for an id already registered.
var ErrClientTaken = errors.New("client id already registered")

// Store keeps the registry; db/sqlite and db/postgres implement it. It stores
// what it is given: the rules are Register's and Validate's, so a client is
// checked once, wherever it comes from (the CLI, RFC 7591 registration).
type Store interface {
	// CreateClient stores c; ErrClientTaken when its id is registered.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client id; ErrNoClient when there is none.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client, oldest first.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client id; ErrNoClient when there is none.
	// Its grants end with it, in the same transaction: every session it
	// was granted (announced like every session ending, so their sockets
	// close), the consents given to it and its pending authorization
	// requests.
	DeleteClient(ctx context.Context, id string) error
	// TouchClient records that the client id was used at at: LastUsedAt
	// only moves forward. A missing client is not an error (one deleted
	// while its request was in flight).
	TouchClient(ctx context.Context, id string, at time.Time) error
	// DeleteIdleDynamicClients removes the dynamic clients unused since
	// before (never used: registered before it), for OP_DCR_IDLE_DAYS, and
	// returns how many. Clients registered by an operator are kept. The
	// grants of each end with it, as DeleteClient's.
	DeleteIdleDynamicClients(ctx context.Context, before time.Time) (int64, error)
}
