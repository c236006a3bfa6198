package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewEndpoint is a new endpoint sending events to url with a fresh secret,
// and that secret as the operator is shown it (once: only its sealed form
// is kept). url and events must have passed CheckURL and CheckTypes.
func NewEndpoint(s Sealer, url string, events []string, now time.Time) (Endpoint, string) {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	id := "ep_" + hex.EncodeToString(b)
	key := NewSecret()
	return Endpoint{ID: id, URL: url, Events: events, Secret: SealSecret(s, id, key), CreatedAt: now}, EncodeSecret(key)
}

// Rotate gives e a new secret and returns it as the operator is shown it.
// The secret it replaces keeps signing (beside the new one) until
// now+overlap, so that a receiver can move to the new secret before the
// old one stops; a rotation during another's overlap ends that overlap.
func Rotate(s Sealer, e *Endpoint, now time.Time, overlap time.Duration) string {
	key := NewSecret()
	e.PreviousSecret, e.PreviousUntil = e.Secret, now.Add(overlap)
	if overlap <= 0 {
		e.PreviousSecret, e.PreviousUntil = nil, time.Time{}
	}
	e.Secret = SealSecret(s, e.ID, key)
	return EncodeSecret(key)
}

// SetEnabled enables e, its run of failures forgotten (a new one starts
// with its next failure, so a re-enabled endpoint gets WEBHOOKS_DISABLE_AFTER
// again), or has an admin disable it at now; disabling a disabled endpoint
// keeps its time and reason.
func (e *Endpoint) SetEnabled(on bool, now time.Time) {
	switch {
	case on:
		e.DisabledAt, e.DisabledReason, e.FailingSince = time.Time{}, "", time.Time{}
	case e.Enabled():
		e.DisabledAt, e.DisabledReason = now, DisabledByAdmin
	}
}

// Reseal re-seals e's secrets with reseal (mfa.Keys.Reseal: nil when a
// secret is sealed under the current key already), for keel secrets
// reseal; it reports whether anything changed.
func Reseal(e *Endpoint, reseal func(id string, sealed []byte) ([]byte, error)) (bool, error) {
	changed := false
	for _, sealed := range []*[]byte{&e.Secret, &e.PreviousSecret} {
		if *sealed == nil {
			continue
		}
		resealed, err := reseal(sealID(e.ID), *sealed)
		if err != nil {
			return false, err
		}
		if resealed != nil {
			*sealed, changed = resealed, true
		}
	}
	return changed, nil
}
