package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/keelhq/keel/api"
)

func TestHealth(t *testing.T) {
	a := newTestAPI(t)
	rec := a.do("GET", "/", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("GET / = %d %s", rec.Code, rec.Body)
	}
}

func TestRouting(t *testing.T) {
	a := newTestAPI(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", 404, ""},
		{"GET", "/profile/", 404, ""},
		{"DELETE", "/profile/password", 405, "OPTIONS, PUT"},
		{"GET", "/register", 405, "OPTIONS, POST"},
		{"PUT", "/", 405, "GET, OPTIONS"},
		{"GET", "/docs/secret.txt", 404, ""},
		{"GET", "/docs/", 200, ""},
		{"GET", "/docs/" + strings.Repeat("a", 65), 400, ""},
		{"OPTIONS", "/login", 204, "OPTIONS, POST"},
		{"OPTIONS", "/", 204, "GET, OPTIONS"},
		{"OPTIONS", "/nope", 404, ""},
		{"FOO", "/", 405, "GET, OPTIONS"},
		{"GET", "/docs/..%2fserver.go", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := a.do(tt.method, tt.path, "")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestDocs(t *testing.T) {
	a := newTestAPI(t)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/openapi.yaml", "application/yaml", "openapi: 3.0"},
		{"/openapi.json", "application/json", `"openapi":"3.0`},
		{"/docs", "text/html", "swagger-ui-bundle.js"},
		{"/docs/", "text/html", "swagger-ui-bundle.js"},
		{"/docs/swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"},
		{"/docs/swagger-ui.css", "text/css", ".swagger-ui"},
		{"/docs/init.js", "text/javascript", "/openapi.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := a.do("GET", tt.path, "")
			if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.contentType) {
				t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
	var doc map[string]any
	if err := json.Unmarshal(a.do("GET", "/openapi.json", "").Body.Bytes(), &doc); err != nil || doc["paths"] == nil {
		t.Errorf("openapi.json is not the document: %v", err)
	}
}

func TestRequestID(t *testing.T) {
	a := newTestAPI(t)
	if got := a.do("GET", "/", "", "X-Request-Id", "abc-123").Header().Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("client id not kept: %q", got)
	}
	for _, bad := range []string{"a b", "x\"}{", strings.Repeat("a", 129)} {
		got := a.do("GET", "/", "", "X-Request-Id", bad).Header().Get("X-Request-Id")
		if got == bad || got == "" {
			t.Errorf("id %q kept or missing: %q", bad, got)
		}
	}
	p := problemOf(t, a.do("GET", "/nope", "", "X-Request-Id", "find-me"))
	if p.Instance == nil || *p.Instance != "find-me" {
		t.Errorf("problem instance %v, want the request id", p.Instance)
	}
}

// TestLogs: one line per request with its fields, and never a password, hash
// or token.
func TestLogs(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "secret-password-1")
	token := a.mustLogin("ada@example.com", "secret-password-1")
	a.do("GET", "/profile", "", "Authorization", "Bearer "+token)
	a.do("POST", "/login", credentials("ada@example.com", "wrong-password-2"))

	logs := a.logs.String()
	for _, secret := range []string{"secret-password-1", "wrong-password-2", "$2a$", token} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		if m["msg"] != "request" {
			continue
		}
		n++
		for _, k := range []string{"method", "route", "status", "latency_ms", "request_id", "client_ip"} {
			if _, ok := m[k]; !ok {
				t.Errorf("request line lacks %s: %s", k, l)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d request lines, want 4:\n%s", n, logs)
	}
}

// TestInternalError: a 5xx shows no internal text and is logged with its id.
func TestInternalError(t *testing.T) {
	a := newTestAPI(t)
	a.store.Close() // every query now fails
	a.broken = true
	rec := a.do("GET", "/", "")
	if rec.Code != 200 {
		t.Fatalf("health needs no database: %d", rec.Code)
	}
	rec = a.do("POST", "/login", credentials("ada@example.com", "password123"), "X-Request-Id", "boom-1")
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "sql") || strings.Contains(rec.Body.String(), "closed") {
		t.Errorf("500 shows internals: %s", rec.Body)
	}
	if !strings.Contains(a.logs.String(), `"request_id":"boom-1"`) || !strings.Contains(a.logs.String(), `"level":"ERROR"`) {
		t.Errorf("500 not logged with its request id:\n%s", a.logs)
	}
}

func TestWebSocket(t *testing.T) {
	a := newTestAPI(t)
	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("greeting, then the client closes", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		typ, msg, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(msg) != greeting {
			t.Fatalf("read %v %q %v", typ, msg, err)
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Error(err)
		}
	})

	t.Run("not a handshake", func(t *testing.T) {
		if rec := a.do("GET", "/ws", ""); rec.Code != http.StatusUpgradeRequired {
			t.Errorf("status %d, want 426", rec.Code)
		}
		for _, hdr := range [][]string{
			{"Sec-WebSocket-Version", "8", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
			{"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "short"},
			{"Sec-WebSocket-Version", "13"},
		} {
			rec := a.do("GET", "/ws", "", append([]string{"Connection", "Upgrade", "Upgrade", "websocket"}, hdr...)...)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%v: status %d, want 400", hdr, rec.Code)
			}
		}
	})

	t.Run("cross-origin", func(t *testing.T) {
		_, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin handshake: %v %v", res, err)
		}
	})

	t.Run("server shutdown closes with 1001", func(t *testing.T) {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.srv.Close(ctx) }()
		_, _, err = c.Read(ctx)
		if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
			t.Errorf("close status %v (%v), want 1001", got, err)
		}
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Close: %v", err)
		}
	})
}

// TestRoutesMatchSpec: every route Echo serves is an operation of the spec,
// and every operation is served.
func TestRoutesMatchSpec(t *testing.T) {
	a := newTestAPI(t)
	doc, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := operations(doc, sessionCheckedByHandler)
	if err != nil {
		t.Fatal(err)
	}
	served := map[opKey]bool{}
	for _, r := range a.srv.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		key := opKey{r.Method, r.Path}
		served[key] = true
		if ops[key] == nil {
			t.Errorf("%s %s is served but not in the spec", r.Method, r.Path)
		}
	}
	for key := range ops {
		if !served[key] {
			t.Errorf("%s %s is in the spec but not served", key.method, key.path)
		}
	}
}
