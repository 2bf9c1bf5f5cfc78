#!/usr/bin/env bash
# Idle cost of the gateway process with N modems (issue 4: 1, 16 and 64).
#
# Each modem is a separate `simgate emulate` process (its own pseudo-terminal, as a USB
# modem is its own tty), so the figure is the gateway process alone: `simgate run` with
# N [[modem]] tables, the HTTP server, SQLite and the event machinery. When every modem
# is ready (GET /api/health/ready lists N ready modems) the script waits SETTLE seconds,
# then reads VmRSS/VmHWM/Pss and the process's CPU time (utime+stime from
# /proc/PID/stat) over WINDOW seconds of idling.
#
# Usage: scripts/bench_idle.sh [N=1] [WINDOW=30] [SETTLE=10]
#   Needs curl and jq. BIN=path/to/simgate (default target/release/simgate).
#   W=scratch dir (default /tmp/simgate-idle-N). Port 127.0.0.1:13295.
set -euo pipefail
N=${1:-1}
WINDOW=${2:-30}
SETTLE=${3:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/simgate}
W=${W:-/tmp/simgate-idle-$N}
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release (or set BIN)" >&2; exit 2; }
rm -rf "$W"; mkdir -p "$W/data"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

{
  echo '[server]'; echo 'listen = "127.0.0.1:13295"'; echo
  echo '[storage]'; echo "data_dir = \"$W/data\""; echo
} > "$W/simgate.toml"
for i in $(seq 1 "$N"); do
  number=$(printf '+1555020%04d' "$i")
  RUST_LOG=warn "$BIN" emulate --number "$number" --link "$W/modem$i" > "$W/emu$i.out" 2>&1 &
  PIDS+=($!)
  printf '[[modem]]\nname = "m%d"\nport = "%s"\nnumber = "%s"\n\n' "$i" "$W/modem$i" "$number" \
    >> "$W/simgate.toml"
done
for i in $(seq 1 "$N"); do
  for _ in $(seq 100); do [ -e "$W/modem$i" ] && break; sleep 0.05; done
done

SIMGATE_ADMIN_PASSWORD=idle-bench-password RUST_LOG=warn \
  "$BIN" run --config "$W/simgate.toml" > "$W/simgate.out" 2>&1 & SG=$!; PIDS+=($SG)
ready=0
for _ in $(seq 600); do
  ready=$(curl -s http://127.0.0.1:13295/api/health/ready | jq '[.checks.modems[] | select(.ready)] | length' 2>/dev/null || echo 0)
  [ "$ready" = "$N" ] && break
  sleep 0.1
done
[ "$ready" = "$N" ] || { echo "only $ready of $N modems became ready" >&2; tail -20 "$W/simgate.out" >&2; exit 1; }
sleep "$SETTLE"

ticks() { awk '{print $14 + $15}' "/proc/$SG/stat"; }
HZ=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s%N)
sleep "$WINDOW"
t1=$(ticks); s1=$(date +%s%N)
cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v ns=$((s1 - s0)) 'BEGIN { printf "%.3f", 100 * d / hz / (ns / 1e9) }')
rss=$(awk '/^VmRSS:/{print $2}' "/proc/$SG/status")
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$SG/status")
pss=$(awk '/^Pss:/{print $2}' "/proc/$SG/smaps_rollup")
threads=$(awk '/^Threads:/{print $2}' "/proc/$SG/status")
awk -v n="$N" -v rss="$rss" -v pss="$pss" -v hwm="$hwm" -v th="$threads" -v cpu="$cpu" \
    -v win="$WINDOW" -v d=$((t1 - t0)) 'BEGIN {
  printf "modems %d: idle RSS %.1f MB, PSS %.1f MB, peak %.1f MB, %d threads, CPU %s%% of one core over %ss (%d ticks)\n",
    n, rss / 1024, pss / 1024, hwm / 1024, th, cpu, win, d }'
