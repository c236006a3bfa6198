package keys

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func testSealer(t *testing.T) sealer {
	t.Helper()
	s, err := newSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// apply is the set after c, applied as the stores do.
func apply(keys []Key, c Change) []Key {
	out := slices.Clone(keys)
	out = slices.DeleteFunc(out, func(k Key) bool { return slices.Contains(c.Delete, k.ID) })
	for _, u := range c.Update {
		for i := range out {
			if out[i].ID == u.ID {
				out[i] = u
			}
		}
	}
	return append(out, c.Add...)
}

// statesOf counts the keys by algorithm and state.
func statesOf(keys []Key) map[string]int {
	m := map[string]int{}
	for _, k := range keys {
		m[k.Alg+" "+k.State]++
	}
	return m
}

func key(id, alg, state string, created time.Time) Key {
	k := Key{ID: id, Alg: alg, State: state, CreatedAt: created}
	switch state {
	case StateCurrent:
		k.ActivatedAt = created
	case StateRetired, StateRevoked:
		k.ActivatedAt, k.RetiredAt = created, created
	}
	return k
}

// TestPlans: each plan moves the set to the states the issue names, and
// never leaves an algorithm with two current keys or none. The scheduled
// cases (#) also check that maintenanceDue agrees with planMaintain.
func TestPlans(t *testing.T) {
	t.Parallel()
	s := testSealer(t)
	tm := timing{publish: 5 * time.Minute, keep: 20 * time.Minute, rotateEvery: 24 * time.Hour}
	tests := []struct {
		name string
		keys []Key
		plan func(keys []Key) (Change, error)
		want map[string]int
		err  error
	}{
		{"first start makes a current key", nil,
			func(k []Key) (Change, error) { return planEnsure(k, s, []string{EdDSA}, t0) },
			map[string]int{"EdDSA current": 1}, nil},
		{"a start with a current key changes nothing", []Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { return planEnsure(k, s, []string{EdDSA}, t0) },
			map[string]int{"EdDSA current": 1}, nil},
		{"a new JWT_ALG retires the old algorithm's key", []Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { return planEnsure(k, s, []string{RS256}, t0) },
			map[string]int{"EdDSA retired": 1, "RS256 current": 1}, nil},
		{"a next key waits while it is published for less than max-age #",
			[]Key{key("a", EdDSA, StateCurrent, t0), key("b", EdDSA, StateNext, t0.Add(-4*time.Minute))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1, "EdDSA next": 1}, nil},
		{"a next key published for max-age becomes current; the current retires #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-time.Hour)), key("b", EdDSA, StateNext, t0.Add(-5*time.Minute))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1, "EdDSA retired": 1}, nil},
		{"a retired key stays until its tokens have expired #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-time.Hour)), key("r", EdDSA, StateRetired, t0.Add(-19*time.Minute))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1, "EdDSA retired": 1}, nil},
		{"then it is deleted, as a revoked one is #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-time.Hour)), key("r", EdDSA, StateRetired, t0.Add(-20*time.Minute)),
				key("v", EdDSA, StateRevoked, t0.Add(-20*time.Minute))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1}, nil},
		{"the schedule adds a next key to a key older than KEYS_ROTATE_EVERY #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-24*time.Hour))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1, "EdDSA next": 1}, nil},
		{"but not to a younger one #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-23*time.Hour))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA}, tm, t0) },
			map[string]int{"EdDSA current": 1}, nil},
		{"a second algorithm (the provider's RS256) gets its own current key", []Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { return planEnsure(k, s, []string{EdDSA, RS256}, t0) },
			map[string]int{"EdDSA current": 1, "RS256 current": 1}, nil},
		{"each algorithm's next key becomes current on its own #",
			[]Key{key("a", EdDSA, StateCurrent, t0.Add(-time.Hour)), key("b", EdDSA, StateNext, t0.Add(-5*time.Minute)),
				key("r", RS256, StateCurrent, t0.Add(-time.Hour)), key("s", RS256, StateNext, t0.Add(-5*time.Minute))},
			func(k []Key) (Change, error) { return planMaintain(k, s, []string{EdDSA, RS256}, tm, t0) },
			map[string]int{"EdDSA current": 1, "EdDSA retired": 1, "RS256 current": 1, "RS256 retired": 1}, nil},
		{"rotate adds a next key to each algorithm", []Key{key("a", EdDSA, StateCurrent, t0), key("r", RS256, StateCurrent, t0)},
			func(k []Key) (Change, error) {
				c, _, err := planRotate(k, s, []string{EdDSA, RS256}, t0)
				return c, err
			},
			map[string]int{"EdDSA current": 1, "EdDSA next": 1, "RS256 current": 1, "RS256 next": 1}, nil},
		{"rotate adds a next key", []Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { c, _, err := planRotate(k, s, []string{EdDSA}, t0); return c, err },
			map[string]int{"EdDSA current": 1, "EdDSA next": 1}, nil},
		{"rotate refuses a second next key", []Key{key("a", EdDSA, StateCurrent, t0), key("b", EdDSA, StateNext, t0)},
			func(k []Key) (Change, error) { c, _, err := planRotate(k, s, []string{EdDSA}, t0); return c, err },
			nil, ErrNextWaiting},
		{"revoking the current key makes the next one current at once",
			[]Key{key("a", EdDSA, StateCurrent, t0), key("b", EdDSA, StateNext, t0)},
			func(k []Key) (Change, error) { return planRevoke(k, s, "a", t0) },
			map[string]int{"EdDSA revoked": 1, "EdDSA current": 1}, nil},
		{"revoking the only key makes a new one",
			[]Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { return planRevoke(k, s, "a", t0) },
			map[string]int{"EdDSA revoked": 1, "EdDSA current": 1}, nil},
		{"revoking a retired key leaves the current one",
			[]Key{key("a", EdDSA, StateCurrent, t0), key("r", EdDSA, StateRetired, t0)},
			func(k []Key) (Change, error) { return planRevoke(k, s, "r", t0) },
			map[string]int{"EdDSA revoked": 1, "EdDSA current": 1}, nil},
		{"revoking an unknown key", []Key{key("a", EdDSA, StateCurrent, t0)},
			func(k []Key) (Change, error) { return planRevoke(k, s, "zz", t0) },
			nil, ErrNoKey},
		{"revoking twice", []Key{key("a", EdDSA, StateCurrent, t0), key("v", EdDSA, StateRevoked, t0)},
			func(k []Key) (Change, error) { return planRevoke(k, s, "v", t0) },
			nil, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.plan(tt.keys)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			after := apply(tt.keys, c)
			if got := nonzero(statesOf(after)); !maps.Equal(got, tt.want) {
				t.Errorf("after the plan %v, want %v", got, tt.want)
			}
			// Updates retire before they activate: the store applies them in
			// order under a one-current-key-per-algorithm index.
			current := statesOf(tt.keys)
			for _, u := range c.Update {
				before := stateOf(tt.keys, u.ID)
				current[u.Alg+" "+before]--
				current[u.Alg+" "+u.State]++
				if current[u.Alg+" "+StateCurrent] > 1 {
					t.Errorf("update %s to %s makes two current keys", u.ID, u.State)
				}
			}
			if due := maintenanceDue(tt.keys, []string{EdDSA}, tm, t0); strings.Contains(tt.name, "#") && due != !c.Empty() {
				t.Errorf("maintenanceDue %v for a change %+v", due, c)
			}
		})
	}
}

// nonzero drops the zero counts statesOf leaves.
func nonzero(m map[string]int) map[string]int {
	maps.DeleteFunc(m, func(_ string, n int) bool { return n == 0 })
	return m
}
