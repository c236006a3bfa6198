package main

import (
	"testing"
	"time"

	"github.com/keelhq/keel/internal/testutil"
)

// TestLogBuffer: lines wait in memory until the interval passes (or Close),
// so no request waits on a write to stdout.
func TestLogBuffer(t *testing.T) {
	t.Parallel()
	t.Run("held until Close", func(t *testing.T) {
		var out testutil.SyncBuffer
		b := newLogBuffer(&out, 1<<10, time.Hour)
		b.Write([]byte("one\n"))
		if out.String() != "" {
			t.Errorf("written before the interval: %q", out.String())
		}
		if err := b.Close(); err != nil || out.String() != "one\n" {
			t.Errorf("Close wrote %q (%v)", out.String(), err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("written every interval", func(t *testing.T) {
		var out testutil.SyncBuffer
		b := newLogBuffer(&out, 1<<10, 10*time.Millisecond)
		defer b.Close()
		b.Write([]byte("one\n"))
		for deadline := time.Now().Add(5 * time.Second); out.String() == "" && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if out.String() != "one\n" {
			t.Errorf("not written after the interval: %q", out.String())
		}
	})
}
