// Package claims picks what keel's tokens say about a user's authorization
// out of the user's app_metadata (the JSON object only admins write): roles,
// from app_metadata.roles, and the keys the operator lists in
// JWT_CLAIMS_FROM_APP_METADATA. keel's access tokens, and the ID tokens,
// userinfo answers and grant access tokens of keel as an OpenID Provider,
// carry them from the next token issued (docs/tokens.md#roles-and-claims-from-app_metadata).
//
// The limits keep every token well under the 32 KiB of headers keel (and
// most proxies) accept: Validate refuses app_metadata beyond them where it
// is written (the admin API), and Pick, at token time, leaves out what is
// beyond them (a row written before, or by hand) rather than fail a sign-in.
package claims

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

const (
	// Setting is the environment variable that lists the claims.
	Setting = "JWT_CLAIMS_FROM_APP_METADATA"
	// MaxRoles is the most roles a token carries.
	MaxRoles = 50
	// MaxRoleLen is the longest role, in bytes (UTF-8); a role is never empty.
	MaxRoleLen = 64
	// MaxListedBytes bounds the listed claims together: their JSON object,
	// compacted, as the token carries them.
	MaxListedBytes = 4096
)

// reserved are the claim names keel's tokens set themselves or that a
// registered specification gives a meaning (RFC 7519, RFC 9068, RFC 8693,
// OpenID Connect Core's ID token and standard claims), compared in any
// letter case: app_metadata never overrides or imitates one.
var reserved = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`iss sub aud exp nbf iat jti typ cty
		sid aal amr lvl acr auth_time nonce azp at_hash c_hash s_hash
		scope client_id act may_act cnf roles
		name given_name family_name middle_name nickname preferred_username profile picture website
		email email_verified gender birthdate zoneinfo locale phone_number phone_number_verified address updated_at
		_claim_names _claim_sources events toe txn`) {
		reserved[n] = true
	}
}

// Names are the app_metadata keys the operator lists (JWT_CLAIMS_FROM_APP_METADATA),
// in the order listed.
type Names []string

// ParseNames reads JWT_CLAIMS_FROM_APP_METADATA: names separated by commas,
// spaces around them ignored. It refuses an empty name, a name with a space
// or control character, one listed twice, and one that collides with a
// claim keel sets or a registered one (reserved, roles included: it always
// comes from app_metadata.roles).
func ParseNames(setting string) (Names, error) {
	if strings.TrimSpace(setting) == "" {
		return nil, nil
	}
	var out Names
	seen := map[string]bool{}
	for n := range strings.SplitSeq(setting, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, fmt.Errorf("%s: an empty name (two commas, or one at an end)", Setting)
		case strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return nil, fmt.Errorf("%s: %q has a space or control character", Setting, n)
		case reserved[strings.ToLower(n)]:
			return nil, fmt.Errorf("%s: %q is a claim keel sets or a registered one, which app_metadata may not replace", Setting, n)
		case seen[n]:
			return nil, fmt.Errorf("%s: %q is listed twice", Setting, n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// Claims are what a token carries from app_metadata.
type Claims struct {
	// Roles is app_metadata.roles; nil when absent, null or left out.
	Roles []string
	// Listed are the listed keys app_metadata holds (not null), as JSON.
	Listed map[string]json.RawMessage
}

// Map is c as claims to add to a token: roles (when present) and the
// listed ones; empty when c is.
func (c Claims) Map() map[string]any {
	m := make(map[string]any, len(c.Listed)+1)
	for k, v := range c.Listed {
		m[k] = v
	}
	if c.Roles != nil {
		m["roles"] = c.Roles
	}
	return m
}

// Error is app_metadata that breaks a rule: Field is a JSON pointer into
// app_metadata ("" for the whole object), Reason says why.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return "app_metadata" + e.Field + ": " + e.Reason }

// Validate checks app_metadata as it is about to be written (the admin
// API's PATCH): a JSON object whose roles, when present and not null, is
// an array of at most MaxRoles strings of 1 to MaxRoleLen bytes, and whose
// keys listed in names (those present) come to at most MaxListedBytes as
// JSON. The error is an *Error; the caller prefixes its Field with where
// app_metadata is in its request ("/app_metadata").
func (names Names) Validate(appMetadata []byte) error {
	if _, leftOut := names.pick(appMetadata); len(leftOut) > 0 {
		return &leftOut[0]
	}
	return nil
}

// Pick returns the claims of app_metadata (the users column's text; empty
// is {}), and what it left out because it broke a rule of Validate: roles
// that are not a valid array are left out whole, and so are the listed
// claims together when they exceed MaxListedBytes, so that a token never
// carries part of either. A sign-in never fails for them; the caller logs
// what was left out.
func (names Names) Pick(appMetadata string) (Claims, []Error) {
	if appMetadata == "" {
		return Claims{}, nil
	}
	return names.pick([]byte(appMetadata))
}

// ForToken is what a token of user userID carries from the account's
// app_metadata (Pick's claims, as Map), each part left out logged on log as
// a warning naming the user and the field, never the value.
func (names Names) ForToken(ctx context.Context, log *slog.Logger, userID int64, appMetadata string) map[string]any {
	c, leftOut := names.Pick(appMetadata)
	for _, e := range leftOut {
		log.LogAttrs(ctx, slog.LevelWarn, "a claim from app_metadata is left out of the token",
			slog.Int64("user", userID), slog.String("field", "app_metadata"+e.Field), slog.String("reason", e.Reason))
	}
	return c.Map()
}

func (names Names) pick(appMetadata []byte) (Claims, []Error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(appMetadata, &obj); err != nil || obj == nil {
		return Claims{}, []Error{{Reason: "is not a JSON object"}}
	}
	var c Claims
	var leftOut []Error
	if r, ok := obj["roles"]; ok && !isNull(r) {
		roles, err := readRoles(r)
		if err != nil {
			leftOut = append(leftOut, *err)
		} else {
			c.Roles = roles
		}
	}
	size := len("{}")
	for _, n := range names {
		v, ok := obj[n]
		if !ok || isNull(v) {
			continue
		}
		var b bytes.Buffer
		_ = json.Compact(&b, v) // valid: obj decoded
		if c.Listed == nil {
			c.Listed = map[string]json.RawMessage{}
		} else {
			size++ // the comma
		}
		key, _ := json.Marshal(n)
		size += len(key) + 1 + b.Len()
		c.Listed[n] = b.Bytes()
	}
	if size > MaxListedBytes {
		c.Listed = nil
		leftOut = append(leftOut, Error{Reason: fmt.Sprintf("the keys listed in %s come to %d bytes of JSON, over %d", Setting, size, MaxListedBytes)})
	}
	return c, leftOut
}

// readRoles reads app_metadata.roles, or says where it breaks the rule.
func readRoles(r json.RawMessage) ([]string, *Error) {
	var roles []string
	if err := json.Unmarshal(r, &roles); err != nil {
		return nil, &Error{Field: "/roles", Reason: "must be an array of strings"}
	}
	if len(roles) > MaxRoles {
		return nil, &Error{Field: "/roles", Reason: fmt.Sprintf("at most %d roles", MaxRoles)}
	}
	for i, role := range roles {
		if role == "" || len(role) > MaxRoleLen {
			return nil, &Error{Field: fmt.Sprintf("/roles/%d", i), Reason: fmt.Sprintf("a role is 1 to %d bytes", MaxRoleLen)}
		}
	}
	return roles, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
