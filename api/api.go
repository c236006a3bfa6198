// Package api holds keel's contract, api/openapi.yaml, embedded so the binary
// validates requests against, and serves, the exact document it was built
// from. (gen/oapi embeds only the operations it generates code for; this is
// the whole document, the meta routes included.)
package api

import (
	_ "embed"
	"encoding/json"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// YAML is api/openapi.yaml as written.
//
//go:embed openapi.yaml
var YAML []byte

// Load parses the embedded document. Each call returns a fresh copy.
func Load() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromData(YAML)
}

// Spec is the embedded document, parsed once and shared: the server only
// reads it. keel serve starts parsing it early, beside opening the database.
var Spec = sync.OnceValues(Load)

// JSON is the embedded document as JSON, made on first use.
var JSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := Spec()
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})
