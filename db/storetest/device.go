package storetest

// The device grant's store (provider.DeviceStore), held to one behaviour on
// every engine: a code reads back as stored; it is answered once, while it
// lives, and approving starts the grant's session; a poll sooner than the
// interval is ErrSlowDown and grows the interval; an approved code is
// returned to one poll and then gone; expired codes are pruned.

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/provider"
)

// DeviceStore is what the device suite needs of an adapter: both stores,
// over one database.
type DeviceStore interface {
	db.Store
	provider.DeviceStore
}

// RunDevice runs the device suite; open returns a new, empty, migrated
// store for one subtest and arranges its closing with t.Cleanup.
func RunDevice(t *testing.T, open func(t *testing.T) DeviceStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s DeviceStore)
	}{
		{"a code reads back as stored, times in UTC to the millisecond", deviceRoundTrip},
		{"a code is answered once, while it lives; approving starts the grant's session", deviceAnswers},
		{"a poll sooner than the interval slows the device down by 5 s; another client's poll finds nothing", devicePolls},
		{"an approved code goes to one poll, of two at once", deviceConcurrentPolls},
		{"expired codes are pruned, live ones kept", devicePrune},
		{"a banned user's approval starts no grant", bannedDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

func testDeviceCode(n string) provider.DeviceCode {
	return provider.DeviceCode{DeviceHash: "d-" + n, UserHash: "u-" + n, ClientID: "kc_test",
		Scopes: []string{"openid", "offline_access"}, State: provider.DevicePending, Interval: 5 * time.Second,
		CreatedAt: opT0, ExpiresAt: opT0.Add(10 * time.Minute)}
}

func createDeviceCodes(t *testing.T, s DeviceStore, ns ...string) {
	t.Helper()
	for _, n := range ns {
		if err := s.CreateDeviceCode(t.Context(), testDeviceCode(n)); err != nil {
			t.Fatal(err)
		}
	}
}

func deviceRoundTrip(t *testing.T, s DeviceStore) {
	createDeviceCodes(t, s, "1")
	got, err := s.DeviceCodeByUserCode(t.Context(), "u-1")
	if err != nil {
		t.Fatal(err)
	}
	want := testDeviceCode("1")
	want.CreatedAt, want.ExpiresAt = db.Millis(want.CreatedAt), db.Millis(want.ExpiresAt)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if _, err := s.DeviceCodeByUserCode(t.Context(), "u-none"); !errors.Is(err, provider.ErrNoDeviceCode) {
		t.Errorf("unknown user code: %v, want ErrNoDeviceCode", err)
	}
	if err := s.CreateDeviceCode(t.Context(), testDeviceCode("1")); err == nil {
		t.Error("a second code with the same user code was stored")
	}
}

func deviceAnswers(t *testing.T, s DeviceStore) {
	u := newProviderUser(t, s, "ada@example.com")
	createDeviceCodes(t, s, "1", "2", "3")
	now := opT0.Add(time.Minute)
	sess := grantSession("g1", u.ID)
	if err := s.ApproveDeviceCode(t.Context(), "u-1", sess, db.AAL2, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeviceCodeByUserCode(t.Context(), "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != provider.DeviceApproved || got.UserID != u.ID || got.SessionID != "g1" || got.ACR != db.AAL2 ||
		got.AMR != "pwd otp mfa" || !got.AuthTime.Equal(db.Millis(sess.AuthTime)) {
		t.Errorf("approved code: %+v", got)
	}
	if _, err := s.GetSession(t.Context(), "g1"); err != nil {
		t.Errorf("the grant's session: %v", err)
	}
	if err := s.DenyDeviceCode(t.Context(), "u-2", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeviceCodeByUserCode(t.Context(), "u-2"); got.State != provider.DeviceDenied {
		t.Errorf("denied code: state %q", got.State)
	}
	// Answered already, expired (at its expiry exactly) or unknown:
	// refused, and no session starts.
	refused := []struct {
		user, sid string
		at        time.Time
	}{{"u-1", "g2", now}, {"u-2", "g3", now}, {"u-3", "g4", opT0.Add(10 * time.Minute)}, {"u-none", "g5", now}}
	for _, r := range refused {
		if err := s.ApproveDeviceCode(t.Context(), r.user, grantSession(r.sid, u.ID), db.AAL2, r.at); !errors.Is(err, provider.ErrNoDeviceCode) {
			t.Errorf("approving %s: %v, want ErrNoDeviceCode", r.user, err)
		}
		if err := s.DenyDeviceCode(t.Context(), r.user, r.at); !errors.Is(err, provider.ErrNoDeviceCode) {
			t.Errorf("denying %s: %v, want ErrNoDeviceCode", r.user, err)
		}
		if _, err := s.GetSession(t.Context(), r.sid); !errors.Is(err, db.ErrNoSession) {
			t.Errorf("session %s of a refused approval: %v, want ErrNoSession", r.sid, err)
		}
	}
}

func devicePolls(t *testing.T, s DeviceStore) {
	u := newProviderUser(t, s, "ada@example.com")
	createDeviceCodes(t, s, "1")
	poll := func(at time.Time) (provider.DeviceCode, error) {
		t.Helper()
		return s.PollDeviceCode(t.Context(), "d-1", "kc_test", at)
	}
	t1 := opT0.Add(time.Second)
	if c, err := poll(t1); err != nil || c.State != provider.DevicePending {
		t.Fatalf("first poll: %+v, %v", c, err)
	}
	// 4.999 s later: too soon; the interval becomes 10 s, from this poll.
	t2 := t1.Add(5*time.Second - time.Millisecond)
	if c, err := poll(t2); !errors.Is(err, provider.ErrSlowDown) || c.Interval != 10*time.Second {
		t.Errorf("early poll: interval %v, %v; want 10s, ErrSlowDown", c.Interval, err)
	}
	if c, err := poll(t2.Add(9 * time.Second)); !errors.Is(err, provider.ErrSlowDown) || c.Interval != 15*time.Second {
		t.Errorf("poll at the old interval: interval %v, %v; want 15s, ErrSlowDown", c.Interval, err)
	}
	t3 := t2.Add(9*time.Second + 15*time.Second)
	if c, err := poll(t3); err != nil || c.Interval != 15*time.Second {
		t.Errorf("poll at the interval: %+v, %v", c, err)
	}
	if err := s.ApproveDeviceCode(t.Context(), "u-1", grantSession("g1", u.ID), db.AAL1, t3); err != nil {
		t.Fatal(err)
	}
	// Another client's poll of the approved code: no such code for it,
	// and the code is left for its own client's poll below.
	if _, err := s.PollDeviceCode(t.Context(), "d-1", "kc_other", t3.Add(time.Minute)); !errors.Is(err, provider.ErrNoDeviceCode) {
		t.Errorf("another client's poll: %v, want ErrNoDeviceCode", err)
	}
	// Approved but polled too soon: slowed down, and still there.
	if _, err := poll(t3.Add(time.Second)); !errors.Is(err, provider.ErrSlowDown) {
		t.Errorf("early poll of an approved code: %v, want ErrSlowDown", err)
	}
	c, err := poll(t3.Add(time.Minute))
	if err != nil || c.State != provider.DeviceApproved || c.SessionID != "g1" || c.UserID != u.ID {
		t.Errorf("poll of the approved code: %+v, %v", c, err)
	}
	if _, err := poll(t3.Add(2 * time.Minute)); !errors.Is(err, provider.ErrNoDeviceCode) {
		t.Errorf("poll after the tokens were issued: %v, want ErrNoDeviceCode", err)
	}
	if _, err := s.PollDeviceCode(t.Context(), "d-none", "kc_test", t3); !errors.Is(err, provider.ErrNoDeviceCode) {
		t.Errorf("unknown device code: %v, want ErrNoDeviceCode", err)
	}
}

func deviceConcurrentPolls(t *testing.T, s DeviceStore) {
	u := newProviderUser(t, s, "ada@example.com")
	createDeviceCodes(t, s, "1")
	if err := s.ApproveDeviceCode(t.Context(), "u-1", grantSession("g1", u.ID), db.AAL1, opT0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	approved := 0
	for range 4 {
		wg.Go(func() {
			c, err := s.PollDeviceCode(t.Context(), "d-1", "kc_test", opT0.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			if err == nil && c.State == provider.DeviceApproved {
				approved++
			} else if err != nil && !errors.Is(err, provider.ErrNoDeviceCode) && !errors.Is(err, provider.ErrSlowDown) {
				t.Errorf("poll: %v", err)
			}
		})
	}
	wg.Wait()
	if approved != 1 {
		t.Errorf("%d polls got the approved code, want 1", approved)
	}
}

func devicePrune(t *testing.T, s DeviceStore) {
	createDeviceCodes(t, s, "1")
	live := testDeviceCode("2")
	live.ExpiresAt = opT0.Add(time.Hour)
	if err := s.CreateDeviceCode(t.Context(), live); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneDeviceCodes(t.Context(), opT0.Add(10*time.Minute))
	if err != nil || n != 1 {
		t.Errorf("pruned %d, %v; want 1", n, err)
	}
	if _, err := s.DeviceCodeByUserCode(t.Context(), "u-1"); !errors.Is(err, provider.ErrNoDeviceCode) {
		t.Errorf("expired code: %v, want pruned", err)
	}
	if _, err := s.DeviceCodeByUserCode(t.Context(), "u-2"); err != nil {
		t.Errorf("live code: %v", err)
	}
}
