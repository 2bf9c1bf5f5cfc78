//! Addresses: TP-OA/TP-DA/TP-RA (TS 23.040 §9.1.2.5) and the SMSC address (TS 24.011
//! §8.2.5.1), semi-octet digits (`*`, `#`, `a`, `b`, `c` included) or GSM 7-bit text.

use std::fmt;

use serde::Serialize;

use super::gsm7::{self, Tables};
use super::PduError;

/// Type of number, bits 6-4 of the type-of-address octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeOfNumber {
    Unknown,
    International,
    National,
    NetworkSpecific,
    Subscriber,
    Alphanumeric,
    Abbreviated,
    Reserved,
}

impl TypeOfNumber {
    /// From bits 6-4 of a type-of-address octet.
    pub fn from_toa(toa: u8) -> Self {
        match (toa >> 4) & 0x07 {
            0 => Self::Unknown,
            1 => Self::International,
            2 => Self::National,
            3 => Self::NetworkSpecific,
            4 => Self::Subscriber,
            5 => Self::Alphanumeric,
            6 => Self::Abbreviated,
            _ => Self::Reserved,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::International => 1,
            Self::National => 2,
            Self::NetworkSpecific => 3,
            Self::Subscriber => 4,
            Self::Alphanumeric => 5,
            Self::Abbreviated => 6,
            Self::Reserved => 7,
        }
    }
}

/// A decoded address. `number` is `+digits` for international numbers, the bare digits
/// for every other numeric type, and the text for alphanumeric addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub number: String,
    pub ton: TypeOfNumber,
    /// Numbering plan identification (bits 3-0 of the type-of-address octet).
    pub npi: u8,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

impl Address {
    /// The type-of-address octet (extension bit set).
    pub fn toa(&self) -> u8 {
        0x80 | (self.ton.bits() << 4) | (self.npi & 0x0F)
    }

    /// The digits without a leading `+` (the text for alphanumeric addresses).
    pub fn digits(&self) -> &str {
        self.number.strip_prefix('+').unwrap_or(&self.number)
    }

    /// Parses a number as a user writes it: `+digits` is international (TOA 0x91), bare
    /// digits are unknown type (TOA 0x81), anything else is alphanumeric (TOA 0xD0).
    /// Spaces, dashes, dots and parentheses inside numbers are ignored.
    pub fn parse(s: &str, allow_alphanumeric: bool) -> Result<Address, PduError> {
        let t = s.trim();
        let (intl, rest) = match t.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, t),
        };
        let numeric = !rest.is_empty()
            && rest.chars().all(|c| {
                c.is_ascii_digit() || matches!(c, '*' | '#' | ' ' | '-' | '.' | '(' | ')')
            })
            && rest
                .chars()
                .any(|c| c.is_ascii_digit() || c == '*' || c == '#');
        if numeric {
            let digits: String = rest
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#')
                .collect();
            if digits.len() > 20 {
                return Err(PduError::InvalidAddress {
                    address: s.to_string(),
                    reason: "more than 20 digits",
                });
            }
            return Ok(Address {
                number: if intl { format!("+{digits}") } else { digits },
                ton: if intl {
                    TypeOfNumber::International
                } else {
                    TypeOfNumber::Unknown
                },
                npi: 1,
            });
        }
        if !allow_alphanumeric {
            return Err(PduError::InvalidAddress {
                address: s.to_string(),
                reason: "not a phone number",
            });
        }
        if t.is_empty() {
            return Err(PduError::InvalidAddress {
                address: s.to_string(),
                reason: "empty",
            });
        }
        match gsm7::septet_count(t, Tables::DEFAULT) {
            None => Err(PduError::InvalidAddress {
                address: s.to_string(),
                reason: "alphanumeric address outside the GSM 7-bit alphabet",
            }),
            Some(n) if n > 11 => Err(PduError::InvalidAddress {
                address: s.to_string(),
                reason: "alphanumeric address longer than 11 septets",
            }),
            Some(_) => Ok(Address {
                number: t.to_string(),
                ton: TypeOfNumber::Alphanumeric,
                npi: 0,
            }),
        }
    }

    /// Appends the TP address field (length in semi-octets, TOA, value).
    pub(crate) fn encode_tp(&self, out: &mut Vec<u8>) {
        if self.ton == TypeOfNumber::Alphanumeric {
            let mut septets = Vec::with_capacity(11);
            // `parse` checked the text fits; an unencodable char cannot reach here.
            let _ = gsm7::encode_into(&self.number, Tables::DEFAULT, &mut septets);
            let mut packed = Vec::with_capacity(10);
            gsm7::pack_into(&septets, 0, &mut packed);
            let semi = (septets.len() * 7).div_ceil(4);
            out.push(semi as u8);
            out.push(self.toa());
            out.extend_from_slice(&packed);
        } else {
            let digits = self.digits();
            out.push(digits.len() as u8);
            out.push(self.toa());
            push_bcd(digits, out);
        }
    }

    /// Appends the SMSC address field (length in octets including the TOA).
    pub(crate) fn encode_smsc(&self, out: &mut Vec<u8>) {
        let digits = self.digits();
        out.push((1 + digits.len().div_ceil(2)) as u8);
        out.push(self.toa());
        push_bcd(digits, out);
    }
}

fn bcd_nibble(c: char) -> u8 {
    match c {
        '0'..='9' => c as u8 - b'0',
        '*' => 0xA,
        '#' => 0xB,
        'a' | 'A' => 0xC,
        'b' | 'B' => 0xD,
        'c' | 'C' => 0xE,
        _ => 0xF,
    }
}

fn push_bcd(digits: &str, out: &mut Vec<u8>) {
    let mut it = digits.chars();
    while let Some(a) = it.next() {
        let lo = bcd_nibble(a);
        let hi = it.next().map(bcd_nibble).unwrap_or(0xF);
        out.push(lo | (hi << 4));
    }
}

const DIGITS: &[u8; 16] = b"0123456789*#abc?";

/// Appends semi-octet digits (low nibble first); an 0xF nibble ends the number.
pub(crate) fn push_digits(octets: &[u8], count: usize, out: &mut String) {
    for i in 0..count {
        let Some(&b) = octets.get(i / 2) else { break };
        let n = if i % 2 == 0 { b & 0x0F } else { b >> 4 };
        if n == 0x0F {
            break;
        }
        out.push(char::from(DIGITS[usize::from(n)]));
    }
}

/// Builds an address from its TOA and value octets. `semi_octets` is the useful length
/// (TP addresses); `None` means "all the octets" (SMSC address).
pub(crate) fn decode_value(toa: u8, value: &[u8], semi_octets: Option<usize>) -> Address {
    let ton = TypeOfNumber::from_toa(toa);
    let npi = toa & 0x0F;
    let semi = semi_octets.unwrap_or(value.len() * 2);
    let number = if ton == TypeOfNumber::Alphanumeric {
        let septets = semi * 4 / 7;
        gsm7::decode_packed(value, 0, septets, Tables::DEFAULT)
    } else {
        let mut s = String::with_capacity(semi + 1);
        if ton == TypeOfNumber::International {
            s.push('+');
        }
        push_digits(value, semi, &mut s);
        s
    };
    Address { number, ton, npi }
}
