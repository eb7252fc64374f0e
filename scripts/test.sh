#!/usr/bin/env bash
# Runs Sentinel's whole test suite. Brings up the PostgreSQL and Redis that
# the store and counter tests use for real (installing them from apt on a
# machine that lacks them), runs every test of the workspace, then the
# official OpenAI and Anthropic Python SDKs against a live Sentinel
# (tests/sdk/run.sh; Python 3 with venv and pip comes from apt if missing),
# then the web console in headless Chromium (tests/console/run.sh; Chromium,
# Node.js and npm come from apt if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${SENTINEL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export SENTINEL_TEST_POSTGRES_URL="$PG_URL"
export SENTINEL_TEST_REDIS_URL="${SENTINEL_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_up() { psql "$PG_URL" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  pg_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL from apt..."
    apt_install postgresql postgresql-client
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "${fresh:-0}" = 1 ]; then
    # A fresh cluster asks for passwords on TCP; the tests connect as the
    # postgres user over loopback with trust, like the CI machine.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_up && return 0; sleep 0.5; done
  echo "PostgreSQL did not come up at $PG_URL" >&2
  exit 1
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  command -v redis-cli >/dev/null 2>&1 && redis_up && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing Redis from apt..."
    apt_install redis-server
  fi
  redis_up && return 0
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 60); do redis_up && return 0; sleep 0.5; done
  echo "Redis did not come up on 127.0.0.1:6379" >&2
  exit 1
}

# The SDK tests need Python >= 3.10 with venv and pip (ensurepip); Debian
# splits those into packages of their own.
ensure_python() {
  python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1 && return 0
  echo "installing Python 3 (venv, pip) from apt..."
  apt_install python3 python3-venv python3-pip
}

# The console's browser tests: Debian's Chromium (never a downloaded
# browser build) and Node.js with npm for playwright-core.
ensure_browser() {
  [ -x /usr/bin/chromium ] || { echo "installing Chromium from apt..."; apt_install chromium; }
  command -v node >/dev/null 2>&1 || { echo "installing Node.js from apt..."; apt_install nodejs; }
  command -v npm >/dev/null 2>&1 || { echo "installing npm from apt..."; apt_install npm; }
}

command -v psql >/dev/null 2>&1 || apt_install postgresql-client
ensure_postgres
ensure_redis
ensure_python
ensure_browser

# Every failure is reported: the SDK tests run even when a Rust test failed,
# and the run fails if either did.
status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
tests/sdk/run.sh || status=$?
tests/console/run.sh || status=$?
exit "$status"
