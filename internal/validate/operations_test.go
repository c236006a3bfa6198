package validate

import (
	"testing"

	"github.com/keelhq/keel/api"
)

// TestOperations: the table holds every operation of the spec under Echo's
// route template, with what the middleware reads.
func TestOperations(t *testing.T) {
	t.Parallel()
	spec, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Read(spec)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, item := range spec.Paths.Map() {
		n += len(item.Operations())
	}
	if len(ops) != n {
		t.Errorf("%d operations in the table, %d in the spec", len(ops), n)
	}
	del := ops[Key{"DELETE", "/sessions/:id"}]
	if del == nil || del.ID != "deleteSession" || !del.Bearer || !del.Inputs || del.Body {
		t.Errorf("DELETE /sessions/:id: %+v", del)
	}
	login := ops[Key{"POST", "/login"}]
	if login == nil || login.Bearer || !login.Body || !login.RateLimited {
		t.Errorf("POST /login: %+v", login)
	}
	// The rate-limit buckets the spec names: the password checks share one,
	// every other marked operation has its own; the sign-in's start is a
	// navigation.
	if login.RateBucket != "password" || ops[Key{"POST", "/email/verify"}].RateBucket != "password" {
		t.Errorf("POST /login and /email/verify buckets: %q, %q; want password", login.RateBucket, ops[Key{"POST", "/email/verify"}].RateBucket)
	}
	if reg := ops[Key{"POST", "/register"}]; reg == nil || reg.RateBucket != "register" || reg.Navigation {
		t.Errorf("POST /register: %+v", reg)
	}
	if auth := ops[Key{"GET", "/oauth/:provider/authorize"}]; auth == nil || !auth.Navigation || auth.RateBucket != "oauthAuthorize" {
		t.Errorf("GET /oauth/:provider/authorize: %+v", auth)
	}
	// Bearer optional: security lists {} and bearerAuth.
	verify := ops[Key{"POST", "/email/verify"}]
	if verify == nil || verify.Bearer || !verify.BearerOptional || del.BearerOptional || login.BearerOptional {
		t.Errorf("POST /email/verify: %+v (DELETE /sessions/:id %+v, POST /login %+v)", verify, del, login)
	}
	if got := ops.Allow()["/sessions/:id"]; got != "DELETE, OPTIONS" {
		t.Errorf("Allow of /sessions/:id: %q", got)
	}
	if got := EchoPath("/docs/{asset}"); got != "/docs/:asset" {
		t.Errorf("EchoPath: %q", got)
	}
}
