// Package provider is keel as an OpenID Provider ("Sign in with keel",
// docs/provider.md): zitadel/oidc's certified pkg/op serves the protocol
// under /oauth2/, and this package is what pkg/op asks of keel — the
// Storage over keel's database (authorization requests, codes, consents, and
// grants that are keel sessions), the clients, the signing keys (RS256, from
// internal/keys' ring) — and the login step's rules (Accept, Reject).
package provider
