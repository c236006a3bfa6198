package keys

import (
	"context"
	"slices"
	"time"
)

// Admin changes the set from `keel keys`: in its own process, through the
// database, so every running replica hears of it within a second.
type Admin struct {
	store  Store
	sealer sealer
	alg    string
	now    func() time.Time
}

// NewAdmin returns the Admin of st. kek is needed to make keys (Rotate, and
// Revoke of a current key without a next one); alg is the algorithm Rotate
// makes a key for.
func NewAdmin(st Store, kek []byte, alg string, now func() time.Time) (*Admin, error) {
	if now == nil {
		now = time.Now
	}
	a := &Admin{store: st, alg: alg, now: now}
	if len(kek) > 0 {
		s, err := newSealer(kek)
		if err != nil {
			return nil, err
		}
		a.sealer = s
	}
	return a, nil
}

// List returns every stored key, oldest first.
func (a *Admin) List(ctx context.Context) ([]Key, error) {
	keys, _, err := a.store.SigningKeys(ctx)
	return keys, err
}

// Rotate adds a next key for the Admin's algorithm, and for every other
// algorithm that has a current key (the OpenID Provider's RS256): published
// at once, each signs once it has been published for JWKS_MAX_AGE (a
// running keel makes the switch). It returns the first key it added, the
// Admin's algorithm's when it added one.
func (a *Admin) Rotate(ctx context.Context) (Key, error) {
	var added []Key
	err := a.store.ChangeSigningKeys(ctx, checked(a.sealer, false, func(keys []Key) (Change, error) {
		algs := []string{a.alg}
		for _, k := range keys {
			if k.State == StateCurrent && !slices.Contains(algs, k.Alg) {
				algs = append(algs, k.Alg)
			}
		}
		c, k, err := planRotate(keys, a.sealer, algs, a.now().UTC())
		added = k
		return c, err
	}))
	if err != nil {
		return Key{}, err
	}
	return added[0], nil
}

// Revoke withdraws the key id: it leaves the JWKS, and every replica refuses
// its tokens, within a second. When it was current, the next key (or a new
// one) signs at once.
func (a *Admin) Revoke(ctx context.Context, id string) (Change, error) {
	var done Change
	err := a.store.ChangeSigningKeys(ctx, checked(a.sealer, true, func(keys []Key) (Change, error) {
		c, err := planRevoke(keys, a.sealer, id, a.now().UTC())
		done = c
		return c, err
	}))
	return done, err
}
