// Package verify checks keel's access tokens in a service that sits behind
// keel (a resource server), from keel's issuer URL alone: no shared secret,
// no code of keel's.
//
// New reads the issuer's OpenID discovery document
// (<issuer>/.well-known/openid-configuration), checks that it names the same
// issuer, and fetches the JSON Web Key Set it points to. Verify then checks a
// token's signature against those public keys and its claims against what a
// keel access token is (RFC 9068):
//
//   - header alg EdDSA, ES256 or RS256, and the very algorithm of the key
//     named by kid: "none", HS256 (say, signed with a public key's bytes) and
//     any other algorithm are refused;
//   - header typ "at+jwt" (or "application/at+jwt"), so that no other kind
//     of token keel signs (an ID token, say) passes for an access token;
//   - iss equal to the issuer URL, aud containing the audience ("keel" unless
//     WithAudience says otherwise), exp and iat within the leeway, sub present.
//
// The key set is cached. It is fetched again when its Cache-Control max-age
// has passed, so a key keel revokes (removes from its key set) stops
// verifying within that time, and when a token names a kid the set does not
// hold, at most once a refetch interval (a minute unless WithRefetchInterval
// says otherwise), so a flood of tokens with made-up kids costs keel one
// request a minute. Concurrent callers share one fetch. A set older than its
// max-age is never used: when it cannot be fetched again, Verify fails (and
// tries again a second later) rather than trust keys that may have been
// revoked meanwhile.
//
// A token Verify refuses gives an error that matches ErrInvalidToken (and
// ErrExpired when it has expired): answer 401. Any other error means the key
// set could not be fetched: keel could not be reached, or answered
// something that is not a key set.
//
// Verify says that keel signed the token and that it has not expired; it does
// not say that its session is still alive, which only keel knows (a signed-out
// session's tokens verify until they expire, JWT_TTL at most).
//
// The package also checks keel's webhook deliveries (Standard Webhooks,
// docs/webhooks.md): NewWebhookVerifier takes an endpoint's signing secret
// ("whsec_…") and its Verify checks a delivery's webhook-signature (an
// HMAC-SHA256 of webhook-id, webhook-timestamp and the body, compared in
// constant time; any one of several, as during a secret rotation) and that
// webhook-timestamp is within DefaultWebhookTolerance of now. A refused
// delivery's error matches ErrInvalidWebhook.
package verify
