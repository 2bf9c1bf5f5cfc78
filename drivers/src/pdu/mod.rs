//! SMS PDU codec (3GPP TS 23.040 / TS 23.038): bytes in, values out, no I/O.
//!
//! # Layout
//!
//! - this file: [`decode_hex`], [`decode`], [`decode_with`] and [`Pdu`], the entry points.
//! - `tpdu`: [`Deliver`], [`Submit`], [`StatusReport`] and how they are read.
//! - `address`: [`Address`] (semi-octet digits or GSM 7-bit alphanumeric).
//! - `dcs`: [`Dcs`], [`Alphabet`], message classes and waiting indications ([`Mwi`]).
//! - `timestamp`: [`Timestamp`] (SCTS with its quarter-hour offset) and [`Validity`].
//! - `udh`: the user data header ([`Udh`], [`Concat`], [`Ports`], national language IEs).
//! - `gsm7`: septet packing, the default alphabet, its extension table and the national
//!   language shift tables ([`NationalLanguage`], [`Tables`]); `tables` holds the charts.
//! - `encode`: [`encode_submit`], [`encode_deliver`] and the [`count_segments`] counter.
//! - `error`: [`PduError`] (cannot decode) and [`Warning`] (decoded, but damaged).
//!
//! # Damaged PDUs
//!
//! [`decode`] is lenient where a text can still be recovered (a TP-UDL larger than the
//! data, an odd UCS2 length, TP-UDHI without a header, a reserved DCS): it decodes what is
//! there and lists what was wrong in [`Pdu::warnings`]. What cannot be read (bad hex,
//! truncated header fields, oversized addresses, a UDH overrunning the user data) is a
//! [`PduError`] naming the field and octet offset. [`DecodeOptions::strict`] turns every
//! warning into an error.

mod address;
mod dcs;
mod encode;
mod error;
mod gsm7;
mod tables;
mod timestamp;
mod tpdu;
mod udh;
pub mod wap;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use address::{Address, TypeOfNumber};
pub use dcs::{Alphabet, Dcs, Mwi, MwiKind, MwiSource};
pub use encode::{
    count_segments, count_segments_with, count_submit, encode_deliver, encode_deliver_with,
    encode_submit, EncodedPdu, SegmentCount, SubmitOptions,
};
pub use error::{PduError, Warning};
pub use gsm7::{NationalLanguage, Tables};
pub use timestamp::{Timestamp, Validity};
pub use tpdu::{Deliver, EmailGateway, Status, StatusCategory, StatusReport, Submit, Tpdu};
pub use udh::{Concat, InformationElement, Ports, Udh};

/// A decoded PDU: the SMSC address (when the PDU carried the field) and the TPDU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pdu {
    /// `None` when the PDU had no SMSC field or its length octet was 0.
    pub smsc: Option<Address>,
    #[serde(flatten)]
    pub tpdu: Tpdu,
    /// Length of the TPDU in octets (the `<length>` of +CMGR/+CMT/AT+CMGS).
    pub tpdu_len: usize,
    /// Defects the decoder recovered from; empty for a well-formed PDU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl Pdu {
    /// The decoded text of whichever TPDU this is.
    pub fn text(&self) -> Option<&str> {
        match &self.tpdu {
            Tpdu::Deliver(d) => d.text.as_deref(),
            Tpdu::Submit(s) => s.text.as_deref(),
            Tpdu::StatusReport(r) => r.text.as_deref(),
        }
    }

    /// The user data header, if any.
    pub fn udh(&self) -> Option<&Udh> {
        match &self.tpdu {
            Tpdu::Deliver(d) => d.udh.as_ref(),
            Tpdu::Submit(s) => s.udh.as_ref(),
            Tpdu::StatusReport(r) => r.udh.as_ref(),
        }
    }

    /// The concatenation element, if any.
    pub fn concat(&self) -> Option<Concat> {
        self.udh().and_then(Udh::concat)
    }
}

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// Any [`Warning`] becomes [`PduError::Malformed`].
    pub strict: bool,
    /// Tables for GSM 7-bit text when the UDH does not name any (an operator setting, as
    /// some networks use national language tables without signalling them). IEs 0x24/0x25
    /// in the UDH take precedence.
    pub tables: Tables,
}

/// Decodes a PDU given as hex (upper or lower case, surrounding whitespace ignored).
/// `with_smsc`: the hex starts with the SMSC length octet, as AT+CMGR/+CMGL/+CMT give it.
pub fn decode_hex(hex: &str, with_smsc: bool) -> Result<Pdu, PduError> {
    decode_hex_with(hex, with_smsc, &DecodeOptions::default())
}

/// [`decode_hex`] with options.
pub fn decode_hex_with(hex: &str, with_smsc: bool, opts: &DecodeOptions) -> Result<Pdu, PduError> {
    let bytes = from_hex(hex)?;
    decode_with(&bytes, with_smsc, opts)
}

/// Decodes PDU octets (lenient: see the module documentation).
pub fn decode(bytes: &[u8], with_smsc: bool) -> Result<Pdu, PduError> {
    decode_with(bytes, with_smsc, &DecodeOptions::default())
}

/// Decodes PDU octets with options.
pub fn decode_with(bytes: &[u8], with_smsc: bool, opts: &DecodeOptions) -> Result<Pdu, PduError> {
    if bytes.is_empty() {
        return Err(PduError::Empty);
    }
    let mut r = tpdu::Reader { buf: bytes, pos: 0 };
    let mut smsc = None;
    if with_smsc {
        let len = r.u8("SMSC length")?;
        if len > 11 {
            return Err(PduError::SmscTooLong {
                offset: 0,
                length: len,
            });
        }
        if len > 0 {
            let toa = r.u8("SMSC type of address")?;
            let value = r.take(usize::from(len) - 1, "SMSC address")?;
            smsc = Some(address::decode_value(toa, value, None));
        }
    }
    let tpdu_start = r.pos;
    let mut warnings = Vec::new();
    let tpdu = tpdu::decode_tpdu(&mut r, opts, &mut warnings)?;
    if opts.strict {
        if let Some(w) = warnings.into_iter().next() {
            return Err(PduError::Malformed(w));
        }
        warnings = Vec::new();
    }
    Ok(Pdu {
        smsc,
        tpdu,
        tpdu_len: bytes.len() - tpdu_start,
        warnings,
    })
}

/// Hex to octets. Whitespace around the string is ignored; inside it is an error.
pub fn from_hex(hex: &str) -> Result<Vec<u8>, PduError> {
    let lead = hex.len() - hex.trim_start().len();
    let t = hex.trim();
    let b = t.as_bytes();
    if let Some(i) = b.iter().position(|c| !c.is_ascii_hexdigit()) {
        let ch = t[i..].chars().next().unwrap_or('?');
        return Err(PduError::InvalidHex {
            offset: lead + i,
            ch,
        });
    }
    if !b.len().is_multiple_of(2) {
        return Err(PduError::OddHexLength { len: b.len() });
    }
    if b.is_empty() {
        return Err(PduError::Empty);
    }
    fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c.wrapping_sub(b'A').wrapping_add(10) & 0x0F,
        }
    }
    Ok(b.chunks_exact(2)
        .map(|p| (nib(p[0]) << 4) | nib(p[1]))
        .collect())
}

/// Octets to uppercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 0x0F)]));
    }
    s
}
