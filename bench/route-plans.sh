#!/usr/bin/env bash
# Issue 4's benchmarks: the happy path through a three-target fallback plan
# against a one-target plan, and how fast a fully open circuit answers.
# Same harness as sentinel.sh (../shared/bench), same pinning.
#
# usage: bench/route-plans.sh      env: RATES="1000 max" DUR=10s REPS=2 GW_CPUS=1
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_STATE="${BENCH_STATE:-/tmp/sentinel-bench}"
RATES="${RATES:-1000 max}" DUR="${DUR:-10s}" REPS="${REPS:-2}"
GW_CPUS="${GW_CPUS-1}"
MOCK_PORT="${MOCK_PORT:-18080}" GW_PORT="${GW_PORT:-18092}" CONSOLE_PORT="${CONSOLE_PORT:-18093}"
TOKEN="sntop_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DATA="$(mktemp -d)"

cd "$ROOT"
cargo build --release --locked -p sentinel
started_mock=0
if ! curl -fsS "http://127.0.0.1:$MOCK_PORT/health" >/dev/null 2>&1; then
  "$SHARED_BENCH/mock/start.sh" "$MOCK_PORT"; started_mock=1
fi
pin=(); [ -n "$GW_CPUS" ] && pin=(taskset -c "$GW_CPUS")
SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=error "${pin[@]}" "${CARGO_TARGET_DIR:-$ROOT/target}/release/sentinel" serve --data-dir "$DATA" \
  --gateway-addr "127.0.0.1:$GW_PORT" --console-addr "127.0.0.1:$CONSOLE_PORT" >"$DATA/sentinel.log" 2>&1 &
PID=$!
cleanup() {
  kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA"
  if [ "$started_mock" = 1 ]; then "$SHARED_BENCH/mock/stop.sh" "$MOCK_PORT" || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$CONSOLE_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

admin() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
API="http://127.0.0.1:$CONSOLE_PORT/api/v1"
admin -X POST "$API/environments" -d '{"name":"bench"}' >/dev/null
admin -X POST "$API/environments/bench/applications" -d '{"name":"load"}' >/dev/null
# A closed port for the dead target.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DOC=$(cat <<YAML
providers:
  m1: { kind: openai_compatible, base_url: "http://127.0.0.1:$MOCK_PORT/v1", allow_private_network: true }
  m2: { kind: openai_compatible, base_url: "http://127.0.0.1:$MOCK_PORT/v1", allow_private_network: true }
  m3: { kind: openai_compatible, base_url: "http://127.0.0.1:$MOCK_PORT/v1", allow_private_network: true }
  dead: { kind: openai_compatible, base_url: "http://127.0.0.1:$DEAD/v1", allow_private_network: true }
route_plans:
  one:
    models: [one]
    targets: [{ provider: m1, model: gpt-4o-mini }]
  three:
    models: [three]
    targets: [{ provider: m1, model: gpt-4o-mini }, { provider: m2, model: gpt-4o-mini }, { provider: m3, model: gpt-4o-mini }]
    retry: { max_attempts: 3 }
  open:
    models: [open]
    targets: [{ provider: dead, model: gpt-4o-mini }]
    retry: { max_attempts: 1 }
    circuit_breaker: { min_requests: 1, failure_ratio: 0.5, open_s: 3600 }
YAML
)
admin -X POST "$API/environments/bench/config" \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1], "message": "bench"}))' "$DOC")" >/dev/null
KEY=$(admin -X POST "$API/environments/bench/keys" -d '{"application":"load","name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
for _ in $(seq 1 100); do
  curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$GW_PORT/v1/models" >/dev/null 2>&1 && break; sleep 0.05
done
URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"
for model in one three open; do
  sed "s/\"gpt-4o-mini\"/\"$model\"/" "$SHARED_BENCH/bodies/chat.json" > "$DATA/$model.json"
done
# Open the circuit: one failure is enough with min_requests 1.
curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d @"$DATA/open.json" "$URL"

echo "# sentinel $(git rev-parse --short HEAD) | $(nproc) cpus | $(date -u +%FT%TZ) | gateway on cpu ${GW_CPUS:-any}"
for rate in $RATES; do
  for rep in $(seq 1 "$REPS"); do
    for model in one three open; do
      BODY="$DATA/$model.json" AUTH="Bearer $KEY" LABEL="plan-$model" "$SHARED_BENCH/run.sh" "$URL" "$rate" "$DUR"
    done
  done
done
