#!/usr/bin/env bash
# make load: keel side by side with the shared harness's peers, in one run, on loopback.
#
# Builds keel as `make build` does, copies the read-only shared harness (../shared/bench next to
# the repo, or $BENCH_SRC) to a scratch folder, and runs its run.sh for keel (default settings:
# request logging on, JSON to a file; fresh database; AUTH_RATE_LIMIT=0 so the load is not
# refused), then the peers. Prints the harness's tables and keel's ratios against the targets.
#
# keel runs twice: on SQLite ("keel", a fresh file) and on PostgreSQL ("keel-postgres", a fresh
# database on a throwaway server: initdb and pg_ctl as user postgres on a free loopback port, stopped
# and removed afterwards; or a new database on KEEL_TEST_POSTGRES_URL's server, dropped afterwards).
# Its floor, go-bare-pg (net/http and a pgx pool alone), gets a second fresh database on the same server.
#
# env:  LOAD_PEERS="go-bare go-bare-pg node-fastify"  peers (go-bare, go-bare-pg, node-fastify; "" = keel alone)
#       LOAD_ORDER=reverse                  run the peers first and keel last (the second of two passes)
#       LOAD_POSTGRES=1                     0 skips keel on PostgreSQL (and go-bare-pg)
#       KEEL_TEST_POSTGRES_URL=postgres://… an existing server (a role that may CREATE DATABASE) instead
#       PG_PORT=25432                       first port tried for the throwaway server
#       LOAD_DIR=/tmp/keel-load             scratch folder (binaries, harness copy, results/)
#       LOAD_TIMEOUT=900                    seconds for the whole harness run; it is stopped after that
#       KEEL_PORT=28080 BARE_PORT=28090 FASTIFY_PORT=28003 (the next free port above is taken if busy)
#       KEEL_ENV="LOG_LEVEL=warn ..."       extra environment for keel (e.g. to compare a setting)
#       TESTS="get profile ws login hold" HOLD_N=10000  (hold: HOLD_N WebSockets open at once, KB per socket)
#       and every run.sh setting: DURATION=10s WARMUP=2s CONNS=64
#       PIN_SERVER_CPUS= PIN_LOAD_CPUS= OUT_DIR= ... (see ../shared/bench/README.md)
# Everything listens on and targets 127.0.0.1 only; every test is bounded in time by run.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_SRC=${BENCH_SRC:-$ROOT/../shared/bench}
LOAD_DIR=${LOAD_DIR:-/tmp/keel-load}
LOAD_PEERS=${LOAD_PEERS-go-bare go-bare-pg node-fastify}
LOAD_ORDER=${LOAD_ORDER:-}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-900}
LOAD_POSTGRES=${LOAD_POSTGRES:-1}
PG_PORT=${PG_PORT:-25432}
KEEL_PORT=${KEEL_PORT:-28080} BARE_PORT=${BARE_PORT:-28090} BARE_PG_PORT=${BARE_PG_PORT:-28091} FASTIFY_PORT=${FASTIFY_PORT:-28003}
KEEL_ENV=${KEEL_ENV:-}
export TESTS=${TESTS:-get profile ws login hold} HOLD_N=${HOLD_N:-10000}

# free_port N: N, or the first port above it that nothing on 127.0.0.1 listens on
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
log() { printf '[load %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ -x "$BENCH_SRC/run.sh" ] || die "make load needs the shared load harness (run.sh, the peers, wrk and Node), which is not in this repository: none at $BENCH_SRC. Point BENCH_SRC at a copy of it; the figures it produced are in docs/performance.md, the how-to in BENCH.md"
for p in $LOAD_PEERS; do
  case "$p" in
    go-bare | node-fastify) ;;
    go-bare-pg) [ "$LOAD_POSTGRES" = 1 ] || die "go-bare-pg needs PostgreSQL: drop it from LOAD_PEERS with LOAD_POSTGRES=0" ;;
    *) die "unknown peer '$p' in LOAD_PEERS (go-bare, go-bare-pg, node-fastify)" ;;
  esac
done

# --- tools: wrk from Debian when missing; curl and node are the harness's own needs ---
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >&2 || die "apt-get install wrk failed"
  else
    die "wrk not found; install it: sudo apt-get update && sudo apt-get install -y wrk"
  fi
fi
command -v curl >/dev/null || die "curl not found"
command -v node >/dev/null || die "node not found (the harness's report and WebSocket client need it)"
command -v npm >/dev/null || die "npm not found"
if [[ " $TESTS " == *" hold "* ]]; then
  # each held socket is one descriptor in the server and one in the client (wshold)
  need=$((HOLD_N + 1024))
  [ "$(ulimit -n)" -ge "$need" ] || ulimit -n "$need" 2>/dev/null ||
    die "hold needs ulimit -n ≥ $need (it is $(ulimit -n)); raise it or lower HOLD_N"
fi

# --- scratch copy of the harness (keeps node_modules between runs) ---
mkdir -p "$LOAD_DIR/bench" "$LOAD_DIR/results"
(cd "$BENCH_SRC" && tar --exclude=./node_modules --exclude='./peers/*/node_modules' --exclude=./results -cf - .) |
  (cd "$LOAD_DIR/bench" && tar -xf - --no-same-owner)
chmod -R u+w "$LOAD_DIR/bench"
BENCH="$LOAD_DIR/bench"
if [ ! -d "$BENCH/node_modules/ws" ]; then
  log "npm ci in $BENCH"
  (cd "$BENCH" && npm ci --no-audit --no-fund >&2) || die "npm ci failed in $BENCH"
fi

KEEL_PORT=$(free_port "$KEEL_PORT"); BARE_PORT=$(free_port "$BARE_PORT"); FASTIFY_PORT=$(free_port "$FASTIFY_PORT")
BARE_PG_PORT=$(free_port "$BARE_PG_PORT")

# --- binaries, built before the clock starts (run.sh counts a wrapper's build as startup) ---
log "building keel"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$LOAD_DIR/keel" ./cmd/keel) || die "go build keel failed"
SPECS=()
RUN_DIR=$(mktemp -d "$LOAD_DIR/run.XXXXXX")
SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n') # 48 hex characters
SPECS+=("keel:$KEEL_PORT=exec env ADDR=127.0.0.1:{PORT} DATABASE_URL=$RUN_DIR/keel.db JWT_SECRET=$SECRET KEYS_KEK=$SECRET-kek AUTH_RATE_LIMIT=0 $KEEL_ENV $LOAD_DIR/keel")

# --- keel on PostgreSQL: a throwaway server (or a new database on KEEL_TEST_POSTGRES_URL's) ---
PG_DIR= PG_BIN= PG_DROP=
stop_postgres() {
  for d in $PG_DROP; do
    psql -q "$KEEL_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
  if [ -n "$PG_DIR" ]; then
    as_postgres "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
trap 'stop_postgres; rm -rf "$RUN_DIR"' EXIT
if [ "$LOAD_POSTGRES" = 1 ]; then
  if [ -n "${KEEL_TEST_POSTGRES_URL:-}" ]; then
    command -v psql >/dev/null || die "KEEL_TEST_POSTGRES_URL is set but psql is missing"
    for d in keel_load_$$ keel_load_bare_$$; do
      psql -q "$KEEL_TEST_POSTGRES_URL" -c "CREATE DATABASE $d" >&2 || die "cannot create a database on KEEL_TEST_POSTGRES_URL"
      PG_DROP="$PG_DROP $d"
    done
    db_url() { node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' "$KEEL_TEST_POSTGRES_URL" "$1"; }
    PG_URL=$(db_url "keel_load_$$") BARE_PG_URL=$(db_url "keel_load_bare_$$")
  else
    PG_BIN=$(command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)" || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server binaries (apt-get install postgresql), or set LOAD_POSTGRES=0 or KEEL_TEST_POSTGRES_URL"
    command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"
    PG_DIR=$(mktemp -d /tmp/keel-load-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    PG_PORT=$(free_port "$PG_PORT")
    log "PostgreSQL ($PG_BIN) on 127.0.0.1:$PG_PORT in $PG_DIR"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null || die "initdb failed"
    # Default durability (fsync on): the same promise as keel's SQLite, whose 201 means on disk.
    as_postgres "$PG_BIN/pg_ctl" start -w -t 60 -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
      -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=100" >/dev/null || die "pg_ctl start failed: $(cat "$PG_DIR/server.log")"
    for d in keel bare; do
      psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $d" >&2 || die "cannot create database $d"
    done
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/keel?sslmode=disable"
    BARE_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bare?sslmode=disable"
  fi
  PG_KEEL_PORT=$(free_port $((KEEL_PORT + 1)))
  SPECS+=("keel-postgres:$PG_KEEL_PORT=exec env ADDR=127.0.0.1:{PORT} DATABASE_URL=$PG_URL JWT_SECRET=$SECRET KEYS_KEK=$SECRET-kek AUTH_RATE_LIMIT=0 $KEEL_ENV $LOAD_DIR/keel")
fi
for p in $LOAD_PEERS; do
  case "$p" in
    go-bare)
      log "building go-bare"
      (cd "$BENCH/peers/go-bare" && go build -o "$LOAD_DIR/go-bare" . >&2) || die "go build go-bare failed"
      SPECS+=("go-bare:$BARE_PORT=exec env DB_FILE=$RUN_DIR/bare.db $LOAD_DIR/go-bare") ;;
    go-bare-pg)
      log "building go-bare-pg"
      (cd "$BENCH/peers/go-bare-pg" && go build -o "$LOAD_DIR/go-bare-pg" . >&2) || die "go build go-bare-pg failed"
      SPECS+=("go-bare-pg:$BARE_PG_PORT=exec env BENCH_PG_URL=$BARE_PG_URL $LOAD_DIR/go-bare-pg") ;;
    node-fastify)
      if [ ! -d "$BENCH/peers/node-fastify/node_modules" ]; then
        log "npm ci in peers/node-fastify (builds better-sqlite3, about a minute)"
        (cd "$BENCH/peers/node-fastify" && npm ci --no-audit --no-fund >&2) || die "npm ci failed in peers/node-fastify"
      fi
      SPECS+=("node-fastify:$FASTIFY_PORT=exec env DB_FILE=$RUN_DIR/fastify.db HOST=127.0.0.1 node $BENCH/peers/node-fastify/server.js") ;;
  esac
done

if [ "$LOAD_ORDER" = reverse ]; then
  rev=(); for ((i = ${#SPECS[@]} - 1; i >= 0; i--)); do rev+=("${SPECS[i]}"); done; SPECS=("${rev[@]}")
fi
export OUT_DIR=${OUT_DIR:-$LOAD_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)}
log "harness: ${#SPECS[@]} implementation(s), about 50 s each; output in $OUT_DIR"
log "the machine is shared: quote ratios to go-bare from the same run, and repeat before believing a change under ~15 %"
rc=0
timeout -k 20 -s INT "$LOAD_TIMEOUT" "$BENCH/run.sh" "${SPECS[@]}" || rc=$?
[ "$rc" = 0 ] || log "run.sh exited $rc"
[ -s "$OUT_DIR/results.json" ] || die "no results.json in $OUT_DIR"

# --- keel against the targets (issue: keel is the fastest way to serve this API) ---
node - "$OUT_DIR/results.json" <<'EOF'
const r = require(process.argv[2]);
const by = Object.fromEntries(r.impls.map((i) => [i.name, i]));
const k = by.keel, bare = by["go-bare"], fast = by["node-fastify"], pg = by["keel-postgres"], barePg = by["go-bare-pg"];
if (!k) process.exit(0);
if (k.error) {
  console.log(`\nkeel did not run: ${k.error} (see ${process.argv[2].replace(/results.json$/, "keel/server.log")})`);
  process.exit(1);
}
const rps = (i, t) => i?.http?.[t]?.rps;
const p99 = (i, t) => i?.http?.[t]?.latency_ms?.p99;
const wsc = (i) => i?.ws?.concurrent?.greetings_per_s;
const kbs = (i) => (i?.hold?.held > 0 ? i.hold.kb_per_socket : null);
const rows = [];
const ratio = (what, a, b, min) => {
  if (a == null || b == null) return;
  const x = a / b;
  rows.push([what, x.toFixed(2) + "×", "≥ " + min + "×", x >= min ? "ok" : "MISS"]);
};
const cap = (what, v, max, unit) => {
  if (v == null) return;
  rows.push([what, v.toFixed(unit === "MB" ? 1 : 0) + " " + unit, "≤ " + max + " " + unit, v <= max ? "ok" : "MISS"]);
};
// issue 18: within a tenth of bare Go on both engines (a twentieth on login)
ratio("GET / vs go-bare", rps(k, "get"), rps(bare, "get"), 0.9);
ratio("GET /profile vs go-bare", rps(k, "profile"), rps(bare, "profile"), 0.9);
ratio("POST /login vs go-bare", rps(k, "login"), rps(bare, "login"), 0.95);
ratio("keel-postgres GET / vs go-bare-pg", rps(pg, "get"), rps(barePg, "get"), 0.9);
ratio("keel-postgres GET /profile vs go-bare-pg", rps(pg, "profile"), rps(barePg, "profile"), 0.9);
ratio("keel-postgres POST /login vs go-bare-pg", rps(pg, "login"), rps(barePg, "login"), 0.95);
ratio("GET / vs node-fastify", rps(k, "get"), rps(fast, "get"), 2);
ratio("GET /profile vs node-fastify", rps(k, "profile"), rps(fast, "profile"), 2.5);
ratio("WS greetings/s (conc) vs go-bare", wsc(k), wsc(bare), 0.9);
if (kbs(k) != null && kbs(bare) != null) {
  const x = kbs(k) / kbs(bare);
  rows.push([`KB per held WebSocket vs go-bare (${k.hold.held} held)`, `${kbs(k).toFixed(1)} / ${kbs(bare).toFixed(1)} = ${x.toFixed(2)}×`,
    "≤ 0.75×", x <= 0.75 ? "ok" : "MISS"]);
}
for (const i of [k, pg].filter(Boolean)) {
  cap(i.name + " startup to first 200 (fresh database)", i.startup_ms, 50, "ms");
  cap(i.name + " idle RSS", i.idle_rss_kb != null ? i.idle_rss_kb / 1024 : null, 20, "MB");
}
if (p99(k, "profile") != null && p99(bare, "profile") != null)
  rows.push(["GET /profile p99 vs go-bare", `${p99(k, "profile").toFixed(2)} / ${p99(bare, "profile").toFixed(2)} ms`, "≤ go-bare",
    p99(k, "profile") <= p99(bare, "profile") ? "ok" : "MISS"]);
for (const i of [k, pg].filter(Boolean)) {
const bad = Object.values(i.http || {}).reduce((n, h) => n + (h.non_2xx || 0) + (h.socket_errors || 0), 0) +
  (i.ws ? i.ws.sequential.failed + i.ws.concurrent.failed : 0) + (i.hold ? i.hold.target - i.hold.held : 0);
rows.push([i.name + " non-2xx + socket errors + WS failures (greeting and hold)", String(bad), "0", bad === 0 ? "ok" : "MISS"]);
}
console.log("\nkeel against the targets (one run; the spread between runs here is up to ~15 %):\n");
console.log("| target | keel | goal | |\n|---|---:|---:|---|");
for (const row of rows) console.log("| " + row.join(" | ") + " |");
EOF
exit "$rc"
