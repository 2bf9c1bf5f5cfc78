//! OTP extraction throughput: `gateway::otp::extract` over every text of
//! `shared/corpus/otp/otp.jsonl` (331 real messages in a dozen languages, positives and
//! negatives). One iteration extracts all of them; `thrpt` is messages per second.
//! `otp/extract_short`: one short English OTP message with a numeric sender.
//!
//! Run: `cargo bench -p gateway --bench otp -- --measurement-time 5`

#[path = "../../support/shared_data.rs"]
mod shared_data;
use shared_data::shared_file;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::otp;

fn texts() -> Vec<String> {
    shared_file("corpus/otp/otp.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("corpus line is JSON");
            v["text"].as_str().expect("text field").to_owned()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let mut g = c.benchmark_group("otp");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("extract_corpus", |b| {
        b.iter(|| {
            let mut codes = 0usize;
            for t in &texts {
                if otp::extract(black_box(t), None).code.is_some() {
                    codes += 1;
                }
            }
            black_box(codes)
        })
    });
    g.finish();

    // One short OTP message, like most of what a gateway receives.
    let short = "Your verification code is 482913. Message 17.";
    let mut g = c.benchmark_group("otp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("extract_short", |b| {
        b.iter(|| otp::extract(black_box(short), Some("+12025550123")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
