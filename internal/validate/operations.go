package validate

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// Operation is what the HTTP layer needs to know of one operation of the
// spec, worked out once at start rather than on every request. The rate
// limit, the body limit, the validator, Allow and the metrics all read this
// one table, keyed by method and Echo route template.
type Operation struct {
	// ID is the operationId.
	ID    string
	Route *routers.Route
	// Bearer: the operation requires the bearerAuth scheme.
	Bearer bool
	// BearerOptional: the operation takes a bearer token when one is sent
	// (its security lists both {} and bearerAuth): a request without one is
	// anonymous, one with a token is authenticated as a bearer operation's.
	BearerOptional bool
	// Inputs: the operation has parameters or a request body to validate.
	Inputs bool
	// Body: the operation takes a request body (application/json, the only
	// media type keel's spec uses: the spec lint enforces it).
	Body bool
	// RateLimited: the spec marks it x-keel-rate-limit (AUTH_RATE_LIMIT).
	RateLimited bool
	// RateBucket is the budget a rate-limited operation spends: its own
	// (its ID) for x-keel-rate-limit: true, or the bucket the extension
	// names, which operations that check one secret share ("password").
	RateBucket string
	// Protocol: the spec marks it x-keel-protocol, an endpoint of the OpenID
	// Provider that zitadel/oidc's pkg/op serves (docs/provider.md): its
	// form-encoded input is the protocol's, which pkg/op reads and refuses
	// with the protocol's own errors, so the validator leaves it alone.
	Protocol bool
	// Navigation: the spec marks it x-keel-navigation, a URL a browser
	// opens as a top-level navigation and never as part of another page.
	Navigation bool
	// Admin: the operation requires the adminAuth scheme (an admin
	// person's access token, or a machine's client_credentials token with
	// the admin scope): the caller's right is checked in the database on
	// every request (docs/admin.md).
	Admin bool
	// Destructive: the spec marks the admin operation x-keel-admin:
	// destructive (a ban, a deletion, a factor reset, a role change): a
	// person calling it needs a fresh proof of themselves (REAUTH_MAX_AGE).
	Destructive bool
}

// Key finds an operation by method and route template in Echo's form
// (/sessions/:id).
type Key struct{ Method, Path string }

// Operations is the spec's operations by method and route.
type Operations map[Key]*Operation

// RateLimitExtension marks the operations of the spec under AUTH_RATE_LIMIT:
// those that run bcrypt or take a guessable secret, the targets of
// credential stuffing. The spec says which they are; this code only reads it.
const RateLimitExtension = "x-keel-rate-limit"

// NavigationExtension marks the operations a browser only navigates to (a
// sign-in's start): fetched for a page (an image, a frame), such a request
// is refused before it spends a rate limit.
const NavigationExtension = "x-keel-navigation"

// InitialAccessTokenScheme is the security scheme of POST /oauth2/register's
// optional initial access token (RFC 7591 §3): the handler compares it with
// its setting, so the validator leaves it alone. An operation lists it
// beside the anonymous requirement ({} first), which openapi3filter takes.
const InitialAccessTokenScheme = "initialAccessToken"

// ProtocolExtension marks the operations an OAuth 2.0 / OpenID Connect
// library serves (Operation.Protocol).
const ProtocolExtension = "x-keel-protocol"

// AdminScheme is the security scheme of the admin API (Operation.Admin).
// An operation lists it alone: the admin API has no anonymous or plain
// bearer operations, and no other operation takes it.
const AdminScheme = "adminAuth"

// AdminExtension marks an admin operation's kind; its one value is
// AdminDestructive (Operation.Destructive). The spec says which operations
// are destructive; this code only reads it.
const (
	AdminExtension   = "x-keel-admin"
	AdminDestructive = "destructive"
	// AdminTag is the one tag of every admin operation, and AdminPrefix
	// the start of its path.
	AdminTag    = "admin"
	AdminPrefix = "/admin/"
)

// Read reads the operation table from the spec.
func Read(spec *openapi3.T) (Operations, error) {
	ops := Operations{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			navigation, _ := op.Extensions[NavigationExtension].(bool)
			protocol, _ := op.Extensions[ProtocolExtension].(bool)
			o := &Operation{
				ID:    op.OperationID,
				Route: &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op},
				// An OPTIONS operation (Allow, the CORS preflight) answers
				// the same whatever its path's parameters hold: nothing to
				// validate, and no 400 to give (it documents 204 and 403).
				Inputs: method != http.MethodOptions &&
					(len(op.Parameters) > 0 || len(item.Parameters) > 0 || op.RequestBody != nil),
				Body:       op.RequestBody != nil,
				Navigation: navigation,
				Protocol:   protocol,
			}
			switch v := op.Extensions[RateLimitExtension].(type) {
			case bool:
				o.RateLimited = v
				if v {
					o.RateBucket = op.OperationID
				}
			case string:
				o.RateLimited, o.RateBucket = v != "", v
			case nil:
			default:
				return nil, fmt.Errorf("%s %s: %s must be true or a bucket's name", method, path, RateLimitExtension)
			}
			security := op.Security
			if security == nil {
				security = &spec.Security
			}
			anonymous := false
			for _, req := range *security {
				anonymous = anonymous || len(req) == 0
				for name := range req {
					switch name {
					case "bearerAuth":
						o.Bearer = true
					case AdminScheme:
						o.Admin = true
					case InitialAccessTokenScheme:
						// The handler checks it (RFC 7591's initial access
						// token is a setting, not a keel token), and only
						// beside the anonymous requirement.
					default:
						return nil, fmt.Errorf("%s %s: unknown security scheme %q", method, path, name)
					}
				}
			}
			if o.Bearer && anonymous {
				o.Bearer, o.BearerOptional = false, true
			}
			if err := readAdmin(o, op, method, path, len(*security), anonymous); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			ops[Key{method, EchoPath(path)}] = o
		}
	}
	return ops, nil
}

// readAdmin reads x-keel-admin into o and holds the admin API's shape: an
// admin operation takes adminAuth alone, has the tag admin and a path under
// /admin/; x-keel-admin marks admin operations only; nothing else is under
// /admin/ or tagged admin.
func readAdmin(o *Operation, op *openapi3.Operation, method, path string, requirements int, anonymous bool) error {
	switch v := op.Extensions[AdminExtension].(type) {
	case nil:
	case string:
		if v != AdminDestructive || !o.Admin {
			return fmt.Errorf("%s must be %q, on an admin operation", AdminExtension, AdminDestructive)
		}
		o.Destructive = true
	default:
		return fmt.Errorf("%s must be %q", AdminExtension, AdminDestructive)
	}
	tagged := false
	for _, t := range op.Tags {
		tagged = tagged || t == AdminTag
	}
	under := strings.HasPrefix(path, AdminPrefix)
	switch {
	case o.Admin && (requirements != 1 || anonymous || o.Bearer || o.BearerOptional):
		return fmt.Errorf("an admin operation takes %s alone", AdminScheme)
	case o.Admin && (!tagged || len(op.Tags) != 1 || !under):
		return fmt.Errorf("an admin operation has the one tag %q and a path under %s", AdminTag, AdminPrefix)
	case !o.Admin && tagged:
		return fmt.Errorf("the tag %q is for operations that take %s", AdminTag, AdminScheme)
	case !o.Admin && under && method != http.MethodOptions:
		// OPTIONS (the methods, the CORS preflight) is every path's,
		// anonymous, admin ones too.
		return fmt.Errorf("a path under %s is an admin operation's: it takes %s", AdminPrefix, AdminScheme)
	}
	return nil
}

// Allow maps each route to the methods it answers ("GET, OPTIONS"): the
// Allow header of OPTIONS and of every 405, and the methods a CORS preflight
// may ask for.
func (ops Operations) Allow() map[string]string {
	methods := map[string][]string{}
	for k := range ops {
		methods[k.Path] = append(methods[k.Path], k.Method)
	}
	allow := map[string]string{}
	for path, m := range methods {
		sort.Strings(m)
		allow[path] = strings.Join(m, ", ")
	}
	return allow
}

// EchoPath turns an OpenAPI path template (/docs/{asset}) into Echo's (/docs/:asset).
func EchoPath(p string) string {
	r := strings.NewReplacer("{", ":", "}", "")
	return r.Replace(p)
}
