//! Encoders: SMS-SUBMIT for sending, SMS-DELIVER for the modem emulator, and the segment
//! counter shown to users before they send.
//!
//! GSM 7-bit is chosen when every character is in the default alphabet or its extension
//! table (or in the national language tables the caller enables), UCS2 otherwise. Long
//! texts are split into concatenated parts (153 septets / 67 UTF-16 units with an 8-bit
//! reference), never between an escape and its character nor inside a surrogate pair.

use serde::Serialize;

use super::address::Address;
use super::dcs::{Alphabet, Dcs};
use super::error::PduError;
use super::gsm7::{self, NationalLanguage, Tables};
use super::timestamp::{Timestamp, Validity};
use super::to_hex;
use super::udh::{Concat, InformationElement, Udh};

/// One encoded PDU, ready for `AT+CMGS=<tpdu_len>` then `<hex><Ctrl-Z>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncodedPdu {
    /// Uppercase hex, starting with the SMSC field (`00`: use the SIM's SMSC).
    pub hex: String,
    /// Octets after the SMSC field.
    pub tpdu_len: usize,
}

/// Options of [`encode_submit`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitOptions {
    /// Request a status report (TP-SRR).
    pub status_report: bool,
    /// TP-VP; `None` leaves the service centre's default.
    pub validity: Option<Validity>,
    /// Concatenation reference shared by the parts: an 8-bit IE when it is below 256,
    /// a 16-bit IE otherwise.
    pub reference: u16,
    /// TP-MR of the first part; later parts count up from it.
    pub message_reference: u8,
    /// Message class (0 = flash).
    pub class: Option<u8>,
    /// National language tables the operator enables, tried in order when the default
    /// alphabet does not cover the text (signalled with IEs 0x24/0x25).
    pub national: Vec<Tables>,
    /// SMSC number to put in the PDU; `None` writes `00` (the SIM's SMSC).
    pub smsc: Option<String>,
}

/// What [`count_segments`] tells a user before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SegmentCount {
    /// `gsm7` or `ucs2`.
    pub encoding: Alphabet,
    /// National language tables used (GSM 7-bit only; default when none).
    pub tables: Tables,
    /// Number of SMS parts.
    pub parts: usize,
    /// Units (septets or UTF-16 units) still free in the last part.
    pub chars_left: usize,
    /// Units the whole text takes (an extension character takes 2 septets).
    pub units: usize,
    /// Units one part holds (160/153 septets, 70/67 UTF-16 units).
    pub per_part: usize,
}

#[derive(Clone, Copy)]
enum Coding {
    Gsm7(Tables),
    Ucs2,
}

fn choose(text: &str, national: &[Tables]) -> Coding {
    if gsm7::septet_count(text, Tables::DEFAULT).is_some() {
        return Coding::Gsm7(Tables::DEFAULT);
    }
    for t in national {
        if gsm7::septet_count(text, *t).is_some() {
            return Coding::Gsm7(*t);
        }
    }
    Coding::Ucs2
}

fn national_ies(t: Tables) -> Vec<InformationElement> {
    let mut v = Vec::new();
    if t.single != NationalLanguage::Default {
        v.push(InformationElement::NationalSingleShift(t.single.id()));
    }
    if t.locking != NationalLanguage::Default {
        v.push(InformationElement::NationalLockingShift(t.locking.id()));
    }
    v
}

fn ies_len(ies: &[InformationElement]) -> usize {
    ies.iter()
        .map(|e| match e {
            InformationElement::Concat(c) if c.ref_bits == 16 => 6,
            InformationElement::Concat(_) => 5,
            InformationElement::Ports(p) if p.bits == 16 => 6,
            InformationElement::Ports(_) => 4,
            InformationElement::SpecialMessage { .. } => 4,
            InformationElement::NationalSingleShift(_)
            | InformationElement::NationalLockingShift(_) => 3,
            InformationElement::Other { data, .. } => 2 + data.len(),
        })
        .sum()
}

/// Units free for text in one part with a header of `udh_octets` (TP-UDHL included; 0 =
/// no header).
fn capacity(coding: Coding, udh_octets: usize) -> usize {
    match coding {
        Coding::Gsm7(_) => 160 - (udh_octets * 8).div_ceil(7),
        Coding::Ucs2 => (140 - udh_octets) / 2,
    }
}

/// A text split into parts: each part is a range of the text (in bytes) plus its size.
struct Split {
    coding: Coding,
    parts: Vec<(usize, usize, usize)>, // (start, end, units)
    per_part: usize,
    total_units: usize,
    base_ies: Vec<InformationElement>,
    concat_len: usize,
}

fn split(text: &str, national: &[Tables], reference: u16) -> Split {
    let coding = choose(text, national);
    let base_ies = match coding {
        Coding::Gsm7(t) => national_ies(t),
        Coding::Ucs2 => Vec::new(),
    };
    let base = ies_len(&base_ies);
    let unit_len = |c: char| -> usize {
        match coding {
            Coding::Gsm7(t) => gsm7::lookup(c, t).map_or(1, |s| s.len()),
            Coding::Ucs2 => c.len_utf16(),
        }
    };
    let total_units: usize = text.chars().map(unit_len).sum();
    let single_cap = capacity(coding, if base > 0 { 1 + base } else { 0 });
    if total_units <= single_cap {
        return Split {
            coding,
            parts: vec![(0, text.len(), total_units)],
            per_part: single_cap,
            total_units,
            base_ies,
            concat_len: 0,
        };
    }
    let concat_len = if reference > 255 { 6 } else { 5 };
    let cap = capacity(coding, 1 + base + concat_len);
    let mut parts = Vec::new();
    let (mut start, mut used) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        let n = unit_len(c);
        if used + n > cap {
            parts.push((start, i, used));
            start = i;
            used = 0;
        }
        used += n;
    }
    parts.push((start, text.len(), used));
    Split {
        coding,
        parts,
        per_part: cap,
        total_units,
        base_ies,
        concat_len,
    }
}

/// Counts the parts a text needs with the default alphabet (or UCS2), as
/// [`encode_submit`] splits it with an 8-bit concatenation reference.
pub fn count_segments(text: &str) -> SegmentCount {
    count_segments_with(text, &[])
}

/// [`count_segments`] allowing national language tables.
pub fn count_segments_with(text: &str, national: &[Tables]) -> SegmentCount {
    counted(split(text, national, 0))
}

/// The parts [`encode_submit`] sends for these options exactly: a reference of 256 or
/// more takes the 16-bit concatenation IE, one octet more per part (152 septets / 66
/// UTF-16 units).
pub fn count_submit(text: &str, opts: &SubmitOptions) -> SegmentCount {
    counted(split(text, &opts.national, opts.reference))
}

fn counted(s: Split) -> SegmentCount {
    let last_used = s.parts.last().map_or(0, |p| p.2);
    let (encoding, tables) = match s.coding {
        Coding::Gsm7(t) => (Alphabet::Gsm7, t),
        Coding::Ucs2 => (Alphabet::Ucs2, Tables::DEFAULT),
    };
    SegmentCount {
        encoding,
        tables,
        parts: s.parts.len(),
        chars_left: s.per_part.saturating_sub(last_used),
        units: s.total_units,
        per_part: s.per_part,
    }
}

/// The user data of one part: (TP-UDHI, TP-UDL, TP-UD octets).
type PartData = (bool, u8, Vec<u8>);

/// The alphabet and the user data of each part.
fn user_data_parts(
    text: &str,
    national: &[Tables],
    reference: u16,
) -> Result<(Alphabet, Vec<PartData>), PduError> {
    let s = split(text, national, reference);
    let total = s.parts.len();
    if total > 255 {
        return Err(PduError::Unencodable {
            reason: "more than 255 parts",
        });
    }
    let mut out = Vec::with_capacity(total);
    for (i, &(start, end, units)) in s.parts.iter().enumerate() {
        let piece = &text[start..end];
        let mut ies = s.base_ies.clone();
        if total > 1 {
            ies.insert(
                0,
                InformationElement::Concat(Concat {
                    reference,
                    total: total as u8,
                    seq: (i + 1) as u8,
                    ref_bits: if s.concat_len == 6 { 16 } else { 8 },
                }),
            );
        }
        let header = if ies.is_empty() {
            Vec::new()
        } else {
            Udh {
                length: 0,
                elements: ies,
            }
            .encode()
        };
        let mut ud = header.clone();
        let udl = match s.coding {
            Coding::Gsm7(t) => {
                let mut septets = Vec::with_capacity(units);
                gsm7::encode_into(piece, t, &mut septets).ok_or(PduError::Unencodable {
                    reason: "character outside the chosen GSM 7-bit tables",
                })?;
                let hdr_septets = (header.len() * 8).div_ceil(7);
                let fill = hdr_septets * 7 - header.len() * 8;
                gsm7::pack_into(&septets, fill, &mut ud);
                hdr_septets + septets.len()
            }
            Coding::Ucs2 => {
                for u in piece.encode_utf16() {
                    ud.extend_from_slice(&u.to_be_bytes());
                }
                ud.len()
            }
        };
        out.push((!header.is_empty(), udl.min(255) as u8, ud));
    }
    let alphabet = match s.coding {
        Coding::Gsm7(_) => Alphabet::Gsm7,
        Coding::Ucs2 => Alphabet::Ucs2,
    };
    Ok((alphabet, out))
}

fn smsc_field(smsc: Option<&str>, out: &mut Vec<u8>) -> Result<(), PduError> {
    match smsc {
        None => out.push(0),
        Some(s) => Address::parse(s, false)?.encode_smsc(out),
    }
    Ok(())
}

fn finish(buf: Vec<u8>, smsc_len: usize) -> EncodedPdu {
    EncodedPdu {
        tpdu_len: buf.len() - smsc_len,
        hex: to_hex(&buf),
    }
}

/// Encodes `text` to `to` as one SMS-SUBMIT per part.
pub fn encode_submit(
    to: &str,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<EncodedPdu>, PduError> {
    let da = Address::parse(to, false)?;
    let (alphabet, parts) = user_data_parts(text, &opts.national, opts.reference)?;
    let dcs = Dcs::for_alphabet(alphabet, opts.class);
    let mut out = Vec::with_capacity(parts.len());
    for (i, (udhi, udl, ud)) in parts.into_iter().enumerate() {
        let mut buf = Vec::with_capacity(32 + ud.len());
        smsc_field(opts.smsc.as_deref(), &mut buf)?;
        let smsc_len = buf.len();
        let mut fo = 0x01;
        if let Some(v) = &opts.validity {
            fo |= v.vpf_bits();
        }
        if opts.status_report {
            fo |= 0x20;
        }
        if udhi {
            fo |= 0x40;
        }
        buf.push(fo);
        buf.push(opts.message_reference.wrapping_add(i as u8));
        da.encode_tp(&mut buf);
        buf.push(0x00);
        buf.push(dcs.raw);
        if let Some(v) = &opts.validity {
            v.encode(&mut buf);
        }
        buf.push(udl);
        buf.extend_from_slice(&ud);
        out.push(finish(buf, smsc_len));
    }
    Ok(out)
}

/// Encodes what a network would deliver for `text` from `sender` (`+12025550123`,
/// `12345`, or an alphanumeric sender such as `WhatsApp`), with an empty SMSC field.
pub fn encode_deliver(
    sender: &str,
    text: &str,
    timestamp: Timestamp,
    reference: u16,
) -> Result<Vec<EncodedPdu>, PduError> {
    encode_deliver_with(None, sender, text, timestamp, reference)
}

/// [`encode_deliver`] with the SMSC address a real network puts in front.
pub fn encode_deliver_with(
    smsc: Option<&str>,
    sender: &str,
    text: &str,
    timestamp: Timestamp,
    reference: u16,
) -> Result<Vec<EncodedPdu>, PduError> {
    let oa = Address::parse(sender, true)?;
    let (alphabet, parts) = user_data_parts(text, &[], reference)?;
    let dcs = Dcs::for_alphabet(alphabet, None);
    let scts = timestamp.to_octets();
    let mut out = Vec::with_capacity(parts.len());
    for (udhi, udl, ud) in parts {
        let mut buf = Vec::with_capacity(32 + ud.len());
        smsc_field(smsc, &mut buf)?;
        let smsc_len = buf.len();
        // TP-MTI 00, TP-MMS set (no more messages waiting).
        buf.push(if udhi { 0x44 } else { 0x04 });
        oa.encode_tp(&mut buf);
        buf.push(0x00);
        buf.push(dcs.raw);
        buf.extend_from_slice(&scts);
        buf.push(udl);
        buf.extend_from_slice(&ud);
        out.push(finish(buf, smsc_len));
    }
    Ok(out)
}
