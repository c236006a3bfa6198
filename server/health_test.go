package server

import (
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	rec := a.do("GET", "/", "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("GET / = %d %s", rec.Code, rec.Body)
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if rec := a.do("GET", path, ""); rec.Code != 200 {
			t.Errorf("%s = %d", path, rec.Code)
		}
	}
	a.store.Close() // the database stops answering
	if rec := a.do("GET", "/readyz", ""); rec.Code != 503 {
		t.Errorf("/readyz with no database = %d, want 503", rec.Code)
	}
	if rec := a.do("GET", "/healthz", ""); rec.Code != 200 {
		t.Errorf("/healthz with no database = %d, want 200", rec.Code)
	}
}
