#!/usr/bin/env bash
# make check-ogen: a strict generator takes the served document as it is. ogen (pinned in
# tools/go.mod) generates a client and server from api/openapi.yaml and from its JSON form as
# /openapi.json serves it (api.JSON), with nothing ignored, and the result must compile. Any
# operation, parameter, header or media type ogen would have to skip fails the check.
#
# The throwaway module lives in a temp dir outside the repository and is removed afterwards.
# It has its own go.mod because ogen's runtime packages (jx, OpenTelemetry) are not in
# tools/go.sum: `go mod tidy` there resolves them from ogen's own requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
go=${GO:-go}

version=$($go list -modfile=tools/go.mod -m -f '{{.Version}}' github.com/ogen-go/ogen)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-ogen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# An explicit config so a stray ogen.yml cannot loosen the check: nothing may be skipped.
printf 'generator:\n  ignore_not_implemented: []\n' >"$tmp/ogen.yml"

# The served JSON, written by keel's own api package (the same bytes /openapi.json answers).
mkdir -p "$tmp/dump"
cat >"$tmp/dump/main.go" <<'EOF'
package main

import (
	"os"

	"github.com/keelhq/keel/api"
)

func main() {
	b, err := api.JSON()
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[1], b, 0o644); err != nil {
		panic(err)
	}
}
EOF
cp go.mod "$tmp/dump/go.mod"
cp go.sum "$tmp/dump/go.sum"
(cd "$tmp/dump" && $go mod edit -module keel-ogen-dump -replace "github.com/keelhq/keel=$root" \
	&& $go mod edit -require github.com/keelhq/keel@v0.0.0 \
	&& { out=$(GOFLAGS=-mod=mod $go run . "$tmp/openapi.json" 2>&1) || { echo "$out"; exit 1; }; })

generate() { # generate NAME SPEC
	local log=$tmp/$1.log
	if ! $go tool -modfile=tools/go.mod ogen -config "$tmp/ogen.yml" -target "$tmp/check/$1" \
		-package "$1" -clean "$2" >"$log" 2>&1; then
		cat "$log"
		echo "check-ogen: ogen $version refused $2"
		exit 1
	fi
	if grep -i 'skipping' "$log"; then
		echo "check-ogen: ogen $version skipped part of $2 (above)"
		exit 1
	fi
}
generate fromyaml api/openapi.yaml
generate fromjson "$tmp/openapi.json"

cd "$tmp/check"
$go mod init keel-ogen-check >/dev/null 2>&1
$go mod edit -require "github.com/ogen-go/ogen@$version"
out=$($go mod tidy 2>&1) || { echo "$out"; exit 1; }
$go build ./...
want=$(grep -c '^ *operationId:' "$root/api/openapi.yaml")
for name in fromyaml fromjson; do
	got=$(grep -c 'OperationName = "' $name/oas_operations_gen.go)
	[ "$got" = "$want" ] || { echo "check-ogen: ogen $version generated $got of the document's $want operations ($name)"; exit 1; }
done
echo "check-ogen: ogen $version generated and compiled all $want operations, from the YAML and the JSON"
