//! TP-DCS, the data coding scheme (TS 23.038 §4) and message waiting indications.

use serde::Serialize;

/// Character set of the user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Alphabet {
    /// GSM 7-bit default alphabet (or a national language table set by the UDH).
    #[serde(rename = "gsm7")]
    Gsm7,
    /// 8-bit data: no character set.
    #[serde(rename = "8bit")]
    EightBit,
    /// UCS2 (read as UTF-16 so that surrogate pairs come out as one character).
    #[serde(rename = "ucs2")]
    Ucs2,
    /// A reserved coding; receivers treat it as GSM 7-bit (TS 23.038 §4).
    #[serde(rename = "reserved")]
    Reserved,
}

/// Kind of waiting message (TS 23.038 §4 coding groups 1100-1110, TS 23.040 §9.2.3.24.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MwiKind {
    Voicemail,
    Fax,
    Email,
    Other,
    /// Video message (special SMS message indication type 0x07, extended).
    Video,
}

impl MwiKind {
    pub(crate) fn from_bits(b: u8) -> Self {
        match b & 0x03 {
            0 => Self::Voicemail,
            1 => Self::Fax,
            2 => Self::Email,
            _ => Self::Other,
        }
    }
}

/// Where a message waiting indication came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MwiSource {
    /// Data coding scheme groups 1100/1101/1110.
    Dcs,
    /// UDH special SMS message indication (IEI 0x01).
    Udh,
    /// CPHS voicemail indication in a 2-character alphanumeric originator.
    Cphs,
}

/// A message waiting indication: set (`active`) or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Mwi {
    pub active: bool,
    pub kind: MwiKind,
    /// `false`: the message itself may be discarded (group 1100, or IE bit 7 clear).
    pub store: bool,
    /// Number of waiting messages, when the indication says (UDH IE only).
    pub count: Option<u8>,
    pub source: MwiSource,
}

/// A decoded TP-DCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Dcs {
    pub raw: u8,
    pub alphabet: Alphabet,
    /// Message class 0-3 (0 = flash / immediate display), when the DCS gives one.
    pub class: Option<u8>,
    pub compressed: bool,
    /// Coding group 01xx: delete the message once read.
    pub auto_delete: bool,
    /// Message waiting indication groups 1100-1110.
    pub mwi: Option<Mwi>,
}

impl Dcs {
    /// Decodes a TP-DCS octet.
    pub fn from_octet(raw: u8) -> Dcs {
        let mut d = Dcs {
            raw,
            alphabet: Alphabet::Gsm7,
            class: None,
            compressed: false,
            auto_delete: false,
            mwi: None,
        };
        match raw >> 4 {
            0x0..=0x7 => {
                d.auto_delete = raw & 0x40 != 0;
                d.compressed = raw & 0x20 != 0;
                if raw & 0x10 != 0 {
                    d.class = Some(raw & 0x03);
                }
                d.alphabet = match (raw >> 2) & 0x03 {
                    0 => Alphabet::Gsm7,
                    1 => Alphabet::EightBit,
                    2 => Alphabet::Ucs2,
                    _ => Alphabet::Reserved,
                };
            }
            0x8..=0xB => d.alphabet = Alphabet::Reserved,
            0xC..=0xE => {
                d.alphabet = if raw >> 4 == 0xE {
                    Alphabet::Ucs2
                } else {
                    Alphabet::Gsm7
                };
                d.mwi = Some(Mwi {
                    active: raw & 0x08 != 0,
                    kind: MwiKind::from_bits(raw),
                    store: raw >> 4 != 0xC,
                    count: None,
                    source: MwiSource::Dcs,
                });
            }
            _ => {
                d.alphabet = if raw & 0x04 != 0 {
                    Alphabet::EightBit
                } else {
                    Alphabet::Gsm7
                };
                d.class = Some(raw & 0x03);
            }
        }
        d
    }

    /// The DCS an encoder writes for an alphabet and optional class (group 00xx).
    pub fn for_alphabet(alphabet: Alphabet, class: Option<u8>) -> Dcs {
        let a = match alphabet {
            Alphabet::Gsm7 | Alphabet::Reserved => 0x00,
            Alphabet::EightBit => 0x04,
            Alphabet::Ucs2 => 0x08,
        };
        let c = match class {
            Some(c) => 0x10 | (c & 0x03),
            None => 0,
        };
        Dcs::from_octet(a | c)
    }

    /// Whether the text is read with the GSM 7-bit alphabet (reserved codings included).
    pub fn is_septets(&self) -> bool {
        matches!(self.alphabet, Alphabet::Gsm7 | Alphabet::Reserved) && !self.compressed
    }
}
