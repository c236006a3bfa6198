package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunEvery runs a job at a millisecond interval: it runs again and again,
// never two at once, keeps going after a failure, and stops on cancel.
func TestRunEvery(t *testing.T) {
	var (
		runs, running, overlaps atomic.Int32
		logs                    syncBuffer
	)
	ctx, cancel := context.WithCancel(context.Background())
	job := func(context.Context) error {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		n := runs.Add(1)
		time.Sleep(3 * time.Millisecond) // longer than the interval
		if n == 2 {
			return errors.New("boom")
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		RunEvery(ctx, time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)), "test", job)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunEvery did not stop on cancel")
	}
	after := runs.Load()
	time.Sleep(10 * time.Millisecond)
	if got := runs.Load(); got != after {
		t.Errorf("ran %d more times after stopping", got-after)
	}
	if after < 5 {
		t.Errorf("ran %d times, want at least 5", after)
	}
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping runs", overlaps.Load())
	}
	if !strings.Contains(logs.String(), `"msg":"job failed"`) || !strings.Contains(logs.String(), "boom") {
		t.Errorf("failure not logged: %s", logs.String())
	}
}

func TestCountUsers(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	a.mustRegister("bob@example.com", "password123")
	if err := a.srv.CountUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.logs.String(), `"users":2`) {
		t.Errorf("count not logged: %s", a.logs)
	}
	a.store.Close()
	if err := a.srv.CountUsers(context.Background()); err == nil {
		t.Error("CountUsers on a closed database succeeded")
	}
}
