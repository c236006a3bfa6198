package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
)

// TestOpsCommands: `keel healthcheck` (the container health check) passes
// against a running keel and fails without one; PPROF_ADDR serves pprof on
// loopback only.
func TestOpsCommands(t *testing.T) {
	t.Parallel()
	addr, out, _ := start(t, map[string]string{"PPROF_ADDR": "127.0.0.1:0"})
	env := func(k string) string {
		if k == "ADDR" {
			return addr
		}
		return ""
	}
	if err := run(context.Background(), []string{"healthcheck"}, env, io.Discard); err != nil {
		t.Errorf("healthcheck against a running keel: %v", err)
	}
	closed := func(k string) string {
		if k == "ADDR" {
			return "127.0.0.1:1"
		}
		return ""
	}
	if err := run(context.Background(), []string{"healthcheck"}, closed, io.Discard); err == nil {
		t.Error("healthcheck with nothing listening passed")
	}

	m := regexp.MustCompile(`"msg":"pprof listening","addr":"([^"]+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pprof listener in the log:\n%s", out)
	}
	res, err := http.Get("http://" + m[1] + "/debug/pprof/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("pprof index: %v %v", res, err)
	}
	res.Body.Close()
	// pprof is not on the API port: a 404 there is the spec's problem.
	res, err = checkedClient(t, 0, nil).Get("http://" + addr + "/debug/pprof/")
	if err != nil || res.StatusCode != 404 {
		t.Errorf("pprof on the API port: %v %v", res, err)
	}
	res.Body.Close()
}
