//! Scores `gateway::otp::extract` on the shared OTP corpus and fails below the
//! floors. Run with `--nocapture` to see the per-language table and the misses.
//!
//! A record counts as a true positive when the extracted code equals the
//! corpus `code` (both normalised the same way: separators and `G-` removed);
//! a wrong code on a positive counts both as a false positive and a miss.

#[path = "../../support/shared_data.rs"]
mod shared_data;
use gateway::otp::extract;
use shared_data::shared_file;
use std::collections::BTreeMap;

/// Floors a little under what the extractor achieves (see the printed table).
const MIN_PRECISION: f64 = 0.98;
const MIN_RECALL: f64 = 0.97;

#[derive(Default)]
struct Tally {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
}

impl Tally {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

fn norm(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("G-").unwrap_or(s);
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

#[test]
fn corpus_precision_and_recall() {
    let mut all = Tally::default();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    let (mut svc_named, mut svc_hit) = (0, 0);
    let corpus = shared_file("corpus/otp/otp.jsonl");
    for (n, line) in corpus.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: serde_json::Value = serde_json::from_str(line).expect("corpus line parses");
        let text = rec["text"].as_str().expect("text");
        let want = rec["code"].as_str().map(norm);
        let lang = rec["lang"].as_str().unwrap_or("?").to_string();
        let got = extract(text, None);
        let got_code = got.code.as_deref().map(norm);
        let t = by_lang.entry(lang.clone()).or_default();
        let ok = match (&want, &got_code) {
            (Some(w), Some(g)) if w == g => {
                t.tp += 1;
                all.tp += 1;
                true
            }
            (Some(_), Some(_)) => {
                t.fp += 1;
                t.fn_ += 1;
                all.fp += 1;
                all.fn_ += 1;
                false
            }
            (Some(_), None) => {
                t.fn_ += 1;
                all.fn_ += 1;
                false
            }
            (None, Some(_)) => {
                t.fp += 1;
                all.fp += 1;
                false
            }
            (None, None) => {
                t.tn += 1;
                all.tn += 1;
                true
            }
        };
        if let Some(s) = rec["service"].as_str() {
            svc_named += 1;
            if let Some(g) = &got.service {
                let (a, b) = (s.to_lowercase(), g.to_lowercase());
                if a.contains(&b) || b.contains(&a) {
                    svc_hit += 1;
                }
            }
        }
        if !ok {
            misses.push(format!(
                "line {:>3} [{lang}] want {:?} got {:?}: {}",
                n + 1,
                want,
                got_code,
                text.replace('\n', " ⏎ ")
                    .chars()
                    .take(140)
                    .collect::<String>()
            ));
        }
    }
    println!("lang   tp  fp  fn  tn  precision  recall");
    for (lang, t) in &by_lang {
        println!(
            "{lang:<5} {:>3} {:>3} {:>3} {:>3}  {:>9.3}  {:>6.3}",
            t.tp,
            t.fp,
            t.fn_,
            t.tn,
            t.precision(),
            t.recall()
        );
    }
    println!(
        "ALL   {:>3} {:>3} {:>3} {:>3}  {:>9.3}  {:>6.3}",
        all.tp,
        all.fp,
        all.fn_,
        all.tn,
        all.precision(),
        all.recall()
    );
    println!(
        "service named by the corpus and matched: {svc_hit}/{svc_named} ({:.1}%)",
        100.0 * svc_hit as f64 / svc_named.max(1) as f64
    );
    println!("misses ({}):", misses.len());
    for m in &misses {
        println!("  {m}");
    }
    assert!(
        all.precision() >= MIN_PRECISION,
        "precision {:.3} below {MIN_PRECISION}",
        all.precision()
    );
    assert!(
        all.recall() >= MIN_RECALL,
        "recall {:.3} below {MIN_RECALL}",
        all.recall()
    );
}
