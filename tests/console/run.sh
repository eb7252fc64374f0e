#!/usr/bin/env bash
# Browser tests of the web console: Debian's Chromium, headless, driven by
# playwright-core (pinned in package-lock.json, installed with
# `npm ci --ignore-scripts`, so no browser is ever downloaded) against a
# live Sentinel: the debug build of `sentinel serve` on loopback with a
# throwaway data directory and the built-in mock provider, configured
# through the admin API by the test itself.
#
# usage: tests/console/run.sh [node --test args...]
# env:   CARGO_TARGET_DIR  where cargo builds (default: target/); the npm
#                          packages live beside the build in
#                          $CARGO_TARGET_DIR/console-node
#        SENTINEL_BIN      a sentinel binary to test instead of building one
#        CHROMIUM          the browser (default /usr/bin/chromium)
# Screenshots of the main pages go to target/console-screenshots/. On
# failure the Sentinel log tail is printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/console"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_DIR="$TARGET_DIR/console-node"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }

# 1. The npm packages, reinstalled only when the lock file changes.
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$NODE_DIR/.lock.sha256" 2>/dev/null)" != "$want" ]; then
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" >"$NODE_DIR/.lock.sha256"
fi

# 2. Sentinel, built the way the test suite builds it (see tests/sdk/run.sh).
if [ -z "${SENTINEL_BIN:-}" ]; then
  cargo test --workspace --locked --no-run --quiet 2>&1 | { grep -v '^  Executable ' || true; } >&2
  SENTINEL_BIN="$TARGET_DIR/debug/sentinel"
fi

WORK="$(mktemp -d)"
SENTINEL_PID=""
cleanup() {
  status=$?
  set +e # best effort from here: the run's own status is what counts
  # Stop only what this script started, by PID.
  if [ -n "$SENTINEL_PID" ]; then
    kill -TERM "$SENTINEL_PID" 2>/dev/null
    wait "$SENTINEL_PID" 2>/dev/null
  fi
  if [ "$status" != 0 ] && [ -f "$WORK/sentinel.log" ]; then
    echo "--- last lines of the Sentinel log ---" >&2
    tail -n 40 "$WORK/sentinel.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

TOKEN="sntop_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
# Port 0 everywhere; the real addresses are read back from the banner.
SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=warn SENTINEL_LOG_FORMAT=text \
  "$SENTINEL_BIN" serve --data-dir "$WORK/data" \
  --gateway-addr 127.0.0.1:0 --console-addr 127.0.0.1:0 >"$WORK/sentinel.log" 2>&1 &
SENTINEL_PID=$!

banner_url() { sed -n "s|^ *$1.*\(http://[0-9.:]*\).*|\1|p" "$WORK/sentinel.log" | head -n 1; }
GATEWAY="" CONSOLE=""
for _ in $(seq 1 300); do
  kill -0 "$SENTINEL_PID" 2>/dev/null || { echo "sentinel exited during start-up" >&2; exit 1; }
  GATEWAY="$(banner_url 'gateway')" CONSOLE="$(banner_url 'console')"
  [ -n "$GATEWAY" ] && [ -n "$CONSOLE" ] && break
  sleep 0.1
done
if [ -z "$GATEWAY" ] || [ -z "$CONSOLE" ]; then
  echo "Sentinel did not start within 30 s" >&2
  exit 1
fi

# 3. The browser tests.
mkdir -p "$ROOT/target/console-screenshots"
SENTINEL_CONSOLE="$CONSOLE" SENTINEL_GATEWAY="$GATEWAY" SENTINEL_TOKEN="$TOKEN" \
  CONSOLE_NODE_MODULES="$NODE_DIR/node_modules" \
  SCREENSHOTS="$ROOT/target/console-screenshots" \
  node --test --test-reporter=spec "$@" "$HERE/console.test.mjs"
