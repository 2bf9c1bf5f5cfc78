#!/usr/bin/env python3
"""A GSM modem on a pseudo-terminal, paced like a 115200-baud UART, for latency trials.

It follows the method of ../shared/bench (fake_modem.py): every byte it writes, and every
command it receives, is delayed by its 8N1 wire time (10 bits per byte at --baud), so a
measured latency includes the serial floor a real UART imposes. It answers the AT
commands a gateway sends at start-up, keeps a SIM store, and per trial stores one PDU and
raises `+CMTI: "SM",<index>`, taking t0 just before that URC is written.

One difference, and why: each trial's PDU is line --pdu-line of --pdu-file with its
service-centre timestamp (TP-SCTS) advanced by one second per trial. A gateway that
recognises a re-delivered PDU (same bytes, same timestamp) as a duplicate, as simgate
does, would otherwise see one message and N-1 retransmissions.

A trial ends when a JSON file appears in --detect-dir (written by the HTTP listener that
stands for the gateway's client); its "t" (CLOCK_MONOTONIC at arrival) gives signal_s.

Usage: paced_modem.py --tty PTY --pdu-file pdus.txt --pdu-line 3 --detect-dir DIR
                      --trials 100 --gap-max 0.5 --warmup 8 --baud 115200 --out out.json
"""
import argparse, json, math, os, random, statistics, threading, time

ap = argparse.ArgumentParser()
ap.add_argument('--tty', required=True)
ap.add_argument('--pdu-file', required=True)
ap.add_argument('--pdu-line', type=int, default=3)
ap.add_argument('--detect-dir', required=True)
ap.add_argument('--trials', type=int, default=20)
ap.add_argument('--gap-max', type=float, default=0.5)
ap.add_argument('--warmup', type=float, default=8.0)
ap.add_argument('--timeout', type=float, default=10.0)
ap.add_argument('--baud', type=int, default=115200)
ap.add_argument('--log', default=None)
ap.add_argument('--out', default=None)
a = ap.parse_args()

BASE = [l.strip() for l in open(a.pdu_file) if l.strip()][a.pdu_line - 1].upper()


def scts_offset(pdu):
    """Hex offset of TP-SCTS in an SMS-DELIVER with its SMSC prefix."""
    i = 2 + int(pdu[:2], 16) * 2          # SMSC length octet and SMSC
    i += 2                                 # first octet
    digits = int(pdu[i:i + 2], 16)
    i += 4 + digits + (digits & 1)         # OA length, type, semi-octets
    return i + 4                           # PID, DCS


def with_second(pdu, n):
    """The PDU with SCTS minutes and seconds set from n (swapped BCD semi-octets)."""
    o = scts_offset(pdu)
    def bcd(v):
        return f'{v % 10}{v // 10}'
    mm, ss = (n // 60) % 60, n % 60
    return pdu[:o + 8] + bcd(mm) + bcd(ss) + pdu[o + 12:]


def tpdu_len(p):
    return len(p) // 2 - 1 - int(p[:2], 16)


fd = os.open(a.tty, os.O_RDWR | os.O_NOCTTY)
wlock = threading.Lock()
log = open(a.log, 'w') if a.log else None
t_start = time.monotonic()
store = {}
first_read = {}
echo = [True]


def wire(nbytes):
    if a.baud > 0:
        time.sleep(nbytes * 10 / a.baud)


def write(s):
    with wlock:
        wire(len(s))
        os.write(fd, s.encode())


def reply(c):
    """Response lines for one command (final OK added by the caller); None = ERROR."""
    u = c.upper()
    if u in ('AT', 'ATZ', 'AT&F') or u.startswith(('ATE0', 'ATE1', 'ATV1', 'ATQ0')):
        if u.startswith('ATE'):
            echo[0] = u.startswith('ATE1')
        return []
    fixed = {
        'ATI': ['PacedModem PM-1'], 'AT+CGMI': ['PacedModem'], 'AT+CGMM': ['PM-1'],
        'AT+CGMR': ['1.0'], 'AT+CGSN': ['356938035643809'], 'AT+CIMI': ['001010123456789'],
        'AT+CCID': ['+CCID: 8925099123456789012'], 'AT+CPIN?': ['+CPIN: READY'],
        'AT+CSQ': ['+CSQ: 20,99'], 'AT+CREG?': ['+CREG: 0,1'], 'AT+CEREG?': ['+CEREG: 0,1'],
        'AT+CGREG?': ['+CGREG: 0,1'], 'AT+COPS?': ['+COPS: 0,0,"PacedNet"'],
        'AT+CNUM': ['+CNUM: ,"+15550100001",145'], 'AT+CMGF?': ['+CMGF: 0'],
        'AT+CSCA?': ['+CSCA: "+15550000000",145'],
    }
    if u in fixed:
        return fixed[u]
    if u == 'AT+CPMS?' or u.startswith('AT+CPMS='):
        n = len(store)
        return [f'+CPMS: "SM",{n},30,"SM",{n},30,"SM",{n},30' if u.endswith('?') else f'+CPMS: {n},30,{n},30,{n},30']
    if u.startswith('AT+CMGL'):
        out = []
        for i, (stat, p) in sorted(store.items()):
            first_read.setdefault(i, time.monotonic())
            out += [f'+CMGL: {i},{stat},,{tpdu_len(p)}', p]
        return out
    if u.startswith('AT+CMGR='):
        i = int(u.split('=')[1])
        if i not in store:
            return []
        first_read.setdefault(i, time.monotonic())
        stat, p = store[i]
        store[i][0] = 1
        return [f'+CMGR: {stat},,{tpdu_len(p)}', p]
    if u.startswith('AT+CMGD='):
        store.pop(int(u.split('=')[1].split(',')[0]), None)
        return []
    if u.startswith(('AT+CMEE=', 'AT+CMGF=', 'AT+CNMI=', 'AT+CSMS=', 'AT+CREG=', 'AT+CEREG=',
                     'AT+CGREG=', 'AT+COPS=', 'AT+CSCS=', 'AT+CFUN=', 'AT+CNMA')):
        return []
    return None


def serve():
    buf = b''
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            time.sleep(0.05)
            continue
        buf += data
        while b'\r' in buf:
            line, buf = buf.split(b'\r', 1)
            cmd = line.decode(errors='replace').strip()
            if not cmd:
                continue
            wire(len(line) + 1)
            body = reply(cmd)
            if log:
                log.write(f'{time.monotonic() - t_start:10.3f} {cmd!r} -> {"ERROR" if body is None else body}\n')
                log.flush()
            out = (cmd + '\r') if echo[0] else ''
            if body is None:
                out += '\r\nERROR\r\n'
            else:
                out += ''.join(f'\r\n{b}' for b in body) + ('\r\n' if body else '') + '\r\nOK\r\n'
            write(out)


threading.Thread(target=serve, daemon=True).start()
os.makedirs(a.detect_dir, exist_ok=True)
for f in os.listdir(a.detect_dir):
    os.unlink(os.path.join(a.detect_dir, f))
random.seed(1)
time.sleep(a.warmup)
results = []
for t in range(a.trials):
    time.sleep(random.uniform(0, a.gap_max))
    pdu = with_second(BASE, t)
    idx = next(i for i in range(1, 31) if i not in store)
    store[idx] = [0, pdu]
    first_read.pop(idx, None)
    t0 = time.monotonic()
    write(f'\r\n+CMTI: "SM",{idx}\r\n')
    sig = None
    while time.monotonic() - t0 < a.timeout:
        files = [f for f in os.listdir(a.detect_dir) if not f.startswith('.')]
        if files:
            for f in files:
                path = os.path.join(a.detect_dir, f)
                try:
                    ts = json.load(open(path)).get('t')
                    if ts is not None and (sig is None or ts < sig):
                        sig = ts
                except (OSError, ValueError):
                    pass
                os.unlink(path)
            break
        time.sleep(0.002)
    rd = first_read.get(idx)
    r = {'trial': t + 1, 'read_s': None if rd is None else round(rd - t0, 5),
         'signal_s': None if sig is None else round(sig - t0, 5)}
    results.append(r)
    print(json.dumps(r), flush=True)

sig = sorted(r['signal_s'] for r in results if r['signal_s'] is not None)
summary = {'trials': a.trials, 'detected': len(sig),
           'signal_median_s': statistics.median(sig) if sig else None,
           'signal_p99_s': sig[max(0, math.ceil(0.99 * len(sig)) - 1)] if sig else None}
print('SUMMARY ' + json.dumps(summary), flush=True)
if a.out:
    json.dump({'trials': results, 'summary': summary}, open(a.out, 'w'), indent=1)
