#!/usr/bin/env bash
# Runs the official OpenAI and Anthropic Python SDKs (pinned in
# requirements.txt) against a live Sentinel: the debug build of
# `sentinel serve` on loopback with a throwaway data directory, configured
# through the admin API (configure.py) with the built-in mock provider and a
# small OpenAI-format upstream for tool calls (mock_upstream.py).
#
# usage: tests/sdk/run.sh [pytest args...]
# env:   CARGO_TARGET_DIR  where cargo builds (default: target/); the venv
#                          lives beside the build in $CARGO_TARGET_DIR/sdk-venv
#        SENTINEL_BIN      a sentinel binary to test instead of building one
# Quiet on success (pytest's one-line summary); on failure the Sentinel log
# tail is printed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/sdk"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$TARGET_DIR/sdk-venv"

# 1. The virtualenv, rebuilt only when requirements.txt changes (its hash is
#    kept in the venv), so repeated runs cost nothing.
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$want" >"$VENV/.requirements.sha256"
fi
PY="$VENV/bin/python"

# 2. Sentinel. `cargo test --no-run` resolves features exactly as the test
#    suite does, so after `cargo test --workspace` this is a no-op and the
#    binary is the one the suite built (a plain `cargo build` would rebuild
#    the dependency graph without the dev-dependency features, and back).
if [ -z "${SENTINEL_BIN:-}" ]; then
  cargo test --workspace --locked --no-run --quiet 2>&1 | { grep -v '^  Executable ' || true; } >&2
  SENTINEL_BIN="$TARGET_DIR/debug/sentinel"
fi

WORK="$(mktemp -d)"
SENTINEL_PID=""
MOCK_PID=""
cleanup() {
  status=$?
  set +e # best effort from here: the run's own status is what counts
  # Stop only what this script started, by PID.
  for pid in $SENTINEL_PID $MOCK_PID; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$status" != 0 ] && [ -f "$WORK/sentinel.log" ]; then
    echo "--- last lines of the Sentinel log ---" >&2
    tail -n 40 "$WORK/sentinel.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

TOKEN="sntop_$("$PY" -c 'import secrets; print(secrets.token_hex(32))')"
# Port 0 everywhere: several worktrees and CI may run this at once; the real
# addresses are read back from the banner.
SENTINEL_BOOTSTRAP_TOKEN="$TOKEN" SENTINEL_LOG=warn SENTINEL_LOG_FORMAT=text \
  "$SENTINEL_BIN" serve --data-dir "$WORK/data" \
  --gateway-addr 127.0.0.1:0 --console-addr 127.0.0.1:0 >"$WORK/sentinel.log" 2>&1 &
SENTINEL_PID=$!
PYTHONDONTWRITEBYTECODE=1 "$PY" "$HERE/mock_upstream.py" "$WORK/mock.port" &
MOCK_PID=$!

banner_url() { sed -n "s|^ *$1.*\(http://[0-9.:]*\).*|\1|p" "$WORK/sentinel.log" | head -n 1; }
GATEWAY="" CONSOLE=""
for _ in $(seq 1 300); do
  kill -0 "$SENTINEL_PID" 2>/dev/null || { echo "sentinel exited during start-up" >&2; exit 1; }
  GATEWAY="$(banner_url 'gateway')" CONSOLE="$(banner_url 'console')"
  [ -n "$GATEWAY" ] && [ -n "$CONSOLE" ] && [ -s "$WORK/mock.port" ] && break
  sleep 0.1
done
if [ -z "$GATEWAY" ] || [ -z "$CONSOLE" ] || [ ! -s "$WORK/mock.port" ]; then
  echo "Sentinel or the mock upstream did not start within 30 s" >&2
  exit 1
fi

# 3. Configuration through the admin API, as an operator would.
SENTINEL_TOKEN="$TOKEN" "$PY" "$HERE/configure.py" "$CONSOLE" "$GATEWAY" \
  "http://127.0.0.1:$(cat "$WORK/mock.port")" "$WORK/sdk.json"

# 4. The SDK tests. No cache or bytecode files in the source tree.
SENTINEL_SDK_CONFIG="$WORK/sdk.json" PYTHONDONTWRITEBYTECODE=1 \
  "$PY" -m pytest -q -p no:cacheprovider --rootdir "$HERE" "$HERE" "$@"
