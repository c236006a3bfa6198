#!/bin/bash
# cpu-per-request.sh NAME BINARY [ENV=VALUE...]: one server's CPU time per request under wrk, the
# steadier figure of BENCH.md's issue 18 section (a shared VM's speed moves too much between make load
# passes to decide ±10 %). Starts BINARY on a fresh SQLite file (keel reads DATABASE_URL and ADDR; the
# harness's go-bare reads DB_FILE and PORT) pinned to CPU 0, registers and logs in one user, then runs
# wrk -t1 -c32 pinned to CPU 1 for GET / and GET /profile (TESTS="get profile", DUR=4s after 1 s of
# warm-up), and prints req/s and the server's utime+stime per request in µs (with the count of
# non-2xx answers when wrk saw any, and the access token's alg). Interleave binaries and repeat;
# compare medians:
#   for i in 1 2 3; do scripts/cpu-per-request.sh bare /tmp/go-bare; scripts/cpu-per-request.sh keel bin/keel; done
# HS256 against EdDSA tokens (BENCH.md, issue 24), PostgreSQL through DBURL (a fresh database each run):
#   for i in 1 2 3; do for a in HS256 EdDSA; do TESTS=profile scripts/cpu-per-request.sh $a bin/keel JWT_ALG=$a; done; done
# Loopback only; needs taskset, wrk and curl, and two CPUs.
set -u
name=$1; bin=$(realpath "$2"); shift 2
d=$(mktemp -d /tmp/cpu-per-request.XXXX); port=$((20000 + RANDOM % 10000))
cd $d
env ADDR=127.0.0.1:$port PORT=$port DATABASE_URL=${DBURL:-$d/k.db} DB_FILE=$d/b.db JWT_SECRET=bench-secret-0123456789abcdef0123 KEYS_KEK=bench-kek-0123456789abcdef0123456789ab AUTH_RATE_LIMIT=0 "$@" taskset -c 0 $bin >$d/log 2>&1 &
pid=$!
for i in $(seq 200); do curl -sf -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.05; done
body='{"email":"bench@example.com","password":"benchpassword1"}'
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" http://127.0.0.1:$port/register
tok=$(curl -s -X POST -H 'Content-Type: application/json' -d "$body" http://127.0.0.1:$port/login | sed -E 's/.*"(access_token|token)":"([^"]+)".*/\2/')
# utime+stime in clock ticks (100 a second): ticks × 10,000 µs ÷ requests.
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
out="$name"
for t in ${TESTS:-get profile}; do
  url=http://127.0.0.1:$port/; h=()
  [ $t = profile ] && { url=http://127.0.0.1:$port/profile; h=(-H "Authorization: Bearer $tok"); }
  taskset -c 1 wrk -t1 -c32 -d1s "${h[@]}" $url >/dev/null
  c0=$(cpu)
  res=$(taskset -c 1 wrk -t1 -c32 -d${DUR:-4s} "${h[@]}" $url)
  c1=$(cpu)
  n=$(echo "$res" | awk '/requests in/{print $1}')
  rps=$(echo "$res" | awk '/Requests\/sec/{printf "%d", $2}')
  us=$(awk -v c=$((c1-c0)) -v n=$n 'BEGIN{printf "%.2f", c*10000/n}')
  bad=$(echo "$res" | awk '/Non-2xx/{print "/non2xx=" $NF}')
  out="$out $t=${rps}rps/${us}us$bad"
done
# The access token's header names its alg (base64url, padded for base64 -d).
hdr=${tok%%.*}; hdr=$(printf '%s' "$hdr==" | tr '_-' '/+' | base64 -d 2>/dev/null | sed -E 's/.*"alg":"([^"]+)".*/\1/')
out="$out alg=$hdr"
kill $pid; wait $pid 2>/dev/null
echo "$out"
rm -rf "$d"
