#!/usr/bin/env bash
# End to end from outside Go: build keel, start it on a free 127.0.0.1 port with a
# temporary SQLite database, then run against it
#   1. the TypeScript client's test (clients/typescript/test/e2e.test.ts, openapi-fetch),
#   2. openid-client 6 through the code flow with keel as an OpenID Provider (test/provider.e2e.test.ts,
#      which registers its client with `keel clients create` through KEEL_CLI),
#   3. npm standardwebhooks (and verifyWebhook) on keel's webhook deliveries to a local receiver,
#      across `keel webhooks rotate` (test/webhooks.e2e.test.ts, endpoints made through KEEL_CLI),
#   4. verifyAccessToken (jose) on keel's own tokens across `keel keys rotate` and `keel keys revoke`
#      (test/keys.e2e.test.ts, which runs them through KEEL_CLI; last of the client tests, since revoking
#      the current key refuses its tokens),
#   5. the Swagger UI test in headless Chromium (test/docs.browser.test.ts, playwright-core),
#   6. the Go SDK example (examples/goclient),
# after verifyAccessToken's own test (test/verify.test.ts: jose against a local key set, no keel) and
# verifyWebhook's (test/webhooks.test.ts: npm standardwebhooks on the spec's vectors, no keel),
# and stop the server. `make e2e-node`. Needs Go, Node (npm ci is run here when
# clients/typescript/node_modules is missing) and Chromium at $CHROMIUM_PATH
# (default /usr/bin/chromium; without it the browser test is skipped, or fails under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ts=clients/typescript

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
since() { echo "($(( $(date +%s) - $1 ))s)"; }

[ -d "$ts/node_modules" ] || (cd "$ts" && npm ci --no-audit --no-fund)

t=$(date +%s)
step "build keel, the Go example and the TypeScript tests (tsc)"
go build -o "$tmp/keel" ./cmd/keel
go build -o "$tmp/goclient" ./examples/goclient
(cd "$ts" && rm -rf dist && npx --no-install tsc)
since "$t"

port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url="http://127.0.0.1:$port"
secret=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
kek=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')

step "start keel on $url"
# AUTH_RATE_LIMIT=0: the three clients below register and log in more than ten
# times a minute from one address; the limit itself is tested in Go.
# LOG_LEVEL=info: the console mailer's lines (info) hold the verification
# mails, whose tokens the clients read from the log (KEEL_LOG) to prove their
# accounts' addresses before they add a second factor or a passkey.
# WEBHOOKS_ALLOW_PRIVATE: the webhook test's receiver is on 127.0.0.1.
# API_URL: the issuer of keel's tokens, the URL the verifiers are given. JWKS_MAX_AGE=2s: a
# rotated key signs two seconds after it is published, so the rotation test waits seconds.
settings=(DATABASE_URL="$tmp/keel.db" JWT_SECRET="$secret" KEYS_KEK="$kek" API_URL="$url" JWKS_MAX_AGE=2s
	BCRYPT_COST=4 AUTH_RATE_LIMIT=0 LOG_LEVEL=info WEBHOOKS_ALLOW_PRIVATE=true WEBHOOKS_RETRY_MIN=200ms
	WEBAUTHN_RP_ID=localhost WEBAUTHN_ORIGINS=http://localhost:5173)
# KEEL_CLI runs keel's commands (`keel keys rotate`) on the server's database, with its settings.
{
	echo '#!/usr/bin/env bash'
	printf 'cd %q && exec env' "$tmp"
	printf ' %q' "${settings[@]}"
	printf ' %q "$@"\n' "$tmp/keel"
} >"$tmp/keel-cli"
chmod +x "$tmp/keel-cli"
(
	cd "$tmp"
	exec env ADDR="127.0.0.1:$port" "${settings[@]}" "$tmp/keel"
) >"$tmp/keel.log" 2>&1 &
pid=$!
up=
for _ in $(seq 1 100); do
	if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$url/"; then
		up=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$up" ]; then
	echo "keel did not answer GET / with 200 on $url; its log:" >&2
	cat "$tmp/keel.log" >&2
	exit 1
fi

status=0
run() {
	local name=$1 t
	shift
	step "$name"
	t=$(date +%s)
	if "$@"; then
		echo "$name: ok $(since "$t")"
	else
		echo "$name: FAILED $(since "$t")"
		status=1
	fi
}
export KEEL_URL=$url KEEL_LOG=$tmp/keel.log KEEL_CLI=$tmp/keel-cli
run "verifyAccessToken against a local key set (jose)" bash -c "cd $ts && node --test dist/test/verify.test.js"
run "verifyWebhook on the Standard Webhooks vectors (standardwebhooks)" bash -c "cd $ts && node --test dist/test/webhooks.test.js"
run "TypeScript client (openapi-fetch)" bash -c "cd $ts && node --test dist/test/e2e.test.js"
run "openid-client 6 signs in with keel as an OpenID Provider" bash -c "cd $ts && node --test dist/test/provider.e2e.test.js"
run "npm standardwebhooks verifies keel's deliveries, across a secret rotation" bash -c "cd $ts && node --test dist/test/webhooks.e2e.test.js"
run "verifyAccessToken against keel, across a rotation and a revocation" bash -c "cd $ts && node --test dist/test/keys.e2e.test.js"
run "Swagger UI in Chromium" bash -c "cd $ts && node --test dist/test/docs.browser.test.js"
run "Go SDK example" "$tmp/goclient" -url "$url" -mail-log "$tmp/keel.log"

if [ "$status" -ne 0 ]; then
	echo; echo "keel's log:"; cat "$tmp/keel.log"
	exit 1
fi
echo; echo "e2e-node: all passed $(since "$t")"
