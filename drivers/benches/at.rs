//! AT engine throughput: a `+CMGL` listing of 30 stored PDUs (the eight of
//! `shared/bench/pdus.txt`, cycled) answering `AT+CMGL=4`, as the driver's SIM sweep
//! reads it.
//!
//! - `at/cmgl_30_engine`: the listing fed in 64-byte reads (what a serial port hands
//!   over) through `AtEngine` until its `Response` comes out.
//! - `at/cmgl_30_engine_parse_decode`: the same, plus `parse_cmgl` and decoding all 30
//!   PDUs: the whole CPU cost of a sweep.
//!
//! Run: `cargo bench -p drivers --bench at -- --measurement-time 5`

#[path = "../../support/shared_data.rs"]
mod shared_data;
use shared_data::shared_file;
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drivers::at::{parse, AtEngine, AtEvent, Command};
use drivers::pdu;

const N: usize = 30;

fn listing() -> Vec<u8> {
    let lines: Vec<&str> = shared_file("bench/pdus.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut s = String::from("AT+CMGL=4\r\r\n");
    for i in 0..N {
        let hex = lines[i % lines.len()];
        let len = parse::tpdu_len_of(hex).expect("tpdu length");
        s.push_str(&format!("+CMGL: {i},1,,{len}\r\n{hex}\r\n"));
    }
    s.push_str("\r\nOK\r\n");
    s.into_bytes()
}

fn run(stream: &[u8], now: Instant) -> Vec<String> {
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CMGL=4"), now).unwrap();
    while engine.poll_transmit().is_some() {}
    for chunk in stream.chunks(64) {
        engine.handle_input(chunk);
    }
    while let Some(ev) = engine.poll_event() {
        if let AtEvent::Response(r) = ev {
            return r.lines;
        }
    }
    panic!("no response");
}

fn bench(c: &mut Criterion) {
    let stream = listing();
    let now = Instant::now();
    let lines = run(&stream, now);
    let (found, problems) = parse::parse_cmgl(&lines);
    assert_eq!(found.len(), N);
    assert!(problems.is_empty(), "{problems:?}");

    let mut g = c.benchmark_group("at");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("cmgl_30_engine", |b| {
        b.iter(|| black_box(run(black_box(&stream), now)))
    });
    g.bench_function("cmgl_30_engine_parse_decode", |b| {
        b.iter(|| {
            let lines = run(black_box(&stream), now);
            let (found, _) = parse::parse_cmgl(&lines);
            let mut chars = 0;
            for s in &found {
                let p = pdu::decode_hex(&s.hex, true).unwrap();
                chars += p.text().map_or(0, str::len);
            }
            black_box(chars)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
