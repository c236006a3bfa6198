package validate

import (
	"fmt"
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

// Read reads the operation table from the spec.
func Read(spec *openapi3.T) (Operations, error) {
	ops := Operations{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			navigation, _ := op.Extensions[NavigationExtension].(bool)
			protocol, _ := op.Extensions[ProtocolExtension].(bool)
			o := &Operation{
				ID:         op.OperationID,
				Route:      &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op},
				Inputs:     len(op.Parameters) > 0 || len(item.Parameters) > 0 || op.RequestBody != nil,
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
			ops[Key{method, EchoPath(path)}] = o
		}
	}
	return ops, nil
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
