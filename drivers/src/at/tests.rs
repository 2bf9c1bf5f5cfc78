//! Byte-stream tests of the engine. Corpus replays live in drivers/tests/at_corpus.rs.

use std::time::{Duration, Instant};

use super::errors::ErrorCode;
use super::parse::{parse_cmgl, parse_cmgr};
use super::*;

fn events(engine: &mut AtEngine) -> Vec<AtEvent> {
    std::iter::from_fn(|| engine.poll_event()).collect()
}

fn responses(events: &[AtEvent]) -> Vec<&Response> {
    events
        .iter()
        .filter_map(|e| match e {
            AtEvent::Response(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn urcs(events: &[AtEvent]) -> Vec<&Urc> {
    events
        .iter()
        .filter_map(|e| match e {
            AtEvent::Urc(u) => Some(u),
            _ => None,
        })
        .collect()
}

#[test]
fn echo_is_dropped_and_ok_completes() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CSQ"), now).unwrap();
    assert_eq!(engine.poll_transmit().unwrap(), b"AT+CSQ\r");
    engine.handle_input(b"AT+CSQ\r\r\n+CSQ: 18,99\r\n\r\nOK\r\n");
    let ev = events(&mut engine);
    assert_eq!(
        ev,
        vec![AtEvent::Response(Response {
            command: "AT+CSQ".into(),
            lines: vec!["+CSQ: 18,99".into()],
            result: FinalResult::Ok,
        })]
    );
    assert!(!engine.is_busy());
}

#[test]
fn urcs_in_the_middle_of_a_listing_are_separated() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CMGL=4"), now).unwrap();
    engine.handle_input(
        b"\r\n+CMGL: 0,1,,23\r\n07913366003051F5040B913366304381F900005180719120348004D4F29C0E\r\n\
          \r\n+CMTI: \"SM\",1\r\n\
          +CMGL: 1,0,,23\r\n07913366003051F5040B913366304381F900005180719120348004D4F29C0E\r\n\
          \r\n^RSSI:14\r\n\r\nOK\r\n",
    );
    let ev = events(&mut engine);
    let r = responses(&ev);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].lines.len(), 4);
    let (found, problems) = parse_cmgl(&r[0].lines);
    assert_eq!(found.len(), 2);
    assert!(problems.is_empty());
    assert_eq!(found[1].index, 1);
    assert_eq!(found[1].stat, Some(0));
    assert_eq!(found[1].length, Some(23));
    let u = urcs(&ev);
    assert_eq!(
        u[0],
        &Urc::NewMessage {
            storage: "SM".into(),
            index: 1
        }
    );
    assert!(matches!(u[1], Urc::Other { known: true, .. }));
}

#[test]
fn cmt_takes_the_next_line_even_inside_a_response() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CSQ"), now).unwrap();
    engine.handle_input(
        b"\r\n+CMT: ,23\r\n07918497483252F0840B918496445078F700007121320144744004D4F29C0E\r\n\
          +CSQ: 20,99\r\n\r\nOK\r\n",
    );
    let ev = events(&mut engine);
    assert_eq!(
        urcs(&ev),
        vec![&Urc::Message {
            header: "+CMT: ,23".into(),
            length: Some(23),
            body: "07918497483252F0840B918496445078F700007121320144744004D4F29C0E".into(),
        }]
    );
    assert_eq!(responses(&ev)[0].lines, vec!["+CSQ: 20,99".to_string()]);
}

#[test]
fn cds_without_space_and_cr_only_line_ends() {
    let mut engine = AtEngine::new();
    engine.handle_input(
        b"\r+CDS:25\r07914875215652F006360B914892347527F3817003018104808170030181448000\r",
    );
    let ev = events(&mut engine);
    assert!(matches!(
        urcs(&ev)[0],
        Urc::StatusReport {
            length: Some(25),
            ..
        }
    ));
}

#[test]
fn cmt_header_followed_by_a_non_hex_line_is_malformed_and_the_line_survives() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT"), now).unwrap();
    engine.handle_input(b"\r\n+CMT: ,23\r\nOK\r\n");
    let ev = events(&mut engine);
    assert!(matches!(urcs(&ev)[0], Urc::Malformed { .. }));
    assert!(responses(&ev)[0].is_ok());
}

#[test]
fn prompt_sends_payload_and_ctrl_z() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    let pdu = "0001000B915121551532F400000CC8F79D9C07E54F61363B04";
    engine
        .send(Command::new("AT+CMGS=24").payload(pdu), now)
        .unwrap();
    assert_eq!(engine.poll_transmit().unwrap(), b"AT+CMGS=24\r");
    // ZTE sends URCs before the prompt (corpus qualcomm-m6280-zte.txt).
    engine.handle_input(b"AT+CMGS=24\r\r\n+ZPASR: \"UMTS\"\r\n\r\n>");
    let mut expected = pdu.as_bytes().to_vec();
    expected.push(0x1A);
    assert_eq!(engine.poll_transmit().unwrap(), expected);
    engine.handle_input(b" ");
    engine.handle_input(pdu.as_bytes());
    engine.handle_input(b"\x1a\r\n+CMGS: 183\r\n\r\nOK\r\n");
    let ev = events(&mut engine);
    let r = responses(&ev);
    assert_eq!(r[0].lines, vec!["+CMGS: 183".to_string()]);
    assert!(r[0].is_ok());
}

#[test]
fn timeout_keeps_the_lines_and_cancels_a_missing_prompt() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine
        .send(
            Command::new("AT+CPIN?").timeout(Duration::from_secs(2)),
            now,
        )
        .unwrap();
    engine.handle_input(b"\r\n+CPIN: READY\r\n");
    assert_eq!(engine.poll_timeout(), Some(now + Duration::from_secs(2)));
    engine.handle_timeout(now + Duration::from_secs(1));
    assert!(engine.is_busy());
    engine.handle_timeout(now + Duration::from_secs(2));
    let ev = events(&mut engine);
    assert_eq!(
        responses(&ev)[0],
        &Response {
            command: "AT+CPIN?".into(),
            lines: vec!["+CPIN: READY".into()],
            result: FinalResult::Timeout,
        }
    );

    engine
        .send(Command::new("AT+CMGS=5").payload("00"), now)
        .unwrap();
    while engine.poll_transmit().is_some_and(|b| b != b"AT+CMGS=5\r") {}
    engine.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(engine.poll_transmit().unwrap(), vec![0x1B]);
}

#[test]
fn error_codes_carry_their_meaning() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CPIN=\"1234\""), now).unwrap();
    engine.handle_input(b"\r\n+CME ERROR: 16\r\n");
    let ev = events(&mut engine);
    let r = responses(&ev)[0];
    assert_eq!(r.result, FinalResult::CmeError(ErrorCode::Numeric(16)));
    assert_eq!(r.result.describe(), "+CME ERROR: 16 (incorrect password)");

    engine.send(Command::new("AT+CMGS=\"0123\""), now).unwrap();
    engine.handle_input(b"\r\n\r\n+CMS ERROR: invalid input value\r\n");
    let ev = events(&mut engine);
    assert_eq!(
        responses(&ev)[0].result,
        FinalResult::CmsError(ErrorCode::Text("invalid input value".into()))
    );
    engine.send(Command::new("AT+WIND?"), now).unwrap();
    engine.handle_input(b"\r\nCOMMAND NOT SUPPORT\r\n");
    assert!(matches!(
        responses(&events(&mut engine))[0].result,
        FinalResult::NotSupported(_)
    ));
}

#[test]
fn solicited_answer_named_like_a_urc_belongs_to_the_command() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CREG?"), now).unwrap();
    engine.handle_input(b"\r\n+CREG: 2,1,\"8BE3\",\"00002BAF\"\r\n\r\nOK\r\n+CREG: 5\r\n");
    let ev = events(&mut engine);
    assert_eq!(
        responses(&ev)[0].lines,
        vec!["+CREG: 2,1,\"8BE3\",\"00002BAF\"".to_string()]
    );
    assert_eq!(
        urcs(&ev)[0],
        &Urc::Registration {
            line: "+CREG: 5".into(),
            stat: Some(5)
        }
    );
}

#[test]
fn multi_line_ussd_is_joined() {
    let mut engine = AtEngine::new();
    engine.handle_input(b"\r\n+CUSD: 1,\"Bal:$100.00 *\r\nExp 01 Jan 2013\r\n1. Recharge\",15\r\n");
    let ev = events(&mut engine);
    assert_eq!(
        urcs(&ev),
        vec![&Urc::Ussd {
            line: "+CUSD: 1,\"Bal:$100.00 *\nExp 01 Jan 2013\n1. Recharge\",15".into()
        }]
    );
}

#[test]
fn late_echo_and_stray_final_codes_do_not_confuse() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT"), now).unwrap();
    engine.handle_input(b"\r\nOK\r\nAT\r\nOK\r\n");
    let ev = events(&mut engine);
    assert_eq!(responses(&ev).len(), 1);
    assert!(matches!(ev[1], AtEvent::Unexpected { .. }));
    assert!(engine.send(Command::new("AT"), now).is_ok());
    assert!(engine.send(Command::new("AT"), now).is_err());
}

#[test]
fn cmgr_with_telit_empty_alpha_and_blank_line() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT+CMGR=4"), now).unwrap();
    engine.handle_input(
        b"\r\n+CMGR: 0,\"\",50\r\n\r\n07916163838428F9040B916121021021F700005190514164220A23C4B0BCFD5E8740C4B0BCFD5E83C26E3248196687C9A0301D440DBBC3677918\r\n\r\nOK\r\n",
    );
    let ev = events(&mut engine);
    let stored = parse_cmgr(&responses(&ev)[0].lines, 4).unwrap();
    assert_eq!(stored.length, Some(50));
    assert_eq!(stored.stat, Some(0));
    assert_eq!(super::parse::tpdu_len_of(&stored.hex), Some(50));
}

#[test]
fn overlong_line_is_dropped_and_framing_recovers() {
    let now = Instant::now();
    let mut engine = AtEngine::new();
    engine.send(Command::new("AT"), now).unwrap();
    let mut input = vec![b'A'; 10_000];
    input.extend_from_slice(b"\r\nOK\r\n");
    engine.handle_input(&input);
    let ev = events(&mut engine);
    assert!(matches!(ev[0], AtEvent::Unexpected { .. }));
    assert_eq!(
        responses(&ev)[0],
        &Response {
            command: "AT".into(),
            lines: vec![],
            result: FinalResult::Ok
        }
    );
}

/// A session with echo, URCs between and inside responses, a prompt, a +CMT and
/// a multi-line USSD: fed in two pieces split at every byte, the events are the same.
#[test]
fn split_reads_at_every_boundary_give_the_same_events() {
    let stream: &[u8] = b"^SRVST:0\r\nAT+CMGL=4\r\r\n+CMGL: 0,0,,23\r\n07913366003051F5040B913366304381F900005180719120348004D4F29C0E\r\n\
        +CMTI: \"SM\",3\r\n\r\nOK\r\n\r\n+CMT: \"\",23\r\n07918497483252F0840B918496445078F700007121320144744004D4F29C0E\r\n\
        \r\n+CUSD: 0,\"a\r\nb\",15\r\nRING\r\n";
    let run = |chunks: &[&[u8]]| {
        let now = Instant::now();
        let mut engine = AtEngine::new();
        engine.send(Command::new("AT+CMGL=4"), now).unwrap();
        for c in chunks {
            engine.handle_input(c);
        }
        events(&mut engine)
    };
    let whole = run(&[stream]);
    assert_eq!(responses(&whole).len(), 1);
    assert_eq!(urcs(&whole).len(), 5);
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(run(&[a, b]), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
}

/// Deterministic xorshift64 so the fuzz test is reproducible without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic_and_commands_always_end() {
    const PIECES: &[&[u8]] = &[
        b"\r\n",
        b"\r",
        b"\n",
        b"OK",
        b"ERROR",
        b"+CMT: ,23",
        b"+CDS: 25",
        b"+CMTI: \"SM\",",
        b"+CUSD: 1,\"",
        b"+CME ERROR: ",
        b"+CMS ERROR: 500",
        b"> ",
        b"\"",
        b",",
        b"AT+CMGR=1",
        b"07913366",
        b"\x1a",
        b"\xff\xfe",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let start = Instant::now();
    for round in 0..300 {
        let mut engine = AtEngine::new();
        let mut now = start;
        let mut sent = 0;
        let mut finished = 0;
        for _ in 0..200 {
            match rng.next() % 8 {
                0 => {
                    let cmd = if rng.next().is_multiple_of(4) {
                        Command::new("AT+CMGS=5").payload("00")
                    } else {
                        Command::new("AT+CMGR=1")
                    };
                    if engine.send(cmd, now).is_ok() {
                        sent += 1;
                    }
                }
                1 => {
                    now += Duration::from_millis(rng.next() % 7000);
                    engine.handle_timeout(now);
                }
                2..=4 => {
                    let piece = PIECES[(rng.next() as usize) % PIECES.len()];
                    engine.handle_input(piece);
                }
                _ => {
                    let len = (rng.next() % 64) as usize;
                    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    engine.handle_input(&bytes);
                }
            }
            while engine.poll_transmit().is_some() {}
            while let Some(ev) = engine.poll_event() {
                if matches!(ev, AtEvent::Response(_)) {
                    finished += 1;
                }
            }
        }
        engine.handle_timeout(now + Duration::from_secs(3600));
        while let Some(ev) = engine.poll_event() {
            if matches!(ev, AtEvent::Response(_)) {
                finished += 1;
            }
        }
        assert_eq!(
            sent, finished,
            "round {round}: every command ends exactly once"
        );
        assert!(!engine.is_busy());
    }
}

mod ussd {
    use super::super::parse::{decode_ussd, parse_cusd, UssdEncoding};

    /// Lines exactly as in ../shared/corpus/at (file named in each case).
    const E160_UNQUOTED: &str = "+CUSD: 0, 49B41C74ACD3D16171D90D66666666666666666666B45CAC76C3CD6CB41B2D060389CB74F9FE4C07DD5CB91AA85897BF1B";
    const E160_QUOTED: &str = "+CUSD: 0,\"49B41C74ACD3D16171D90D32FBE52072BA0C72CA5DB45CAC76C3CD6CB41B2D060389CB74F9FE4C07D55C371CA85897BF1B\",15";
    const E3276: &str = "+CUSD: 0,\"0414043B044F00200441043F044004300432043A04380020043E002004310430043B0430043D044104350020043D04300431043504400438044204350020002A0031003000350023002E002004230441043B0443043304300020043104350441043F043B04300442043D0430002E\",72";
    const M35: &str = "+CUSD: 2,\"00480061007600690020006B0065007200650074003A0020003000460074002E002000460065006C007400F6006C007400F60074007400200065006700790065006E006C00650067003A0020003700370037003700460074002C002800650062006200F6006C0020007600E0007300E00072006C00E000730072006100200069007300200066006F0072006400EC007400680061007400F2003A00200037003700370037004600740029002E0020004400EC006A00630073006F006D00610067003A002000420065006E0063007300F200200041002E00200055006A002000540065006C0065006B006F006D002000F6006E006B00690073007A006F006C006700E0006C00F2003A0020002A0031003100310023\",15";
    const HE910: &str = "+CUSD: 2,\"613906310635064A062F06430020003100300037002E003900330020062F002E0644060C06270644063506440627062D064A0629002000200032003000310038002D00310031002D003000390000FFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFFFFFFFFFFFFFFFFFF60B16260EEEEFFFF00A962600000000000000000EE000000000000000000000068B5626058655F60\",17";

    fn decoded(line: &str) -> (u8, Option<u8>, String, UssdEncoding) {
        let c = parse_cusd(line).expect("a +CUSD line");
        let (text, enc) = decode_ussd(c.raw.as_deref().unwrap_or(""), c.dcs);
        (c.mode, c.dcs, text, enc)
    }

    #[test]
    fn gsm7_packed_hex_of_huawei_e160() {
        let (mode, dcs, text, enc) = decoded(E160_QUOTED);
        assert_eq!((mode, dcs, enc), (0, Some(15), UssdEncoding::Gsm7Hex));
        assert_eq!(
            text,
            "Ihr Guthaben für die Nr.4915783647410 beträgt 5.78 Euro"
        );
        // Unquoted and without <dcs>: still recognised; its middle is damaged in the
        // capture itself, the ends are intact.
        let (mode, dcs, text, enc) = decoded(E160_UNQUOTED);
        assert_eq!((mode, dcs, enc), (0, None, UssdEncoding::Gsm7Hex));
        assert!(text.starts_with("Ihr Guthaben"), "{text}");
        assert!(text.ends_with("beträgt 7.95 Euro"), "{text}");
    }

    #[test]
    fn ucs2_by_dcs_by_content_and_with_language_prefix() {
        let (_, _, text, enc) = decoded(E3276);
        assert_eq!(enc, UssdEncoding::Ucs2Hex);
        assert_eq!(
            text,
            "Для справки о балансе наберите *105#. Услуга бесплатна."
        );
        // Quectel M35 in AT+CSCS="UCS2" mode: DCS 15 but UCS2 hex.
        let (mode, _, text, enc) = decoded(M35);
        assert_eq!((mode, enc), (2, UssdEncoding::Ucs2Hex));
        assert!(
            text.starts_with("Havi keret: 0Ft. Feltöltött egyenleg: 7777Ft"),
            "{text}"
        );
        assert!(text.ends_with("önkiszolgàlò: *111#"), "{text}");
        // Telit HE910: DCS 17, "ar" packed before the UCS2, NUL and filler after it.
        let (_, _, text, enc) = decoded(HE910);
        assert_eq!(enc, UssdEncoding::Ucs2Hex);
        assert_eq!(text, "رصيدك 107.93 د.ل،الصلاحية  2018-11-09");
    }

    #[test]
    fn plain_text_replies_stay_as_they_are() {
        for (line, want, mode) in [
            ("+CUSD: 0,\"Available Balance: R 96.45 .\",15", "Available Balance: R 96.45 .", 0),
            ("+CUSD: 1,\"Hallo daar\",15", "Hallo daar", 1),
            ("+CUSD: 2,\"Totsiens\",15", "Totsiens", 2),
            (
                "+CUSD: 2,\"Maaf, permintaan Anda tidak dapat kami proses. Silakan coba beberapa saat lagi.\",0",
                "Maaf, permintaan Anda tidak dapat kami proses. Silakan coba beberapa saat lagi.",
                2,
            ),
            (
                "+CUSD: 1,\"Kontostand: 3.00 EUR Bitte w{hlen Sie: 1 Konto aufladen 2 CallNow Transfer\"",
                "Kontostand: 3.00 EUR Bitte w{hlen Sie: 1 Konto aufladen 2 CallNow Transfer",
                1,
            ),
            ("+CUSD: 0,\"1234\",15", "1234", 0),
            ("+CUSD: 0,\"12345678\",15", "12345678", 0),
        ] {
            let (m, _, text, enc) = decoded(line);
            assert_eq!((m, text.as_str(), enc), (mode, want, UssdEncoding::Text), "{line}");
        }
        // A multi-line string as the engine joins it.
        let joined = "+CUSD: 2,\"You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes \",15";
        let (_, _, text, _) = decoded(joined);
        assert_eq!(
            text,
            "You have the following remaining balances:\n0 free minutes\n20 MORE Weekend minutes"
        );
    }

    #[test]
    fn odd_cusd_lines_do_not_panic() {
        assert_eq!(
            parse_cusd("+CUSD: 4").map(|c| (c.mode, c.raw)),
            Some((4, None))
        );
        assert!(parse_cusd("+CUSD:").is_none());
        assert!(parse_cusd("+CMTI: \"SM\",1").is_none());
        for raw in [
            "", "F", "FF", "0", "ZZ", "00", "0000", "D800", "FFFFFFFF", "\u{1b}",
        ] {
            for dcs in [
                None,
                Some(0),
                Some(15),
                Some(17),
                Some(16),
                Some(72),
                Some(68),
                Some(255),
            ] {
                let _ = decode_ussd(raw, dcs);
            }
        }
    }
}

#[test]
fn fields_keep_the_spaces_inside_quotes_and_drop_those_around() {
    use super::parse::{fields, parse_cusd};
    assert_eq!(
        fields(r#" 1 , "a, b " ,15"#),
        ["1", "a, b ", "15"],
        "the quoted field keeps its trailing space"
    );
    assert_eq!(fields(r#""  ""#), ["  "]);
    assert_eq!(fields(" , "), ["", ""]);
    let line = parse_cusd(r#"+CUSD: 0,"20 MORE Weekend minutes ",15"#).expect("parses");
    assert_eq!(line.raw.as_deref(), Some("20 MORE Weekend minutes "));
}

#[test]
fn registration_urcs_in_either_layout() {
    fn stat(line: &str) -> Option<u8> {
        match super::urc::parse_urc(line, true) {
            Urc::Registration { stat, .. } => stat,
            other => panic!("{line}: {other:?}"),
        }
    }
    // 27.007's URC layout: <stat>[,<lac>,<ci>[,<AcT>]].
    assert_eq!(stat("+CREG: 1"), Some(1));
    assert_eq!(stat("+CREG: 1,84CD,00D30156"), Some(1));
    assert_eq!(stat("+CEREG: 2, 0001, 00000100, 7"), Some(2));
    assert_eq!(stat("+CREG: 5,\"0502\",\"0404736D\""), Some(5));
    // The solicited layout <n>,<stat>,... sent unsolicited by some devices.
    assert_eq!(stat("+CREG: 2,5,\"0502\",\"0404736D\""), Some(5));
    assert_eq!(stat("+CGREG: 2,1, 81ED, 1A9CEB"), Some(1));
    assert_eq!(stat("+CEREG: 1, 2, 0001, 00000100, 7"), Some(2));
    assert_eq!(stat("+CREG: 0,1"), Some(1));
}
