package ws

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheckHandshake(t *testing.T) {
	t.Parallel()
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's example: 16 bytes
	for _, tt := range []struct {
		name       string
		hdr        []string
		want       error
		wantHeader string // a header the refusal must carry
	}{
		{"ok", nil, nil, ""},
		{"header tokens in any case and list", []string{"Connection", "keep-alive, UPGRADE", "Upgrade", "WebSocket"}, nil, ""},
		{"same origin", []string{"Origin", "http://keel.example"}, nil, ""},
		{"no upgrade", []string{"Upgrade", ""}, ErrNotUpgrade, "Upgrade"},
		{"no connection upgrade", []string{"Connection", "keep-alive"}, ErrNotUpgrade, "Upgrade"},
		{"version 8", []string{"Sec-WebSocket-Version", "8"}, ErrBadHandshake, "Sec-WebSocket-Version"},
		{"short key", []string{"Sec-WebSocket-Key", "c2hvcnQ="}, ErrBadHandshake, "Sec-WebSocket-Version"},
		{"key not base64", []string{"Sec-WebSocket-Key", "not base64!"}, ErrBadHandshake, "Sec-WebSocket-Version"},
		{"other origin", []string{"Origin", "https://evil.example"}, ErrCrossOrigin, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://keel.example/ws", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Version", "13")
			r.Header.Set("Sec-WebSocket-Key", key)
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				r.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			answer := http.Header{}
			if err := CheckHandshake(r, answer); err != tt.want {
				t.Fatalf("CheckHandshake: %v, want %v", err, tt.want)
			}
			if tt.wantHeader != "" && answer.Get(tt.wantHeader) == "" {
				t.Errorf("refusal without %s: %v", tt.wantHeader, answer)
			}
		})
	}

	t.Run("two keys", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Add("Sec-WebSocket-Key", key)
		r.Header.Add("Sec-WebSocket-Key", key)
		if err := CheckHandshake(r, http.Header{}); err != ErrBadHandshake {
			t.Errorf("two keys: %v, want ErrBadHandshake", err)
		}
	})
}
