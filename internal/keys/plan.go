package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The plans below are pure: given the set as ChangeSigningKeys read it under
// its lock, and the time, they say what to change. Every replica and CLI
// process runs them, and whichever runs first does the change; the others
// then find nothing to do. That is why each re-checks its condition on the
// set it is given rather than trusting what its caller saw before.

// Errors of Rotate and Revoke.
var (
	ErrNoKey       = errors.New("keys: no such key")
	ErrRevoked     = errors.New("keys: the key is already revoked")
	ErrNextWaiting = errors.New("keys: a next key is already waiting to sign")
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// find returns the first key of alg in state, or false.
func find(keys []Key, alg, state string) (Key, bool) {
	for _, k := range keys {
		if k.Alg == alg && k.State == state {
			return k, true
		}
	}
	return Key{}, false
}

// planEnsure makes sure each of algs has a current key: its next key, at
// once, if it has one (there is nothing else to sign with), else a new key.
// Current keys of other algorithms retire, so that changing JWT_ALG
// switches keel over while tokens already signed stay valid.
func planEnsure(keys []Key, s sealer, algs []string, now time.Time) (Change, error) {
	var c Change
	for _, k := range keys {
		if k.State == StateCurrent && !slices.Contains(algs, k.Alg) {
			c.Update = append(c.Update, retire(k, now))
		}
	}
	for _, alg := range algs {
		if _, ok := find(keys, alg, StateCurrent); ok {
			continue
		}
		if n, ok := find(keys, alg, StateNext); ok {
			c.Update = append(c.Update, activate(n, now))
			continue
		}
		k, _, err := generate(s, alg, StateCurrent, now)
		if err != nil {
			return Change{}, err
		}
		c.Add = append(c.Add, k)
	}
	return c, nil
}

// timing is what the scheduled plan needs to know of the configuration.
type timing struct {
	// publish is how long a next key is published before it signs:
	// JWKS_MAX_AGE, plus the second replicas may take to hear of it.
	publish time.Duration
	// keep is how long a retired or revoked key stays after it stopped
	// signing: the longest a token lives, plus the leeway verifiers give
	// exp, plus the time a replica may go on signing with it before it
	// hears of the change.
	keep time.Duration
	// rotateEvery is how long a key signs before a next one is made (zero:
	// never on a schedule).
	rotateEvery time.Duration
}

// planMaintain is the set's scheduled upkeep, for each of algs: a next key
// that has been published long enough becomes current (the current one
// retires); a current key older than rotateEvery gets a next one. Then
// retired and revoked keys whose last token has expired are deleted.
func planMaintain(keys []Key, s sealer, algs []string, t timing, now time.Time) (Change, error) {
	var c Change
	for _, alg := range algs {
		cur, hasCur := find(keys, alg, StateCurrent)
		next, hasNext := find(keys, alg, StateNext)
		switch {
		case hasNext && !now.Before(next.CreatedAt.Add(t.publish)):
			if hasCur {
				c.Update = append(c.Update, retire(cur, now))
			}
			c.Update = append(c.Update, activate(next, now))
		case !hasNext && hasCur && t.rotateEvery > 0 && !now.Before(cur.ActivatedAt.Add(t.rotateEvery)):
			k, _, err := generate(s, alg, StateNext, now)
			if err != nil {
				return Change{}, err
			}
			c.Add = append(c.Add, k)
		}
	}
	for _, k := range keys {
		if expired(k, t, now) {
			c.Delete = append(c.Delete, k.ID)
		}
	}
	return c, nil
}

// expired reports whether k is retired or revoked and its last token has
// expired.
func expired(k Key, t timing, now time.Time) bool {
	return (k.State == StateRetired || k.State == StateRevoked) && !now.Before(k.RetiredAt.Add(t.keep))
}

// maintenanceDue reports whether planMaintain would change something,
// without making a key: the Ring asks it every second of the set it holds,
// and takes the lock only when it says yes.
func maintenanceDue(keys []Key, algs []string, t timing, now time.Time) bool {
	for _, alg := range algs {
		cur, hasCur := find(keys, alg, StateCurrent)
		next, hasNext := find(keys, alg, StateNext)
		if hasNext && !now.Before(next.CreatedAt.Add(t.publish)) {
			return true
		}
		if !hasNext && hasCur && t.rotateEvery > 0 && !now.Before(cur.ActivatedAt.Add(t.rotateEvery)) {
			return true
		}
	}
	return slices.ContainsFunc(keys, func(k Key) bool { return expired(k, t, now) })
}

// planRotate adds a next key for each of algs that has none; each signs
// once planMaintain finds it published long enough. It refuses when every
// one already has a next key waiting.
func planRotate(keys []Key, s sealer, algs []string, now time.Time) (Change, []Key, error) {
	var c Change
	var waiting []string
	for _, alg := range algs {
		if n, ok := find(keys, alg, StateNext); ok {
			waiting = append(waiting, n.ID)
			continue
		}
		k, _, err := generate(s, alg, StateNext, now)
		if err != nil {
			return Change{}, nil, err
		}
		c.Add = append(c.Add, k)
	}
	if c.Empty() {
		return Change{}, nil, fmt.Errorf("%w: %s", ErrNextWaiting, strings.Join(waiting, ", "))
	}
	return c, c.Add, nil
}

// planRevoke withdraws key id. When it was current, its algorithm's next
// key signs at once, or a new key when there is none: revoking never leaves
// keel without a key to sign with.
func planRevoke(keys []Key, s sealer, id string, now time.Time) (Change, error) {
	var k Key
	found := false
	for _, x := range keys {
		if x.ID == id {
			k, found = x, true
		}
	}
	switch {
	case !found:
		return Change{}, fmt.Errorf("%w: %s", ErrNoKey, id)
	case k.State == StateRevoked:
		return Change{}, fmt.Errorf("%w: %s", ErrRevoked, id)
	}
	wasCurrent := k.State == StateCurrent
	k.State, k.RetiredAt = StateRevoked, now
	c := Change{Update: []Key{k}}
	if !wasCurrent {
		return c, nil
	}
	if n, ok := find(keys, k.Alg, StateNext); ok {
		c.Update = append(c.Update, activate(n, now))
		return c, nil
	}
	fresh, _, err := generate(s, k.Alg, StateCurrent, now)
	if err != nil {
		return Change{}, err
	}
	c.Add = append(c.Add, fresh)
	return c, nil
}

func activate(k Key, now time.Time) Key {
	k.State, k.ActivatedAt = StateCurrent, now
	return k
}

func retire(k Key, now time.Time) Key {
	k.State, k.RetiredAt = StateRetired, now
	return k
}
