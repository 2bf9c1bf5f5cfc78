//! The user data header (TS 23.040 §9.2.3.24): concatenation, application ports, special
//! SMS message indication, national language shifts; other elements are kept raw.

use serde::{Serialize, Serializer};

use super::dcs::{Mwi, MwiKind, MwiSource};
use super::error::Warning;
use super::gsm7::NationalLanguage;

/// Concatenation (IEI 0x00 with an 8-bit reference, 0x08 with a 16-bit one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Concat {
    #[serde(rename = "ref")]
    pub reference: u16,
    #[serde(rename = "parts")]
    pub total: u8,
    pub seq: u8,
    /// 8 or 16.
    pub ref_bits: u8,
}

/// Application port addressing (IEI 0x04 with 8-bit ports, 0x05 with 16-bit ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Ports {
    #[serde(rename = "dst")]
    pub destination: u16,
    #[serde(rename = "src")]
    pub source: u16,
    /// 8 or 16.
    pub bits: u8,
}

/// One information element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InformationElement {
    Concat(Concat),
    Ports(Ports),
    /// IEI 0x01: message waiting indication.
    SpecialMessage {
        store: bool,
        kind: u8,
        count: u8,
    },
    /// IEI 0x24.
    NationalSingleShift(u8),
    /// IEI 0x25.
    NationalLockingShift(u8),
    /// Anything else (EMS formatting, WCMP, ...), kept raw.
    Other {
        iei: u8,
        data: Vec<u8>,
    },
}

impl Serialize for InformationElement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("InformationElement", 2)?;
        match self {
            InformationElement::Concat(c) => {
                st.serialize_field("iei", &if c.ref_bits == 16 { 0x08 } else { 0x00 })?;
                st.serialize_field("concat", c)?;
            }
            InformationElement::Ports(p) => {
                st.serialize_field("iei", &if p.bits == 16 { 0x05 } else { 0x04 })?;
                st.serialize_field("ports", p)?;
            }
            InformationElement::SpecialMessage { store, kind, count } => {
                st.serialize_field("iei", &0x01)?;
                st.serialize_field(
                    "special_message",
                    &serde_json::json!({"store": store, "kind": kind, "count": count}),
                )?;
            }
            InformationElement::NationalSingleShift(l) => {
                st.serialize_field("iei", &0x24)?;
                st.serialize_field("national_single_shift", l)?;
            }
            InformationElement::NationalLockingShift(l) => {
                st.serialize_field("iei", &0x25)?;
                st.serialize_field("national_locking_shift", l)?;
            }
            InformationElement::Other { iei, data } => {
                st.serialize_field("iei", iei)?;
                st.serialize_field("data", &super::to_hex(data))?;
            }
        }
        st.end()
    }
}

/// A parsed user data header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Udh {
    /// TP-UDHL, the header length octet (octets after it).
    pub length: u8,
    pub elements: Vec<InformationElement>,
}

impl Serialize for Udh {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Udh", 6)?;
        st.serialize_field("length", &self.length)?;
        st.serialize_field("concat", &self.concat())?;
        st.serialize_field("ports", &self.ports())?;
        st.serialize_field("national_single_shift", &self.single_shift())?;
        st.serialize_field("national_locking_shift", &self.locking_shift())?;
        st.serialize_field("elements", &self.elements)?;
        st.end()
    }
}

impl Udh {
    /// The first concatenation element.
    pub fn concat(&self) -> Option<Concat> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::Concat(c) => Some(*c),
            _ => None,
        })
    }

    /// The first application port element.
    pub fn ports(&self) -> Option<Ports> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::Ports(p) => Some(*p),
            _ => None,
        })
    }

    /// National language single shift table, when signalled with a known language.
    pub fn single_shift(&self) -> Option<NationalLanguage> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::NationalSingleShift(l) => NationalLanguage::from_id(*l),
            _ => None,
        })
    }

    /// National language locking shift table, when signalled with a known language.
    pub fn locking_shift(&self) -> Option<NationalLanguage> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::NationalLockingShift(l) => NationalLanguage::from_id(*l),
            _ => None,
        })
    }

    /// The message waiting indication of IEI 0x01 (TS 23.040 §9.2.3.24.2).
    pub fn mwi(&self) -> Option<Mwi> {
        self.elements.iter().find_map(|e| match e {
            InformationElement::SpecialMessage { store, kind, count } => Some(Mwi {
                active: *count > 0,
                kind: if kind & 0x07 == 0x07 {
                    MwiKind::Video
                } else {
                    MwiKind::from_bits(*kind)
                },
                store: *store,
                count: Some(*count),
                source: MwiSource::Udh,
            }),
            _ => None,
        })
    }

    /// Parses the header octets (after TP-UDHL). `base` is the offset of `h` in the PDU.
    pub(crate) fn parse(h: &[u8], base: usize, warnings: &mut Vec<Warning>) -> Udh {
        let mut elements = Vec::new();
        let mut i = 0;
        while i < h.len() {
            let iei = h[i];
            let Some(&len) = h.get(i + 1) else {
                warnings.push(Warning::IeOverrun {
                    offset: base + i,
                    iei,
                });
                break;
            };
            let start = i + 2;
            let end = start + usize::from(len);
            let Some(data) = h.get(start..end) else {
                warnings.push(Warning::IeOverrun {
                    offset: base + i,
                    iei,
                });
                break;
            };
            let expected = match iei {
                0x00 => Some(3),
                0x08 | 0x05 => Some(4),
                0x04 | 0x01 => Some(2),
                0x24 | 0x25 => Some(1),
                _ => None,
            };
            let ie = match (iei, data) {
                (0x00, &[r, t, s]) => InformationElement::Concat(Concat {
                    reference: u16::from(r),
                    total: t,
                    seq: s,
                    ref_bits: 8,
                }),
                (0x08, &[r1, r2, t, s]) => InformationElement::Concat(Concat {
                    reference: u16::from_be_bytes([r1, r2]),
                    total: t,
                    seq: s,
                    ref_bits: 16,
                }),
                (0x04, &[d, s]) => InformationElement::Ports(Ports {
                    destination: u16::from(d),
                    source: u16::from(s),
                    bits: 8,
                }),
                (0x05, &[d1, d2, s1, s2]) => InformationElement::Ports(Ports {
                    destination: u16::from_be_bytes([d1, d2]),
                    source: u16::from_be_bytes([s1, s2]),
                    bits: 16,
                }),
                (0x01, &[t, c]) => InformationElement::SpecialMessage {
                    store: t & 0x80 != 0,
                    kind: t & 0x7F,
                    count: c,
                },
                (0x24, &[l]) => InformationElement::NationalSingleShift(l),
                (0x25, &[l]) => InformationElement::NationalLockingShift(l),
                _ => {
                    if let Some(e) = expected {
                        warnings.push(Warning::IeBadLength {
                            offset: base + i,
                            iei,
                            length: len,
                            expected: e,
                        });
                    }
                    InformationElement::Other {
                        iei,
                        data: data.to_vec(),
                    }
                }
            };
            elements.push(ie);
            i = end;
        }
        Udh {
            length: h.len().min(255) as u8,
            elements,
        }
    }

    /// Encoded header octets, TP-UDHL first.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8];
        for e in &self.elements {
            match e {
                InformationElement::Concat(c) if c.ref_bits == 16 => {
                    let r = c.reference.to_be_bytes();
                    out.extend_from_slice(&[0x08, 4, r[0], r[1], c.total, c.seq]);
                }
                InformationElement::Concat(c) => {
                    out.extend_from_slice(&[0x00, 3, c.reference as u8, c.total, c.seq]);
                }
                InformationElement::Ports(p) if p.bits == 16 => {
                    let d = p.destination.to_be_bytes();
                    let s = p.source.to_be_bytes();
                    out.extend_from_slice(&[0x05, 4, d[0], d[1], s[0], s[1]]);
                }
                InformationElement::Ports(p) => {
                    out.extend_from_slice(&[0x04, 2, p.destination as u8, p.source as u8]);
                }
                InformationElement::SpecialMessage { store, kind, count } => {
                    let t = (kind & 0x7F) | if *store { 0x80 } else { 0 };
                    out.extend_from_slice(&[0x01, 2, t, *count]);
                }
                InformationElement::NationalSingleShift(l) => {
                    out.extend_from_slice(&[0x24, 1, *l]);
                }
                InformationElement::NationalLockingShift(l) => {
                    out.extend_from_slice(&[0x25, 1, *l]);
                }
                InformationElement::Other { iei, data } => {
                    out.push(*iei);
                    out.push(data.len().min(255) as u8);
                    out.extend_from_slice(&data[..data.len().min(255)]);
                }
            }
        }
        out[0] = (out.len() - 1).min(255) as u8;
        out
    }
}
