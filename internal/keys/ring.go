package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config is how a Ring keeps the set.
type Config struct {
	// Alg is the algorithm new tokens are signed with (JWT_ALG).
	Alg string
	// Also are algorithms that keep a current key too, for other signers
	// (the OpenID Provider's RS256: SignerFor). Their keys rotate with the
	// set's.
	Also []string
	// KEK is the key-encryption key private keys are sealed under (KEYS_KEK).
	KEK []byte
	// TokenTTL is the longest a token signed by a key lives (JWT_TTL):
	// a retired key stays published that long after it stops signing.
	TokenTTL time.Duration
	// Leeway is the clock skew verifiers allow past exp.
	Leeway time.Duration
	// MaxAge is how long verifiers may cache the JWKS (JWKS_MAX_AGE): a
	// next key is published that long before it signs.
	MaxAge time.Duration
	// RotateEvery is how long a key signs before a next one is made
	// (KEYS_ROTATE_EVERY); zero never rotates on a schedule.
	RotateEvery time.Duration
	// Reload is how often the set is read again whatever the watch says
	// (zero: a minute): the fallback for a missed notification.
	Reload time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log reports the set's changes and failures (nil: discarded).
	Log *slog.Logger
}

// algs is Alg and Also, once each.
func (c *Config) algs() []string {
	algs := []string{c.Alg}
	for _, a := range c.Also {
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs
}

func (c *Config) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Reload <= 0 {
		c.Reload = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// heard is the longest a replica takes to hear of a change: the watch's
// second, with room for a slow read.
const heard = 2 * time.Second

func (c *Config) timing() timing {
	return timing{
		publish:     c.MaxAge + heard,
		keep:        c.TokenTTL + c.Leeway + c.Reload + heard,
		rotateEvery: c.RotateEvery,
	}
}

// Ring is one process's view of the signing keys: the current key of its
// algorithm to sign with, every published key to verify with, and the JWKS.
// It follows the database: Run keeps it within a second of every change
// made by any replica or `keel keys`, and moves keys through their states on
// schedule. Its methods are safe for concurrent use and never touch the
// database on the request path, except a lookup of an unknown kid, at most
// once a second.
type Ring struct {
	cfg    Config
	store  Store
	sealer sealer
	set    atomic.Pointer[set]

	// reload asks Run to read the set again (a watch's notice, an unknown
	// kid); mu rate-limits lookups of unknown kids.
	reload     chan struct{}
	mu         sync.Mutex
	lastLookup time.Time
	// loading serialises load's read-then-store, so that a slow read (a
	// lookup's) never stores its older set over a later read's.
	loading sync.Mutex
	// onChange are called after a read that changed the set (OnChange);
	// replaced whole, under loading.
	onChange atomic.Pointer[[]func()]
}

// set is one reading of the keys, never changed once built.
type set struct {
	version int64
	keys    []Key
	signer  signer               // the current key of cfg.Alg (else of another: see build)
	also    map[string]signer    // alg → the current key of each of cfg.Also
	public  map[string]published // kid → key, for every published key
	jwks    []byte               // the JWKS document
}

// signer is the key new tokens are signed with.
type signer struct {
	id  string
	alg string
	key crypto.Signer
}

// published is a key tokens may be verified with.
type published struct {
	alg string
	key crypto.PublicKey
}

// Open makes sure the set has a current key of cfg.Alg (making one on first
// start), reads the set, and returns the Ring over it. It fails when
// KEYS_KEK does not open the current key.
func Open(ctx context.Context, st Store, cfg Config) (*Ring, error) {
	cfg.defaults()
	for _, alg := range cfg.algs() {
		if !ValidAlg(alg) {
			return nil, fmt.Errorf("keys: unknown algorithm %q (one of %v)", alg, Algs)
		}
	}
	s, err := newSealer(cfg.KEK)
	if err != nil {
		return nil, err
	}
	r := &Ring{cfg: cfg, store: st, sealer: s, reload: make(chan struct{}, 1)}
	err = st.ChangeSigningKeys(ctx, checked(s, false, func(keys []Key) (Change, error) {
		c, err := planEnsure(keys, s, cfg.algs(), cfg.Now().UTC())
		if err == nil && !c.Empty() {
			r.logChange("signing keys ensured", c)
		}
		return c, err
	}))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads the set and makes it the Ring's.
func (r *Ring) load(ctx context.Context) error {
	r.loading.Lock()
	defer r.loading.Unlock()
	keys, version, err := r.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if old := r.set.Load(); old != nil && old.version == version {
		return nil
	}
	s, err := r.build(keys, version)
	if err != nil {
		return err
	}
	r.set.Store(s)
	if fs := r.onChange.Load(); fs != nil {
		for _, f := range *fs {
			f()
		}
	}
	return nil
}

// OnChange has f called each time the Ring takes a changed set, after it
// has (so Published answers from it): the server closes the sockets of a
// revoked key's tokens. f must not block.
func (r *Ring) OnChange(f func()) {
	r.loading.Lock()
	defer r.loading.Unlock()
	var fs []func()
	if old := r.onChange.Load(); old != nil {
		fs = append(fs, *old...)
	}
	fs = append(fs, f)
	r.onChange.Store(&fs)
}

// build reads keys into a set: the current key's private half is opened,
// every published key's public half parsed.
func (r *Ring) build(keys []Key, version int64) (*set, error) {
	s := &set{version: version, keys: keys, public: make(map[string]published, len(keys))}
	for _, k := range keys {
		if k.State == StateRevoked {
			continue
		}
		pub, err := publicKey(k)
		if err != nil {
			return nil, err
		}
		s.public[k.ID] = published{alg: k.Alg, key: pub}
	}
	// The current key of this replica's algorithm signs; without one (a
	// replica of another JWT_ALG has started and retired it: a rolling
	// change), the current key of another, so that every replica signs
	// with a key the set keeps publishing.
	// A key kept current for another signer (Also) only when there is no
	// other.
	cur, ok := find(keys, r.cfg.Alg, StateCurrent)
	for _, alg := range Algs {
		if !ok && !slices.Contains(r.cfg.Also, alg) {
			cur, ok = find(keys, alg, StateCurrent)
		}
	}
	for _, alg := range Algs {
		if !ok {
			cur, ok = find(keys, alg, StateCurrent)
		}
	}
	if !ok {
		return nil, fmt.Errorf("signing keys: no current %s key", r.cfg.Alg)
	}
	priv, err := privateKey(r.sealer, cur)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w (was KEYS_KEK changed?)", err)
	}
	s.signer = signer{id: cur.ID, alg: cur.Alg, key: priv}
	s.also = make(map[string]signer, len(r.cfg.Also))
	for _, alg := range r.cfg.Also {
		k, ok := find(keys, alg, StateCurrent)
		if !ok {
			continue // another replica's set without it: SignerFor says no until ensured
		}
		priv, err := privateKey(r.sealer, k)
		if err != nil {
			return nil, fmt.Errorf("signing keys: %w (was KEYS_KEK changed?)", err)
		}
		s.also[alg] = signer{id: k.ID, alg: alg, key: priv}
	}
	jwks, err := jwksOf(keys, s.public)
	if err != nil {
		return nil, err
	}
	s.jwks = jwks
	return s, nil
}

// Signer returns the key new tokens are signed with: its kid, algorithm and
// private key.
func (r *Ring) Signer() (kid, alg string, key crypto.Signer) {
	s := r.set.Load()
	return s.signer.id, s.signer.alg, s.signer.key
}

// SignerFor returns the current key of alg, one of Config.Also: its kid and
// private key; ok is false when the set has none.
func (r *Ring) SignerFor(alg string) (kid string, key crypto.Signer, ok bool) {
	g, ok := r.set.Load().also[alg]
	return g.id, g.key, ok
}

// PublicKey returns the published key kid, with its algorithm, for
// verifying a token. An unknown kid may be a key another replica made an
// instant ago (a revocation's fresh key): the set is read again, at most
// once a second across all callers, before the answer is no.
func (r *Ring) PublicKey(ctx context.Context, kid string) (alg string, key crypto.PublicKey, ok bool) {
	if p, ok := r.set.Load().public[kid]; ok {
		return p.alg, p.key, true
	}
	r.mu.Lock()
	now := r.cfg.Now()
	if now.Sub(r.lastLookup) >= time.Second {
		r.lastLookup = now
		if err := r.load(ctx); err != nil {
			r.cfg.Log.LogAttrs(ctx, slog.LevelError, "signing keys: read", slog.String("error", err.Error()))
		}
	}
	r.mu.Unlock()
	p, ok := r.set.Load().public[kid]
	return p.alg, p.key, ok
}

// Published reports whether kid is published now, without reading the
// database: a cached verification of a token asks it, so a revoked key's
// tokens are refused as soon as this replica hears of the revocation.
func (r *Ring) Published(kid string) bool {
	_, ok := r.set.Load().public[kid]
	return ok
}

// JWKS returns the published keys as a JSON Web Key Set document.
func (r *Ring) JWKS() []byte { return r.set.Load().jwks }

// MaxAge is how long verifiers may cache the JWKS.
func (r *Ring) MaxAge() time.Duration { return r.cfg.MaxAge }

// Oldest is when the oldest stored key was made: an install that signed
// with HS256 before it had keys accepts those tokens until they expire.
func (r *Ring) Oldest() time.Time {
	var t time.Time
	for _, k := range r.set.Load().keys {
		if t.IsZero() || k.CreatedAt.Before(t) {
			t = k.CreatedAt
		}
	}
	return t
}

// Run keeps the Ring in step with the database until ctx ends: it reads the
// set again on every change the watch reports and every Reload, and once a
// second runs the schedule (promotions, rotation, pruning) when it is due.
func (r *Ring) Run(ctx context.Context) {
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			err := r.store.WatchSigningKeys(ctx, r.changed)
			if ctx.Err() != nil {
				return
			}
			r.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "signing keys: watch ended; reading every second meanwhile",
				slog.Any("error", err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	defer func() { <-watched }()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastRead := r.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.reload:
		case <-tick.C:
			if r.cfg.Now().Sub(lastRead) < r.cfg.Reload && !r.due() {
				continue
			}
			if r.due() {
				r.maintain(ctx)
			}
		}
		lastRead = r.cfg.Now()
		if err := r.load(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.LogAttrs(ctx, slog.LevelError, "signing keys: read", slog.String("error", err.Error()))
		}
	}
}

// changed is the watch's notice: it asks Run to read the set again.
func (r *Ring) changed() {
	select {
	case r.reload <- struct{}{}:
	default: // a read is already asked for
	}
}

// due reports whether the scheduled upkeep has something to do.
func (r *Ring) due() bool {
	return maintenanceDue(r.set.Load().keys, r.cfg.algs(), r.cfg.timing(), r.cfg.Now().UTC())
}

// maintain runs the scheduled upkeep under the set's lock.
func (r *Ring) maintain(ctx context.Context) {
	err := r.store.ChangeSigningKeys(ctx, checked(r.sealer, false, func(keys []Key) (Change, error) {
		c, err := planMaintain(keys, r.sealer, r.cfg.algs(), r.cfg.timing(), r.cfg.Now().UTC())
		if err == nil && !c.Empty() {
			r.logChange("signing keys changed on schedule", c)
		}
		return c, err
	}))
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		r.cfg.Log.LogAttrs(ctx, slog.LevelError, "signing keys: scheduled change", slog.String("error", err.Error()))
	}
}

// logChange says what a change does, by key id and state: never a key.
func (r *Ring) logChange(msg string, c Change) {
	attrs := make([]any, 0, 3)
	for _, group := range []struct {
		name string
		keys []Key
	}{{"added", c.Add}, {"updated", c.Update}} {
		var ids []string
		for _, k := range group.keys {
			ids = append(ids, k.ID+" "+k.State)
		}
		if len(ids) > 0 {
			attrs = append(attrs, slog.Any(group.name, ids))
		}
	}
	if len(c.Delete) > 0 {
		attrs = append(attrs, slog.Any("deleted", c.Delete))
	}
	r.cfg.Log.Info(msg, attrs...)
}
