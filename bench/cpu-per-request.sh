#!/usr/bin/env bash
# CPU time Sentinel spends per proxied request, at a fixed open-loop rate.
#
# Wall-clock throughput is only as steady as the machine; CPU time per
# request is steadier on a shared host (other processes delay Sentinel but do
# not bill it their cycles). This starts the release binary pinned to one
# core with a SQLite store (request records written as usual), drives RATE
# req/s of non-streaming chat through it to the shared nginx mock for DUR,
# waits until every record is written, and divides the process's user+system
# CPU time (all threads, the SQLite worker included) by the requests served.
# The per-thread split is printed too.
#
# With RATE=max (a closed loop at CONNS connections) the pinned core is
# saturated, and 1e6 / cpu_us_per_req is the throughput Sentinel would reach
# on a core of its own, however much of it other processes took meanwhile.
#
# usage: bench/cpu-per-request.sh
# env:   RATE=4000 (or max)  DUR=15s  REPS=1  GW_CPUS=1 (Sentinel's core)  LOAD_CPUS=0
#        BODY=../shared/bench/bodies/chat.json  CONNS=64
#        BIN= (a prebuilt sentinel binary; default: build the release binary)
#        PERF=0 (1: also `perf record` Sentinel during each run, with PERF_ARGS,
#                default "-F 999 -g"; the data is kept in $BENCH_STATE/perf-<stamp>.data)
#        STORE= (postgres://… to measure with PostgreSQL)
#        SHARED_BENCH=../shared/bench  BENCH_STATE=/tmp/sentinel-bench
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_STATE="${BENCH_STATE:-/tmp/sentinel-bench}"
RATE="${RATE:-4000}" DUR="${DUR:-15s}" REPS="${REPS:-1}" CONNS="${CONNS:-64}"
GW_CPUS="${GW_CPUS-1}" LOAD_CPUS="${LOAD_CPUS-0}"
BODY="${BODY:-$SHARED_BENCH/bodies/chat.json}"
MOCK_PORT="${MOCK_PORT:-18080}" GW_PORT="${GW_PORT:-18094}" CONSOLE_PORT="${CONSOLE_PORT:-18095}"
TOKEN="sntop_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DATA="$(mktemp -d)"
mkdir -p "$BENCH_STATE"

cd "$ROOT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p sentinel
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sentinel"
fi
OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
[ -x "$OHA" ] || { echo "oha not found: $SHARED_BENCH/setup.sh" >&2; exit 1; }
TCK=$(getconf CLK_TCK)

started_mock=0
if ! curl -fsS "http://127.0.0.1:$MOCK_PORT/health" >/dev/null 2>&1; then
  "$SHARED_BENCH/mock/start.sh" "$MOCK_PORT"; started_mock=1
fi
pin=(); [ -n "$GW_CPUS" ] && pin=(taskset -c "$GW_CPUS")
load_pin=(); [ -n "$LOAD_CPUS" ] && load_pin=(taskset -c "$LOAD_CPUS")
SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=warn SENTINEL_LOG_FORMAT=json \
  "${pin[@]}" "$BIN" serve --data-dir "$DATA" ${STORE:+--store "$STORE"} \
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
DOC=$(printf 'providers:\n  mock-nginx:\n    kind: openai_compatible\n    base_url: http://127.0.0.1:%s/v1\n    allow_private_network: true\nroute_plans:\n  bench:\n    models: [gpt-4o-mini]\n    targets:\n      - { provider: mock-nginx, model: gpt-4o-mini }\n' "$MOCK_PORT")
admin -X POST "$API/environments/bench/config" \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1], "message": "bench"}))' "$DOC")" >/dev/null
KEY=$(admin -X POST "$API/environments/bench/keys" -d '{"application":"load","name":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
for _ in $(seq 1 100); do
  curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$GW_PORT/v1/models" >/dev/null 2>&1 && break; sleep 0.05
done
URL="http://127.0.0.1:$GW_PORT/v1/chat/completions"
ARGS=(--no-tui -c "$CONNS" -m POST -T application/json -D "$BODY" -t 30s -H "Authorization: Bearer $KEY")
[ "$RATE" != max ] && ARGS+=(-q "$RATE")
if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then JSONARG=(--output-format json); else JSONARG=(-j); fi

# Records written so far, once the writer's queue is empty and the count
# has stopped moving (the writer lags the requests by up to one batch).
settled_records() {
  local last=-1 now
  for _ in $(seq 1 100); do
    now=$(curl -fsS "http://127.0.0.1:$GW_PORT/readyz" | python3 -c 'import json,sys; w=json.load(sys.stdin)["components"]["record_writer"]; print(w["written"] if w["backlog"] == 0 else -1)')
    [ "$now" != -1 ] && [ "$now" = "$last" ] && { echo "$now"; return; }
    last=$now; sleep 0.3
  done
  echo "$last"
}
# utime+stime of the whole process (every thread, live or exited), in ticks.
proc_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# "name ns" per live thread, from schedstat (ns of CPU).
thread_ns() {
  for t in /proc/$PID/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{print $1}' "$t/schedstat")"
  done | sort
}

echo "# sentinel $(git rev-parse --short HEAD 2>/dev/null || echo dev)$(git diff --quiet 2>/dev/null || echo '+dirty') | $(nproc) cpus | load $(cut -d' ' -f1-3 /proc/loadavg) | $(date -u +%FT%TZ) | gateway on cpu ${GW_CPUS:-any} | ${RATE} req/s for $DUR"
"${load_pin[@]}" "$OHA" -z 3s "${ARGS[@]}" "${JSONARG[@]}" "$URL" >/dev/null 2>&1 || true
for rep in $(seq 1 "$REPS"); do
  OUT="$DATA/oha-$rep.json"
  r0=$(settled_records); t0=$(proc_ticks); thread_ns >"$DATA/threads0"
  if [ "${PERF:-0}" = 1 ]; then
    PERF_OUT="$BENCH_STATE/perf-$(date +%Y%m%dT%H%M%S).data"
    # shellcheck disable=SC2086
    perf record -q ${PERF_ARGS:--F 999 -g} -p "$PID" -o "$PERF_OUT" -- sleep "${DUR%s}" >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  "${load_pin[@]}" "$OHA" -z "$DUR" "${ARGS[@]}" "${JSONARG[@]}" "$URL" >"$OUT"
  r1=$(settled_records); t1=$(proc_ticks); thread_ns >"$DATA/threads1"
  [ "${PERF:-0}" = 1 ] && { wait "$PERF_PID" || true; echo "perf data: $PERF_OUT"; }
  python3 - "$OUT" "$r0" "$r1" "$t0" "$t1" "$TCK" "$DATA/threads0" "$DATA/threads1" <<'EOF'
import collections, json, sys
out, r0, r1, t0, t1, tck, th0, th1 = sys.argv[1:9]
d = json.load(open(out))
codes = d.get("statusCodeDistribution", {}) or {}
served = sum(int(v) for v in codes.values())
ok = sum(int(v) for k, v in codes.items() if str(k).startswith("2"))
records = int(r1) - int(r0)
cpu_s = (int(t1) - int(t0)) / int(tck)
def load(path):
    acc = collections.Counter()
    for line in open(path):
        name, ns = line.rsplit(" ", 1)
        acc[name] += int(ns)
    return acc
a, b = load(th0), load(th1)
split = ", ".join(f"{n} {(b[n] - a.get(n, 0)) / 1e3 / max(served, 1):.1f}"
                  for n in sorted(b, key=lambda n: a.get(n, 0) - b[n]) if b[n] - a.get(n, 0) > 1e6)
wall = float(d["summary"].get("total") or 1)
print(f"RESULT cpu_us_per_req={cpu_s * 1e6 / max(served, 1):.1f} served={served} ok={ok} "
      f"records={records} cpu_s={cpu_s:.2f} rps={served / wall:.0f} p50_ms={d['latencyPercentiles']['p50'] * 1e3:.3f} "
      f"p99_ms={d['latencyPercentiles']['p99'] * 1e3:.3f}")
print(f"  per thread (us/req, live threads): {split}")
EOF
done
