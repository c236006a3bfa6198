package storetest

// The signing keys' store (keys.Store), held to one behaviour on every
// engine: the set and its version, changes serialised across handles (as
// across replicas and CLI processes), one current key per algorithm, and a
// watch that hears of every change within a second and a half.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keelhq/keel/internal/keys"
)

// RunKeys runs the signing keys' suite. open returns a store on a new,
// empty, migrated database for one subtest and arranges its closing with
// t.Cleanup; reopen returns another handle on the database s is on (another
// replica, or the CLI), closed the same way.
func RunKeys(t *testing.T, open func(t *testing.T) keys.Store, reopen func(t *testing.T, s keys.Store) keys.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, open func(t *testing.T) keys.Store, reopen func(t *testing.T, s keys.Store) keys.Store)
	}{
		{"an empty set reads back empty, at version 0", emptyKeySet},
		{"added, updated and deleted keys read back, oldest first, times in UTC to the millisecond", keyRoundTrip},
		{"the version increases by one for each change that changes something, never for an empty one", keyVersions},
		{"an error from the plan, or a Change the database refuses, rolls the whole Change back", keyRollback},
		{"one current key per algorithm; a Change that retires it and makes another current works", oneCurrentKey},
		{"concurrent changes from two handles run one after the other", concurrentKeyChanges},
		{"the watch hears of a change by another handle and by its own within 1.5 s, and ends with ctx", watchKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open, reopen)
		})
	}
}

// keysT0 is a time with sub-millisecond digits, not in UTC.
var keysT0 = time.Date(2026, 12, 7, 4, 5, 6, 789_654_321, time.FixedZone("CET", 3600))

// testKey is a key of alg in state, created d after keysT0.
func testKey(id, alg, state string, d time.Duration) keys.Key {
	return keys.Key{ID: id, Alg: alg, State: state, Public: []byte("public " + id), Sealed: []byte("sealed " + id),
		CreatedAt: keysT0.Add(d)}
}

// change applies c as the plan's answer, whatever the set.
func change(t *testing.T, s keys.Store, c keys.Change) error {
	t.Helper()
	return s.ChangeSigningKeys(t.Context(), func([]keys.Key) (keys.Change, error) { return c, nil })
}

// mustChange applies c and fails the test on an error.
func mustChange(t *testing.T, s keys.Store, c keys.Change) {
	t.Helper()
	if err := change(t, s, c); err != nil {
		t.Fatal(err)
	}
}

// keySet reads the set and its version.
func keySet(t *testing.T, s keys.Store) ([]keys.Key, int64) {
	t.Helper()
	ks, v, err := s.SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.SigningKeysVersion(t.Context()); err != nil || got != v {
		t.Fatalf("SigningKeysVersion = %d, %v; SigningKeys said %d", got, err, v)
	}
	return ks, v
}

// stored is k as it reads back: times in UTC to the millisecond.
func stored(k keys.Key) keys.Key {
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Millisecond)
	}
	k.CreatedAt, k.ActivatedAt, k.RetiredAt = ms(k.CreatedAt), ms(k.ActivatedAt), ms(k.RetiredAt)
	return k
}

func emptyKeySet(t *testing.T, open func(*testing.T) keys.Store, _ func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	ks, v := keySet(t, s)
	if len(ks) != 0 || v != 0 {
		t.Errorf("a new database's set: %d keys at version %d, want none at 0", len(ks), v)
	}
	var seen []keys.Key
	if err := s.ChangeSigningKeys(t.Context(), func(ks []keys.Key) (keys.Change, error) {
		seen = ks
		return keys.Change{}, nil
	}); err != nil || len(seen) != 0 {
		t.Errorf("the plan saw %v (err %v), want no keys", seen, err)
	}
}

func keyRoundTrip(t *testing.T, open func(*testing.T) keys.Store, _ func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	next := testKey("k-next", "EdDSA", keys.StateNext, 2*time.Second)
	current := testKey("k-current", "ES256", keys.StateCurrent, time.Second)
	current.ActivatedAt = keysT0.Add(1500 * time.Millisecond)
	retired := testKey("k-retired", "RS256", keys.StateRetired, 0)
	retired.ActivatedAt = keysT0.Add(100 * time.Microsecond)
	retired.RetiredAt = keysT0.Add(time.Second + 999*time.Microsecond)
	retired.Public, retired.Sealed = []byte{0, 1, 2, 255}, []byte{255, 0}
	mustChange(t, s, keys.Change{Add: []keys.Key{next, current, retired}})

	ks, _ := keySet(t, s)
	want := []keys.Key{stored(retired), stored(current), stored(next)} // oldest first
	if diff := cmp.Diff(want, ks); diff != "" {
		t.Fatalf("after adding (-want +got):\n%s", diff)
	}
	for _, k := range ks {
		for _, tm := range []time.Time{k.CreatedAt, k.ActivatedAt, k.RetiredAt} {
			if tm.Location() != time.UTC && !tm.IsZero() {
				t.Errorf("key %s: time %v not in UTC", k.ID, tm)
			}
		}
	}

	// An update changes the state and both times, and nothing else of the
	// key, whatever else the Key it is given holds.
	promoted := keys.Key{ID: next.ID, State: keys.StateCurrent, ActivatedAt: keysT0.Add(3 * time.Second),
		Alg: "RS256", Public: []byte("other"), Sealed: []byte("other"), CreatedAt: keysT0}
	demoted := current
	demoted.State, demoted.RetiredAt = keys.StateRetired, keysT0.Add(3*time.Second)
	unretired := retired
	unretired.State, unretired.ActivatedAt, unretired.RetiredAt = keys.StateRevoked, time.Time{}, time.Time{}
	mustChange(t, s, keys.Change{Update: []keys.Key{promoted, demoted, unretired}})
	wantNext := next
	wantNext.State, wantNext.ActivatedAt = promoted.State, promoted.ActivatedAt
	want = []keys.Key{stored(unretired), stored(demoted), stored(wantNext)}
	ks, _ = keySet(t, s)
	if diff := cmp.Diff(want, ks); diff != "" {
		t.Fatalf("after updating (-want +got):\n%s", diff)
	}

	mustChange(t, s, keys.Change{Delete: []string{retired.ID, current.ID}})
	ks, _ = keySet(t, s)
	if diff := cmp.Diff([]keys.Key{stored(wantNext)}, ks); diff != "" {
		t.Fatalf("after deleting (-want +got):\n%s", diff)
	}
}

func keyVersions(t *testing.T, open func(*testing.T) keys.Store, _ func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	steps := []struct {
		name string
		c    keys.Change
		want int64
	}{
		{"empty", keys.Change{}, 0},
		{"add", keys.Change{Add: []keys.Key{testKey("a", "EdDSA", keys.StateNext, 0)}}, 1},
		{"empty again", keys.Change{Add: []keys.Key{}, Update: nil, Delete: []string{}}, 1},
		{"update", keys.Change{Update: []keys.Key{{ID: "a", State: keys.StateCurrent, ActivatedAt: keysT0}}}, 2},
		{"add two", keys.Change{Add: []keys.Key{testKey("b", "EdDSA", keys.StateNext, 1), testKey("c", "ES256", keys.StateNext, 2)}}, 3},
		{"delete", keys.Change{Delete: []string{"b"}}, 4},
		{"empty at the end", keys.Change{}, 4},
	}
	for _, step := range steps {
		mustChange(t, s, step.c)
		if _, v := keySet(t, s); v != step.want {
			t.Errorf("after %s: version %d, want %d", step.name, v, step.want)
		}
	}
}

func keyRollback(t *testing.T, open func(*testing.T) keys.Store, _ func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	mustChange(t, s, keys.Change{Add: []keys.Key{testKey("a", "EdDSA", keys.StateCurrent, 0), testKey("b", "EdDSA", keys.StateNext, 1)}})
	before, v0 := keySet(t, s)
	planErr := errors.New("the plan's own error")
	tests := []struct {
		name string
		plan func([]keys.Key) (keys.Change, error)
		want error // nil: any error
	}{
		{"the plan fails", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Add: []keys.Key{testKey("c", "EdDSA", keys.StateNext, 2)}}, planErr
		}, planErr},
		{"a kid taken", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Add: []keys.Key{testKey("c", "ES256", keys.StateNext, 2), testKey("a", "ES256", keys.StateNext, 3)}}, nil
		}, nil},
		{"an update of a missing key", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Delete: []string{"b"}, Update: []keys.Key{{ID: "nope", State: keys.StateRetired}}}, nil
		}, nil},
		{"a deletion of a missing key", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Update: []keys.Key{{ID: "a", State: keys.StateRetired}}, Delete: []string{"nope"}}, nil
		}, nil},
		{"an unknown state", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Add: []keys.Key{testKey("c", "EdDSA", "pending", 2)}}, nil
		}, nil},
		{"an unknown algorithm", func([]keys.Key) (keys.Change, error) {
			return keys.Change{Add: []keys.Key{testKey("c", "HS256", keys.StateNext, 2)}}, nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ChangeSigningKeys(t.Context(), tt.plan)
			switch {
			case err == nil:
				t.Fatal("ChangeSigningKeys succeeded")
			case tt.want != nil && err != tt.want:
				t.Errorf("ChangeSigningKeys: %v, want the plan's error as it is", err)
			}
			after, v := keySet(t, s)
			if diff := cmp.Diff(before, after); diff != "" || v != v0 {
				t.Errorf("after a failed change: version %d (was %d), keys (-before +after):\n%s", v, v0, diff)
			}
		})
	}
}

func oneCurrentKey(t *testing.T, open func(*testing.T) keys.Store, _ func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	mustChange(t, s, keys.Change{Add: []keys.Key{
		testKey("ed-1", "EdDSA", keys.StateCurrent, 0), testKey("es-1", "ES256", keys.StateCurrent, 1),
		testKey("ed-2", "EdDSA", keys.StateNext, 2),
	}})
	before, v0 := keySet(t, s)
	for _, tt := range []struct {
		name string
		c    keys.Change
	}{
		{"a second current key added", keys.Change{Add: []keys.Key{testKey("ed-3", "EdDSA", keys.StateCurrent, 3)}}},
		{"a next key made current beside the current one", keys.Change{Update: []keys.Key{{ID: "ed-2", State: keys.StateCurrent, ActivatedAt: keysT0}}}},
		{"a next key made current before the current one retires", keys.Change{Update: []keys.Key{
			{ID: "ed-2", State: keys.StateCurrent, ActivatedAt: keysT0}, {ID: "ed-1", State: keys.StateRetired, RetiredAt: keysT0},
		}}},
	} {
		if err := change(t, s, tt.c); err == nil {
			t.Errorf("%s: ChangeSigningKeys succeeded, want the database's refusal", tt.name)
		}
		after, v := keySet(t, s)
		if diff := cmp.Diff(before, after); diff != "" || v != v0 {
			t.Errorf("%s: version %d (was %d), keys (-before +after):\n%s", tt.name, v, v0, diff)
		}
	}

	// A rotation in one Change: the current key retires, then the next one
	// becomes current (Update applies in its order).
	mustChange(t, s, keys.Change{Update: []keys.Key{
		{ID: "ed-1", State: keys.StateRetired, ActivatedAt: keysT0, RetiredAt: keysT0},
		{ID: "ed-2", State: keys.StateCurrent, ActivatedAt: keysT0},
	}})
	// And a current key added while the old one is revoked, in one Change.
	mustChange(t, s, keys.Change{
		Add:    []keys.Key{testKey("es-2", "ES256", keys.StateCurrent, 4)},
		Update: []keys.Key{{ID: "es-1", State: keys.StateRevoked, RetiredAt: keysT0}},
	})
	ks, _ := keySet(t, s)
	current := map[string]string{}
	for _, k := range ks {
		if k.State == keys.StateCurrent {
			if other, ok := current[k.Alg]; ok {
				t.Errorf("%s: %s and %s both current", k.Alg, other, k.ID)
			}
			current[k.Alg] = k.ID
		}
	}
	if want := map[string]string{"EdDSA": "ed-2", "ES256": "es-2"}; !cmp.Equal(current, want) {
		t.Errorf("current keys %v, want %v", current, want)
	}
}

func concurrentKeyChanges(t *testing.T, open func(*testing.T) keys.Store, reopen func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	handles := []keys.Store{s, reopen(t, s)}
	// Each racer adds the key named by the count it reads: two that read
	// one count would add one kid twice, and the second would fail. The plan
	// takes a moment, as a key's generation does, so racers overlap.
	errs := race(t, func(ctx context.Context, i int) error {
		return handles[i%len(handles)].ChangeSigningKeys(ctx, func(ks []keys.Key) (keys.Change, error) {
			time.Sleep(time.Millisecond)
			return keys.Change{Add: []keys.Key{testKey(fmt.Sprint("k", len(ks)), "EdDSA", keys.StateNext, time.Duration(len(ks))*time.Millisecond)}}, nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	ks, v := keySet(t, handles[1])
	if len(ks) != racers || v != racers {
		t.Errorf("%d keys at version %d, want %d at %d", len(ks), v, racers, racers)
	}
	for i, k := range ks {
		if want := fmt.Sprint("k", i); k.ID != want {
			t.Errorf("key %d is %s, want %s", i, k.ID, want)
		}
	}
}

// keysHeardWithin is how soon a watch must hear of a change: the poll's
// second on SQLite, and some slack.
const keysHeardWithin = 1500 * time.Millisecond

// keysOwnHeardWithin is how soon a watch must hear of its own handle's
// change: at once, with slack for a loaded machine.
const keysOwnHeardWithin = 500 * time.Millisecond

func watchKeys(t *testing.T, open func(*testing.T) keys.Store, reopen func(*testing.T, keys.Store) keys.Store) {
	s := open(t)
	other := reopen(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	heard := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchSigningKeys(ctx, func() {
			select {
			case heard <- struct{}{}:
			default:
			}
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	// The watch calls changed once when it begins (on PostgreSQL, once it
	// listens): a change made before could not be heard of.
	select {
	case <-heard:
	case err := <-done:
		t.Fatalf("WatchSigningKeys returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not call changed when it began")
	}
	drain := func() {
		for {
			select {
			case <-heard:
			default:
				return
			}
		}
	}
	// A change by the watch's own handle is heard at once, not at the next
	// poll: it comes right after one heard at a poll, so a second poll is
	// most of a second away.
	for i, by := range []struct {
		name   string
		s      keys.Store
		within time.Duration
	}{
		{"another handle", other, keysHeardWithin},
		{"the watch's own handle", s, keysOwnHeardWithin},
		{"another handle again", other, keysHeardWithin},
	} {
		drain()
		start := time.Now()
		mustChange(t, by.s, keys.Change{Add: []keys.Key{testKey(fmt.Sprint("k", i), "EdDSA", keys.StateNext, time.Duration(i)*time.Millisecond)}})
		select {
		case <-heard:
			t.Logf("a change by %s heard after %v", by.name, time.Since(start).Round(time.Millisecond))
		case <-time.After(by.within):
			t.Fatalf("a change by %s not heard within %v", by.name, by.within)
		}
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WatchSigningKeys returned %v, want context.Canceled", err)
		}
		done <- err // for the deferred wait
	case <-time.After(5 * time.Second):
		t.Fatal("WatchSigningKeys did not return when its context ended")
	}
}
