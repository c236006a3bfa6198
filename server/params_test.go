package server

import (
	"net/url"
	"regexp"
	"testing"

	"github.com/keelhq/keel/gen/oapi"
)

// TestParametersAreText: a path or query parameter that is not UTF-8 text
// (a NUL, %00, or an invalid byte, %ff) is refused with 400 naming it, at
// every operation, before any handler or store sees it: PostgreSQL's text
// refuses both, and DELETE /sessions/%00 or GET /admin/audit?actor=%ff was
// a 500 there. The walk sends each bad value in each parameter of every
// operation of the spec (the provider's protocol endpoints are pkg/op's),
// as an admin at aal2 with a fresh proof, and every answer must be one the
// spec documents (a.do checks it: never a 5xx).
func TestParametersAreText(t *testing.T) {
	t.Parallel()
	a := newOPAPI(t)
	pair, _ := a.adminAccount("root@example.com")
	h := bearer(pair.Token)

	for _, c := range []struct{ method, path, body, field string }{
		{"DELETE", "/sessions/%00", "", "id"},
		{"DELETE", "/sessions/%FF", "", "id"},
		{"DELETE", "/passkeys/%FF", "", "id"},
		{"POST", "/mfa/totp/%00/verify", `{"code":"123456"}`, "id"},
		{"DELETE", "/profile/consents/%FF", "", "client_id"},
		{"GET", "/oauth2/requests/%00", "", "id"},
		{"GET", "/admin/audit?actor=admin%3A1%00", "", "actor"},
		{"GET", "/admin/audit?actor=%FF", "", "actor"},
		{"GET", "/admin/audit?type=user.created%00", "", "type"},
		{"GET", "/profile/activity?cursor=%FF", "", "cursor"},
	} {
		rec := a.do(c.method, c.path, c.body, h...)
		if rec.Code != 400 {
			t.Errorf("%s %s: %d, want 400: %s", c.method, c.path, rec.Code, rec.Body)
			continue
		}
		if p := decode[oapi.Problem](t, rec); p.Errors == nil || len(*p.Errors) != 1 || (*p.Errors)[0].Field != c.field {
			t.Errorf("%s %s: %s, want the field %s named", c.method, c.path, rec.Body, c.field)
		}
	}

	route := regexp.MustCompile(`:[A-Za-z_]+`)
	for k, op := range a.srv.ops {
		if op.Protocol || op.Route == nil {
			continue
		}
		params := append(op.Route.PathItem.Parameters[:len(op.Route.PathItem.Parameters):len(op.Route.PathItem.Parameters)],
			op.Route.Operation.Parameters...)
		for _, ref := range params {
			p := ref.Value
			if p.In != "path" && p.In != "query" {
				continue
			}
			for _, bad := range []string{"\x00", "a\x00", "\xff"} {
				path := route.ReplaceAllStringFunc(k.Path, func(name string) string {
					if name[1:] == p.Name {
						return url.PathEscape(bad)
					}
					return "999999"
				})
				if p.In == "query" {
					path += "?" + url.Values{p.Name: {bad}}.Encode()
				}
				body := ""
				if op.Body {
					body = "{}"
				}
				if rec := a.do(k.Method, path, body, h...); rec.Code >= 500 {
					t.Errorf("%s %s: %d", k.Method, path, rec.Code)
				}
			}
		}
	}
}
