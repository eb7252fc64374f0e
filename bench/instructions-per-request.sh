#!/usr/bin/env bash
# Instructions Sentinel executes per proxied request, counted by valgrind's
# callgrind: user space, every thread (the SQLite writer included), the
# kernel not counted.
#
# Wall-clock throughput and even CPU time per request move by 10-30% between
# runs on a shared host; an instruction count at a fixed rate does not (two
# runs of one build mostly agree within 1%), so this is the measure that can tell
# a 1% change from noise. It runs bench/cpu-per-request.sh twice with the
# binary under callgrind (idle spin off) at RATE req/s, for SHORT and for
# LONG, and divides the difference in instructions by the difference in
# request records written: start-up, the bench's setup calls and shutdown
# cancel out.
#
# Keep RATE well below what Sentinel serves under valgrind (about 1000
# req/s): RATE=max works but is not repeatable (within 5%), because how many
# records share one SQLite transaction then depends on scheduling. One-time
# work that runs for a while rather than a number of steps (the metrics
# clock's calibration) can still move a total by about 2%: the TOP list
# shows it, and running each build twice settles it.
#
# Instructions are not time: a syscall counts as one, a cache miss as
# nothing, and valgrind hides CPU extensions (SHA-NI, AVX-512), so hashing
# and copies count for more than they cost on the real CPU. Compare builds
# with it; do not convert it to microseconds.
#
# usage: bench/instructions-per-request.sh
# env:   BIN= (a prebuilt sentinel binary; default: build the release binary)
#        RATE=300 SHORT=4s LONG=12s CONNS=16
#        TOP=30 (also list the TOP functions by their own instructions per
#                request; 0: none)
#        SHARED_BENCH=../shared/bench  BENCH_STATE=/tmp/sentinel-bench
# needs: valgrind (apt-get install -y valgrind), and what cpu-per-request.sh needs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHORT="${SHORT:-4s}" LONG="${LONG:-12s}" CONNS="${CONNS:-16}" TOP="${TOP:-30}" RATE="${RATE:-300}"
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
cd "$ROOT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p sentinel
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/sentinel"
fi
BIN="$(realpath "$BIN")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# One run of DUR under callgrind; prints the records written.
run() {
  local label=$1 dur=$2
  cat >"$WORK/sentinel-$label" <<EOF
#!/usr/bin/env bash
export SENTINEL_IDLE_SPIN_US=0
exec valgrind --tool=callgrind --callgrind-out-file="$WORK/$label.out" --log-file="$WORK/$label.log" "$BIN" "\$@"
EOF
  chmod +x "$WORK/sentinel-$label"
  BIN="$WORK/sentinel-$label" RATE="$RATE" DUR="$dur" CONNS="$CONNS" "$ROOT/bench/cpu-per-request.sh" 2>&1 |
    sed -n 's/^RESULT .*records=\([0-9]*\).*/\1/p'
}
short_records=$(run short "$SHORT")
long_records=$(run long "$LONG")

python3 - "$WORK" "$short_records" "$long_records" "$TOP" "$(basename "$BIN")" <<'EOF'
import re, subprocess, sys
work, short_n, long_n, top, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

def functions(label):
    out = subprocess.run(["callgrind_annotate", f"{work}/{label}.out"],
                         capture_output=True, text=True, check=True).stdout
    total, by_function = None, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        count = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = count
            continue
        function = re.sub(r"^(\?\?\?|\S+?):", "", m.group(2), count=1).rsplit(" [", 1)[0]
        by_function[function] = by_function.get(function, 0) + count
    return total, by_function

short_total, short_fns = functions("short")
long_total, long_fns = functions("long")
requests = long_n - short_n
if requests <= 0:
    sys.exit(f"the long run wrote no more records than the short one ({long_n} vs {short_n})")
print(f"RESULT binary={name} instructions_per_request={(long_total - short_total) / requests:.0f} "
      f"requests={requests} (records {short_n} -> {long_n})")
if top:
    per = {f: (long_fns.get(f, 0) - short_fns.get(f, 0)) / requests for f in set(short_fns) | set(long_fns)}
    print(f"  top {top} functions by their own instructions per request:")
    for function, count in sorted(per.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {count:8.0f}  {function[:140]}")
EOF
