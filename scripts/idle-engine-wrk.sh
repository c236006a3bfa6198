#!/bin/sh
# Does an idle job engine slow requests? Runs each binary given (SQLite, fresh
# folder, AUTH_RATE_LIMIT=0, default JOB_INTERVAL=5s) in turn, ROUNDS times,
# and prints wrk's req/s for GET / and GET /profile (with a bearer token);
# compare medians. Usage: scripts/idle-engine-wrk.sh BINARY... (wrk needed)
set -eu
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5s} CONNS=${CONNS:-32}
port=28180
for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    dir=$(mktemp -d) port=$((port + 1))
    (cd "$dir" && ADDR=127.0.0.1:$port AUTH_RATE_LIMIT=0 LOG_LEVEL=warn exec "$bin" >/dev/null 2>&1) &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.01; done
    body='{"email":"bench@example.com","password":"password123"}'
    curl -sf -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/register" >/dev/null
    token=$(curl -sf -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/login" | sed 's/.*"token":"\([^"]*\)".*/\1/')
    sleep 2 # the engine elected and idle
    root=$(wrk -t2 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}')
    prof=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/profile" | awk '/Requests\/sec/ {print $2}')
    echo "round $round $(basename "$bin") GET/ $root GET/profile $prof"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir"
  done
done
