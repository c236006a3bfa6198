package validate

import (
	"errors"
	"strings"
	"testing"
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
