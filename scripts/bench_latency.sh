#!/usr/bin/env bash
# Modem-to-subscriber latency (issues 4 and 5), by the method of ../shared/bench/README.md
# §3: a fake modem on one end of a socat PTY pair, paced at 115200 baud 8N1 (every byte
# it writes and every command it receives is delayed by its wire time), stores line 3 of
# pdus.txt (a 160-character GSM 7-bit SMS) and raises `+CMTI` (simgate sets
# AT+CNMI=2,1,...); `simgate run` drives it as a real modem on the other end. The trial
# ends when simgate's `sms.received` webhook reaches a local HTTP listener, which writes
# the CLOCK_MONOTONIC time of arrival for the fake modem to read. So the figure covers:
# the URC on the wire, AT+CMGR and its answer on the wire, the PDU decode, the SQLite
# commit (WAL, synchronous=FULL), the event fan-out and an HTTP POST to the subscriber.
#
# The fake modem is scripts/paced_modem.py, which differs from the peers' one in a
# single way: each trial's PDU carries its own service-centre timestamp, since simgate
# (rightly) stores a byte-identical re-delivered PDU once.
#
# Serial floor for this path (../shared/bench/serial_floor.py pdus.txt 3 115200): 33.5 ms.
#
# SUBSCRIBER=socketio measures to a Socket.IO client instead (examples/socketio_listener.rs,
# signed in as the admin, who sees every message): the live push right after the commit.
#
# Usage: scripts/bench_latency.sh [TRIALS=100] [BAUD=115200]
#   Needs socat, curl, jq, python3 (apt-get install -y socat curl jq).
#   BIN=path/to/simgate (default target/release/simgate; cargo build --release;
#   for SUBSCRIBER=socketio also cargo build --release --example socketio_listener).
#   W=scratch dir (default /tmp/simgate-latency). Ports 127.0.0.1:13290 (simgate),
#   13291 (listener). SIMGATE_LOG=debug shows the box's log in $W/simgate.out.
set -euo pipefail
TRIALS=${1:-100}
BAUD=${2:-115200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
[ -f "$SHARED/pdus.txt" ] || SHARED=/work/shared/bench
BIN=${BIN:-$ROOT/target/release/simgate}
LISTENER_BIN=${LISTENER_BIN:-$(dirname "$BIN")/examples/socketio_listener}
SUBSCRIBER=${SUBSCRIBER:-webhook}
W=${W:-/tmp/simgate-latency}
for tool in socat curl jq python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y $tool)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release (or set BIN)" >&2; exit 2; }
rm -rf "$W"; mkdir -p "$W/detect" "$W/data"

cat > "$W/listener.py" <<'PY'
# The subscriber: each POST becomes detect/hookN.json {"t": CLOCK_MONOTONIC at arrival}.
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, ddir = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock(); n = [0]
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        t = time.monotonic()
        with lock:
            n[0] += 1; k = n[0]
        tmp = os.path.join(ddir, f'.hook{k}.tmp')
        with open(tmp, 'w') as f:
            json.dump({'t': t, 'body': body.decode(errors='replace')}, f)
        os.rename(tmp, os.path.join(ddir, f'hook{k}.json'))
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
PY

cat > "$W/simgate.toml" <<CONF
[server]
listen = "127.0.0.1:13290"

[storage]
data_dir = "$W/data"

[[modem]]
name = "fake"
port = "$W/ttySG"
number = "+15550100001"
CONF

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
LIMIT=$(( 60 + TRIALS * 3 ))
timeout $LIMIT socat pty,raw,echo=0,link="$W/ttySG" pty,raw,echo=0,link="$W/ttySGMODEM" & PIDS+=($!)
sleep 0.5
[ "$SUBSCRIBER" = socketio ] || { python3 "$W/listener.py" 13291 "$W/detect" & PIDS+=($!); }
python3 "$ROOT/scripts/paced_modem.py" --tty "$W/ttySGMODEM" --pdu-file "$SHARED/pdus.txt" --pdu-line 3 \
  --detect-dir "$W/detect" --trials "$TRIALS" --gap-max 0.5 --warmup 8 --timeout 10 --baud "$BAUD" \
  --log "$W/modem.log" --out "$W/latency.json" > "$W/fake_modem.out" 2>&1 & FM=$!; PIDS+=($FM)
sleep 0.3
SIMGATE_ADMIN_EMAIL=bench@example.com SIMGATE_ADMIN_PASSWORD=bench-password-123 RUST_LOG=${SIMGATE_LOG:-warn} \
  "$BIN" run --config "$W/simgate.toml" > "$W/simgate.out" 2>&1 & SG=$!; PIDS+=($SG)

B=http://127.0.0.1:13290/api
for _ in $(seq 100); do curl -sf "$B/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf "$B/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password-123"}' | jq -r .data.access_token)
if [ "$SUBSCRIBER" = socketio ]; then
  "$LISTENER_BIN" http://127.0.0.1:13290 "$TOKEN" "$W/detect" > "$W/listener.out" 2>&1 & PIDS+=($!)
  for _ in $(seq 100); do grep -q connected "$W/listener.out" && break; sleep 0.1; done
else
  curl -sf "$B/webhooks" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"url":"http://127.0.0.1:13291/hook","events":["sms.received"]}' >/dev/null
fi
echo "simgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $TRIALS trials at $BAUD baud; subscriber: $SUBSCRIBER"

wait $FM || true
grep -E 'VmRSS|VmHWM' "/proc/$SG/status" | tr -s ' \t' ' ' | tr '\n' ' '; echo
echo "AT commands simgate sent (fake modem log, first 30):"; grep -v '#' "$W/modem.log" | head -30 | sed 's/^/  /'
python3 - "$W/latency.json" <<'PY'
import json, math, statistics, sys
trials = json.load(open(sys.argv[1]))['trials']
sig = sorted(t['signal_s'] * 1000 for t in trials if t.get('signal_s') is not None)
rd = sorted(t['read_s'] * 1000 for t in trials if t.get('read_s') is not None)
def pct(v, p): return v[max(0, math.ceil(p * len(v)) - 1)] if v else float('nan')
print(f"trials {len(trials)}, detected {len(sig)}")
if sig:
    print(f"URC written -> event at the subscriber: median {statistics.median(sig):.2f} ms, "
          f"p90 {pct(sig, .9):.2f}, p99 {pct(sig, .99):.2f}, min {sig[0]:.2f}, max {sig[-1]:.2f}")
if rd:
    print(f"URC written -> AT+CMGR at the modem: median {statistics.median(rd):.2f} ms")
PY
