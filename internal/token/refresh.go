package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// Refresher derives and checks refresh tokens. It makes every token under
// the current secret (JWT_SECRET) and accepts those made under the previous
// one too (JWT_SECRET_PREVIOUS), so that changing the secret signs no one
// out: a session's token of the old secret is good until it is rotated, and
// REFRESH_TTL bounds how long that may take.
type Refresher struct {
	// keys are derived from the secrets, the current one first.
	keys [][]byte
}

// NewRefresher returns a Refresher making tokens under secret and accepting
// those of previous too (each at least MinSecretLen bytes; the caller
// checks).
func NewRefresher(secret []byte, previous ...[]byte) *Refresher {
	r := &Refresher{}
	for _, s := range append([][]byte{secret}, previous...) {
		mac := hmac.New(sha256.New, s)
		mac.Write([]byte("keel refresh-token key v1"))
		r.keys = append(r.keys, mac.Sum(nil))
	}
	return r
}

// Refresh returns the session's refresh token of the given generation,
// under the current secret.
//
// Refresh tokens are derived, not drawn at random: base64url(sid ‖ generation
// ‖ HMAC-SHA256(key, sid ‖ generation)), where key is derived from the
// secret. To a client it is an opaque 75-character string that nobody
// without the secret can forge. The database keeps only its SHA-256
// (sessions.refresh_hash), yet the server can
//   - tell from any token, current or spent, which session and generation it
//     belongs to, so presenting a spent one (generation < current) is caught
//     as reuse and ends that session, without a table of spent tokens;
//   - give a client presenting the token just replaced, within
//     REFRESH_REUSE_INTERVAL, the current token again, by deriving it
//     (Rederive).
//
// Changing the secret without keeping the old one as previous voids every
// refresh token. sessionID must come from NewSessionID.
func (r *Refresher) Refresh(sessionID string, generation int64) string {
	return r.derive(r.keys[0], sessionID, generation)
}

// Rederive returns the session's refresh token of the given generation:
// of those made under the current and the previous secrets, the one for
// which is returns true (the caller's test: its hash is the one the session
// stores), or the current secret's when none is. So a token made before the
// secret changed is given back as it was made, and the client's next
// refresh with it is not taken for a reuse.
func (r *Refresher) Rederive(sessionID string, generation int64, is func(token string) bool) string {
	for _, k := range r.keys {
		if tok := r.derive(k, sessionID, generation); is(tok) {
			return tok
		}
	}
	return r.Refresh(sessionID, generation)
}

func (r *Refresher) derive(key []byte, sessionID string, generation int64) string {
	sid, err := base64.RawURLEncoding.DecodeString(sessionID)
	if err != nil || len(sid) != sessionIDBytes {
		panic("refresh token for a malformed session id") // ids come from NewSessionID
	}
	b := make([]byte, 0, sessionIDBytes+8+sha256.Size)
	b = append(b, sid...)
	b = binary.BigEndian.AppendUint64(b, uint64(generation))
	b = append(b, refreshMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func refreshMAC(key, msg []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// ParseRefresh checks a refresh token's MAC, under the current secret or
// the previous one, and returns its session id and generation; ok is false
// for anything keel did not issue.
func (r *Refresher) ParseRefresh(tok string) (sessionID string, generation int64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != sessionIDBytes+8+sha256.Size {
		return "", 0, false
	}
	msg, mac := b[:sessionIDBytes+8], b[sessionIDBytes+8:]
	for _, k := range r.keys {
		ok = ok || hmac.Equal(mac, refreshMAC(k, msg))
	}
	if !ok {
		return "", 0, false
	}
	g := binary.BigEndian.Uint64(msg[sessionIDBytes:])
	if g < 1 || g > 1<<62 {
		return "", 0, false
	}
	return base64.RawURLEncoding.EncodeToString(msg[:sessionIDBytes]), int64(g), true
}
