//! Errors (the PDU cannot be read) and warnings (it was read, but something in it is wrong).
//!
//! Offsets are octet offsets from the start of the decoded bytes (the SMSC length octet
//! when the PDU carries one), except for [`PduError::InvalidHex`] and
//! [`PduError::OddHexLength`], which count hex characters.

use serde::Serialize;

/// Why a PDU could not be decoded (or, for the encoders, not be built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// No octets at all.
    #[error("empty PDU")]
    Empty,
    /// A character that is not a hex digit.
    #[error("invalid hex character {ch:?} at character offset {offset}")]
    InvalidHex { offset: usize, ch: char },
    /// An odd number of hex digits: the last octet is incomplete.
    #[error("odd number of hex digits ({len}): the last octet is incomplete")]
    OddHexLength { len: usize },
    /// The PDU ends inside a field.
    #[error(
        "truncated PDU: {field} at octet offset {offset} needs {needed} octet(s), {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// The SMSC length octet is larger than TS 24.011 §8.2.5.1 allows (11).
    #[error("SMSC length octet {length} at octet offset {offset} exceeds the maximum of 11")]
    SmscTooLong { offset: usize, length: u8 },
    /// An address length larger than TS 23.040 §9.1.2.5 allows (20 semi-octets).
    #[error(
        "{field} length {length} at octet offset {offset} exceeds the maximum of 20 semi-octets"
    )]
    AddressTooLong {
        field: &'static str,
        offset: usize,
        length: u8,
    },
    /// TP-MTI 11 is reserved (TS 23.040 §9.2.3.1).
    #[error("reserved TP-MTI 3 in the first octet {first_octet:#04x} at octet offset {offset}")]
    ReservedMessageType { offset: usize, first_octet: u8 },
    /// The user data header claims more octets than the user data holds.
    #[error("user data header at octet offset {offset} is {udh_octets} octets, the user data only {ud_octets}")]
    UdhOverrun {
        offset: usize,
        udh_octets: usize,
        ud_octets: usize,
    },
    /// Strict decoding: something the lenient decoder would have recovered from.
    #[error("malformed PDU: {0}")]
    Malformed(Warning),
    /// Encoder: the address cannot be encoded.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        address: String,
        reason: &'static str,
    },
    /// Encoder: the text cannot be sent (e.g. too many parts).
    #[error("cannot encode the text: {reason}")]
    Unencodable { reason: &'static str },
}

/// A defect the lenient decoder recovered from. The decoded values are still returned,
/// with these attached, because a damaged SMS may still carry the code a user waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// TP-UDL announces more user data than the PDU holds: what is there was decoded.
    #[error("user data at octet offset {offset} truncated: TP-UDL needs {declared} octet(s), {available} present")]
    UserDataTruncated {
        offset: usize,
        declared: usize,
        available: usize,
    },
    /// TP-UDHI is set but the user data is empty, so there is no header.
    #[error("TP-UDHI set but the user data at octet offset {offset} is empty")]
    UdhiWithoutHeader { offset: usize },
    /// An information element runs past the end of the header; the rest was ignored.
    #[error(
        "information element {iei:#04x} at octet offset {offset} overruns the user data header"
    )]
    IeOverrun { offset: usize, iei: u8 },
    /// A known information element with the wrong length; kept as an unknown one.
    #[error("information element {iei:#04x} at octet offset {offset} has length {length}, expected {expected}")]
    IeBadLength {
        offset: usize,
        iei: u8,
        length: u8,
        expected: u8,
    },
    /// UCS2 user data with an odd number of octets; the lone last octet was read as the
    /// high octet of a character whose low octet is missing.
    #[error("UCS2 user data at octet offset {offset} has an odd number of octets")]
    OddUcs2Length { offset: usize },
    /// A UTF-16 surrogate without its pair, replaced by U+FFFD.
    #[error("unpaired UTF-16 surrogate in the user data at octet offset {offset}")]
    UnpairedSurrogate { offset: usize },
    /// A reserved data coding; decoded with the GSM 7-bit default alphabet as TS 23.038 §4
    /// tells a receiving entity to.
    #[error("reserved data coding scheme {dcs:#04x} at octet offset {offset}, read as GSM 7-bit")]
    ReservedDcs { offset: usize, dcs: u8 },
    /// A national-language table position without a character, shown as a space.
    #[error("GSM 7-bit code {code:#04x} (escaped: {escaped}) undefined in the selected table, at septet {septet}")]
    UndefinedCharacter {
        septet: usize,
        code: u8,
        escaped: bool,
    },
    /// Optional status-report parameters announced by TP-PI but cut off.
    #[error("status report parameters announced at octet offset {offset} are missing")]
    ParametersTruncated { offset: usize },
}
