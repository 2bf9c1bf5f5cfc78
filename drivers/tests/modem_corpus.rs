//! The real modem driver against real modems' dialogue: every transcript of
//! `../shared/corpus/at` (hardware logs, device replies and fake-modem tables taken from
//! public projects, see `../shared/corpus/README.md`) is played by a *scripted modem* on
//! the master side of a pseudo-terminal, and [`drivers::modem`] (the task the gateway
//! runs) opens the slave by its path, as it opens `/dev/ttyUSB0`.
//!
//! # What it proves, per transcript
//!
//! - Everything the driver writes is a well-formed command: `AT...` in printable ASCII
//!   with balanced quotes, ended by CR alone, or, after a `> ` prompt, a PDU in hex whose
//!   length is the one `AT+CMGS=<n>` announced, ended by Ctrl-Z (ESC CR, the cancel the
//!   driver writes when it opens the port, is allowed).
//! - It settles in a sensible, named state (ready, not registered, SIM PIN required,
//!   connecting again after a SIM that stays busy...), never hangs (every wait is bounded
//!   by 20 s) and never panics; unknown URCs and noise pushed at it are logged and ignored
//!   (after each one the driver still reacts to the next new-message indication).
//! - Every SMS PDU the modem hands over (`+CMGL`/`+CMGR` listings of received messages,
//!   `+CMT`) comes out as exactly one [`ModemEvent::Received`]; `AT+CMGD=<index>` is sent
//!   only after the test, playing the gateway, acknowledged that index as stored (it
//!   acknowledges only after checking that no delete came first), and sent then; stored
//!   SMS-SUBMITs are never handed over nor deleted. Status reports (`+CDS`, `+CDSI` then
//!   `AT+CMGR`) come out as [`ModemEvent::StatusReport`] with the reference their PDU
//!   holds (the counts and references per transcript are in [`EXPECT`]), the one a
//!   transcript shows after an `AT+CMGS` with that send's reference.
//! - `AT+CGMI`/`AT+CGMM` answers pick the profile written in [`EXPECT`]; sends shown in
//!   a transcript are made through [`drivers::modem::ModemHandle::send`] (the concrete
//!   python-gsmmodem one must produce the same command and PDU, reference aside), USSD
//!   requests through `ussd` (the reply is the first `+CUSD` with `<m>` 0/1, else the
//!   last `<m>` 2 with text, as the driver documents).
//!
//! # How the scripted modem answers (the rules, in order)
//!
//! 0. `AT+CPMS="ZZ"`: the test's own synchronisation point (below), refused.
//! 1. **Shown**: a command the transcript shows (same text, any case; `<...>`
//!    placeholders match any value) gets the transcript's reply lines verbatim (echoes,
//!    empty lines, URCs inside the reply, the `> ` prompt, `<mr>` filled with 42). Shown
//!    several times, each use takes the next reply; the last one repeats. A reply shown
//!    without a final result code is sent without one (the driver must live with its
//!    timeout: Wavecom's `+CPIN:` without OK, cut log excerpts), except replies taken from
//!    ModemManager's parser tests, which keep the information lines only: they get the
//!    `OK` the device sent. Lines the modem sent right after the final result code (before
//!    the next host line or comment) follow the reply the first time it is used.
//! 2. **Same command, other parameters** (a set command `AT+X=...`): refused when the
//!    transcript refuses `AT+X=?` (the modem does not know X), when a parameter is outside
//!    the ranges its `AT+X=?` answer lists (SIM800: `<ds>` only 0,1), or when it refuses a
//!    form of X with the same first parameter and as many parameters (Wavecom's
//!    three-storage `AT+CPMS`); otherwise `OK`.
//! 3. **Never shown**: `AT+CGMI`/`AT+CGMM` of a file about one model are answered with
//!    the maker/model its header names ([`EXPECT`]; multi-model collections refuse them);
//!    what every 27.005 modem in PDU mode accepts (`AT`, `ATE0`, `AT+CMEE=1`,
//!    `AT+CMGF=0`, `AT+CPMS=`, `AT+CNMI=`, `AT+CSMS=1`, `AT+CMGD=`, `AT+CNMA`,
//!    `AT+COPS=3,0`, `AT+CUSD=2`) is `OK`, `AT+CMGL=4` and `AT+CMGR=<i>` an empty `OK`;
//!    the profile's own commands (`AT^CURC=0` for Huawei...) `OK`; anything else (IMEI,
//!    ICCID, `AT+CNUM`, `AT+CSQ`, `AT+CREG?`...) is refused the way the family refuses an
//!    unknown command: `COMMAND NOT SUPPORT` (Huawei E1752), `+CME ERROR: 100` (SIM800,
//!    Quectel M95), else `ERROR`. No value a transcript does not show is invented, apart
//!    from those identities. The modem does not model storage: a listing stays as shown.
//!
//! # When the modem speaks unprompted
//!
//! Modem lines outside any reply are pushed in file order once the driver has settled
//! (started, swept its storage), and so are the requests the transcript shows: each
//! `AT+CUSD=1,"<code>"` becomes a `ussd(code)`, each `AT+CMGS` a `send`, and an `AT+CMGR`
//! the driver has not been led to by then and whose reply holds a PDU (Telit HE910) is
//! announced with `+CMTI: "SM",<index>`. After each step the test pushes
//! `+CMTI: "ZZ",<n>`, a storage no modem has, and waits for the driver's `AT+CPMS="ZZ"`
//! (refused, so the driver's storage stays as it was): URCs are handled in order, so
//! everything before has been handled and handed over by then. Then it acknowledges what
//! was handed over and waits for the deletes.
//!
//! A transcript whose start-up commands have unused replies (a second `AT+CPIN?` that
//! says `SIM PIN`, more `AT+CREG?` answers) is replayed again with a fresh driver on a
//! fresh pseudo-terminal (at most six sessions), the way the gateway restarts; status and
//! sweep timers are an hour long, so each session sends each start-up command once.
//!
//! # What it cannot prove
//!
//! The scripted modem answers what the transcripts show and the rules above: timing,
//! baud rates, USB resets and a modem that deletes or stores for real are the emulator
//! tests' business (`modem_emulator.rs`, `modem_faults.rs`). Transcripts hold no
//! PDU-mode send from a named SIM800 or EC25 and no `^BOOT`.

#[path = "../../support/shared_data.rs"]
mod shared_data;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use drivers::modem::{
    self, ModemConfig, ModemEvent, ModemHandle, ModemState, ModemStatus, PduSource, Profile,
    SendRequest, StoreOutcome,
};
use drivers::pdu::{self, Tpdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};
use tokio_serial::{SerialPort, SerialStream};

/// Every wait of the test: generous for a loaded two-core machine.
const WAIT: Duration = Duration::from_secs(20);
/// Sessions (driver starts) per transcript at most.
const MAX_SESSIONS: usize = 6;
/// The storage named in the `+CMTI` the test uses to synchronise with the driver.
const SYNC_STORAGE: &str = "ZZ";
/// What `<mr>` in a `+CMGS: <mr>` reply becomes.
const MR: &str = "42";

// ---------------------------------------------------------------------------------------
// What each transcript must lead to. Written from reading the transcripts, not from
// running the driver: a difference is a failure to look at.
// ---------------------------------------------------------------------------------------

struct Expect {
    file: &'static str,
    /// `AT+CGMI` and `AT+CGMM` answers for a file about one model that does not show
    /// them, from its header (rule 3); `None`: shown, or not known.
    identity: (Option<&'static str>, Option<&'static str>),
    profile: &'static str,
    /// State each session settles in: `ready`, `not_registered`, `pin_required`,
    /// `no_sim`, `failed`, or `connecting: <last error>`.
    states: &'static [&'static str],
    /// PDUs handed to the gateway per session.
    received: &'static [usize],
    /// Status reports handed to the gateway per session.
    reports: &'static [usize],
    /// TP-MR of the first session's status reports, in order.
    report_refs: &'static [u8],
    /// State after each pushed registration URC group (its first line): `None` where
    /// the device's line has no single reading (see the comments).
    registration: &'static [(usize, Option<&'static str>)],
    /// Commands the first session must send in this order (others may come between).
    must_send: &'static [&'static str],
}

const READY: &[&str] = &["ready"];
const NONE: &[usize] = &[0];

static EXPECT: &[Expect] = &[
    Expect {
        file: "alcatel-s320.txt",
        identity: (Some("Alcatel"), Some("S320")),
        profile: "generic",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "huawei-brovi-e3372-325.txt",
        identity: (Some("huawei"), Some("E3372-325")),
        profile: "huawei",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT^CURC=0", "AT^USSDMODE=0"],
    },
    Expect {
        file: "huawei-e160.txt",
        identity: (Some("huawei"), Some("E160")),
        profile: "huawei",
        // `+CREG: 2,0,00,0` (unregistered), then `+CREG: 2,1,8BE3,2BAF`.
        states: &["not_registered", "ready"],
        received: &[0, 0],
        reports: &[0, 0],
        report_refs: &[],
        registration: &[(29, Some("ready"))],
        must_send: &[],
    },
    Expect {
        file: "huawei-e1750.txt",
        identity: (Some("huawei"), Some("E1750")),
        profile: "huawei",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "huawei-e1752.txt",
        identity: (None, None),
        profile: "huawei",
        states: READY,
        // The listing's one SMS-DELIVER at index 0.
        received: &[1],
        reports: NONE,
        report_refs: &[],
        // `^MODE:5,4` and `+CREG: 1, E006B, ABE0016` after an AT+CPMS the driver never
        // sends: pushed where they stand.
        registration: &[(329, Some("ready"))],
        must_send: &["AT+CMGL=4", "AT+CMGD=0"],
    },
    Expect {
        file: "huawei-e3131.txt",
        identity: (Some("huawei"), Some("E3131")),
        profile: "huawei",
        states: READY,
        // The listing holds a stored SMS-SUBMIT (stat 3): neither handed over nor deleted.
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CMGL=4"],
    },
    Expect {
        file: "huawei-e3276.txt",
        identity: (Some("huawei"), Some("E3276")),
        profile: "huawei",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "huawei-k3715.txt",
        identity: (None, None),
        profile: "huawei",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CGMI", "AT+CGMM", "AT^CURC=0"],
    },
    Expect {
        file: "ma260.txt",
        // The fixture names no maker.
        identity: (None, None),
        profile: "generic",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "modemmanager-device-replies.txt",
        identity: (None, None),
        profile: "generic",
        // AT+CREG? of Sierra Mercury, K850i, TM-506, Iridium (`002,001`), u-blox Toby-L2
        // on LTE (`2,6`: registered for SMS only, home network: ready for an SMS
        // gateway), Gobi 1000 (`2,1,  0 5, 2715`).
        states: &["ready", "ready", "ready", "ready", "ready", "ready"],
        received: &[0, 0, 0, 0, 0, 0],
        // `+CDS: 24` pushed in the first session; the Pantech listing is a stored SUBMIT.
        reports: &[1, 0, 0, 0, 0, 0],
        // 07914356060013F1 06 5A ...
        report_refs: &[0x5A],
        registration: &[
            (135, Some("ready")),          // +CREG: 1,84CD,00D30156
            (142, Some("ready")),          // +CREG: 1,"CE00","00005449"
            (149, Some("not_registered")), // +CREG: 2,, (searching)
            (160, Some("ready")),          // +CREG: 6,... registered for SMS only
            // The next two devices send the solicited layout `<n>,<stat>,...`
            // unsolicited; the driver tells it from 27.007's URC layout by the second
            // field (a one- or two-digit stat, not a hex LAC), as ModemManager does:
            // roaming and home.
            (163, Some("ready")),          // +CREG: 2,5,"0502","0404736D"
            (166, Some("ready")),          // +CREG: 2,1,000B,2816, B, C2816
            (177, Some("ready")),          // +CGREG: 1,"8BE3","00002B5D",3
            (180, Some("ready")),          // +CGREG: 5,... roaming
            (183, Some("ready")),          // +CGREG: 2,1, 81ED, 1A9CEB (solicited layout)
            (190, Some("ready")),          // +CGREG: 1, "0426", "F00F"
            (193, Some("not_registered")), // +CEREG: 1, 2, 0001, 00000100, 7 (solicited layout: searching)
            (196, Some("not_registered")), // +CEREG: 2, 0001, 00000100, 7
            (203, Some("ready")),          // +CEREG: 1, 1F00, 20 ,79D903 ,7
        ],
        must_send: &["AT+CREG?", "AT+COPS?", "AT+CMGL=4"],
    },
    Expect {
        file: "nokia-n79.txt",
        identity: (None, None),
        profile: "generic",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        // The phone refuses AT+CNMI=? and every AT+CPMS storage: every AT+CNMI the
        // driver tries, then sweeps instead.
        must_send: &[
            "AT+CNMI=2,1,0,2,0",
            "AT+CNMI=2,1,0,1,0",
            "AT+CNMI=2,1,0,0,0",
            "AT+CNMI=1,1,0,0,0",
            "AT+CNMI=2,1",
            "AT+CMGL=4",
        ],
    },
    Expect {
        file: "nokia-n950.txt",
        identity: (Some("Nokia"), Some("Nokia N950")),
        profile: "generic",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CGMR"],
    },
    Expect {
        file: "python-gsmmodem-generic-fixtures.txt",
        identity: (None, None),
        profile: "generic",
        // Three AT+CSQ replies: three starts.
        states: &["ready", "ready", "ready"],
        // The listing's three SMS-DELIVERs each time, plus the one `+CMTI: "SM",1` reads.
        received: &[4, 3, 3],
        // `+CDSI: "SM",3` after the send; the text-mode `+CMGR` in "SR" is no PDU.
        reports: &[1, 0, 0],
        report_refs: &[183],
        registration: &[],
        must_send: &[
            "AT+CMGL=4",
            "AT+CUSD=1,\"*101#\",15",
            "AT+CUSD=2",
            "AT+CMGR=1",
            "AT+CMGR=3",
            "AT+CPMS=\"SR\"",
            "AT+CMGR=57",
        ],
    },
    Expect {
        file: "qualcomm-m6280-zte.txt",
        // `QUALCOMM INCORPORATED` / `M6280` name no family the driver has a profile for.
        identity: (None, None),
        profile: "generic",
        // The fake table's `+CPIN: READY`, then the user log's `+CPIN: SIM PIN` with no
        // PIN configured.
        states: &["ready", "pin_required"],
        received: &[0, 0],
        // The "broken" ZTE status report (SMSC length 2, no <stat>) after `+CDSI: "SM",1`
        // decodes, with the reference 28 python-gsmmodem reads in it.
        reports: &[1, 0],
        report_refs: &[28],
        registration: &[],
        must_send: &["AT+CMGR=1"],
    },
    Expect {
        file: "quectel-ec25.txt",
        identity: (Some("Quectel"), Some("EC25")),
        profile: "quectel",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        // `+CDSI: "SM",0` finds nothing in SM: the profile looks in SR (which the
        // transcript does not show holding anything).
        must_send: &["AT+CSMS=1", "AT+CMGR=0", "AT+CPMS=\"SR\"", "AT+CMGR=0"],
    },
    Expect {
        file: "quectel-m35.txt",
        identity: (Some("Quectel"), Some("M35")),
        profile: "quectel",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "quectel-m95.txt",
        identity: (None, Some("Quectel_M95")),
        profile: "quectel",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CGMI", "AT+QURCCFG=\"urcport\",\"usbat\""],
    },
    Expect {
        file: "samsung-j700.txt",
        identity: (Some("SAMSUNG"), Some("J700")),
        profile: "generic",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &[],
    },
    Expect {
        file: "siemens.txt",
        // Model not stated.
        identity: (Some("SIEMENS"), None),
        profile: "siemens",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CREG?"],
    },
    Expect {
        file: "sierra-312u.txt",
        identity: (Some("Sierra Wireless, Incorporated"), Some("312U")),
        profile: "sierra",
        // `+CREG: 2,5,...`: roaming counts as registered.
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CREG?"],
    },
    Expect {
        file: "sim800.txt",
        identity: (None, Some("SIMCOM_SIM800C")),
        profile: "simcom",
        // Then the verbose `+CME ERROR: SIM busy ` of the SIM800L log, for good: the
        // driver retries, gives up and starts again.
        states: &["ready", "connecting: SIM stays busy"],
        received: &[0, 0],
        reports: &[0, 0],
        report_refs: &[],
        registration: &[],
        // `AT+CNMI=?` lists `<ds>` 0,1 only: <ds>=2 refused, the profile's 2,1,0,1,0 taken.
        must_send: &["AT+CNMI=2,1,0,2,0", "AT+CNMI=2,1,0,1,0"],
    },
    Expect {
        file: "telit-he910.txt",
        identity: (Some("Telit"), Some("HE910")),
        profile: "telit",
        states: READY,
        // The `+CMGR: 0,"",50` SMS-DELIVER, announced by the test.
        received: &[1],
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+CMGR=1", "AT+CMGD=1"],
    },
    Expect {
        file: "unknown-models-gammu-fixtures.txt",
        identity: (None, None),
        profile: "generic",
        // AT+CREG?: `0,0`, a bare OK, Huawei's unquoted hex, an empty LAC, mismatched
        // quotes, a lone quote.
        states: &[
            "not_registered",
            "ready",
            "ready",
            "ready",
            "ready",
            "ready",
        ],
        // `+CMT: ,23` and `+CDS:25` in the first session.
        received: &[1, 0, 0, 0, 0, 0],
        reports: &[1, 0, 0, 0, 0, 0],
        // 07914875215652F0 06 36 ...
        report_refs: &[0x36],
        registration: &[],
        must_send: &["AT+CNMI=2,1,0,2,0", "AT+CNMI=2,1,0,1,0"],
    },
    Expect {
        file: "wavecom-multiband-900e-1800.txt",
        identity: (None, None),
        profile: "wavecom",
        // Three AT+CGMM answers; `+CPIN: READY` without OK, then no reply at all.
        states: &["ready", "ready", "ready"],
        received: &[0, 0, 0],
        reports: &[0, 0, 0],
        report_refs: &[],
        registration: &[],
        must_send: &[
            "AT+WIND=0",
            "AT+CPIN?",
            "AT+CPMS=\"SM\",\"SM\",\"SM\"",
            "AT+CPMS=\"SM\",\"SM\"",
        ],
    },
    Expect {
        file: "zte-k3565-z.txt",
        identity: (None, None),
        profile: "zte",
        states: READY,
        received: NONE,
        reports: NONE,
        report_refs: &[],
        registration: &[],
        must_send: &["AT+ZGETICCID"],
    },
];

// ---------------------------------------------------------------------------------------
// The transcripts.
// ---------------------------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    shared_data::shared_path("corpus/at")
}

/// One thing the modem writes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Line(String),
    /// `> `: the SMS prompt.
    Prompt,
}

/// A host command and the reply the transcript shows for it.
#[derive(Debug)]
struct Exchange {
    /// Line of the `> ` host line in the file.
    line: usize,
    command: String,
    reply: Vec<Out>,
    /// The `<PDU><Ctrl-Z>` host line after the prompt.
    payload: Option<String>,
    final_line: Option<String>,
    /// Taken from ModemManager's parser tests (information lines only).
    from_modemmanager: bool,
    /// Group of lines the modem sent right after the final result code.
    trailing: Option<usize>,
    eol: &'static str,
}

impl Exchange {
    fn ok_added(&self) -> bool {
        self.final_line.is_none() && self.from_modemmanager
    }

    fn refused(&self) -> bool {
        self.final_line.as_deref().is_some_and(|f| f != "OK")
    }

    fn lines(&self) -> impl Iterator<Item = &str> {
        self.reply.iter().filter_map(|o| match o {
            Out::Line(l) => Some(l.as_str()),
            Out::Prompt => None,
        })
    }

    fn answer(&self) -> Vec<Out> {
        let mut out = self.reply.clone();
        if self.ok_added() {
            out.push(Out::Line("OK".into()));
        }
        out
    }
}

/// Modem lines outside any reply (or right after one), pushed together.
#[derive(Debug)]
struct Group {
    line: usize,
    lines: Vec<String>,
    eol: &'static str,
}

/// What the test does at a place in the file.
#[derive(Debug, Clone, Copy)]
enum Action {
    Push(usize),
    Ussd(usize),
    Send(usize),
    Read(usize),
}

#[derive(Debug)]
struct Transcript {
    name: String,
    exchanges: Vec<Exchange>,
    groups: Vec<Group>,
    actions: Vec<Action>,
    /// How the family refuses a command it does not know.
    refusal: String,
}

fn is_final(line: &str) -> bool {
    let l = line.trim();
    matches!(
        l,
        "OK" | "ERROR" | "COMMAND NOT SUPPORT" | "TOO MANY PARAMETERS" | "NO CARRIER"
    ) || l.starts_with("+CME ERROR")
        || l.starts_with("+CMS ERROR")
}

/// Line ends a comment before an exchange or group describes.
fn eol_of(notes: &[String]) -> &'static str {
    if notes
        .iter()
        .any(|n| n.contains("CR CR LF") && !n.contains("CRs are not shown"))
    {
        "\r\r\n"
    } else if notes.iter().any(|n| n.contains("CR-only")) {
        "\r"
    } else {
        "\r\n"
    }
}

enum Cursor {
    Idle,
    Reply(usize),
    After(usize),
    Group(usize),
}

fn parse(name: &str, text: &str) -> Transcript {
    let mut t = Transcript {
        name: name.to_string(),
        exchanges: Vec::new(),
        groups: Vec::new(),
        actions: Vec::new(),
        refusal: String::new(),
    };
    let mut cursor = Cursor::Idle;
    let mut notes: Vec<String> = Vec::new();
    let mut modemmanager = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(comment) = raw.strip_prefix('#') {
            if comment.contains("ModemManager src/tests") {
                modemmanager = true;
            } else if [
                "gammu/gammu",
                "python-gsmmodem",
                "github.com/",
                "jakhax",
                "asterisk-chan-quectel",
            ]
            .iter()
            .any(|m| comment.contains(m))
            {
                modemmanager = false;
            }
            notes.push(comment.to_string());
            cursor = Cursor::Idle;
            continue;
        }
        let eol = eol_of(&notes);
        if let Some(host) = raw.strip_prefix("> ") {
            if let Some(payload) = host.strip_suffix("<Ctrl-Z>") {
                if let Cursor::Reply(e) = cursor {
                    t.exchanges[e].payload = Some(payload.to_string());
                }
                continue;
            }
            notes.clear();
            let e = t.exchanges.len();
            t.exchanges.push(Exchange {
                line: n,
                command: host.to_string(),
                reply: Vec::new(),
                payload: None,
                final_line: None,
                from_modemmanager: modemmanager,
                trailing: None,
                eol,
            });
            let upper = host.to_ascii_uppercase();
            if upper.starts_with("AT+CUSD=1,") {
                t.actions.push(Action::Ussd(e));
            } else if upper.starts_with("AT+CMGS=") {
                t.actions.push(Action::Send(e));
            } else if upper.starts_with("AT+CMGR=") {
                t.actions.push(Action::Read(e));
            }
            cursor = Cursor::Reply(e);
            continue;
        }
        let line = match raw.strip_prefix("< ") {
            Some(l) => l,
            None if raw == "<" => "",
            None => continue,
        };
        match cursor {
            Cursor::Reply(e) => {
                let ex = &mut t.exchanges[e];
                if line.trim() == ">" {
                    ex.reply.push(Out::Prompt);
                } else {
                    ex.reply.push(Out::Line(line.to_string()));
                    if is_final(line) {
                        ex.final_line = Some(line.trim().to_string());
                        cursor = Cursor::After(e);
                    }
                }
            }
            Cursor::After(e) => {
                let g = match t.exchanges[e].trailing {
                    Some(g) => g,
                    None => {
                        let g = t.groups.len();
                        t.groups.push(Group {
                            line: n,
                            lines: Vec::new(),
                            eol: t.exchanges[e].eol,
                        });
                        t.exchanges[e].trailing = Some(g);
                        t.actions.push(Action::Push(g));
                        g
                    }
                };
                t.groups[g].lines.push(line.to_string());
            }
            Cursor::Group(g) => t.groups[g].lines.push(line.to_string()),
            Cursor::Idle => {
                let g = t.groups.len();
                t.groups.push(Group {
                    line: n,
                    lines: vec![line.to_string()],
                    eol,
                });
                t.actions.push(Action::Push(g));
                cursor = Cursor::Group(g);
            }
        }
        notes.clear();
    }
    let said = |what: &str| {
        t.exchanges
            .iter()
            .flat_map(|e| e.lines())
            .any(|l| l.trim().starts_with(what))
    };
    t.refusal = if said("COMMAND NOT SUPPORT") {
        "COMMAND NOT SUPPORT".into()
    } else if said("+CME ERROR: 100") {
        "+CME ERROR: 100".into()
    } else {
        "ERROR".into()
    };
    t
}

// ---------------------------------------------------------------------------------------
// Small parsers of the test's own (kept independent of the driver's).
// ---------------------------------------------------------------------------------------

fn strip_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// `a,"b,c",d` → `a`, `b,c`, `d`.
fn split_fields(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    out.push(current.trim().to_string());
    out
}

fn is_hex(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit())
}

/// TP-MTI of a PDU that starts with its SMSC field: 0 DELIVER, 1 SUBMIT, 2 STATUS-REPORT.
fn mti(hex: &str) -> Option<u8> {
    let smsc = usize::from(u8::from_str_radix(hex.get(..2)?, 16).ok()?);
    let at = 2 + 2 * smsc;
    Some(u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()? & 0x03)
}

/// The TPDU length of a PDU that starts with its SMSC field.
fn tpdu_len(hex: &str) -> Option<usize> {
    let smsc = usize::from(u8::from_str_radix(hex.get(..2)?, 16).ok()?);
    (hex.len() / 2).checked_sub(1 + smsc)
}

#[derive(Debug, PartialEq, Eq)]
enum Form {
    Test,
    Read,
    Set(Vec<String>),
    Exec,
}

/// `AT+CNMI=2,1` → (`AT+CNMI`, set `2`,`1`).
fn split_command(cmd: &str) -> (String, Form) {
    let cmd = cmd.trim();
    if let Some(eq) = cmd.find('=') {
        let name = cmd[..eq].to_ascii_uppercase();
        let rest = &cmd[eq + 1..];
        if rest == "?" {
            (name, Form::Test)
        } else {
            (name, Form::Set(split_fields(rest)))
        }
    } else if let Some(name) = cmd.strip_suffix('?') {
        (name.to_ascii_uppercase(), Form::Read)
    } else {
        (cmd.to_ascii_uppercase(), Form::Exec)
    }
}

/// A value an `AT+X=?` answer allows.
#[derive(Debug)]
enum Allowed {
    Range(u32, u32),
    Text(String),
}

/// `(0-2),(0,1,3),("SM","ME")` → one list per parameter; `None` when the answer is not
/// such a flat list (nested, or no parentheses at all: it cannot be checked).
fn parse_ranges(info: &str) -> Option<Vec<Vec<Allowed>>> {
    let mut groups = Vec::new();
    let mut current: Option<String> = None;
    for c in info.trim().chars() {
        match (c, current.as_mut()) {
            ('(', None) => current = Some(String::new()),
            ('(', Some(_)) | (')', None) => return None,
            (')', Some(_)) => {
                let content = current.take().unwrap_or_default();
                groups.push(
                    content
                        .split(',')
                        .map(str::trim)
                        .filter(|i| !i.is_empty())
                        .map(|i| {
                            if let Some(q) = i.strip_prefix('"') {
                                return Allowed::Text(q.trim_end_matches('"').to_string());
                            }
                            let range = i.split_once('-').and_then(|(a, b)| {
                                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
                            });
                            match (range, i.parse::<u32>()) {
                                (Some((a, b)), _) => Allowed::Range(a, b),
                                (None, Ok(n)) => Allowed::Range(n, n),
                                _ => Allowed::Text(i.to_string()),
                            }
                        })
                        .collect(),
                );
            }
            (_, Some(cur)) => cur.push(c),
            (',' | ' ', None) => {}
            (_, None) => return None,
        }
    }
    (current.is_none() && !groups.is_empty()).then_some(groups)
}

fn fits(params: &[String], groups: &[Vec<Allowed>]) -> bool {
    params.iter().enumerate().all(|(i, p)| {
        if p.is_empty() {
            return true;
        }
        let Some(allowed) = groups.get(i) else {
            return false;
        };
        match p.parse::<u32>() {
            Ok(n) => allowed
                .iter()
                .any(|a| matches!(a, Allowed::Range(lo, hi) if (*lo..=*hi).contains(&n))),
            Err(_) => allowed
                .iter()
                .any(|a| matches!(a, Allowed::Text(t) if t.eq_ignore_ascii_case(p))),
        }
    })
}

/// Whether `text` fits a shown command with `<...>` placeholders (each one or more chars).
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let mut pieces = Vec::new();
    let mut rest = pattern.as_str();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        pieces.push(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    pieces.push(rest);
    if pieces.len() == 1 {
        return text == pieces[0];
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    let Some(mut pos) = text.starts_with(first).then_some(first.len()) else {
        return false;
    };
    for mid in &pieces[1..pieces.len() - 1] {
        match text.get(pos + 1..).and_then(|t| t.find(mid)) {
            Some(at) => pos = pos + 1 + at + mid.len(),
            None => return false,
        }
    }
    text.len() > pos + last.len() && text.ends_with(last)
}

/// What is wrong with a command line the driver wrote, if anything.
fn malformed(text: &str) -> Option<&'static str> {
    if !text.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("AT")) {
        Some("does not start with AT")
    } else if text.bytes().any(|b| !(0x20..=0x7E).contains(&b)) {
        Some("holds a byte that is not printable ASCII")
    } else if !text
        .bytes()
        .filter(|b| *b == b'"')
        .count()
        .is_multiple_of(2)
    {
        Some("has unbalanced quotes")
    } else if text != text.trim() {
        Some("has spaces around it")
    } else if text.len() > 560 {
        Some("is longer than a modem's command buffer")
    } else {
        None
    }
}

/// `+CUSD: <m>,"<str>",<dcs>` lines of a reply (continuations joined with `\n` the way
/// the engine does): the reply the driver must give, `(mode, raw)`.
fn expected_ussd<'a>(lines: impl Iterator<Item = &'a str>) -> Option<(u8, String)> {
    let mut found: Vec<String> = Vec::new();
    let mut open: Option<String> = None;
    for l in lines.map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(mut cur) = open.take() {
            cur.push('\n');
            cur.push_str(l);
            if l.contains('"') {
                found.push(cur);
            } else {
                open = Some(cur);
            }
            continue;
        }
        if strip_ci(l, "+CUSD").is_some() {
            if !l.matches('"').count().is_multiple_of(2) {
                open = Some(l.to_string());
            } else {
                found.push(l.to_string());
            }
        }
    }
    let parsed: Vec<(u8, Option<String>)> = found
        .iter()
        .filter_map(|l| {
            let args = l.split_once(':')?.1.trim();
            let (mode, rest) = args.split_once(',').unwrap_or((args, ""));
            let mode = mode.trim().parse().ok()?;
            let raw = match (rest.find('"'), rest.rfind('"')) {
                (Some(a), Some(b)) if b > a => Some(rest[a + 1..b].to_string()),
                _ => Some(rest.split(',').next().unwrap_or("").trim().to_string())
                    .filter(|s| !s.is_empty()),
            };
            Some((mode, raw))
        })
        .collect();
    if let Some((m, raw)) = parsed.iter().find(|(m, _)| matches!(m, 0 | 1)) {
        return Some((*m, raw.clone().unwrap_or_default()));
    }
    parsed
        .iter()
        .rev()
        .find_map(|(m, raw)| (*m == 2).then(|| raw.clone()).flatten())
        .map(|raw| (2, raw))
}

/// A PDU shortened for messages.
fn short(hex: &str) -> String {
    match hex.get(..32) {
        Some(head) if hex.len() > 32 => format!("{head}…"),
        _ => hex.to_string(),
    }
}

fn is_registration(line: &str) -> bool {
    ["+CREG:", "+CGREG:", "+CEREG:"]
        .iter()
        .any(|p| strip_ci(line.trim(), p).is_some())
}

// ---------------------------------------------------------------------------------------
// The scripted modem.
// ---------------------------------------------------------------------------------------

/// Why the modem answered a command the way it did (the rules of the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Shown(usize),
    TestFormRefused(usize),
    OutOfRange(usize),
    SameFormRefused(usize),
    OtherParameters(usize),
    Identity,
    Standard,
    ProfileCommand,
    Refused,
    Barrier,
}

impl Rule {
    fn short(self) -> &'static str {
        match self {
            Rule::Shown(_) => "1 shown",
            Rule::TestFormRefused(_) | Rule::OutOfRange(_) | Rule::SameFormRefused(_) => {
                "2 refused"
            }
            Rule::OtherParameters(_) => "2 ok",
            Rule::Identity => "3 identity",
            Rule::Standard => "3 standard",
            Rule::ProfileCommand => "3 profile",
            Rule::Refused => "3 refused",
            Rule::Barrier => "sync",
        }
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Command {
        session: usize,
        text: String,
        rule: Rule,
        exchange: Option<usize>,
    },
    Payload {
        session: usize,
        hex: String,
    },
    Wrote {
        session: usize,
    },
    /// A PDU the modem gave the driver: in a listing or read (`index`), or `+CMT`/`+CDS`.
    Handed {
        session: usize,
        hex: String,
        index: Option<u32>,
        stat: Option<u8>,
        line: usize,
    },
    /// The gateway (the test) acknowledged a PDU as stored.
    Ack {
        session: usize,
        index: Option<u32>,
    },
}

impl Entry {
    fn session(&self) -> usize {
        match self {
            Entry::Command { session, .. }
            | Entry::Payload { session, .. }
            | Entry::Wrote { session }
            | Entry::Handed { session, .. }
            | Entry::Ack { session, .. } => *session,
        }
    }

    fn command(&self) -> Option<&str> {
        match self {
            Entry::Command { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// `AT+CMGD=<index>` → index.
fn deleted_index(text: &str) -> Option<u32> {
    strip_ci(text, "AT+CMGD=")?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[derive(Default)]
struct State {
    session: usize,
    /// The driver has not settled yet in this session.
    startup: bool,
    /// Everything, in order: the index is the sequence number.
    log: Vec<Entry>,
    uses: HashMap<String, usize>,
    candidates: HashMap<String, usize>,
    startup_keys: HashSet<String>,
    used: HashSet<usize>,
    emitted: HashSet<usize>,
    /// `AT+CSMS=1` accepted in this session: `+CMT` wants `AT+CNMA`.
    csms: bool,
    /// Malformed output of the driver: session, the line of the exchange it answered.
    violations: Vec<(usize, Option<usize>, String)>,
}

struct Script {
    t: Transcript,
    expect: &'static Expect,
    profile_commands: &'static [&'static str],
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding it is reported by the test anyway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Inside `AT+CMGS`, after the prompt: the PDU being typed and the rest of the reply.
struct Pending {
    command: String,
    hex: Vec<u8>,
    rest: Vec<Out>,
    exchange: Option<usize>,
    eol: &'static str,
}

const STANDARD_EXACT: &[&str] = &[
    "AT",
    "ATZ",
    "ATE0",
    "AT+CMEE=1",
    "AT+CMGF=0",
    "AT+CSMS=1",
    "AT+CNMA",
    "AT+COPS=3,0",
    "AT+CUSD=2",
    "AT+CMGL=4",
];
const STANDARD_SET: &[&str] = &["AT+CPMS", "AT+CNMI", "AT+CMGD", "AT+CMGR"];

impl Script {
    fn shown(&self, text: &str, st: &mut State) -> Option<usize> {
        let all = &self.t.exchanges;
        let exact: Vec<usize> = (0..all.len())
            .filter(|&i| all[i].command.eq_ignore_ascii_case(text))
            .collect();
        let (key, candidates) = if exact.is_empty() {
            let fitting: Vec<usize> = (0..all.len())
                .filter(|&i| all[i].command.contains('<') && pattern_matches(&all[i].command, text))
                .collect();
            let first = *fitting.first()?;
            (all[first].command.to_ascii_lowercase(), fitting)
        } else {
            (text.to_ascii_lowercase(), exact)
        };
        let used = st.uses.entry(key.clone()).or_insert(0);
        let pick = candidates[(*used).min(candidates.len() - 1)];
        *used += 1;
        st.candidates.insert(key.clone(), candidates.len());
        if st.startup {
            st.startup_keys.insert(key);
        }
        Some(pick)
    }

    /// The rules of the module doc.
    fn answer(&self, text: &str, st: &mut State) -> (Vec<Out>, Rule, Option<usize>) {
        let line = |l: &str| Out::Line(l.to_string());
        let ok = || vec![Out::Line("OK".into())];
        if text.eq_ignore_ascii_case(&format!("AT+CPMS=\"{SYNC_STORAGE}\"")) {
            return (vec![line("+CMS ERROR: 302")], Rule::Barrier, None);
        }
        if let Some(e) = self.shown(text, st) {
            return (self.t.exchanges[e].answer(), Rule::Shown(e), Some(e));
        }
        let (name, form) = split_command(text);
        if let Form::Set(params) = &form {
            let same: Vec<(usize, Form)> = self
                .t
                .exchanges
                .iter()
                .enumerate()
                .map(|(i, e)| (i, split_command(&e.command)))
                .filter(|(_, (n, _))| *n == name)
                .map(|(i, (_, f))| (i, f))
                .collect();
            for (i, f) in &same {
                let e = &self.t.exchanges[*i];
                if *f == Form::Test && e.refused() {
                    let refusal = e.final_line.clone().unwrap_or_default();
                    return (vec![line(&refusal)], Rule::TestFormRefused(*i), None);
                }
            }
            for (i, f) in &same {
                let e = &self.t.exchanges[*i];
                if *f != Form::Test || e.refused() {
                    continue;
                }
                let info_name = name.get(2..).unwrap_or_default();
                let ranges = e
                    .lines()
                    .find_map(|l| strip_ci(l.trim(), info_name))
                    .and_then(|rest| parse_ranges(rest.trim_start().trim_start_matches(':')));
                if let Some(groups) = ranges {
                    if !fits(params, &groups) {
                        return (vec![line(&self.t.refusal)], Rule::OutOfRange(*i), None);
                    }
                }
            }
            for (i, f) in &same {
                let e = &self.t.exchanges[*i];
                if let Form::Set(shown) = f {
                    let first_same = match (shown.first(), params.first()) {
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => false,
                    };
                    if e.refused() && shown.len() == params.len() && first_same {
                        let refusal = e.final_line.clone().unwrap_or_default();
                        return (vec![line(&refusal)], Rule::SameFormRefused(*i), None);
                    }
                }
            }
            if let Some((i, _)) = same
                .iter()
                .find(|(_, f)| matches!(f, Form::Set(_) | Form::Test))
            {
                return (ok(), Rule::OtherParameters(*i), None);
            }
        }
        let upper = text.to_ascii_uppercase();
        let identity = match upper.as_str() {
            "AT+CGMI" => self.expect.identity.0,
            "AT+CGMM" => self.expect.identity.1,
            _ => None,
        };
        if let Some(value) = identity {
            return (vec![line(value), line("OK")], Rule::Identity, None);
        }
        let standard = STANDARD_EXACT.contains(&upper.as_str())
            || (matches!(form, Form::Set(_)) && STANDARD_SET.contains(&name.as_str()));
        if standard {
            return (ok(), Rule::Standard, None);
        }
        if self
            .profile_commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case(text))
        {
            return (ok(), Rule::ProfileCommand, None);
        }
        (vec![line(&self.t.refusal)], Rule::Refused, None)
    }

    fn violation(st: &mut State, line: Option<usize>, what: String) {
        let session = st.session;
        st.violations.push((session, line, what));
    }

    /// A complete command line from the driver: the bytes to answer with.
    fn command(&self, text: &str, prompt: &mut Option<Pending>) -> Vec<u8> {
        let mut st = lock(&self.state);
        let (out, rule, exchange) = self.answer(text, &mut st);
        if let Some(why) = malformed(text) {
            let line = exchange.map(|e| self.t.exchanges[e].line);
            Self::violation(
                &mut st,
                line,
                format!("the driver sent {text:?}, which {why}"),
            );
        }
        if let Some(e) = exchange {
            st.used.insert(e);
        }
        let accepted = matches!(out.last(), Some(Out::Line(l)) if l.trim() == "OK");
        if accepted && text.eq_ignore_ascii_case("AT+CSMS=1") {
            st.csms = true;
        }
        let session = st.session;
        st.log.push(Entry::Command {
            session,
            text: text.to_string(),
            rule,
            exchange,
        });
        let eol = exchange.map_or("\r\n", |e| self.t.exchanges[e].eol);
        self.render(&mut st, text, out, exchange, eol, prompt)
    }

    /// The PDU typed after the prompt, ended by Ctrl-Z: the rest of the reply.
    fn payload(&self, pending: Pending) -> Vec<u8> {
        let mut st = lock(&self.state);
        let hex = String::from_utf8_lossy(&pending.hex).to_string();
        let announced = match split_command(&pending.command) {
            (_, Form::Set(p)) => p.first().and_then(|n| n.parse::<usize>().ok()),
            _ => None,
        };
        if !hex.len().is_multiple_of(2) || tpdu_len(&hex) != announced || announced.is_none() {
            let line = pending.exchange.map(|e| self.t.exchanges[e].line);
            Self::violation(
                &mut st,
                line,
                format!(
                    "after {:?} the driver typed a PDU of {:?} TPDU octets: {hex}",
                    pending.command,
                    tpdu_len(&hex)
                ),
            );
        }
        let session = st.session;
        st.log.push(Entry::Payload { session, hex });
        self.render(
            &mut st,
            &pending.command,
            pending.rest,
            pending.exchange,
            pending.eol,
            &mut None,
        )
    }

    fn render(
        &self,
        st: &mut State,
        command: &str,
        out: Vec<Out>,
        exchange: Option<usize>,
        eol: &'static str,
        prompt: &mut Option<Pending>,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (i, o) in out.iter().enumerate() {
            match o {
                Out::Line(l) => {
                    bytes.extend_from_slice(l.replace("<mr>", MR).as_bytes());
                    bytes.extend_from_slice(eol.as_bytes());
                }
                Out::Prompt => {
                    bytes.extend_from_slice(b"\r\n> ");
                    *prompt = Some(Pending {
                        command: command.to_string(),
                        hex: Vec::new(),
                        rest: out[i + 1..].to_vec(),
                        exchange,
                        eol,
                    });
                    return bytes;
                }
            }
        }
        self.record_handed(st, command, &out, exchange);
        if let Some(g) = exchange.and_then(|e| self.t.exchanges[e].trailing) {
            if st.emitted.insert(g) {
                bytes.extend(self.group_bytes(st, g));
            }
        }
        bytes
    }

    /// Notes the PDUs a `+CMGL`/`+CMGR` reply gives the driver.
    fn record_handed(&self, st: &mut State, command: &str, out: &[Out], exchange: Option<usize>) {
        let line = exchange.map_or(0, |e| self.t.exchanges[e].line);
        let lines: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Out::Line(l) => Some(l.trim()),
                Out::Prompt => None,
            })
            .filter(|l| !l.is_empty())
            .collect();
        let session = st.session;
        if strip_ci(command, "AT+CMGL").is_some() {
            let mut header: Option<(Option<u32>, Option<u8>)> = None;
            for l in lines {
                if let Some(args) = strip_ci(l, "+CMGL:") {
                    let f = split_fields(args);
                    header = Some((
                        f.first().and_then(|i| i.parse().ok()),
                        f.get(1).and_then(|s| s.parse().ok()),
                    ));
                } else if let Some((index, stat)) = header.take() {
                    if is_hex(l) {
                        st.log.push(Entry::Handed {
                            session,
                            hex: l.to_string(),
                            index,
                            stat,
                            line,
                        });
                    }
                }
            }
        } else if let Some(index) =
            strip_ci(command, "AT+CMGR=").and_then(|i| i.trim().parse::<u32>().ok())
        {
            let mut iter = lines.iter();
            let stat = iter
                .by_ref()
                .find_map(|l| strip_ci(l, "+CMGR:"))
                .map(|args| split_fields(args).first().and_then(|s| s.parse().ok()));
            if let (Some(stat), Some(hex)) = (stat, iter.next()) {
                if is_hex(hex) {
                    st.log.push(Entry::Handed {
                        session,
                        hex: hex.to_string(),
                        index: Some(index),
                        stat,
                        line,
                    });
                }
            }
        }
    }

    /// A group of unsolicited lines as bytes; notes its `+CMT`/`+CDS` PDUs.
    fn group_bytes(&self, st: &mut State, g: usize) -> Vec<u8> {
        let group = &self.t.groups[g];
        let session = st.session;
        st.log.push(Entry::Wrote { session });
        let mut bytes = Vec::new();
        let mut direct = false;
        for l in &group.lines {
            if direct && is_hex(l.trim()) {
                st.log.push(Entry::Handed {
                    session,
                    hex: l.trim().to_string(),
                    index: None,
                    stat: None,
                    line: group.line,
                });
            }
            let name = l.split([':', ' ']).next().unwrap_or("");
            direct = name.eq_ignore_ascii_case("+CMT") || name.eq_ignore_ascii_case("+CDS");
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(group.eol.as_bytes());
        }
        bytes
    }

    fn push_bytes(&self, push: Push) -> Vec<u8> {
        let mut st = lock(&self.state);
        match push {
            Push::Group(g) => self.group_bytes(&mut st, g),
            Push::Line(text) => {
                let session = st.session;
                st.log.push(Entry::Wrote { session });
                format!("\r\n{text}\r\n").into_bytes()
            }
            Push::End => Vec::new(),
        }
    }
}

/// What the test makes the modem say unprompted, or the end of the session.
enum Push {
    Group(usize),
    Line(String),
    End,
}

/// Frames what the driver writes: command lines ended by CR, and the PDU after a prompt.
#[derive(Default)]
struct Framer {
    line: Vec<u8>,
    after_esc: bool,
    prompt: Option<Pending>,
}

impl Framer {
    fn feed(&mut self, bytes: &[u8], script: &Script) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some(pending) = self.prompt.as_mut() {
                match b {
                    0x1A => {
                        if let Some(p) = self.prompt.take() {
                            out.extend(script.payload(p));
                        }
                    }
                    // ESC cancels the send.
                    0x1B => self.prompt = None,
                    b if b.is_ascii_hexdigit() => pending.hex.push(b),
                    other => Script::violation(
                        &mut lock(&script.state),
                        pending.exchange.map(|e| script.t.exchanges[e].line),
                        format!("byte 0x{other:02X} inside a PDU after the prompt"),
                    ),
                }
                continue;
            }
            match b {
                b'\r' => {
                    if !self.line.is_empty() {
                        let text = String::from_utf8_lossy(&self.line).to_string();
                        self.line.clear();
                        out.extend(script.command(&text, &mut self.prompt));
                    } else if !self.after_esc {
                        Script::violation(
                            &mut lock(&script.state),
                            None,
                            "an empty command line (CR alone)".into(),
                        );
                    }
                    self.after_esc = false;
                }
                0x1B => {
                    if !self.line.is_empty() {
                        Script::violation(
                            &mut lock(&script.state),
                            None,
                            format!(
                                "ESC in the middle of {:?}",
                                String::from_utf8_lossy(&self.line)
                            ),
                        );
                    }
                    self.line.clear();
                    self.after_esc = true;
                }
                0x20..=0x7E => self.line.push(b),
                other => Script::violation(
                    &mut lock(&script.state),
                    None,
                    format!(
                        "byte 0x{other:02X} after {:?} in a command line",
                        String::from_utf8_lossy(&self.line)
                    ),
                ),
            }
        }
        out
    }
}

/// The modem task: owns the pty master.
async fn serve(
    mut master: SerialStream,
    script: Arc<Script>,
    mut pushes: mpsc::UnboundedReceiver<Push>,
) {
    let mut framer = Framer::default();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = master.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    let reply = framer.feed(&buf[..n], &script);
                    if !reply.is_empty() && master.write_all(&reply).await.is_err() {
                        framer = Framer::default();
                    }
                    let _ = master.flush().await;
                }
                // EIO or EOF (the test's own handle on the slave keeps this from
                // happening): start over.
                _ => {
                    framer = Framer::default();
                    sleep(Duration::from_millis(10)).await;
                }
            },
            push = pushes.recv() => match push {
                Some(Push::End) | None => {
                    if !framer.line.is_empty() || framer.prompt.is_some() {
                        let what = format!(
                            "the driver left {:?} unterminated",
                            String::from_utf8_lossy(&framer.line)
                        );
                        Script::violation(&mut lock(&script.state), None, what);
                    }
                    return;
                }
                Some(push) => {
                    let bytes = script.push_bytes(push);
                    let _ = master.write_all(&bytes).await;
                    let _ = master.flush().await;
                }
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// The gateway's side: sessions, actions, checks.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sms,
    Report,
}

/// A PDU or report the driver handed over.
struct Got {
    kind: Kind,
    hex: String,
    source: PduSource,
    reference: Option<u8>,
    ack: Option<oneshot::Sender<StoreOutcome>>,
    ack_seq: Option<usize>,
    /// Its delete (or `AT+CNMA`) has been waited for.
    waited: bool,
    /// The transcript line the modem handed it over from.
    line: Option<usize>,
}

#[derive(Default)]
struct SessionReport {
    settled: String,
    end: String,
    profile: String,
    commands: usize,
    received: usize,
    reports: usize,
    report_refs: Vec<u8>,
}

#[derive(Default)]
struct FileReport {
    name: String,
    sessions: Vec<SessionReport>,
    failures: Vec<String>,
    notes: Vec<String>,
    registration: Vec<(usize, String)>,
    sends: usize,
    ussd: usize,
    rules: HashMap<&'static str, usize>,
    used: usize,
    exchanges: usize,
}

fn state_name(s: &ModemStatus) -> String {
    match s.state {
        ModemState::Ready => "ready".into(),
        ModemState::NotRegistered => "not_registered".into(),
        ModemState::PinRequired => "pin_required".into(),
        ModemState::NoSim => "no_sim".into(),
        ModemState::Failed => "failed".into(),
        ModemState::Stopped => "stopped".into(),
        ModemState::Initializing => "initializing".into(),
        ModemState::Connecting => format!(
            "connecting: {}",
            s.last_error.as_deref().unwrap_or("no error")
        ),
    }
}

fn source_index(source: &PduSource) -> Option<u32> {
    match source {
        PduSource::Sim { index, .. } => Some(*index),
        PduSource::Direct => None,
    }
}

struct Run<'a> {
    script: &'a Script,
    push: &'a mpsc::UnboundedSender<Push>,
    report: &'a mut FileReport,
    session: usize,
    rx: mpsc::Receiver<ModemEvent>,
    got: Vec<Got>,
    states: Vec<ModemStatus>,
    barriers: u32,
}

impl Run<'_> {
    fn name(&self) -> &str {
        &self.script.t.name
    }

    /// A failure, at a line of the transcript when one applies.
    fn fail(&mut self, line: impl Into<Option<usize>>, what: impl std::fmt::Display) {
        let at = match line.into() {
            Some(l) => format!("{}:{l}", self.script.t.name),
            None => self.script.t.name.clone(),
        };
        let msg = format!("{at}: session {}: {what}", self.session + 1);
        self.report.failures.push(msg);
    }

    fn log_len(&self) -> usize {
        lock(&self.script.state).log.len()
    }

    /// Whether an entry of this session from `from` on satisfies `pred`.
    fn logged(&self, from: usize, pred: impl Fn(&Entry) -> bool) -> bool {
        let st = lock(&self.script.state);
        st.log
            .iter()
            .skip(from)
            .any(|e| e.session() == self.session && pred(e))
    }

    /// The last commands of this session, for failure messages.
    fn last_commands(&self) -> String {
        let st = lock(&self.script.state);
        let mine: Vec<&str> = st
            .log
            .iter()
            .filter(|e| e.session() == self.session)
            .filter_map(Entry::command)
            .collect();
        mine[mine.len().saturating_sub(8)..].join(" | ")
    }

    fn drain(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            match event {
                ModemEvent::Status(s) => self.states.push(s),
                ModemEvent::Received(r) => self.got.push(Got {
                    kind: Kind::Sms,
                    hex: r.hex,
                    source: r.source,
                    reference: None,
                    ack: Some(r.ack),
                    ack_seq: None,
                    waited: false,
                    line: None,
                }),
                ModemEvent::StatusReport(r) => self.got.push(Got {
                    kind: Kind::Report,
                    hex: r.hex,
                    source: r.source,
                    reference: Some(r.message_reference),
                    ack: Some(r.ack),
                    ack_seq: None,
                    waited: false,
                    line: None,
                }),
            }
        }
    }

    /// The first state after `Initializing`, once the driver has swept when it is in
    /// its receive loop.
    async fn settle(&mut self) -> Option<ModemStatus> {
        let deadline = Instant::now() + WAIT;
        loop {
            self.drain();
            let after_init = self
                .states
                .iter()
                .position(|s| s.state == ModemState::Initializing)
                .and_then(|i| self.states.get(i + 1))
                .cloned();
            if let Some(s) = after_init {
                let receiving = matches!(s.state, ModemState::Ready | ModemState::NotRegistered);
                if !receiving
                    || self.logged(0, |e| {
                        e.command()
                            .is_some_and(|c| c.eq_ignore_ascii_case("AT+CMGL=4"))
                    })
                {
                    lock(&self.script.state).startup = false;
                    return Some(s);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Pushes `+CMTI: "ZZ",<n>` and waits for the driver to select that storage (which
    /// the modem refuses, so the driver's own storage stays as it was): URCs are handled
    /// in order, so every one before it has been handled and handed over by then.
    async fn barrier(&mut self) -> Result<(), String> {
        let index = self.barriers;
        self.barriers += 1;
        let from = self.log_len();
        let _ = self
            .push
            .send(Push::Line(format!("+CMTI: \"{SYNC_STORAGE}\",{index}")));
        let want = format!("AT+CPMS=\"{SYNC_STORAGE}\"");
        let deadline = Instant::now() + WAIT;
        while !self.logged(from, |e| {
            e.command().is_some_and(|c| c.eq_ignore_ascii_case(&want))
        }) {
            if Instant::now() > deadline {
                return Err(format!(
                    "the driver did not react to +CMTI: \"{SYNC_STORAGE}\",{index} within 20 s: it hangs or stopped reading indications; its last commands: {}",
                    self.last_commands()
                ));
            }
            sleep(Duration::from_millis(5)).await;
        }
        self.drain();
        Ok(())
    }

    /// Acknowledges everything handed over, checking first that none was deleted yet.
    fn ack_all(&mut self) {
        let mut early: Vec<(Option<usize>, String)> = Vec::new();
        {
            let mut st = lock(&self.script.state);
            for g in self.got.iter_mut().filter(|g| g.ack.is_some()) {
                let index = source_index(&g.source);
                let handed = st.log.iter().rposition(|e| {
                    matches!(e, Entry::Handed { session, hex, index: x, .. }
                        if *session == self.session && *hex == g.hex && *x == index)
                });
                if let Some(Entry::Handed { line, .. }) = handed.map(|h| &st.log[h]) {
                    g.line = Some(*line);
                }
                if let (Some(i), Some(h)) = (index, handed) {
                    let deleted = st.log[h..].iter().any(|e| {
                        e.session() == self.session
                            && e.command().and_then(deleted_index) == Some(i)
                    });
                    if deleted {
                        early.push((
                            g.line,
                            format!(
                                "AT+CMGD={i} was sent before the gateway acknowledged index {i}"
                            ),
                        ));
                    }
                }
                let seq = st.log.len();
                st.log.push(Entry::Ack {
                    session: self.session,
                    index,
                });
                g.ack_seq = Some(seq);
                if let Some(ack) = g.ack.take() {
                    let _ = ack.send(StoreOutcome::Stored);
                }
            }
        }
        for (line, what) in early {
            self.fail(line, what);
        }
    }

    /// Waits for `AT+CMGD` (or `AT+CNMA`) after each acknowledgement.
    async fn wait_deletes(&mut self) {
        let csms = lock(&self.script.state).csms;
        let wanted: Vec<(usize, Option<u32>, Option<usize>)> = self
            .got
            .iter_mut()
            .filter(|g| !g.waited)
            .filter_map(|g| {
                let seq = g.ack_seq?;
                g.waited = true;
                Some((seq, source_index(&g.source), g.line))
            })
            .collect();
        for (seq, index, line) in wanted {
            let what = match index {
                Some(i) => format!("AT+CMGD={i}"),
                None if csms => "AT+CNMA".to_string(),
                None => continue,
            };
            let deadline = Instant::now() + WAIT;
            while !self.logged(seq, |e| match (e.command(), index) {
                (Some(c), Some(i)) => deleted_index(c) == Some(i),
                (Some(c), None) => c.eq_ignore_ascii_case("AT+CNMA"),
                _ => false,
            }) {
                if Instant::now() > deadline {
                    self.fail(
                        line,
                        format!("no {what} within 20 s of the gateway's acknowledgement"),
                    );
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        }
    }

    async fn sync(&mut self, line: impl Into<Option<usize>>) {
        if let Err(why) = self.barrier().await {
            self.fail(line, why);
            return;
        }
        self.ack_all();
        self.wait_deletes().await;
    }

    async fn ready(&self, handle: &ModemHandle) -> bool {
        handle.status().await.state == ModemState::Ready
    }

    async fn act(&mut self, handle: &ModemHandle) {
        let actions = self.script.t.actions.clone();
        for action in actions {
            match action {
                Action::Push(g) => self.push_group(g, handle).await,
                Action::Ussd(e) => self.ussd(e, handle).await,
                Action::Send(e) => self.send(e, handle).await,
                Action::Read(e) => self.announce(e).await,
            }
        }
    }

    async fn push_group(&mut self, g: usize, handle: &ModemHandle) {
        let script = self.script;
        let group = &script.t.groups[g];
        let line = group.line;
        if !lock(&self.script.state).emitted.insert(g) {
            return;
        }
        let _ = self.push.send(Push::Group(g));
        self.sync(line).await;
        if group.lines.iter().any(|l| is_registration(l)) {
            let state = state_name(&handle.status().await);
            self.report.registration.push((line, state));
        }
    }

    async fn ussd(&mut self, e: usize, handle: &ModemHandle) {
        let script = self.script;
        let ex = &script.t.exchanges[e];
        let code = ex.command.split('"').nth(1).unwrap_or_default().to_string();
        let valid = !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'#' | b'+'));
        if !valid {
            let note = format!(
                "{}:{}: {} not requested: no USSD code the gateway sends (the driver refuses it before the modem)",
                self.name(),
                ex.line,
                ex.command
            );
            self.report.notes.push(note);
            return;
        }
        if !self.ready(handle).await {
            let note = format!("{}:{}: USSD skipped, modem not ready", self.name(), ex.line);
            self.report.notes.push(note);
            return;
        }
        let trailing = ex.trailing.map(|g| &script.t.groups[g]);
        let expected = expected_ussd(
            ex.lines().chain(
                trailing
                    .iter()
                    .flat_map(|g| g.lines.iter().map(String::as_str)),
            ),
        );
        let from = self.log_len();
        let line = ex.line;
        let got = timeout(WAIT, handle.ussd(&code)).await;
        self.report.ussd += 1;
        match (got, expected) {
            (Ok(Ok(reply)), Some((mode, raw))) => {
                // Exactly, spaces inside the quotes included (python-gsmmodem's reply
                // ends in one after "20 MORE Weekend minutes").
                if reply.mode != mode || reply.raw != raw {
                    self.fail(
                        line,
                        format!(
                            "USSD {code}: the driver answered mode {} {:?}, the transcript says mode {mode} {raw:?}",
                            reply.mode, reply.raw
                        ),
                    );
                }
            }
            (Ok(Err(err)), None) => {
                if !ex.refused() {
                    self.fail(line, format!("USSD {code}: {err}"));
                }
            }
            (Ok(other), expected) => self.fail(
                line,
                format!("USSD {code}: the driver answered {other:?}, expected {expected:?}"),
            ),
            (Err(_), _) => self.fail(line, format!("USSD {code}: no answer within 20 s")),
        }
        let matched = {
            let st = lock(&self.script.state);
            st.log
                .iter()
                .skip(from)
                .any(|x| matches!(x, Entry::Command { exchange: Some(x), .. } if *x == e))
        };
        if !matched {
            self.fail(line, "the driver's AT+CUSD did not reach this exchange");
        }
        self.sync(line).await;
    }

    async fn send(&mut self, e: usize, handle: &ModemHandle) {
        let script = self.script;
        let ex = &script.t.exchanges[e];
        let line = ex.line;
        if !ex.reply.contains(&Out::Prompt) {
            let note = format!(
                "{}:{line}: {} not sent: a text-mode send (the driver sends in PDU mode)",
                self.name(),
                ex.command
            );
            self.report.notes.push(note);
            return;
        }
        let concrete = ex
            .payload
            .as_deref()
            .filter(|p| is_hex(p) && !ex.command.contains('<'));
        let request = match concrete {
            Some(hex) => match pdu::decode_hex(hex, true).map(|p| p.tpdu) {
                Ok(Tpdu::Submit(s)) => SendRequest {
                    to: s.recipient.to_string(),
                    text: s.text.unwrap_or_default(),
                    status_report: s.status_report_request,
                    validity: None,
                    reference: 0,
                },
                other => {
                    self.fail(
                        line,
                        format!("the transcript's PDU is no SMS-SUBMIT: {other:?}"),
                    );
                    return;
                }
            },
            None => SendRequest {
                to: "+15550100123".into(),
                text: "simgate corpus replay".into(),
                status_report: true,
                validity: None,
                reference: 0,
            },
        };
        if !self.ready(handle).await {
            let note = format!("{}:{line}: send skipped, modem not ready", self.name());
            self.report.notes.push(note);
            return;
        }
        let mr: Option<u8> = ex
            .lines()
            .find_map(|l| strip_ci(l.trim(), "+CMGS:"))
            .and_then(|v| v.trim().replace("<mr>", MR).parse::<u16>().ok())
            .map(|v| (v % 256) as u8);
        let from = self.log_len();
        let got = timeout(WAIT, handle.send(request.clone())).await;
        self.report.sends += 1;
        match got {
            Ok(Ok(receipt)) => {
                if receipt.message_references != mr.into_iter().collect::<Vec<_>>() {
                    self.fail(
                        line,
                        format!(
                            "send: references {:?}, the modem answered +CMGS: {mr:?}",
                            receipt.message_references
                        ),
                    );
                }
            }
            other => self.fail(line, format!("send of {request:?}: {other:?}")),
        }
        let (commands, payloads) = {
            let st = lock(&self.script.state);
            let commands: Vec<(String, Option<usize>)> = st
                .log
                .iter()
                .skip(from)
                .filter_map(|x| match x {
                    Entry::Command { text, exchange, .. }
                        if strip_ci(text, "AT+CMGS").is_some() =>
                    {
                        Some((text.clone(), *exchange))
                    }
                    _ => None,
                })
                .collect();
            let payloads: Vec<String> = st
                .log
                .iter()
                .skip(from)
                .filter_map(|x| match x {
                    Entry::Payload { hex, .. } => Some(hex.clone()),
                    _ => None,
                })
                .collect();
            (commands, payloads)
        };
        if commands.len() != 1 || commands[0].1 != Some(e) {
            self.fail(
                line,
                format!("send: the driver sent {commands:?}, which is not this exchange"),
            );
        }
        if let (Some(want), Some(sent)) = (concrete, payloads.first()) {
            // TP-MR is the modem's to fill; everything else must be the same octets.
            let smsc = usize::from(u8::from_str_radix(&want[..2], 16).unwrap_or(0));
            let mr_at = 2 * (smsc + 2);
            let mask = |h: &str| {
                let h = h.to_ascii_uppercase();
                match (h.get(..mr_at), h.get(mr_at + 2..)) {
                    (Some(a), Some(b)) => format!("{a}..{b}"),
                    _ => h,
                }
            };
            if mask(want) == mask(sent) {
                let note = format!(
                    "{}:{line}: the driver's PDU for the same message is the transcript's, TP-MR aside",
                    self.name()
                );
                self.report.notes.push(note);
            } else {
                self.fail(
                    line,
                    format!("send: the driver typed {sent}, the transcript shows {want} for the same message"),
                );
            }
        }
        let reports_before = self.got.iter().filter(|g| g.kind == Kind::Report).count();
        self.sync(line).await;
        // A `+CDSI` shown right after the send announces this send's status report.
        let announces = ex.trailing.is_some_and(|g| {
            script.t.groups[g]
                .lines
                .iter()
                .any(|l| strip_ci(l.trim(), "+CDSI").is_some())
        });
        if announces {
            let refs: Vec<Option<u8>> = self
                .got
                .iter()
                .filter(|g| g.kind == Kind::Report)
                .skip(reports_before)
                .map(|g| g.reference)
                .collect();
            if refs != vec![mr] {
                self.fail(
                    line,
                    format!(
                        "the status report after this send carries {refs:?}, the send got {mr:?}"
                    ),
                );
            }
        }
    }

    /// An `AT+CMGR` with a PDU the driver was not led to: announce it with `+CMTI`.
    async fn announce(&mut self, e: usize) {
        let script = self.script;
        let ex = &script.t.exchanges[e];
        let line = ex.line;
        let used = lock(&self.script.state).used.contains(&e);
        let mut lines = ex.lines().map(str::trim).filter(|l| !l.is_empty());
        let holds_pdu =
            lines.any(|l| strip_ci(l, "+CMGR:").is_some()) && lines.next().is_some_and(is_hex);
        if used || !holds_pdu {
            return;
        }
        let index = strip_ci(&ex.command, "AT+CMGR=")
            .and_then(|i| i.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let note = format!(
            "{}:{line}: announced with +CMTI: \"SM\",{index} (the transcript shows the read alone)",
            self.name()
        );
        self.report.notes.push(note);
        let _ = self.push.send(Push::Line(format!("+CMTI: \"SM\",{index}")));
        self.sync(line).await;
    }

    /// Per session: every PDU handed over came out once, deletes followed acks, the
    /// driver wrote nothing malformed.
    fn check(&mut self) {
        let mut fails: Vec<(Option<usize>, String)> = Vec::new();
        {
            let st = lock(&self.script.state);
            let mine: Vec<&Entry> = st
                .log
                .iter()
                .filter(|e| e.session() == self.session)
                .collect();
            let mut handed: HashMap<(Kind, String, Option<u32>), (usize, usize)> = HashMap::new();
            for e in &mine {
                if let Entry::Handed {
                    hex,
                    index,
                    stat,
                    line,
                    ..
                } = e
                {
                    let kind = match (mti(hex), stat) {
                        (_, Some(2 | 3)) => continue,
                        (Some(0), _) => Kind::Sms,
                        (Some(2), _) => Kind::Report,
                        _ => continue,
                    };
                    handed
                        .entry((kind, hex.clone(), *index))
                        .or_insert((0, *line))
                        .0 += 1;
                }
            }
            let mut out: HashMap<(Kind, String, Option<u32>), usize> = HashMap::new();
            for g in &self.got {
                *out.entry((g.kind, g.hex.clone(), source_index(&g.source)))
                    .or_default() += 1;
            }
            for ((kind, hex, index), (count, line)) in &handed {
                let n = out.get(&(*kind, hex.clone(), *index)).copied().unwrap_or(0);
                // A report that does not decode is left on the modem (counted in EXPECT).
                if n != *count && !(*kind == Kind::Report && n == 0) {
                    fails.push((
                        Some(*line),
                        format!("{kind:?} {} (index {index:?}) handed over {count} times, came out {n} times", short(hex)),
                    ));
                }
            }
            for ((kind, hex, index), n) in &out {
                if !handed.contains_key(&(*kind, hex.clone(), *index)) {
                    fails.push((None, format!("{n} {kind:?} event(s) for {} (index {index:?}), which the modem never handed over", short(hex))));
                }
            }
            let handed_at = |i: u32| {
                mine.iter().rev().find_map(|e| match e {
                    Entry::Handed {
                        index: Some(x),
                        line,
                        ..
                    } if *x == i => Some(*line),
                    _ => None,
                })
            };
            // Every delete follows an acknowledgement of that index.
            let mut acked: HashMap<u32, usize> = HashMap::new();
            for e in &mine {
                match e {
                    Entry::Ack { index: Some(i), .. } => *acked.entry(*i).or_default() += 1,
                    Entry::Command { text, .. } => {
                        if let Some(i) = deleted_index(text) {
                            let left = acked.entry(i).or_default();
                            if *left == 0 {
                                fails.push((
                                    handed_at(i),
                                    format!(
                                        "{text} without an acknowledgement of index {i} before it"
                                    ),
                                ));
                            } else {
                                *left -= 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
            for (session, line, what) in &st.violations {
                if *session == self.session {
                    fails.push((*line, what.clone()));
                }
            }
        }
        for (line, what) in fails {
            self.fail(line, what);
        }
    }
}

async fn run_session(
    script: &Arc<Script>,
    session: usize,
    report: &mut FileReport,
) -> SessionReport {
    {
        let mut st = lock(&script.state);
        st.session = session;
        st.startup = true;
        st.csms = false;
    }
    let name = &script.t.name;
    // A fresh pseudo-terminal per session: nothing left over from the last one.
    let (master, slave) = match SerialStream::pair() {
        Ok(pair) => pair,
        Err(e) => {
            report.failures.push(format!("{name}: no pty: {e}"));
            return SessionReport::default();
        }
    };
    let Some(path) = slave.name() else {
        report
            .failures
            .push(format!("{name}: pty slave has no path"));
        return SessionReport::default();
    };
    // The driver opens the slave by its path (exclusively: this handle holds no lock and
    // is never read). Keeping it open spares the master a hang-up while no driver has the
    // port: after one, tokio-serial's reads of the master spin on EAGAIN.
    let (push, pushes) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(master, script.clone(), pushes));
    let push = &push;
    let (tx, rx) = mpsc::channel(4096);
    let config = ModemConfig {
        name: script.t.name.trim_end_matches(".txt").to_string(),
        port: path,
        sweep_interval: Duration::from_secs(3600),
        status_interval: Duration::from_secs(3600),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_secs(3600),
        send_timeout: WAIT,
        ussd_timeout: WAIT,
        ..ModemConfig::default()
    };
    let handle = modem::spawn(config, tx);
    let watch = handle.watch_status();
    let mut run = Run {
        script,
        push,
        report,
        session,
        rx,
        got: Vec::new(),
        states: Vec::new(),
        barriers: 0,
    };
    let mut out = SessionReport::default();
    match run.settle().await {
        Some(settled) => {
            out.settled = state_name(&settled);
            if matches!(settled.state, ModemState::Ready | ModemState::NotRegistered) {
                let sweep = {
                    let st = lock(&script.state);
                    st.log.iter().find_map(|e| match e {
                        Entry::Command {
                            session: s,
                            exchange: Some(x),
                            text,
                            ..
                        } if *s == session && text.eq_ignore_ascii_case("AT+CMGL=4") => {
                            Some(script.t.exchanges[*x].line)
                        }
                        _ => None,
                    })
                };
                run.sync(sweep).await;
                if session == 0 {
                    run.act(&handle).await;
                }
            }
        }
        None => {
            let now = handle.status().await;
            run.fail(
                None,
                format!(
                    "the driver did not settle within 20 s (state {})",
                    state_name(&now)
                ),
            );
            out.settled = "none".into();
        }
    }
    let end = handle.status().await;
    out.end = state_name(&end);
    out.profile = end.profile.clone().unwrap_or_default();
    if timeout(WAIT, handle.shutdown()).await.is_err() {
        run.fail(None, "the modem task did not stop within 20 s");
    }
    if watch.borrow().state != ModemState::Stopped {
        run.fail(
            None,
            "the modem task ended abnormally (it did not report stopped)",
        );
    }
    let _ = push.send(Push::End);
    if timeout(WAIT, server).await.is_err() {
        run.fail(None, "the scripted modem did not stop within 20 s");
    }
    drop(slave);
    run.drain();
    run.check();
    out.received = run.got.iter().filter(|g| g.kind == Kind::Sms).count();
    out.reports = run.got.iter().filter(|g| g.kind == Kind::Report).count();
    out.report_refs = run.got.iter().filter_map(|g| g.reference).collect();
    {
        let st = lock(&script.state);
        out.commands = st
            .log
            .iter()
            .filter(|e| {
                matches!(e, Entry::Command { session: s, rule, .. } if *s == session && *rule != Rule::Barrier)
            })
            .count();
    }
    out
}

async fn replay(name: String, text: String, expect: &'static Expect) -> FileReport {
    let t = parse(&name, &text);
    let mut report = FileReport {
        name: name.clone(),
        exchanges: t.exchanges.len(),
        ..FileReport::default()
    };
    let Some(profile) = Profile::by_name(expect.profile) else {
        report
            .failures
            .push(format!("{name}: no profile {}", expect.profile));
        return report;
    };
    let script = Arc::new(Script {
        t,
        expect,
        profile_commands: profile.init_commands,
        state: Mutex::new(State::default()),
    });
    for session in 0..MAX_SESSIONS {
        let s = run_session(&script, session, &mut report).await;
        report.sessions.push(s);
        let st = lock(&script.state);
        let more = st.startup_keys.iter().any(|k| {
            st.uses.get(k).copied().unwrap_or(0) < st.candidates.get(k).copied().unwrap_or(0)
        });
        if !more {
            break;
        }
    }
    compare(&script, &mut report);
    report
}

/// The file's results against [`EXPECT`].
fn compare(script: &Script, report: &mut FileReport) {
    let expect = script.expect;
    let name = &script.t.name;
    let st = lock(&script.state);
    report.used = st.used.len();
    for e in &st.log {
        if let Entry::Command { rule, .. } = e {
            *report.rules.entry(rule.short()).or_default() += 1;
        }
    }
    let settled: Vec<&str> = report.sessions.iter().map(|s| s.settled.as_str()).collect();
    if settled != expect.states {
        report.failures.push(format!(
            "{name}: sessions settled in {settled:?}, expected {:?}",
            expect.states
        ));
    }
    let received: Vec<usize> = report.sessions.iter().map(|s| s.received).collect();
    if received != expect.received {
        report.failures.push(format!(
            "{name}: PDUs received per session {received:?}, expected {:?}",
            expect.received
        ));
    }
    let reports: Vec<usize> = report.sessions.iter().map(|s| s.reports).collect();
    if reports != expect.reports {
        report.failures.push(format!(
            "{name}: status reports per session {reports:?}, expected {:?}",
            expect.reports
        ));
    }
    let refs = report.sessions.first().map(|s| s.report_refs.clone());
    if refs.as_deref().unwrap_or_default() != expect.report_refs {
        report.failures.push(format!(
            "{name}: status report references {refs:?}, expected {:?}",
            expect.report_refs
        ));
    }
    for s in &report.sessions {
        if s.profile != expect.profile {
            report.failures.push(format!(
                "{name}: profile {:?}, expected {:?} from AT+CGMI/AT+CGMM",
                s.profile, expect.profile
            ));
        }
    }
    let shown: HashMap<usize, &String> = report.registration.iter().map(|(l, s)| (*l, s)).collect();
    for (line, want) in expect.registration {
        match (shown.get(line), want) {
            (None, _) => report.failures.push(format!(
                "{name}:{line}: no registration line was pushed here"
            )),
            (Some(got), Some(want)) if got.as_str() != *want => report.failures.push(format!(
                "{name}:{line}: after this registration line the driver is {got}, expected {want}"
            )),
            _ => {}
        }
    }
    for (line, state) in &report.registration {
        if !expect.registration.iter().any(|(l, _)| l == line) {
            report.failures.push(format!(
                "{name}:{line}: registration line left the driver {state}; add it to EXPECT"
            ));
        }
    }
    let first: Vec<&str> = st
        .log
        .iter()
        .filter(|e| e.session() == 0)
        .filter_map(Entry::command)
        .collect();
    let mut at = 0;
    for want in expect.must_send {
        match first[at..].iter().position(|c| c.eq_ignore_ascii_case(want)) {
            Some(p) => at += p + 1,
            None => report.failures.push(format!(
                "{name}: the first session did not send {want} (in order after the ones before it in EXPECT)"
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transcript_drives_the_real_driver_to_a_sensible_end() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        lock(&PANICS).push(info.to_string());
        default_hook(info);
    }));

    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "found {} transcripts", files.len());
    let mut set = JoinSet::new();
    let mut missing = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(expect) = EXPECT.iter().find(|e| e.file == name) else {
            missing.push(name);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("transcript readable");
        set.spawn(replay(name, text, expect));
    }
    assert!(
        missing.is_empty(),
        "transcripts without an entry in EXPECT: {missing:?}"
    );
    for e in EXPECT {
        assert!(
            files.iter().any(|f| f.ends_with(e.file)),
            "EXPECT names {}, which is not in the corpus",
            e.file
        );
    }
    let mut reports = Vec::new();
    while let Some(done) = set.join_next().await {
        reports.push(done.expect("a replay task panicked"));
    }
    reports.sort_by(|a, b| a.name.cmp(&b.name));

    println!(
        "\n{:<38} {:>4} {:>5} {:>7} {:>4} {:>4} {:>4} {:>4}  {:<9} states",
        "transcript", "runs", "cmds", "shown", "pdus", "rpts", "send", "ussd", "profile"
    );
    for r in &reports {
        let cmds: usize = r.sessions.iter().map(|s| s.commands).sum();
        let pdus: usize = r.sessions.iter().map(|s| s.received).sum();
        let rpts: usize = r.sessions.iter().map(|s| s.reports).sum();
        let states: Vec<String> = r
            .sessions
            .iter()
            .map(|s| {
                if s.settled == s.end {
                    s.settled.clone()
                } else {
                    format!("{}→{}", s.settled, s.end)
                }
            })
            .collect();
        println!(
            "{:<38} {:>4} {:>5} {:>3}/{:<3} {:>4} {:>4} {:>4} {:>4}  {:<9} {}",
            r.name,
            r.sessions.len(),
            cmds,
            r.used,
            r.exchanges,
            pdus,
            rpts,
            r.sends,
            r.ussd,
            r.sessions.first().map(|s| s.profile.as_str()).unwrap_or(""),
            states.join(", ")
        );
    }
    let mut rules: Vec<(&str, usize)> = reports
        .iter()
        .flat_map(|r| r.rules.iter().map(|(k, v)| (*k, *v)))
        .fold(HashMap::new(), |mut acc: HashMap<&str, usize>, (k, v)| {
            *acc.entry(k).or_default() += v;
            acc
        })
        .into_iter()
        .collect();
    rules.sort();
    println!("\ncommands answered by rule: {rules:?}");
    for r in &reports {
        for (line, state) in &r.registration {
            println!("{}:{line}: registration line → {state}", r.name);
        }
        for note in &r.notes {
            println!("{note}");
        }
    }

    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    let panics = lock(&PANICS).clone();
    assert!(panics.is_empty(), "panics: {panics:#?}");
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
