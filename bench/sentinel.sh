#!/usr/bin/env bash
# Measures Sentinel's added latency and throughput against the neutral mock
# upstream reached directly, in one run, with the shared harness in
# ../shared/bench (or SHARED_BENCH). Request records are written as usual.
#
# usage: bench/sentinel.sh
# env:   RATES="500 1000 2000 max"  STREAM_RATES="500"  DUR=15s  REPS=3
#        GW_CPUS=1 (Sentinel's core)  BENCH_STATE=/tmp/sentinel-bench
#        SHARED_BENCH=../shared/bench  STORE= (postgres://… to bench on PostgreSQL)
#        BIN= (a prebuilt sentinel binary; default: build the release binary)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_STATE="${BENCH_STATE:-/tmp/sentinel-bench}"
export RATES="${RATES:-500 1000 2000 max}" STREAM_RATES="${STREAM_RATES-500}" DUR="${DUR:-15s}" REPS="${REPS:-3}"
GW_CPUS="${GW_CPUS-1}"
MOCK_PORT="${MOCK_PORT:-18080}"
GW_PORT="${GW_PORT:-18090}"
CONSOLE_PORT="${CONSOLE_PORT:-18091}"
TOKEN="sntop_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DATA="$(mktemp -d)"

cd "$ROOT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p sentinel
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sentinel"
fi

pin=()
[ -n "$GW_CPUS" ] && pin=(taskset -c "$GW_CPUS")
SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=warn SENTINEL_LOG_FORMAT=json \
  "${pin[@]}" "$BIN" serve --data-dir "$DATA" ${STORE:+--store "$STORE"} \
  --gateway-addr "127.0.0.1:$GW_PORT" --console-addr "127.0.0.1:$CONSOLE_PORT" >"$DATA/sentinel.log" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$CONSOLE_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

admin() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
API="http://127.0.0.1:$CONSOLE_PORT/api/v1"
admin -X POST "$API/environments" -d '{"name":"bench"}' >/dev/null
admin -X POST "$API/environments/bench/applications" -d '{"name":"load"}' >/dev/null
DOC=$(printf 'providers:\n  mock-nginx:\n    kind: openai_compatible\n    base_url: http://127.0.0.1:%s/v1\n    allow_private_network: true\nroute_plans:\n  bench:\n    models: [gpt-4o-mini]\n    targets:\n      - { provider: mock-nginx, model: gpt-4o-mini }\n' "$MOCK_PORT")
admin -X POST "$API/environments/bench/config" \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1], "message": "bench"}))' "$DOC")" >/dev/null
KEY=$(admin -X POST "$API/environments/bench/keys" -d '{"application":"load","name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
# Wait for the snapshot to serve the new key.
for _ in $(seq 1 100); do
  curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$GW_PORT/v1/models" >/dev/null 2>&1 && break; sleep 0.05
done

GW_URL="http://127.0.0.1:$GW_PORT/v1/chat/completions" GW_AUTH="Bearer $KEY" GW_LABEL=sentinel \
  GW_VERSION="sentinel $(git rev-parse --short HEAD 2>/dev/null || echo dev)" GW_CPUS="$GW_CPUS" \
  "$SHARED_BENCH/bench-gateway.sh" custom

echo "records written: $(curl -fsS "http://127.0.0.1:$GW_PORT/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["components"]["record_writer"])')"
echo "peak RSS of sentinel: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')"
