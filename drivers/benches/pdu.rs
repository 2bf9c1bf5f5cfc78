//! PDU codec throughput.
//!
//! `decode/pdus_txt`: the eight SMS-DELIVER PDUs of `shared/bench/pdus.txt` (the list the
//! peers were measured on in `shared/bench/README.md`), each from the modem's hex string
//! (SMSC prefix included) to its text, as libGammu, node-pdu and python-gsmmodem do
//! there. One iteration decodes all eight; criterion's `thrpt` is decodes per second.
//!
//! `encode/*`: `encode_submit` of a 160-character GSM 7-bit text (one part) and of a
//! 3-part UCS2 text (150 UTF-16 units with an emoji), and `encode_deliver` of the
//! 160-character text (what the emulator does per SMS).
//!
//! Run: `cargo bench -p drivers --bench pdu -- --measurement-time 5`

#[path = "../../support/shared_data.rs"]
mod shared_data;
use shared_data::shared_file;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drivers::pdu::{self, SubmitOptions, Timestamp};

fn pdu_lines() -> Vec<&'static str> {
    shared_file("bench/pdus.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

fn gsm7_160() -> String {
    let base = "Your verification code is 482913. Do not share it with anyone; our staff will never ask for it. Valid for 10 minutes. Reply STOP to opt out of these";
    let mut s: String = base.chars().cycle().take(160).collect();
    s.truncate(160);
    s
}

fn ucs2_three_parts() -> String {
    // 67 UTF-16 units per part: 150 units -> 3 parts (the emoji is a surrogate pair).
    let base = "Ваш код подтверждения 482913. Никому не сообщайте его. 😀 ";
    let mut s = String::new();
    while s.encode_utf16().count() < 148 {
        s.push_str(base);
    }
    while s.encode_utf16().count() > 150 {
        s.pop();
    }
    s
}

fn decode(c: &mut Criterion) {
    let lines = pdu_lines();
    assert_eq!(lines.len(), 8, "pdus.txt has eight PDUs");
    for l in &lines {
        let p = pdu::decode_hex(l, true).expect("every bench PDU decodes");
        assert!(p.text().is_some_and(|t| !t.is_empty()), "text of {l}");
    }
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("pdus_txt", |b| {
        b.iter(|| {
            for l in &lines {
                let p = pdu::decode_hex(black_box(l), true).unwrap();
                black_box(p.text().map(str::len));
            }
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let gsm = gsm7_160();
    let ucs = ucs2_three_parts();
    let opts = SubmitOptions::default();
    assert_eq!(
        pdu::encode_submit("+12025550123", &gsm, &opts)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        pdu::encode_submit("+12025550123", &ucs, &opts)
            .unwrap()
            .len(),
        3
    );
    let ts = Timestamp::from_octets(&[0x62, 0x11, 0x22, 0x21, 0x43, 0x05, 0x00]);

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("submit_gsm7_160", |b| {
        b.iter(|| pdu::encode_submit(black_box("+12025550123"), black_box(&gsm), &opts).unwrap())
    });
    g.bench_function("submit_ucs2_3_parts", |b| {
        b.iter(|| pdu::encode_submit(black_box("+12025550123"), black_box(&ucs), &opts).unwrap())
    });
    g.bench_function("deliver_gsm7_160", |b| {
        b.iter(|| pdu::encode_deliver(black_box("+12025550123"), black_box(&gsm), ts, 7).unwrap())
    });
    g.bench_function("count_segments_ucs2", |b| {
        b.iter(|| pdu::count_segments(black_box(&ucs)))
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
