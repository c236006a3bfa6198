package server

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientGone: a request whose client went away gets no answer at all
// (the spec documents none for it), and the log and metrics say 499.
func TestClientGone(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(credentials("ada@example.com", "password123"))).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("an answer was written to a client that left: %d %q", rec.Code, rec.Body)
	}
	if logs := a.logs.String(); !strings.Contains(logs, `"route":"/login","status":499`) || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("want a 499 request line and no error:\n%s", logs)
	}
	if m := a.do("GET", "/metrics", "").Body.String(); !strings.Contains(m, `keel_http_requests_total{method="POST",route="/login",status="499"} 1`) {
		t.Error("metrics lack the 499")
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
