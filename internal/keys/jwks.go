package keys

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// stateOrder lists the current key first, then the next, then the
// retired: a verifier that tries keys in order finds the likely one first.
var stateOrder = map[string]int{StateCurrent: 0, StateNext: 1, StateRetired: 2}

// jwksOf is the JWKS document of the published keys: public members only,
// with kid, alg and use.
func jwksOf(keys []Key, public map[string]published) ([]byte, error) {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		p, ok := public[k.ID]
		if !ok {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: p.key, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
	}
	slices.SortStableFunc(set.Keys, func(a, b jose.JSONWebKey) int {
		return cmp.Compare(stateOrder[stateOf(keys, a.KeyID)], stateOrder[stateOf(keys, b.KeyID)])
	})
	if set.Keys == nil {
		set.Keys = []jose.JSONWebKey{}
	}
	return json.Marshal(set)
}

func stateOf(keys []Key, id string) string {
	for _, k := range keys {
		if k.ID == id {
			return k.State
		}
	}
	return ""
}
