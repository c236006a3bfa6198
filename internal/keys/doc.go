// Package keys keeps keel's signing keys: it creates them (Ed25519, P-256 or
// RSA 2048), seals their private halves under KEYS_KEK, moves them through
// their states (next → current → retired, or revoked), publishes the public
// ones as a JWKS, and keeps every replica's view of the set within a second
// of the database's. A Ring is one process's view; the Store behind it is
// the database, the one place a change is decided.
package keys
