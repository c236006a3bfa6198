package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		body string
		want error // nil: accepted; errSyntax: any other error
	}{
		{"object", `{"email":"a@example.com","password":"x"}`, nil},
		{"nested within the limit", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), nil},
		{"invalid UTF-8", "{\"password\":\"pass\xffword\"}", ErrInvalidUTF8},
		{"duplicate key", `{"a":1,"a":2}`, ErrDuplicateKey},
		{"duplicate key, nested", `{"x":{"a":1,"a":2}}`, ErrDuplicateKey},
		{"trailing data", `{"a":1} {}`, ErrTrailingData},
		{"lone surrogate in a value", `{"a":"\ud800"}`, ErrBadUnicode},
		{"lone surrogate in a key", `{"\udc00":1}`, ErrBadUnicode},
		{"replacement character", `{"a":"` + "\uFFFD" + `"}`, ErrBadUnicode},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ErrTooDeep},
		{"too deep, unclosed", strings.Repeat("[", 65000), ErrTooDeep},
		{"malformed", `{"a":`, errSyntax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckJSON([]byte(tt.body))
			switch {
			case tt.want == errSyntax:
				if err == nil || isStrictnessError(err) {
					t.Errorf("CheckJSON: %v, want a syntax error", err)
				}
			case !errors.Is(err, tt.want) && err != tt.want:
				t.Errorf("CheckJSON: %v, want %v", err, tt.want)
			}
		})
	}
}

var errSyntax = errors.New("syntax")

func TestEmail(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"ada@example.com":              true,
		"Grace@Example.COM":            true,
		" ada@example.com":             false,
		"ñandú@example.com":            false,
		"ada@exämple.com":              false,
		"ada":                          false,
		"Ada <ada@example.com>":        false,
		"a@example.com, b@example.com": false,
		"ada\u0007@example.com":        false,
		"<ada@example.com>":            false,
	} {
		if err := Email(addr); (err == nil) != ok {
			t.Errorf("Email(%q): %v, want ok=%v", addr, err, ok)
		}
	}
}

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
	if got := ops.Allow()["/sessions/:id"]; got != "DELETE, OPTIONS" {
		t.Errorf("Allow of /sessions/:id: %q", got)
	}
	if got := EchoPath("/docs/{asset}"); got != "/docs/:asset" {
		t.Errorf("EchoPath: %q", got)
	}
}
