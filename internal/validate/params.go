package validate

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// errNotText is the reason a parameter that is not text is refused.
const errNotText = "must be UTF-8 text without a NUL character"

// checkText refuses a path or query parameter of op whose value is not
// valid UTF-8 or holds a NUL (%00, %ff): no parameter of keel's API means
// either, and PostgreSQL's text refuses both, so such a value reaching a
// query was a 500 there (SQLite stores anything) — DELETE /sessions/%00,
// GET /admin/audit?actor=%ff. Checked here once, for every operation and
// every parameter to come, rather than by each handler or store method;
// not for an operation that documents no 400 (OPTIONS, the docs' assets),
// which reads its parameters without a database, if at all.
func checkText(in *openapi3filter.RequestValidationInput, op *Operation, pathParams map[string]string) error {
	if op.Route.Operation.Responses.Status(http.StatusBadRequest) == nil {
		return nil
	}
	var query map[string][]string
	for _, params := range []openapi3.Parameters{op.Route.PathItem.Parameters, op.Route.Operation.Parameters} {
		for _, ref := range params {
			p := ref.Value
			if p == nil {
				continue
			}
			var values []string
			switch p.In {
			case openapi3.ParameterInPath:
				values = []string{pathParams[p.Name]}
			case openapi3.ParameterInQuery:
				if query == nil {
					query = in.Request.URL.Query()
				}
				values = query[p.Name]
			}
			for _, v := range values {
				if !isText(v) {
					return &openapi3filter.RequestError{Input: in, Parameter: p, Reason: errNotText}
				}
			}
		}
	}
	return nil
}

// isText reports whether s is valid UTF-8 without a NUL.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
