#!/usr/bin/env bash
# Replicas on PostgreSQL: the cost of Redis-backed limits against in-process
# ones on one replica, and two replicas against one, each against the same
# neutral mock upstream, with the shared harness in ../shared/bench.
#
# usage: bench/replicas.sh
# env:   RATES="1000 max"  DUR=10s  PG=postgres://postgres@127.0.0.1:5432/postgres
#        REDIS=redis://127.0.0.1:6379  SHARED_BENCH=../shared/bench
#        BENCH_STATE=/tmp/sentinel-bench
# Every replica has a policy with a (never reached) rate limit and budget, so
# each request takes an admission and a settle in the counters.
#
# Cases (each at every rate; "max" is a closed loop of 64 connections):
#   one-memory   1 replica, counters in process
#   one-redis    1 replica, counters in Redis
#   two-redis    2 replicas, counters in Redis, the load split in two
#                (two oha runs at half the rate / 32 connections each)
# On a 2-core machine every process shares both cores (no pinning): the
# numbers show the relative cost, not what separate machines would reach.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_STATE="${BENCH_STATE:-/tmp/sentinel-bench}"
RATES="${RATES:-1000 max}"
DUR="${DUR:-10s}"
PG="${PG:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS="${REDIS:-redis://127.0.0.1:6379}"
MOCK_PORT="${MOCK_PORT:-18080}"
TOKEN="sntop_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
MASTER="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DB="sentinel_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
STORE="${PG%/*}/$DB"
WORK="$(mktemp -d)"

cd "$ROOT"
cargo build --release --locked -p sentinel
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sentinel"

PIDS=()
stop_replicas() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_replicas
  "$SHARED_BENCH/mock/stop.sh" "$MOCK_PORT" >/dev/null 2>&1 || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG" -qc "CREATE DATABASE $DB" >/dev/null
"$SHARED_BENCH/mock/start.sh" "$MOCK_PORT" >/dev/null

# start_replica N REDIS_URL: gateway on 1829N, console on 1839N.
start_replica() {
  local n=$1 redis=$2
  mkdir -p "$WORK/r$n"
  SENTINEL_MASTER_KEY="$MASTER" SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=warn SENTINEL_LOG_FORMAT=json \
    "$BIN" serve --data-dir "$WORK/r$n" --store "$STORE" ${redis:+--redis "$redis"} \
    --gateway-addr "127.0.0.1:1829$n" --console-addr "127.0.0.1:1839$n" >"$WORK/r$n.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:1839$n/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "replica $n did not start; log:" >&2; cat "$WORK/r$n.log" >&2; exit 1
}

admin() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
API="http://127.0.0.1:18391/api/v1"

# Configure once through replica 1; the store keeps it for every case.
start_replica 1 ""
admin -X POST "$API/environments" -d '{"name":"bench"}' >/dev/null
admin -X POST "$API/environments/bench/applications" -d '{"name":"load"}' >/dev/null
DOC=$(printf 'providers:\n  mock-nginx:\n    kind: openai_compatible\n    base_url: http://127.0.0.1:%s/v1\n    allow_private_network: true\nroute_plans:\n  bench:\n    models: [gpt-4o-mini]\n    targets:\n      - { provider: mock-nginx, model: gpt-4o-mini }\npolicies:\n  environment:\n    rate_limit: { rpm: 100000000 }\n    budget: { usd_per_day: "1000000" }\n' "$MOCK_PORT")
admin -X POST "$API/environments/bench/config" \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1], "message": "bench"}))' "$DOC")" >/dev/null
KEY=$(admin -X POST "$API/environments/bench/keys" -d '{"application":"load","name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
stop_replicas

wait_served() {
  for _ in $(seq 1 200); do
    curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:1829$1/v1/models" >/dev/null 2>&1 && return; sleep 0.05
  done
  echo "replica $1 never served the key" >&2; exit 1
}

run() { # run LABEL URL RATE CONNS
  AUTH="Bearer $KEY" LABEL="$1" CONNS="$4" LOAD_CPUS="" "$SHARED_BENCH/run.sh" "$2" "$3" "$DUR"
}
URL() { echo "http://127.0.0.1:1829$1/v1/chat/completions"; }

echo "# direct"
for rate in $RATES; do
  AUTH="" LABEL=direct LOAD_CPUS="" "$SHARED_BENCH/run.sh" "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" "$rate" "$DUR"
done

for case in one-memory one-redis two-redis; do
  echo "# $case"
  case $case in
    one-memory) start_replica 1 "" ;;
    one-redis) start_replica 1 "$REDIS" ;;
    two-redis) start_replica 1 "$REDIS"; start_replica 2 "$REDIS" ;;
  esac
  wait_served 1
  [ "$case" = two-redis ] && wait_served 2
  for rate in $RATES; do
    if [ "$case" = two-redis ]; then
      half=$rate; [ "$rate" != max ] && half=$((rate / 2))
      run "$case-r1" "$(URL 1)" "$half" 32 > "$WORK/a.out" &
      a=$!
      run "$case-r2" "$(URL 2)" "$half" 32 > "$WORK/b.out"
      wait "$a"
      cat "$WORK/a.out" "$WORK/b.out"
    else
      run "$case" "$(URL 1)" "$rate" 64
    fi
  done
  for pid in "${PIDS[@]}"; do echo "peak RSS of replica pid $pid: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"; done
  stop_replicas
done
