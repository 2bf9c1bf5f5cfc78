//! The three TPDUs a terminal sees (SMS-DELIVER, SMS-SUBMIT, SMS-STATUS-REPORT) and how
//! they are read from octets (TS 23.040 §9.2.2).

use serde::{Serialize, Serializer};

use super::address::{self, Address};
use super::dcs::{Alphabet, Dcs, Mwi, MwiKind, MwiSource};
use super::error::{PduError, Warning};
use super::gsm7;
use super::timestamp::{Timestamp, Validity};
use super::udh::{Concat, Udh};
use super::DecodeOptions;

fn ser_hex<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::to_hex(data))
}

/// An SMS-DELIVER: a message received from the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deliver {
    pub sender: Address,
    pub pid: u8,
    pub dcs: Dcs,
    pub timestamp: Timestamp,
    pub udh: Option<Udh>,
    /// The text, `None` for 8-bit data and compressed user data.
    pub text: Option<String>,
    /// User data octets after the UDH (packed septets for GSM 7-bit).
    #[serde(rename = "data_hex", serialize_with = "ser_hex")]
    pub data: Vec<u8>,
    /// TP-UDL as received (septets for GSM 7-bit, octets otherwise; UDH included).
    pub udl: u8,
    /// TP-MMS clear: the service centre has more messages for this terminal.
    pub more_messages: bool,
    pub reply_path: bool,
    pub status_report_indication: bool,
    /// TP-LP (loop prevention).
    pub loop_prevention: bool,
    /// Message waiting indication from the DCS, the UDH or a CPHS originator.
    pub mwi: Option<Mwi>,
}

impl Deliver {
    /// The concatenation element, if the message is one part of several.
    pub fn concat(&self) -> Option<Concat> {
        self.udh.as_ref().and_then(Udh::concat)
    }

    /// `Some(n)` for a "replace short message type n" TP-PID (0x41-0x47).
    pub fn replace_type(&self) -> Option<u8> {
        (0x41..=0x47).contains(&self.pid).then_some(self.pid - 0x40)
    }

    /// Message class 0-3 from the DCS.
    pub fn class(&self) -> Option<u8> {
        self.dcs.class
    }

    /// An e-mail relayed by an e-mail gateway (TS 23.040 §3.8): the text starts with the
    /// sender's address, followed by a space (or `(subject)`/`#subject#`) and the body.
    /// Returned when TP-PID says "Internet electronic mail" (0x32) or the originator is a
    /// short number of at most 4 digits, as gateways use.
    pub fn email(&self) -> Option<EmailGateway> {
        let text = self.text.as_deref()?;
        let short = self.sender.ton != address::TypeOfNumber::Alphanumeric
            && self.sender.digits().len() <= 4;
        if self.pid != 0x32 && !short {
            return None;
        }
        let end = text.find([' ', '(', '#']).unwrap_or(text.len());
        let from = &text[..end];
        if !from.contains('@') || from.starts_with('@') {
            return None;
        }
        let rest = &text[end..];
        // Android's gateway format separates with " /" as well as " ".
        let body = rest
            .strip_prefix(" /")
            .or_else(|| rest.strip_prefix(' '))
            .unwrap_or(rest);
        Some(EmailGateway {
            from: from.to_string(),
            body: body.to_string(),
        })
    }
}

/// The parts of a text relayed by an e-mail gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailGateway {
    pub from: String,
    pub body: String,
}

/// An SMS-SUBMIT: a message a terminal sends (as stored on a SIM, or as we build it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submit {
    /// TP-MR.
    pub message_reference: u8,
    pub recipient: Address,
    pub pid: u8,
    pub dcs: Dcs,
    pub validity: Option<Validity>,
    pub udh: Option<Udh>,
    pub text: Option<String>,
    #[serde(rename = "data_hex", serialize_with = "ser_hex")]
    pub data: Vec<u8>,
    pub udl: u8,
    pub reject_duplicates: bool,
    pub reply_path: bool,
    pub status_report_request: bool,
}

impl Submit {
    pub fn concat(&self) -> Option<Concat> {
        self.udh.as_ref().and_then(Udh::concat)
    }
}

/// TP-ST (TS 23.040 §9.2.3.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u8);

/// What a TP-ST value means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCategory {
    /// 0x00-0x1F: the transaction is complete (delivered, or replaced).
    Completed,
    /// 0x20-0x3F: the service centre is still trying.
    TemporaryStillTrying,
    /// 0x40-0x5F: permanent error, the service centre gave up.
    PermanentError,
    /// 0x60-0x7F: temporary error, the service centre gave up.
    TemporaryGaveUp,
}

impl Status {
    pub fn code(self) -> u8 {
        self.0
    }

    pub fn category(self) -> StatusCategory {
        match self.0 & 0x7F {
            0x00..=0x1F => StatusCategory::Completed,
            0x20..=0x3F => StatusCategory::TemporaryStillTrying,
            0x40..=0x5F => StatusCategory::PermanentError,
            _ => StatusCategory::TemporaryGaveUp,
        }
    }

    /// Received by the recipient (0x00), forwarded but unconfirmed (0x01) or replaced
    /// (0x02); the other values of 0x03-0x1F are reserved/SC-specific "completed" codes.
    pub fn is_delivered(self) -> bool {
        self.0 <= 0x02
    }

    /// The meaning TS 23.040 §9.2.3.15 gives the value.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x00 => "short message received by the SME",
            0x01 => "short message forwarded by the SC to the SME but the SC is unable to confirm delivery",
            0x02 => "short message replaced by the SC",
            0x03..=0x0F => "reserved (transaction completed)",
            0x10..=0x1F => "SC specific (transaction completed)",
            0x20 => "congestion (still trying)",
            0x21 => "SME busy (still trying)",
            0x22 => "no response from SME (still trying)",
            0x23 => "service rejected (still trying)",
            0x24 => "quality of service not available (still trying)",
            0x25 => "error in SME (still trying)",
            0x26..=0x2F => "reserved (still trying)",
            0x30..=0x3F => "SC specific (still trying)",
            0x40 => "remote procedure error",
            0x41 => "incompatible destination",
            0x42 => "connection rejected by SME",
            0x43 => "not obtainable",
            0x44 => "quality of service not available",
            0x45 => "no interworking available",
            0x46 => "SM validity period expired",
            0x47 => "SM deleted by originating SME",
            0x48 => "SM deleted by SC administration",
            0x49 => "SM does not exist",
            0x4A..=0x4F => "reserved (permanent error)",
            0x50..=0x5F => "SC specific (permanent error)",
            0x60 => "congestion (SC gave up)",
            0x61 => "SME busy (SC gave up)",
            0x62 => "no response from SME (SC gave up)",
            0x63 => "service rejected (SC gave up)",
            0x64 => "quality of service not available (SC gave up)",
            0x65 => "error in SME (SC gave up)",
            0x66..=0x6F => "reserved (SC gave up)",
            0x70..=0x7F => "SC specific (SC gave up)",
            _ => "reserved",
        }
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Status", 4)?;
        st.serialize_field("code", &self.0)?;
        st.serialize_field("meaning", self.meaning())?;
        st.serialize_field("category", &self.category())?;
        st.serialize_field("delivered", &self.is_delivered())?;
        st.end()
    }
}

/// An SMS-STATUS-REPORT: the fate of a message we sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// TP-MR of the SMS-SUBMIT this reports on.
    pub message_reference: u8,
    pub recipient: Address,
    /// TP-SCTS: when the service centre received the SMS-SUBMIT.
    pub timestamp: Timestamp,
    /// TP-DT: when the final status (or the last attempt) happened.
    pub discharge_time: Timestamp,
    pub status: Status,
    pub pid: Option<u8>,
    pub dcs: Option<Dcs>,
    pub udh: Option<Udh>,
    pub text: Option<String>,
    #[serde(rename = "data_hex", serialize_with = "ser_hex")]
    pub data: Vec<u8>,
    pub more_messages: bool,
    /// TP-SRQ: the report is about an SMS-COMMAND (true) or an SMS-SUBMIT (false).
    pub for_command: bool,
}

/// A decoded TPDU.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Tpdu {
    Deliver(Deliver),
    Submit(Submit),
    StatusReport(StatusReport),
}

/// A cursor over the PDU octets that turns running out into a typed error.
pub(crate) struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let b = self.take(1, field)?;
        Ok(b[0])
    }

    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PduError> {
        match self.buf.get(self.pos..self.pos + n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(PduError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available: self.buf.len().saturating_sub(self.pos),
            }),
        }
    }

    pub fn array7(&mut self, field: &'static str) -> Result<[u8; 7], PduError> {
        let s = self.take(7, field)?;
        let mut a = [0u8; 7];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        r
    }

    /// A TP address field: length in semi-octets, TOA, value.
    pub fn tp_address(&mut self, field: &'static str) -> Result<Address, PduError> {
        let at = self.pos;
        let len = self.u8(field)?;
        if len > 20 {
            return Err(PduError::AddressTooLong {
                field,
                offset: at,
                length: len,
            });
        }
        let toa = self.u8(field)?;
        let value = self.take(usize::from(len).div_ceil(2), field)?;
        Ok(address::decode_value(toa, value, Some(usize::from(len))))
    }
}

/// What the user data decoded to.
pub(crate) struct UserData {
    pub udl: u8,
    pub udh: Option<Udh>,
    pub text: Option<String>,
    pub data: Vec<u8>,
}

/// Reads TP-UDL and TP-UD (TS 23.040 §9.2.3.16, §9.2.3.24).
pub(crate) fn read_user_data(
    r: &mut Reader<'_>,
    udhi: bool,
    dcs: &Dcs,
    dcs_offset: usize,
    opts: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<UserData, PduError> {
    let udl = r.u8("TP-UDL")?;
    let ud_offset = r.pos;
    let present = r.rest();
    let septets = dcs.is_septets();
    let declared = if septets {
        (usize::from(udl) * 7).div_ceil(8)
    } else {
        usize::from(udl)
    };
    let ud = if present.len() < declared {
        warnings.push(Warning::UserDataTruncated {
            offset: ud_offset,
            declared,
            available: present.len(),
        });
        present
    } else {
        &present[..declared]
    };
    if dcs.alphabet == Alphabet::Reserved {
        warnings.push(Warning::ReservedDcs {
            offset: dcs_offset,
            dcs: dcs.raw,
        });
    }

    // The header.
    let mut udh = None;
    let mut body_start = 0usize; // octet where the body starts
    if udhi {
        match ud.first() {
            None => warnings.push(Warning::UdhiWithoutHeader { offset: ud_offset }),
            Some(&udhl) => {
                let h_end = 1 + usize::from(udhl);
                let fits_udl = if septets {
                    (h_end * 8).div_ceil(7) <= usize::from(udl)
                } else {
                    h_end <= usize::from(udl)
                };
                let Some(h) = ud.get(1..h_end).filter(|_| fits_udl) else {
                    return Err(PduError::UdhOverrun {
                        offset: ud_offset,
                        udh_octets: h_end,
                        ud_octets: if fits_udl { ud.len() } else { declared },
                    });
                };
                udh = Some(Udh::parse(h, ud_offset + 1, warnings));
                body_start = h_end;
            }
        }
    }

    let body = ud.get(body_start..).unwrap_or(&[]);
    let text = if dcs.compressed {
        None
    } else if septets {
        let skip_septets = (body_start * 8).div_ceil(7);
        let want = usize::from(udl).saturating_sub(skip_septets);
        let mut codes = Vec::with_capacity(want);
        gsm7::unpack_into(ud, skip_septets * 7, want, &mut codes);
        let mut tables = opts.tables;
        if let Some(h) = &udh {
            if let Some(l) = h.locking_shift() {
                tables.locking = l;
            }
            if let Some(l) = h.single_shift() {
                tables.single = l;
            }
        }
        let mut s = String::with_capacity(codes.len());
        gsm7::decode_septets(&codes, tables, &mut s, warnings);
        Some(s)
    } else if dcs.alphabet == Alphabet::Ucs2 {
        Some(decode_ucs2(body, ud_offset + body_start, warnings))
    } else {
        None
    };
    Ok(UserData {
        udl,
        udh,
        text,
        data: body.to_vec(),
    })
}

/// UTF-16BE to a string; a lone trailing octet becomes the high octet of a character
/// (with a warning), an unpaired surrogate U+FFFD (with a warning).
pub(crate) fn decode_ucs2(body: &[u8], offset: usize, warnings: &mut Vec<Warning>) -> String {
    let mut s = String::with_capacity(body.len());
    let odd = body.len() % 2 == 1;
    if odd {
        warnings.push(Warning::OddUcs2Length { offset });
    }
    let units = body.chunks(2).map(|c| match *c {
        [a, b] => u16::from_be_bytes([a, b]),
        [a] => u16::from_be_bytes([a, 0]),
        _ => 0xFFFD,
    });
    let mut bad = false;
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => s.push(c),
            Err(_) => {
                bad = true;
                s.push('\u{FFFD}');
            }
        }
    }
    if bad {
        warnings.push(Warning::UnpairedSurrogate { offset });
    }
    s
}

/// Decodes a TPDU from `r` (positioned at the first octet). `mobile_originated` picks
/// SMS-SUBMIT for TP-MTI 01 (it always does: MTI 01 in the MS-to-SC direction is SUBMIT,
/// and terminals only store SUBMITs), SMS-STATUS-REPORT for 10.
pub(crate) fn decode_tpdu(
    r: &mut Reader<'_>,
    opts: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Tpdu, PduError> {
    let fo_at = r.pos;
    let fo = r.u8("first octet")?;
    match fo & 0x03 {
        0 => decode_deliver(r, fo, opts, warnings).map(Tpdu::Deliver),
        1 => decode_submit(r, fo, opts, warnings).map(Tpdu::Submit),
        2 => decode_status_report(r, fo, opts, warnings).map(Tpdu::StatusReport),
        _ => Err(PduError::ReservedMessageType {
            offset: fo_at,
            first_octet: fo,
        }),
    }
}

fn decode_deliver(
    r: &mut Reader<'_>,
    fo: u8,
    opts: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Deliver, PduError> {
    let sender = r.tp_address("TP-OA")?;
    let pid = r.u8("TP-PID")?;
    let dcs_at = r.pos;
    let dcs = Dcs::from_octet(r.u8("TP-DCS")?);
    let timestamp = Timestamp::from_octets(&r.array7("TP-SCTS")?);
    let ud = read_user_data(r, fo & 0x40 != 0, &dcs, dcs_at, opts, warnings)?;
    let mwi = dcs
        .mwi
        .or_else(|| ud.udh.as_ref().and_then(Udh::mwi))
        .or_else(|| cphs_mwi(&sender));
    Ok(Deliver {
        sender,
        pid,
        dcs,
        timestamp,
        udh: ud.udh,
        text: ud.text,
        data: ud.data,
        udl: ud.udl,
        more_messages: fo & 0x04 == 0,
        reply_path: fo & 0x80 != 0,
        status_report_indication: fo & 0x20 != 0,
        loop_prevention: fo & 0x08 != 0,
        mwi,
    })
}

/// CPHS 4.2 voicemail indication: a 4-semi-octet alphanumeric originator whose first
/// septet is 0x10 (clear) or 0x11 (set), second 0x00 (line 1) or 0x01 (line 2).
fn cphs_mwi(sender: &Address) -> Option<Mwi> {
    if sender.ton != address::TypeOfNumber::Alphanumeric {
        return None;
    }
    let mut it = sender.number.chars();
    let (a, b) = (it.next()?, it.next()?);
    if it.next().is_some() || !matches!(b, '@' | '£') {
        return None;
    }
    let active = match a {
        '_' => true,  // septet 0x11
        'Δ' => false, // septet 0x10
        _ => return None,
    };
    Some(Mwi {
        active,
        kind: MwiKind::Voicemail,
        store: true,
        count: None,
        source: MwiSource::Cphs,
    })
}

fn decode_submit(
    r: &mut Reader<'_>,
    fo: u8,
    opts: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Submit, PduError> {
    let message_reference = r.u8("TP-MR")?;
    let recipient = r.tp_address("TP-DA")?;
    let pid = r.u8("TP-PID")?;
    let dcs_at = r.pos;
    let dcs = Dcs::from_octet(r.u8("TP-DCS")?);
    let validity = match (fo >> 3) & 0x03 {
        0 => None,
        2 => Some(Validity::Relative(r.u8("TP-VP")?)),
        3 => Some(Validity::Absolute(Timestamp::from_octets(
            &r.array7("TP-VP")?,
        ))),
        _ => Some(Validity::Enhanced(r.array7("TP-VP")?)),
    };
    let ud = read_user_data(r, fo & 0x40 != 0, &dcs, dcs_at, opts, warnings)?;
    Ok(Submit {
        message_reference,
        recipient,
        pid,
        dcs,
        validity,
        udh: ud.udh,
        text: ud.text,
        data: ud.data,
        udl: ud.udl,
        reject_duplicates: fo & 0x04 != 0,
        reply_path: fo & 0x80 != 0,
        status_report_request: fo & 0x20 != 0,
    })
}

fn decode_status_report(
    r: &mut Reader<'_>,
    fo: u8,
    opts: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<StatusReport, PduError> {
    let message_reference = r.u8("TP-MR")?;
    let recipient = r.tp_address("TP-RA")?;
    let timestamp = Timestamp::from_octets(&r.array7("TP-SCTS")?);
    let discharge_time = Timestamp::from_octets(&r.array7("TP-DT")?);
    let status = Status(r.u8("TP-ST")?);
    let mut report = StatusReport {
        message_reference,
        recipient,
        timestamp,
        discharge_time,
        status,
        pid: None,
        dcs: None,
        udh: None,
        text: None,
        data: Vec::new(),
        more_messages: fo & 0x04 == 0,
        for_command: fo & 0x20 != 0,
    };
    // TP-PI and what it announces are optional (§9.2.3.27). 0xFF is SIM record padding,
    // as are PIs with reserved bits set: no parameters.
    let pi_at = r.pos;
    let Ok(pi) = r.u8("TP-PI") else {
        return Ok(report);
    };
    if pi & 0x78 != 0 {
        return Ok(report);
    }
    let optional = (|| -> Result<(), PduError> {
        if pi & 0x01 != 0 {
            report.pid = Some(r.u8("TP-PID")?);
        }
        let dcs_at = r.pos;
        if pi & 0x02 != 0 {
            report.dcs = Some(Dcs::from_octet(r.u8("TP-DCS")?));
        }
        if pi & 0x04 != 0 {
            let dcs = report.dcs.unwrap_or_else(|| Dcs::from_octet(0));
            let ud = read_user_data(r, fo & 0x40 != 0, &dcs, dcs_at, opts, warnings)?;
            report.udh = ud.udh;
            report.text = ud.text;
            report.data = ud.data;
        }
        Ok(())
    })();
    if optional.is_err() {
        warnings.push(Warning::ParametersTruncated { offset: pi_at });
    }
    Ok(report)
}
