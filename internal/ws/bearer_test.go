package ws

import (
	"net/http"
	"testing"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		values []string
		tok    string
		ok     bool
	}{
		{"none", nil, "", false},
		{"other protocols", []string{"chat, superchat"}, "", false},
		{"bearer and a token", []string{"bearer, abc.def.ghi"}, "abc.def.ghi", true},
		{"after another protocol", []string{"chat, bearer,abc"}, "abc", true},
		{"over two header lines", []string{"bearer", "abc"}, "abc", true},
		{"bearer without a token", []string{"chat, bearer"}, "", true},
		{"names are case-sensitive", []string{"Bearer, abc"}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Sec-WebSocket-Protocol", v)
			}
			if tok, ok := BearerToken(h); tok != tt.tok || ok != tt.ok {
				t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.values, tok, ok, tt.tok, tt.ok)
			}
		})
	}
}
