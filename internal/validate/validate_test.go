package validate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
)

// TestCheck: a bearer operation runs the Authenticate hook and hands on its
// context; a JSON-body operation refuses another media type and a body that
// CheckJSON refuses, before the spec's validation.
func TestCheck(t *testing.T) {
	t.Parallel()
	spec, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Read(spec)
	if err != nil {
		t.Fatal(err)
	}
	type hookKey struct{}
	v := New(func(r *http.Request, _ *Operation) (context.Context, error) {
		return context.WithValue(r.Context(), hookKey{}, "from the hook"), nil
	})
	for _, tt := range []struct {
		name        string
		key         Key
		contentType string
		body        string
		check       func(t *testing.T, req *http.Request, err error)
	}{
		{"bearer operation", Key{"GET", "/profile"}, "", "", func(t *testing.T, req *http.Request, err error) {
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got := req.Context().Value(hookKey{}); got != "from the hook" {
				t.Errorf("the handler's context holds %v, not the hook's", got)
			}
		}},
		{"JSON body, not JSON", Key{"POST", "/login"}, "text/plain", `{"email":"a@example.com","password":"x"}`,
			func(t *testing.T, _ *http.Request, err error) {
				if !errors.Is(err, ErrNotJSON) {
					t.Errorf("Check: %v, want ErrNotJSON", err)
				}
			}},
		{"JSON body, duplicate key", Key{"POST", "/login"}, "application/json",
			`{"email":"a@example.com","email":"b@example.com","password":"password1"}`,
			func(t *testing.T, _ *http.Request, err error) {
				var be *BodyError
				if !errors.As(err, &be) {
					t.Errorf("Check: %v, want a *BodyError", err)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := ops[tt.key]
			if op == nil {
				t.Fatalf("no operation %v in the spec", tt.key)
			}
			req := httptest.NewRequest(tt.key.Method, tt.key.Path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			got, err := v.Check(req, op, nil)
			tt.check(t, got, err)
		})
	}
}
