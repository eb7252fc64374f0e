#!/usr/bin/env bash
# The floor under any gateway's added latency on this machine: nginx as a
# bare reverse proxy (keep-alive upstream, no logging, one worker) pinned to
# Sentinel's core, measured with the same harness and load as
# bench/sentinel.sh. Whatever a proxy on its own core pays to be woken and
# to cross cores is in this number; what Sentinel adds beyond it is its own
# work.
#
# usage: bench/nginx-floor.sh
# env:   RATES="1000"  DUR=10s  REPS=3  GW_CPUS=1  MOCK_PORT=18080  PROXY_PORT=18095
#        SHARED_BENCH=../shared/bench  BENCH_STATE=/tmp/sentinel-bench
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_BENCH="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_STATE="${BENCH_STATE:-/tmp/sentinel-bench}"
export RATES="${RATES:-1000}" STREAM_RATES="" DUR="${DUR:-10s}" REPS="${REPS:-3}"
GW_CPUS="${GW_CPUS-1}"
MOCK_PORT="${MOCK_PORT:-18080}"
PROXY_PORT="${PROXY_PORT:-18095}"
DIR="$(mktemp -d)"
mkdir -p "$DIR/logs"
cat >"$DIR/nginx.conf" <<EOF
worker_processes 1;
error_log $DIR/logs/error.log warn;
pid $DIR/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
pin=()
[ -n "$GW_CPUS" ] && pin=(taskset -c "$GW_CPUS")
"${pin[@]}" nginx -p "$DIR" -c "$DIR/nginx.conf"
cleanup() { nginx -p "$DIR" -c "$DIR/nginx.conf" -s stop 2>/dev/null || true; sleep 0.2; rm -rf "$DIR"; }
trap cleanup EXIT

GW_URL="http://127.0.0.1:$PROXY_PORT/v1/chat/completions" GW_AUTH="Bearer sk-bench" GW_LABEL=nginx-proxy \
  GW_VERSION="nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') as a bare reverse proxy" GW_CPUS="$GW_CPUS" \
  "$SHARED_BENCH/bench-gateway.sh" custom
