package webhooks_test

import (
	"testing"
	"time"

	"github.com/keelhq/keel/internal/webhooks"
)

// TestBackoff: the wait before each retry starts at WEBHOOKS_RETRY_MIN and
// doubles (exponential), never more than an hour: 5 s, 10 s, 20 s... 1 h,
// so 24 h of retries are about 40 attempts, not thousands.
func TestBackoff(t *testing.T) {
	const first = 5 * time.Second
	for _, tc := range []struct {
		failed int
		want   time.Duration
	}{
		{0, first}, {1, first}, {2, 10 * time.Second}, {3, 20 * time.Second}, {4, 40 * time.Second},
		{10, 2560 * time.Second}, {11, time.Hour}, {12, time.Hour}, {100, time.Hour},
	} {
		if got := webhooks.Backoff(first, tc.failed); got != tc.want {
			t.Errorf("Backoff(%v, %d) = %v, want %v", first, tc.failed, got, tc.want)
		}
	}
	var total time.Duration
	n := 0
	for ; total < 24*time.Hour; n++ {
		total += webhooks.Backoff(first, n+1)
	}
	if n < 30 || n > 40 {
		t.Errorf("24 h of retries from 5 s: %d attempts, want about 35", n)
	}
	if got := webhooks.Backoff(2*time.Hour, 1); got != 2*time.Hour {
		t.Errorf("a first wait over the cap: %v, want it kept", got)
	}
}
