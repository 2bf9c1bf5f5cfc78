//! Model profiles: what differs between manufacturers, chosen from `AT+CGMI`/`AT+CGMM`
//! or forced by name; and [`probe`], which identifies the modem on a port.

use std::time::Duration;

use serde::Serialize;

use super::link::{Link, LinkError};
use crate::at::parse::single_value;
use crate::at::Command;

/// What the driver does differently for one family of modems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// `huawei`, `quectel`, ... (what [`super::ModemConfig::profile`] names).
    pub name: &'static str,
    /// Substrings of `AT+CGMI` (or `AT+CGMM`), lower case, that select this profile.
    #[serde(skip)]
    pub matches: &'static [&'static str],
    /// The command that answers the SIM's ICCID on this family; the others are tried
    /// after it when it fails.
    pub iccid_command: &'static str,
    /// Sent after `AT+CMEE=1`, before the configured `init_commands`; failures are
    /// logged, not fatal.
    pub init_commands: &'static [&'static str],
    /// `+CMT` direct delivery needs `AT+CSMS=1` and `AT+CNMA` after the commit, or the
    /// network delivers it again (same as [`super::ModemConfig::ack_direct`]).
    pub cmt_needs_cnma: bool,
    /// Storage used when [`super::ModemConfig::storage`] is empty.
    pub storage: &'static str,
    /// `AT+CNMI` parameters tried right after the configured ones.
    pub cnmi: Option<&'static str>,
    /// Where status reports really are when `+CDSI` names a storage that holds nothing
    /// at that index (Quectel EC25 announces `"SM"`, stores in `"SR"`).
    pub status_report_storage: Option<&'static str>,
    /// Known quirks, for operators (status page, logs) and for the code that handles them.
    pub quirks: &'static [&'static str],
}

const ICCID_COMMANDS: &[&str] = &["AT+CCID", "AT^ICCID?", "AT+QCCID", "AT+ICCID"];

/// Every profile, generic last.
pub static PROFILES: &[Profile] = &[
    Profile {
        name: "huawei",
        matches: &["huawei"],
        iccid_command: "AT^ICCID?",
        // ^CURC=0 silences ^RSSI/^MODE/^SRVST/^DSFLOWRPT; ^USSDMODE=0 lets AT+CUSD take
        // and give text (with the default 1, AT+CUSD=1,... answers ERROR).
        init_commands: &["AT^CURC=0", "AT^USSDMODE=0"],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &[
            "periodic ^RSSI, ^MODE, ^SRVST, ^BOOT URCs unless AT^CURC=0",
            "AT+CUSD=1 answers ERROR while ^USSDMODE=1 (E1752)",
            "USSD replies as hex of packed GSM 7-bit septets (E160)",
            "COMMAND NOT SUPPORT / TOO MANY PARAMETERS instead of ERROR",
            "URCs right before the echo of a command (E1752)",
        ],
    },
    Profile {
        name: "quectel",
        matches: &["quectel"],
        iccid_command: "AT+QCCID",
        // URCs on the AT port we read, not the modem port nobody opens.
        init_commands: &["AT+QURCCFG=\"urcport\",\"usbat\""],
        cmt_needs_cnma: true,
        storage: "SM",
        cnmi: None,
        status_report_storage: Some("SR"),
        quirks: &[
            "+CDSI announces \"SM\" but the report is stored in \"SR\" (EC25)",
            "AT+CGMI answers three lines (M95)",
            "USSD as UCS2 hex with DCS 15 when AT+CSCS=\"UCS2\" (M35)",
        ],
    },
    Profile {
        name: "simcom",
        matches: &["simcom", "sim800", "sim900", "sim7600"],
        iccid_command: "AT+CCID",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        // SIM800 refuses <ds>=2; status reports come as +CDS with <ds>=1.
        cnmi: Some("2,1,0,1,0"),
        status_report_storage: None,
        quirks: &[
            "AT+CNMI refuses <ds>=2 (SIM800): status reports as +CDS",
            "textual +CME ERROR even with AT+CMEE=1 on some firmware ('SIM busy ')",
            "RDY, +CPIN: READY, Call Ready, SMS Ready after power-up",
        ],
    },
    Profile {
        name: "zte",
        matches: &["zte"],
        iccid_command: "AT+ZGETICCID",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &[
            "+ZDONR/+ZPASR URCs in the middle of AT+CMGS",
            "status reports with a wrong SMSC length and no <stat> (M6280)",
        ],
    },
    Profile {
        name: "sierra",
        matches: &["sierra"],
        iccid_command: "AT!ICCID?",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &["+CREG with <n>=2 answers <lac>,<ci>,<AcT> (312U)"],
    },
    Profile {
        name: "telit",
        matches: &["telit"],
        iccid_command: "AT#CCID",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &[
            "+CMGR with \"\" as <alpha> and CR LF before the PDU (HE910)",
            "USSD as UCS2 with a language prefix (DCS 17) and NUL filler (HE910-D)",
        ],
    },
    Profile {
        name: "wavecom",
        matches: &["wavecom"],
        iccid_command: "AT+CCID",
        // +WIND URCs announce every SIM and network step.
        init_commands: &["AT+WIND=0"],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &[
            "+CPIN: READY without a final OK",
            "leading spaces in AT+CGMI/AT+CGMM answers",
        ],
    },
    Profile {
        name: "siemens",
        matches: &["siemens", "cinterion"],
        iccid_command: "AT^SCID",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: Some("1,1,0,2,1"),
        status_report_storage: None,
        quirks: &["^SYSSTART after power-up"],
    },
    Profile {
        name: "generic",
        matches: &[],
        iccid_command: "AT+CCID",
        init_commands: &[],
        cmt_needs_cnma: false,
        storage: "SM",
        cnmi: None,
        status_report_storage: None,
        quirks: &[],
    },
];

impl Profile {
    /// The profile called `name` (case-insensitive).
    pub fn by_name(name: &str) -> Option<&'static Profile> {
        PROFILES
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The profile for a manufacturer and model as `AT+CGMI`/`AT+CGMM` answer them;
    /// `generic` when nothing matches.
    pub fn detect(manufacturer: Option<&str>, model: Option<&str>) -> &'static Profile {
        let text = format!(
            "{} {}",
            manufacturer.unwrap_or_default(),
            model.unwrap_or_default()
        )
        .to_ascii_lowercase();
        PROFILES
            .iter()
            .find(|p| p.matches.iter().any(|m| text.contains(m)))
            .unwrap_or_else(Profile::generic)
    }

    pub fn generic() -> &'static Profile {
        PROFILES
            .last()
            .expect("PROFILES is a non-empty constant ending with generic")
    }

    /// The profile's ICCID command first, then the other common ones.
    pub fn iccid_commands(&self) -> Vec<&'static str> {
        let mut out = vec![self.iccid_command];
        out.extend(ICCID_COMMANDS.iter().filter(|c| **c != self.iccid_command));
        out
    }
}

/// Who answered on a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub port: String,
    pub baud: u32,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    pub imei: Option<String>,
    pub profile: &'static Profile,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot open {port}: {reason}")]
    Open { port: String, reason: String },
    #[error("no answer to AT on {port} at {baud} baud")]
    NoAnswer { port: String, baud: u32 },
    #[error("{port}: {reason}")]
    Io { port: String, reason: String },
}

async fn value(link: &mut Link, text: &str) -> Result<Option<String>, LinkError> {
    let r = link
        .command(Command::new(text).timeout(Duration::from_secs(3)))
        .await?;
    Ok(if r.is_ok() {
        single_value(&r.lines)
    } else {
        None
    })
}

/// Opens `port` at `baud`, checks that a modem answers `AT`, and reads who it is. The
/// port is closed again on return (it opens exclusively: not while a driver has it).
pub async fn probe(port: &str, baud: u32) -> Result<ProbeResult, ProbeError> {
    let io = |e: LinkError| ProbeError::Io {
        port: port.to_string(),
        reason: e.to_string(),
    };
    let mut link = Link::open("probe", port, baud).map_err(|e| ProbeError::Open {
        port: port.to_string(),
        reason: e.to_string(),
    })?;
    link.write_raw(b"\x1b\r").await.map_err(io)?;
    link.settle(super::session::SETTLE_QUIET, super::session::SETTLE_MAX)
        .await
        .map_err(io)?;
    let mut alive = false;
    for attempt in 0..3 {
        match link
            .command(Command::new("AT").timeout(Duration::from_millis(1000)))
            .await
        {
            Ok(r) if r.is_ok() => {
                alive = true;
                if attempt > 0 {
                    link.settle(super::session::SETTLE_QUIET, super::session::SETTLE_MAX)
                        .await
                        .map_err(io)?;
                }
                break;
            }
            Ok(_) | Err(LinkError::Unresponsive(_)) => {}
            Err(e) => return Err(io(e)),
        }
    }
    if !alive {
        return Err(ProbeError::NoAnswer {
            port: port.to_string(),
            baud,
        });
    }
    let _ = value(&mut link, "ATE0").await.map_err(io)?;
    let manufacturer = value(&mut link, "AT+CGMI").await.map_err(io)?;
    let model = value(&mut link, "AT+CGMM").await.map_err(io)?;
    let revision = value(&mut link, "AT+CGMR").await.map_err(io)?;
    let imei = value(&mut link, "AT+CGSN").await.map_err(io)?;
    let profile = Profile::detect(manufacturer.as_deref(), model.as_deref());
    Ok(ProbeResult {
        port: port.to_string(),
        baud,
        manufacturer,
        model,
        revision,
        imei,
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_from_corpus_answers() {
        // AT+CGMI / AT+CGMM answers in ../shared/corpus/at.
        for (cgmi, cgmm, want) in [
            ("huawei", "E1752", "huawei"),
            ("huawei", "K3715", "huawei"),
            ("Quectel_Ltd Quectel_M95 Revision: MTK 0828", "", "quectel"),
            ("SIMCOM_Ltd", "", "simcom"),
            ("ZTE INCORPORATED", "K3565-Z", "zte"),
            ("WAVECOM MODEM", "MULTIBAND  900E  1800", "wavecom"),
            ("Nokia", "Nokia N79", "generic"),
            ("QUALCOMM INCORPORATED", "M6280", "generic"),
            ("Sierra Wireless, Incorporated", "MC7455", "sierra"),
            ("Telit", "HE910", "telit"),
            ("SIEMENS", "MC35i", "siemens"),
        ] {
            assert_eq!(Profile::detect(Some(cgmi), Some(cgmm)).name, want, "{cgmi}");
        }
        assert_eq!(Profile::detect(None, None).name, "generic");
    }

    #[test]
    fn by_name_and_iccid_order() {
        assert_eq!(Profile::by_name("Quectel").map(|p| p.name), Some("quectel"));
        assert!(Profile::by_name("nokia").is_none());
        let q = Profile::by_name("quectel").expect("exists");
        assert_eq!(q.iccid_commands()[0], "AT+QCCID");
        assert_eq!(q.iccid_commands().len(), 4);
        let z = Profile::by_name("zte").expect("exists");
        assert_eq!(z.iccid_commands().len(), 5);
        assert_eq!(Profile::generic().name, "generic");
    }
}
