//! SMS-STATUS-REPORT PDUs to the fields of a [`super::StatusReportEvent`]. Pure.

use serde::Serialize;

use crate::pdu::{self, StatusCategory, Timestamp, Tpdu};

/// What a status report says about the message, for an outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// TP-ST 0x00-0x1F: the transaction completed (received, forwarded, replaced).
    Delivered,
    /// TP-ST 0x20-0x3F: the service centre is still trying; another report follows.
    Pending,
    /// TP-ST 0x40-0x7F: permanent error, or the service centre gave up.
    Failed,
}

impl ReportOutcome {
    pub fn of(status: pdu::Status) -> ReportOutcome {
        match status.category() {
            StatusCategory::Completed => ReportOutcome::Delivered,
            StatusCategory::TemporaryStillTrying => ReportOutcome::Pending,
            StatusCategory::PermanentError | StatusCategory::TemporaryGaveUp => {
                ReportOutcome::Failed
            }
        }
    }
}

/// The fields of a decoded status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedReport {
    pub message_reference: u8,
    pub recipient: String,
    pub status: pdu::Status,
    pub outcome: ReportOutcome,
    pub discharge_time: Option<String>,
    pub submitted_time: Option<String>,
}

/// UTC ISO-8601 with milliseconds, as everywhere in simgate; `None` for a time stamp
/// that is not a real date.
fn utc(ts: &Timestamp) -> Option<String> {
    ts.to_datetime().map(|dt| {
        dt.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    })
}

/// Decodes a status report given as hex with its SMSC prefix (as `AT+CMGR` and `+CDS`
/// give it). An error says why it is not one.
pub fn decode_status_report(hex: &str) -> Result<DecodedReport, String> {
    let decoded = pdu::decode_hex(hex, true).map_err(|e| e.to_string())?;
    match decoded.tpdu {
        Tpdu::StatusReport(r) => Ok(DecodedReport {
            message_reference: r.message_reference,
            recipient: r.recipient.to_string(),
            status: r.status,
            outcome: ReportOutcome::of(r.status),
            discharge_time: utc(&r.discharge_time),
            submitted_time: utc(&r.timestamp),
        }),
        Tpdu::Deliver(_) => Err("an SMS-DELIVER, not a status report".into()),
        Tpdu::Submit(_) => Err("an SMS-SUBMIT, not a status report".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_status_reports_decode() {
        // python-gsmmodem-generic-fixtures.txt: read after `+CDSI: "SM",3`, `+CMGS: 183`.
        let r = decode_status_report(
            "07917248014000F506B70AA18092020000317071518590803170715185418000",
        )
        .expect("decodes");
        assert_eq!(r.message_reference, 0xB7);
        assert_eq!(r.message_reference, 183);
        assert_eq!(r.recipient, "0829200000");
        assert_eq!(r.status.code(), 0);
        assert_eq!(r.outcome, ReportOutcome::Delivered);
        assert_eq!(
            r.discharge_time.as_deref(),
            Some("2013-07-17T13:58:14.000Z")
        );
        // modemmanager-device-replies.txt: `+CDS: 24`.
        let r = decode_status_report(
            "07914356060013F1065A098136395339F6219011700463802190117004638030",
        )
        .expect("decodes");
        assert_eq!(r.message_reference, 0x5A);
        assert_eq!(r.status.code(), 0x30);
        assert_eq!(r.outcome, ReportOutcome::Pending);
        // unknown-models-gammu-fixtures.txt: `+CDS:25`.
        let r = decode_status_report(
            "07914875215652F006360B914892347527F3817003018104808170030181448000",
        )
        .expect("decodes");
        assert_eq!(r.message_reference, 0x36);
        assert_eq!(r.recipient, "+84294357723");
        assert_eq!(r.outcome, ReportOutcome::Delivered);
    }

    #[test]
    fn what_is_not_a_report_is_an_error() {
        assert!(decode_status_report("").is_err());
        assert!(decode_status_report("zz").is_err());
        assert!(decode_status_report(
            "07916163838428F9040B916121021021F700005190514164220A23C4B0BCFD5E8740C4B0BCFD5E83C26E3248196687C9A0301D440DBBC3677918"
        )
        .is_err());
        // qualcomm-m6280-zte.txt: "a ZTE modem that seems to be broken" (SMSC length
        // wrong): an error, never a panic.
        let _ =
            decode_status_report("0297F1061C0F910B487228297020F5317062419272803170624192138000");
    }

    #[test]
    fn outcomes_by_category() {
        assert_eq!(
            ReportOutcome::of(pdu::Status(0x00)),
            ReportOutcome::Delivered
        );
        assert_eq!(ReportOutcome::of(pdu::Status(0x21)), ReportOutcome::Pending);
        assert_eq!(ReportOutcome::of(pdu::Status(0x46)), ReportOutcome::Failed);
        assert_eq!(ReportOutcome::of(pdu::Status(0x62)), ReportOutcome::Failed);
    }
}
