# keel's commands. `make run` serves on :8080 with a SQLite file in data/;
# `make test` is what CI runs (after check-generated).
GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
BIN       := bin/keel
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: run dev build test test-race generate check-generated lint bench bench-import bench-webhooks bench-admin-users load fuzz swagger-ui clean clean-data

run: ## serve on $$ADDR (default :8080), data in data/keel.db
	$(GO) run ./cmd/keel

# The container image (Dockerfile) is this binary on gcr.io/distroless/static-debian12:nonroot,
# whose compressed size is about 2 MiB; docker cannot run here, so build reports the sum.
DISTROLESS_MIB := 2.0

build: ## static, stripped binary in bin/keel, and the image size it implies
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/keel
	@ls -l $(BIN) | awk '{printf "%s: %.1f MiB static, stripped; image ≈ %.1f MiB (+ distroless/static %.1f MiB)\n", $$9, $$5/1048576, $$5/1048576 + $(DISTROLESS_MIB), $(DISTROLESS_MIB)}'

dev: ## serve, rebuilding and restarting on source changes (air, pinned in tools/go.mod)
	$(TOOL) air -c .air.toml

# One `go test ./...` covers both engines: the store suite runs each engine
# side by side, the server's tests run on SQLite and, at the same time, on
# PostgreSQL in a second process of the same test binary
# (testutil.RunOnBothEngines), and the process tests run each engine in
# parallel subtests. pgtest starts a throwaway PostgreSQL when its binaries
# are here (or uses KEEL_TEST_POSTGRES_URL); without them those tests skip,
# except in CI (KEEL_REQUIRE_POSTGRES=1). go vet runs in `make lint`, so
# go test's own partial vet is off (-vet=off): CI would vet twice.
# -race needs cgo and a C compiler; where there is none, make test runs without it and says so.
# -race also turns on checkptr, which checks every unsafe.Pointer conversion:
# in modernc.org's SQLite (C translated to Go, all pointer arithmetic) that
# was a third of the server tests' CPU, for code that is not ours. It is off
# for modernc.org's packages only; the race detector itself covers them all.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v $$($(GO) env CC | cut -d' ' -f1) >/dev/null 2>&1 && echo -race -gcflags=modernc.org/...=-d=checkptr=0)

# Test binaries run -p at once: at least 4, since much of their time is spent
# waiting on child processes (keel replicas, PostgreSQL) rather than computing.
TEST_P ?= $(shell n=$$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2); [ "$$n" -gt 4 ] && echo $$n || echo 4)
# and likewise -parallel tests of one binary at once (the default is GOMAXPROCS:
# 2 here, with most of a webhook or process test spent waiting). The longest
# packages start first, so no long one starts last (./... repeats none).
TEST_FIRST := ./server ./cmd/keel ./internal/jobs ./db/postgres

test: ## all tests (with the race detector when a C compiler is there), on SQLite and on PostgreSQL
	@[ -n "$(RACE)" ] || echo "make test: no C compiler for cgo, so the tests run without the race detector (install gcc for -race)"
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v pg_ctl >/dev/null || [ -n "$$KEEL_TEST_POSTGRES_URL" ] || \
		echo "make test: no PostgreSQL binaries, so the PostgreSQL tests skip (install postgresql or set KEEL_TEST_POSTGRES_URL; CI requires them)"
	$(GO) test $(RACE) -vet=off -count=1 -p $(TEST_P) -parallel $(TEST_P) $(TEST_FIRST) ./...

generate: ## regenerate gen/ from api/openapi.yaml and db/ with the pinned tools, and the TS client's types
	$(TOOL) oapi-codegen -config oapi-codegen.yaml api/openapi.yaml
	$(TOOL) oapi-codegen -config oapi-codegen.client.yaml api/openapi.yaml
	$(TOOL) sqlc generate
	$(GO) run ./db/twin
	$(MAKE) --no-print-directory ts-generate

check-generated: generate ## fail when gen/ differs from a fresh generation
	@git add -N gen db/postgres/*_gen.go $(TS_DIR)/src/schema.d.ts >/dev/null 2>&1 || true
	@git diff --exit-code --stat -- gen db/postgres/*_gen.go $(TS_DIR)/src/schema.d.ts || { echo "gen/ or $(TS_DIR)/src/schema.d.ts is stale: run 'make generate' and commit it"; exit 1; }

lint: ## gofmt, go vet, staticcheck, and the spec lint (redocly)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); [ -z "$$out" ] || { echo "gofmt: $$out"; exit 1; }
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(MAKE) --no-print-directory spec-lint

clean: ## remove build outputs (bin/, bench.txt); keeps data/
	rm -rf bin bench.txt

clean-data: ## DELETE data/: the SQLite database and the generated JWT secret (every account and token)
	rm -rf data

# benchstat, pinned; `go run pkg@version` leaves every go.mod alone.
BENCHSTAT := $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH     ?= .
BENCHTIME ?= 1s

bench: ## Go benchmarks of every route (real router), the validator, JWT, the queries; bench.txt + benchstat summary
	$(GO) test -run '^$$' -bench '$(value BENCH)' -benchmem -benchtime $(BENCHTIME) -count 6 ./server/ | tee bench.txt
	@! grep -q '^FAIL' bench.txt || { echo "a benchmark failed: see bench.txt"; exit 1; }
	@$(BENCHSTAT) bench.txt 2>/dev/null || echo "(benchstat unavailable; raw results in bench.txt)"

bench-import: ## 100,000 users through keel users import's code on a fresh SQLite database: under a minute (BENCH.md)
	$(GO) test -run '^$$' -bench Import100k -benchtime 1x ./internal/transfer

bench-webhooks: ## webhook deliveries per second to a local receiver, and what an event adds to its transaction, on both engines (BENCH.md)
	$(GO) test -run '^$$' -bench 'BenchmarkWebhookDeliveries|BenchmarkEventInTx' -benchtime 2000x ./internal/jobs

bench-admin-users: ## GET /admin/users over 100,000 users: the p95 of each kind of listing (under 50 ms), SQLite then PostgreSQL (BENCH.md)
	BENCH_ADMIN_USERS=100000 $(GO) test -run '^$$' -bench AdminListUsers -benchtime 200x ./server/
	BENCH_ADMIN_USERS=100000 KEEL_TEST_DB=postgres $(GO) test -run '^$$' -bench AdminListUsers -benchtime 200x ./server/

load: ## wrk load test: keel on SQLite and PostgreSQL vs go-bare, go-bare-pg and node-fastify via ../shared/bench (LOAD_PEERS, LOAD_ORDER, DURATION, ...)
	scripts/load.sh

# Fuzz the request bodies of /register and /login for FUZZTIME each (the seed
# corpus in server/testdata/fuzz runs with every `make test`). A finding is
# saved under server/testdata/fuzz/<target>/ and replays with plain go test.
FUZZTIME ?= 30s

fuzz: ## fuzz /register and /login bodies through the real router, FUZZTIME (30s) each
	$(GO) test -run '^$$' -fuzz '^FuzzRegister$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzLogin$$' -fuzztime $(FUZZTIME) ./server/

# --- Clients and docs: clients/typescript (npm, pinned by its package-lock.json) ---
TS_DIR  := clients/typescript
TS_DEPS := $(TS_DIR)/node_modules/.package-lock.json

.PHONY: ts-generate spec-lint check-ogen e2e-node

$(TS_DEPS): $(TS_DIR)/package-lock.json
	cd $(TS_DIR) && npm ci --no-audit --no-fund

ts-generate: $(TS_DEPS) ## regenerate clients/typescript/src/schema.d.ts from api/openapi.yaml (openapi-typescript)
	cd $(TS_DIR) && npm run --silent generate

spec-lint: $(TS_DEPS) ## redocly lint api/openapi.yaml with redocly.yaml: no error, no warning
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(TS_DIR)/node_modules/.bin/redocly lint --format=stylish

check-ogen: ## ogen (pinned in tools/go.mod) generates a client from the served document, skipping nothing, and it compiles
	GO=$(GO) scripts/check-ogen.sh

e2e-node: $(TS_DEPS) ## against a fresh keel: the TS client test, Swagger UI in headless Chromium, the Go SDK example
	scripts/e2e-node.sh
