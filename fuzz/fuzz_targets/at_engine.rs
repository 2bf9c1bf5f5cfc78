//! `drivers::at::AtEngine` driven by arbitrary input: a script of byte chunks from the
//! modem, commands sent, and time passing. It never panics, never asks to be woken at a
//! time before one it already passed, and every command sent ends with exactly one
//! `Response` (at the latest when its timeout fires).
//!
//! Script: each step reads one opcode byte.
//!   0..=15  send a command (one of a few, some with a `> ` payload);
//!   16..=31 let time pass (next byte × 37 ms) and call `handle_timeout`;
//!   32..=63 feed a known fragment (final codes, URC headers, PDU lines, prompt, ...);
//!   64..    feed the next (opcode & 0x3F) raw bytes of the input.
#![no_main]

use std::time::{Duration, Instant};

use drivers::at::{AtEngine, AtEvent, Command};
use libfuzzer_sys::fuzz_target;

const FRAGMENTS: &[&[u8]] = &[
    b"\r\n",
    b"\r",
    b"\n",
    b"OK",
    b"ERROR",
    b"+CME ERROR: 10",
    b"+CMS ERROR: 500",
    b"NO CARRIER",
    b"BUSY",
    b"> ",
    b"+CMT: ,23",
    b"+CMT: \"+12025550123\",,\"26/11/22,12:00:00+04\"",
    b"+CDS: 25",
    b"+CMTI: \"SM\",3",
    b"+CUSD: 1,\"Balance",
    b"\"",
    b",15",
    b"+CMGL: 0,1,,23",
    b"+CMGR: 0,,23",
    b"07913366003051F5040B913366304381F900005180719120348004D4F29C0E",
    b"+CPIN: READY",
    b"+CREG: 1",
    b"+CSQ: 20,99",
    b"RING",
    b"^SRVST:0",
    b"AT+CMGR=1",
    b"AT+CMGS=5",
    b"\x1a",
    b"\x1b",
    b"\x00",
    b"\xff\xfe",
    b"+CMGS: 12",
];

fn commands(i: u8) -> Command {
    match i % 8 {
        0 => Command::new("AT+CMGR=1"),
        1 => Command::new("AT+CMGL=4"),
        2 => Command::new("AT+CMGS=23").payload("0011000B916407281553F80000AA0AE8329BFD4697D9EC37"),
        3 => Command::new("AT+CPIN?"),
        4 => Command::new("AT+CUSD=1,\"*100#\",15").timeout(Duration::from_secs(20)),
        5 => Command::new("ATD+12025550123;"),
        6 => Command::new("AT+CSQ").timeout(Duration::from_millis(300)),
        _ => Command::new("AT"),
    }
}

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let mut engine = AtEngine::new();
    let mut sent = 0usize;
    let mut ended = 0usize;
    let mut i = 0;
    let drain = |engine: &mut AtEngine, ended: &mut usize| {
        while engine.poll_transmit().is_some() {}
        while let Some(ev) = engine.poll_event() {
            match ev {
                AtEvent::Response(_) => *ended += 1,
                AtEvent::Urc(u) => {
                    let _ = format!("{u:?}");
                }
                AtEvent::Unexpected { .. } => {}
            }
        }
    };
    while i < data.len() {
        let op = data[i];
        i += 1;
        match op {
            0..=15 => {
                let was_busy = engine.is_busy();
                match engine.send(commands(op), now) {
                    Ok(()) => {
                        assert!(!was_busy, "send accepted while busy");
                        sent += 1;
                    }
                    Err(_) => assert!(was_busy, "send refused while idle"),
                }
            }
            16..=31 => {
                let step = data.get(i).copied().unwrap_or(0);
                i += 1;
                now += Duration::from_millis(u64::from(step) * 37);
                engine.handle_timeout(now);
                if let Some(t) = engine.poll_timeout() {
                    assert!(t > now, "deadline {t:?} already passed at {now:?}");
                }
            }
            32..=63 => engine.handle_input(FRAGMENTS[usize::from(op - 32) % FRAGMENTS.len()]),
            _ => {
                let n = usize::from(op & 0x3F);
                let end = (i + n).min(data.len());
                engine.handle_input(&data[i..end]);
                i = end;
            }
        }
        drain(&mut engine, &mut ended);
        assert!(
            ended <= sent,
            "more responses ({ended}) than commands ({sent})"
        );
    }
    // Whatever is in flight ends by its timeout.
    engine.handle_timeout(now + Duration::from_secs(3600));
    drain(&mut engine, &mut ended);
    assert!(!engine.is_busy(), "still busy after every deadline passed");
    assert_eq!(ended, sent, "every command ends with exactly one response");
});
