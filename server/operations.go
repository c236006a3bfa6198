package server

import (
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// operation is what the middleware needs to know of one operation of the
// spec, worked out once at start rather than on every request. The rate
// limit, the body limit, the validator, Allow and the metrics all read this
// one table, keyed by method and Echo route template.
type operation struct {
	route *routers.Route
	// bearer: the operation requires the bearerAuth scheme.
	bearer bool
	// inputs: the operation has parameters or a request body to validate.
	inputs bool
	// body: the operation takes a request body (application/json, the only
	// media type keel's spec uses: the spec lint enforces it).
	body bool
	// rateLimited: the spec marks it x-keel-rate-limit (AUTH_RATE_LIMIT).
	rateLimited bool
	// checksSession: the operation's handler checks the session itself, in
	// the query it runs anyway (GET /profile), so the validator does not.
	checksSession bool
}

// opKey finds an operation by method and Echo route template.
type opKey struct{ method, path string }

// rateLimitExtension marks the operations of the spec under AUTH_RATE_LIMIT:
// those that run bcrypt or take a guessable secret, the targets of
// credential stuffing. The spec says which they are; this code only reads it.
const rateLimitExtension = "x-keel-rate-limit"

// operations reads the table from the spec; selfChecked names the
// operations whose handlers check the session themselves.
func operations(spec *openapi3.T, selfChecked map[string]bool) (map[opKey]*operation, error) {
	ops := map[opKey]*operation{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			limited, _ := op.Extensions[rateLimitExtension].(bool)
			o := &operation{
				route:         &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op},
				inputs:        len(op.Parameters) > 0 || len(item.Parameters) > 0 || op.RequestBody != nil,
				body:          op.RequestBody != nil,
				rateLimited:   limited,
				checksSession: selfChecked[op.OperationID],
			}
			security := op.Security
			if security == nil {
				security = &spec.Security
			}
			for _, req := range *security {
				for name := range req {
					if name != "bearerAuth" {
						return nil, fmt.Errorf("%s %s: unknown security scheme %q", method, path, name)
					}
					o.bearer = true
				}
			}
			ops[opKey{method, echoPath(path)}] = o
		}
	}
	return ops, nil
}

// allowedMethods maps each route to the methods it answers ("GET, OPTIONS"):
// the Allow header of OPTIONS and of every 405, and the methods a CORS
// preflight may ask for.
func allowedMethods(ops map[opKey]*operation) map[string]string {
	methods := map[string][]string{}
	for k := range ops {
		methods[k.path] = append(methods[k.path], k.method)
	}
	allow := map[string]string{}
	for path, m := range methods {
		sort.Strings(m)
		allow[path] = strings.Join(m, ", ")
	}
	return allow
}

// echoPath turns an OpenAPI path template (/docs/{asset}) into Echo's (/docs/:asset).
func echoPath(p string) string {
	r := strings.NewReplacer("{", ":", "}", "")
	return r.Replace(p)
}
