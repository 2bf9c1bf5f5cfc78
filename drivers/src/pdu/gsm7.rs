//! GSM 7-bit alphabet (TS 23.038 §6.1.2, §6.2.1): septet packing, the default alphabet
//! with its extension table, and the national language locking/single shift tables.

use serde::Serialize;

use super::error::Warning;
use super::tables::{LOCKING, NONE, SHIFT};

/// Escape to the (single shift) extension table.
pub const ESC: u8 = 0x1B;

/// National language identifiers of TS 23.038 §6.2.1.2.4, as used in the UDH IEs 0x24
/// (single shift) and 0x25 (locking shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NationalLanguage {
    /// The GSM 7-bit default alphabet and its extension table.
    #[default]
    Default = 0,
    Turkish = 1,
    Spanish = 2,
    Portuguese = 3,
    Bengali = 4,
    Gujarati = 5,
    Hindi = 6,
    Kannada = 7,
    Malayalam = 8,
    Oriya = 9,
    Punjabi = 10,
    Tamil = 11,
    Telugu = 12,
    Urdu = 13,
}

impl NationalLanguage {
    /// All languages with tables, in identifier order.
    pub const ALL: [NationalLanguage; 14] = [
        Self::Default,
        Self::Turkish,
        Self::Spanish,
        Self::Portuguese,
        Self::Bengali,
        Self::Gujarati,
        Self::Hindi,
        Self::Kannada,
        Self::Malayalam,
        Self::Oriya,
        Self::Punjabi,
        Self::Tamil,
        Self::Telugu,
        Self::Urdu,
    ];

    /// The language for an identifier octet; `None` for identifiers without a table.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.get(usize::from(id)).copied()
    }

    /// The identifier octet.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// Parses "turkish", "tr", "default", ... (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "default" | "gsm" | "none" | "" => Self::Default,
            "turkish" | "tr" => Self::Turkish,
            "spanish" | "es" => Self::Spanish,
            "portuguese" | "pt" => Self::Portuguese,
            "bengali" | "bn" => Self::Bengali,
            "gujarati" | "gu" => Self::Gujarati,
            "hindi" | "hi" => Self::Hindi,
            "kannada" | "kn" => Self::Kannada,
            "malayalam" | "ml" => Self::Malayalam,
            "oriya" | "or" => Self::Oriya,
            "punjabi" | "pa" => Self::Punjabi,
            "tamil" | "ta" => Self::Tamil,
            "telugu" | "te" => Self::Telugu,
            "urdu" | "ur" => Self::Urdu,
            _ => return None,
        })
    }
}

/// The pair of tables a 7-bit text is read or written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Tables {
    /// Locking shift table (replaces the default alphabet).
    pub locking: NationalLanguage,
    /// Single shift table (replaces the extension table, reached through ESC).
    pub single: NationalLanguage,
}

impl Tables {
    /// The GSM default alphabet and extension table.
    pub const DEFAULT: Tables = Tables {
        locking: NationalLanguage::Default,
        single: NationalLanguage::Default,
    };

    fn locking_table(self) -> &'static [u16; 128] {
        LOCKING[self.locking as usize]
    }

    fn shift_table(self) -> &'static [u16; 128] {
        SHIFT[self.single as usize]
    }
}

/// Reads `count` septets starting `bit_offset` bits into `data`; stops early (returning how
/// many were read) when the octets run out.
pub fn unpack_into(data: &[u8], bit_offset: usize, count: usize, out: &mut Vec<u8>) -> usize {
    let total_bits = data.len().saturating_mul(8);
    let mut read = 0;
    let mut bit = bit_offset;
    while read < count && bit + 7 <= total_bits {
        let byte = bit / 8;
        let shift = bit % 8;
        let lo = data.get(byte).copied().unwrap_or(0);
        let mut v = u16::from(lo) >> shift;
        if shift > 1 {
            let hi = data.get(byte + 1).copied().unwrap_or(0);
            v |= u16::from(hi) << (8 - shift);
        }
        out.push((v & 0x7F) as u8);
        bit += 7;
        read += 1;
    }
    read
}

/// Packs septets after `fill_bits` zero bits (TS 23.038 §6.1.2.1.1), appending to `out`.
pub fn pack_into(septets: &[u8], fill_bits: usize, out: &mut Vec<u8>) {
    let start = out.len();
    let total_bits = fill_bits + septets.len() * 7;
    out.resize(start + total_bits.div_ceil(8), 0);
    let buf = &mut out[start..];
    let mut bit = fill_bits;
    for &s in septets {
        let s = u16::from(s & 0x7F) << (bit % 8);
        let byte = bit / 8;
        if let Some(b) = buf.get_mut(byte) {
            *b |= (s & 0xFF) as u8;
        }
        if s > 0xFF {
            if let Some(b) = buf.get_mut(byte + 1) {
                *b |= (s >> 8) as u8;
            }
        }
        bit += 7;
    }
}

/// Decodes septet codes to text with the given tables, appending to `out`.
///
/// An escape followed by a code the single shift table does not define shows the
/// locking-table character for that code (TS 23.038 §6.2.1.1 note 1); ESC ESC shows a
/// space (reserved for a further extension table); an escape as the very last septet is
/// dropped.
pub fn decode_septets(
    septets: &[u8],
    tables: Tables,
    out: &mut String,
    warnings: &mut Vec<Warning>,
) {
    let lock = tables.locking_table();
    let shift = tables.shift_table();
    let mut i = 0;
    while i < septets.len() {
        let code = septets[i] & 0x7F;
        if code == ESC {
            let Some(&next) = septets.get(i + 1) else {
                break;
            };
            let next = next & 0x7F;
            i += 2;
            if next == ESC {
                out.push(' ');
                continue;
            }
            let u = shift[usize::from(next)];
            if u != NONE {
                push_u16(out, u);
            } else {
                let u = lock[usize::from(next)];
                if u == NONE {
                    warnings.push(Warning::UndefinedCharacter {
                        septet: i - 1,
                        code: next,
                        escaped: true,
                    });
                    out.push(' ');
                } else {
                    push_u16(out, u);
                }
            }
            continue;
        }
        let u = lock[usize::from(code)];
        if u == NONE {
            warnings.push(Warning::UndefinedCharacter {
                septet: i,
                code,
                escaped: false,
            });
            out.push(' ');
        } else {
            push_u16(out, u);
        }
        i += 1;
    }
}

fn push_u16(out: &mut String, u: u16) {
    // Every table entry is a BMP scalar value (checked by a unit test).
    out.push(char::from_u32(u32::from(u)).unwrap_or('\u{FFFD}'));
}

/// Unpacks and decodes in one go (used for alphanumeric addresses).
pub fn decode_packed(data: &[u8], bit_offset: usize, count: usize, tables: Tables) -> String {
    let mut septets = Vec::with_capacity(count);
    unpack_into(data, bit_offset, count, &mut septets);
    let mut s = String::with_capacity(count);
    let mut w = Vec::new();
    decode_septets(&septets, tables, &mut s, &mut w);
    s
}

/// The septet code(s) of one character: `(code, escaped)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Septet {
    pub code: u8,
    pub escaped: bool,
}

impl Septet {
    /// How many septets the character takes (1, or 2 with the escape).
    pub fn len(self) -> usize {
        if self.escaped {
            2
        } else {
            1
        }
    }
}

/// Reverse lookup of the ASCII range in the default alphabet, built at compile time.
static DEFAULT_ASCII: [u8; 128] = build_ascii_reverse(false);
/// Reverse lookup of the ASCII range in the default extension table.
static DEFAULT_ASCII_EXT: [u8; 128] = build_ascii_reverse(true);

const fn build_ascii_reverse(ext: bool) -> [u8; 128] {
    let table = if ext { SHIFT[0] } else { LOCKING[0] };
    let mut rev = [0xFFu8; 128];
    let mut code = 0;
    while code < 128 {
        let u = table[code];
        if u < 128 && (ext || code != ESC as usize) {
            rev[u as usize] = code as u8;
        }
        code += 1;
    }
    rev
}

/// Finds how `c` is written with `tables`, or `None` if it cannot be.
pub fn lookup(c: char, tables: Tables) -> Option<Septet> {
    let cu = u32::from(c);
    if tables == Tables::DEFAULT && cu < 128 {
        let i = cu as usize;
        let code = DEFAULT_ASCII[i];
        if code != 0xFF {
            return Some(Septet {
                code,
                escaped: false,
            });
        }
        let code = DEFAULT_ASCII_EXT[i];
        if code != 0xFF {
            return Some(Septet {
                code,
                escaped: true,
            });
        }
        return None;
    }
    if cu > 0xFFFF {
        return None;
    }
    let u = cu as u16;
    if u == NONE || u == u16::from(ESC) {
        return None;
    }
    let lock = tables.locking_table();
    if let Some(code) = lock.iter().position(|&x| x == u) {
        if code != usize::from(ESC) {
            return Some(Septet {
                code: code as u8,
                escaped: false,
            });
        }
    }
    let shift = tables.shift_table();
    shift.iter().position(|&x| x == u).map(|code| Septet {
        code: code as u8,
        escaped: true,
    })
}

/// Number of septets `text` takes with `tables`, or `None` if a character is missing.
pub fn septet_count(text: &str, tables: Tables) -> Option<usize> {
    let mut n = 0usize;
    for c in text.chars() {
        n += lookup(c, tables)?.len();
    }
    Some(n)
}

/// Appends the septet codes of `text` (escapes included); `None` if a character is missing.
pub fn encode_into(text: &str, tables: Tables, out: &mut Vec<u8>) -> Option<()> {
    for c in text.chars() {
        let s = lookup(c, tables)?;
        if s.escaped {
            out.push(ESC);
        }
        out.push(s.code);
    }
    Some(())
}
