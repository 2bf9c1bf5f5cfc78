//! OTP extraction throughput: `gateway::otp::extract` over every text of
//! `shared/corpus/otp/otp.jsonl` (331 real messages in a dozen languages, positives and
//! negatives). One iteration extracts all of them; `thrpt` is messages per second.
//! `otp/extract_short`: one short English OTP message with a numeric sender.
//!
//! Run: `cargo bench -p gateway --bench otp -- --measurement-time 5`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::otp;

/// Reads a file of `../shared` (the data checked out beside the repository), or of
/// `/work/shared` when the repository is cloned elsewhere on the same machine; read at
/// run time so that a clone without it still builds.
fn shared_file(rel: &str) -> &'static str {
    static CACHE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        [
            here.join("../../shared"),
            std::path::PathBuf::from("/work/shared"),
        ]
        .iter()
        .map(|dir| dir.join(rel))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_else(|| panic!("../shared/{rel} is checked out beside the repository"))
    })
}

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
