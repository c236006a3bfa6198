// Package api holds keel's contract, api/openapi.yaml, embedded so the binary
// serves the exact document it was built from.
package api

import _ "embed"

// YAML is api/openapi.yaml as written.
//
//go:embed openapi.yaml
var YAML []byte
