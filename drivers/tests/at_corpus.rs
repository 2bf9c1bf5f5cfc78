//! Replays every real-modem transcript of ../shared/corpus/at against the AT engine, as
//! the files are: the host's `> ` lines are sent as commands, the modem's `< ` lines are
//! fed as bytes. Each command must end with the final result code the transcript shows
//! (or time out when the modem sent none), every `+CMTI`/`+CMT`/`+CDS` must come out as a
//! URC with its PDU, and the events must not depend on the line-end style or on how the
//! bytes are split.

#[path = "../../support/shared_data.rs"]
mod shared_data;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use drivers::at::parse::{parse_cmgl, parse_cmgr};
use drivers::at::{AtEngine, AtEvent, Command, FinalResult, Urc};

fn corpus_dir() -> PathBuf {
    shared_data::shared_path("corpus/at")
}

#[derive(Debug)]
enum Step {
    /// A host command, with the payload of the following `> <PDU><Ctrl-Z>` line if any.
    Send(String, Option<String>),
    /// One modem line (empty for an empty line; `> ` for the prompt).
    Receive(String),
}

fn steps(text: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(host) = line.strip_prefix("> ") {
            if let Some(payload) = host.strip_suffix("<Ctrl-Z>") {
                // The payload goes with the AT+CMGS before it: the engine writes it itself.
                if let Some(Step::Send(_, p)) =
                    out.iter_mut().rev().find(|s| matches!(s, Step::Send(..)))
                {
                    *p = Some(payload.to_string());
                }
            } else {
                let cmd = if host.to_ascii_uppercase().starts_with("AT+CMGS=") {
                    Step::Send(host.to_string(), Some(String::new()))
                } else {
                    Step::Send(host.to_string(), None)
                };
                out.push(cmd);
            }
        } else if let Some(modem) = line.strip_prefix("< ") {
            out.push(Step::Receive(modem.to_string()));
        } else if line == "<" {
            out.push(Step::Receive(String::new()));
        }
    }
    out
}

fn expected_final(line: &str) -> Option<&'static str> {
    let l = line.trim();
    if l == "OK" {
        Some("ok")
    } else if l == "ERROR" {
        Some("error")
    } else if l.starts_with("+CME ERROR") {
        Some("cme")
    } else if l.starts_with("+CMS ERROR") {
        Some("cms")
    } else if l == "COMMAND NOT SUPPORT" {
        Some("unsupported")
    } else {
        None
    }
}

fn kind(result: &FinalResult) -> &'static str {
    match result {
        FinalResult::Ok => "ok",
        FinalResult::Error => "error",
        FinalResult::CmeError(_) => "cme",
        FinalResult::CmsError(_) => "cms",
        FinalResult::NotSupported(_) => "unsupported",
        FinalResult::Call(_) => "call",
        FinalResult::Timeout => "timeout",
    }
}

struct Replay {
    events: Vec<AtEvent>,
    expected: Vec<(String, &'static str)>,
}

/// Replays `steps` with `eol` after each modem line, feeding bytes in chunks of `chunk`.
fn replay(steps: &[Step], eol: &[u8], chunk: usize) -> Replay {
    let start = Instant::now();
    let mut now = start;
    let mut engine = AtEngine::new();
    let mut events = Vec::new();
    let mut expected = Vec::new();
    let mut pending_modem: Vec<u8> = Vec::new();
    let flush = |engine: &mut AtEngine, bytes: &mut Vec<u8>| {
        for c in bytes.chunks(chunk.max(1)) {
            engine.handle_input(c);
        }
        bytes.clear();
    };
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::Send(text, payload) => {
                flush(&mut engine, &mut pending_modem);
                // A command the modem never finished (no OK in the transcript) times out.
                now += Duration::from_secs(60);
                engine.handle_timeout(now);
                events.extend(std::iter::from_fn(|| engine.poll_event()));
                let mut cmd = Command::new(text.clone());
                if let Some(p) = payload {
                    cmd = cmd.payload(p.clone());
                }
                engine.send(cmd, now).expect("previous command ended");
                while engine.poll_transmit().is_some() {}
                let result = steps[i + 1..]
                    .iter()
                    .take_while(|s| matches!(s, Step::Receive(_)))
                    .find_map(|s| match s {
                        Step::Receive(l) => expected_final(l),
                        Step::Send(..) => None,
                    })
                    .unwrap_or("timeout");
                expected.push((text.clone(), result));
            }
            Step::Receive(line) if line == "> " => {
                pending_modem.extend_from_slice(b"\r\n> ");
            }
            Step::Receive(line) => {
                pending_modem.extend_from_slice(line.as_bytes());
                pending_modem.extend_from_slice(eol);
            }
        }
    }
    flush(&mut engine, &mut pending_modem);
    engine.handle_timeout(now + Duration::from_secs(3600));
    events.extend(std::iter::from_fn(|| engine.poll_event()));
    Replay { events, expected }
}

#[test]
fn every_transcript_replays_with_the_shown_results() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "found {} transcripts", files.len());
    let mut commands = 0;
    let mut pdus = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let steps = steps(&text);
        let base = replay(&steps, b"\r\n", usize::MAX);

        let responses: Vec<_> = base
            .events
            .iter()
            .filter_map(|e| match e {
                AtEvent::Response(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(responses.len(), base.expected.len(), "{name}");
        for (r, (cmd, want)) in responses.iter().zip(&base.expected) {
            assert_eq!(&r.command, cmd, "{name}");
            assert_eq!(kind(&r.result), *want, "{name}: {cmd} gave {r:?}");
            commands += 1;
            let upper = cmd.to_ascii_uppercase();
            if upper.starts_with("AT+CMGL=4") && r.is_ok() {
                let (found, problems) = parse_cmgl(&r.lines);
                assert!(problems.is_empty(), "{name}: {problems:?}");
                assert!(!found.is_empty(), "{name}: {cmd}");
                pdus += found.len();
            }
            if let Some(index) = upper.strip_prefix("AT+CMGR=") {
                if let Ok(index) = index.parse() {
                    if r.lines
                        .iter()
                        .any(|l| l.starts_with("+CMGR: ") && l.len() < 20)
                    {
                        let stored = parse_cmgr(&r.lines, index);
                        assert!(stored.is_some(), "{name}: {r:?}");
                        pdus += 1;
                    }
                }
            }
        }

        // Every new-message indication, direct delivery and status report comes out as
        // a URC, with its PDU where PDU mode puts it on the next line.
        let urcs: Vec<&Urc> = base
            .events
            .iter()
            .filter_map(|e| match e {
                AtEvent::Urc(u) => Some(u),
                _ => None,
            })
            .collect();
        let count = |prefix: &str| {
            steps
                .iter()
                .filter(|s| matches!(s, Step::Receive(l) if l.starts_with(prefix)))
                .count()
        };
        let cmti = urcs
            .iter()
            .filter(|u| matches!(u, Urc::NewMessage { .. }))
            .count();
        assert_eq!(cmti, count("+CMTI:"), "{name}");
        let cdsi = urcs
            .iter()
            .filter(|u| matches!(u, Urc::NewStatusReport { .. }))
            .count();
        assert_eq!(cdsi, count("+CDSI:"), "{name}");
        for u in &urcs {
            match u {
                Urc::Message { body, length, .. } | Urc::StatusReport { body, length, .. } => {
                    assert!(length.is_some(), "{name}: {u:?}");
                    assert!(body.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {u:?}");
                    pdus += 1;
                }
                Urc::Malformed { .. } => panic!("{name}: {u:?}"),
                _ => {}
            }
        }
        assert_eq!(
            urcs.iter()
                .filter(|u| matches!(u, Urc::Message { .. } | Urc::StatusReport { .. }))
                .count(),
            count("+CMT:") + count("+CDS:"),
            "{name}"
        );

        // The same bytes with other line ends, and split into small pieces, mean the same.
        for (eol, chunk) in [
            (&b"\r\r\n"[..], usize::MAX),
            (&b"\r"[..], 7),
            (&b"\n"[..], 1),
            (&b"\r\n"[..], 3),
        ] {
            let other = replay(&steps, eol, chunk);
            assert_eq!(other.events, base.events, "{name} with {eol:?} / {chunk}");
        }
    }
    assert!(commands > 300, "replayed {commands} commands");
    assert!(pdus >= 10, "read {pdus} PDUs");
}
