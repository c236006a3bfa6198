package server

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// TestMetricsSeeded: every (route, method, status) the spec documents has its
// request counter at 0 before any request.
func TestMetricsSeeded(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	body := a.do("GET", "/metrics", "").Body.String()
	for k, op := range a.srv.ops {
		for status := range op.Route.Operation.Responses.Map() {
			if _, err := strconv.Atoi(status); err != nil {
				continue
			}
			if want := fmt.Sprintf(`keel_http_requests_total{method=%q,route=%q,status=%q} `, k.Method, k.Path, status); !strings.Contains(body, want) {
				t.Errorf("not there from the start: %s", want)
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	// The same route and method with another status: its own series.
	if rec := a.do("POST", "/register", credentials("ada@example.com", "password123")); rec.Code != 409 {
		t.Fatalf("second register = %d, want 409", rec.Code)
	}
	a.do("GET", "/nope", "")
	a.do("FOO1", "/", "")
	a.do("FOO2", "/", "")

	ts := httptest.NewServer(a.srv)
	defer ts.Close()
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(t.Context()); err != nil {
		t.Fatal(err)
	}

	rec := a.do("GET", "/metrics", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{
		`keel_http_requests_total{method="POST",route="/register",status="201"} 1`,
		`keel_http_requests_total{method="GET",route="(unmatched)",status="404"} 1`,
		`keel_http_requests_total{method="POST",route="/register",status="409"} 1`,
		`keel_http_request_duration_seconds_bucket{method="POST",route="/register",le="+Inf"} 2`,
		`keel_websockets_open 1`,
		`keel_http_requests_total{method="POST",route="/login",status="429"} 0`, // documented: there from the start
		`keel_http_requests_total{method="GET",route="/profile",status="500"} 0`,
		`keel_bcrypt_queue_depth 0`,
		`keel_http_requests_total{method="OTHER",route="/",status="405"} 2`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestMetricsWithoutTheDatabase: a metric that cannot be collected now
// (River's job counts, with the database gone) is left out of the scrape and
// logged; the scrape itself still answers 200 with everything else, since no
// client caused the failure.
func TestMetricsWithoutTheDatabase(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.store.Close() // River's count query now fails
	rec := a.status(a.do("GET", "/metrics", ""), 200, "scrape with the database gone")
	body := rec.Body.String()
	if !strings.Contains(body, "keel_http_requests_total{") || strings.Contains(body, "keel_river_jobs{") {
		t.Errorf("scrape without the database: want the request counters and no job counts:\n%.2000s", body)
	}
	if !strings.Contains(a.logs.String(), "keel_river_jobs") {
		t.Errorf("the failed collection was not logged:\n%s", a.logs)
	}
}
