//! TP-SCTS / TP-DT (TS 23.040 §9.2.3.11) and TP-VP (§9.2.3.12).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike};
use serde::{Serialize, Serializer};

/// A service-centre time stamp: local time of the sender's network plus its offset from
/// UTC. Fields are as the PDU carries them (not validated); see [`Timestamp::to_datetime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Four-digit year: two-digit years 00-89 are 2000-2089, 90-99 are 1990-1999.
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes (a multiple of 15 as the PDU encodes quarter hours).
    pub offset_minutes: i16,
}

/// Reads one swapped semi-octet field: low nibble = tens, high nibble = units. Non-BCD
/// nibbles are used arithmetically (some modems send them; see the corpus).
fn swapped(b: u8) -> u8 {
    (b & 0x0F) * 10 + (b >> 4)
}

fn swap_bcd(v: u8) -> u8 {
    let v = v % 100;
    (v / 10) | ((v % 10) << 4)
}

impl Timestamp {
    /// Decodes the 7 octets of a TP-SCTS/TP-DT/absolute TP-VP.
    pub fn from_octets(o: &[u8; 7]) -> Timestamp {
        let yy = u16::from(swapped(o[0]));
        let tz = o[6];
        // Bit 3 of the low (tens) nibble is the sign.
        let quarters = i16::from(tz & 0x07) * 10 + i16::from(tz >> 4);
        let sign = if tz & 0x08 != 0 { -1 } else { 1 };
        Timestamp {
            year: if yy >= 90 { 1900 + yy } else { 2000 + yy },
            month: swapped(o[1]),
            day: swapped(o[2]),
            hour: swapped(o[3]),
            minute: swapped(o[4]),
            second: swapped(o[5]),
            offset_minutes: sign * quarters * 15,
        }
    }

    /// The 7 octets of this time stamp (offset truncated to whole quarter hours).
    pub fn to_octets(&self) -> [u8; 7] {
        let q = (self.offset_minutes / 15).clamp(-79, 79);
        let aq = q.unsigned_abs() as u8;
        let mut tz = swap_bcd(aq);
        if q < 0 {
            tz |= 0x08;
        }
        [
            swap_bcd((self.year % 100) as u8),
            swap_bcd(self.month),
            swap_bcd(self.day),
            swap_bcd(self.hour),
            swap_bcd(self.minute),
            swap_bcd(self.second),
            tz,
        ]
    }

    /// The time stamp as a date-time with its offset; `None` when a field is out of range.
    pub fn to_datetime(&self) -> Option<DateTime<FixedOffset>> {
        let off = FixedOffset::east_opt(i32::from(self.offset_minutes) * 60)?;
        let naive = NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )?
        .and_hms_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
        )?;
        naive.and_local_timezone(off).single()
    }

    /// ISO 8601 with the offset the PDU carries, e.g. `2013-03-08T15:02:16+02:00`. Out of
    /// range fields are printed as they are.
    pub fn to_iso8601(&self) -> String {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            off / 60,
            off % 60
        )
    }

    /// A time stamp from a date-time (offset truncated to quarter hours when encoded).
    pub fn from_datetime(dt: DateTime<FixedOffset>) -> Timestamp {
        Timestamp {
            year: dt.year().clamp(0, 9999) as u16,
            month: dt.month() as u8,
            day: dt.day() as u8,
            hour: dt.hour() as u8,
            minute: dt.minute() as u8,
            second: dt.second().min(59) as u8,
            offset_minutes: (dt.offset().local_minus_utc() / 60) as i16,
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso8601())
    }
}

/// TP-VP, the validity period of an SMS-SUBMIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// Relative format (one octet, TP-VPF = 10).
    Relative(u8),
    /// Absolute format (TP-VPF = 11).
    Absolute(Timestamp),
    /// Enhanced format (TP-VPF = 01, TS 23.040 §9.2.3.12.3), kept raw.
    Enhanced([u8; 7]),
}

impl Validity {
    /// The relative octet closest to (not shorter than) `minutes`, capped at 63 weeks.
    pub fn relative_minutes(minutes: u32) -> Validity {
        let m = minutes.max(5);
        let v = if m <= 12 * 60 {
            m.div_ceil(5) - 1
        } else if m <= 24 * 60 {
            143 + (m - 12 * 60).div_ceil(30)
        } else if m <= 30 * 24 * 60 {
            166 + m.div_ceil(24 * 60)
        } else {
            (192 + m.div_ceil(7 * 24 * 60)).min(255)
        };
        Validity::Relative(v.min(255) as u8)
    }

    /// Length of a relative validity in minutes (TS 23.040 §9.2.3.12.1).
    pub fn relative_to_minutes(v: u8) -> u32 {
        let v = u32::from(v);
        match v {
            0..=143 => (v + 1) * 5,
            144..=167 => 12 * 60 + (v - 143) * 30,
            168..=196 => (v - 166) * 24 * 60,
            _ => (v - 192) * 7 * 24 * 60,
        }
    }

    /// ISO 8601: a duration (`PT5M`, `PT12H30M`, `P3D`, `P52W`) for the relative format,
    /// the date-time for the absolute one, `None` for the enhanced format.
    pub fn to_iso8601(&self) -> Option<String> {
        match self {
            Validity::Relative(v) => {
                let v = *v;
                Some(match v {
                    0..=167 => {
                        let m = Self::relative_to_minutes(v);
                        match (m / 60, m % 60) {
                            (0, mm) => format!("PT{mm}M"),
                            (h, 0) => format!("PT{h}H"),
                            (h, mm) => format!("PT{h}H{mm}M"),
                        }
                    }
                    168..=196 => format!("P{}D", u32::from(v) - 166),
                    _ => format!("P{}W", u32::from(v) - 192),
                })
            }
            Validity::Absolute(t) => Some(t.to_iso8601()),
            Validity::Enhanced(_) => None,
        }
    }

    /// The TP-VPF bits (4-3 of the first octet of an SMS-SUBMIT).
    pub(crate) fn vpf_bits(&self) -> u8 {
        match self {
            Validity::Relative(_) => 0x10,
            Validity::Enhanced(_) => 0x08,
            Validity::Absolute(_) => 0x18,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Validity::Relative(v) => out.push(*v),
            Validity::Absolute(t) => out.extend_from_slice(&t.to_octets()),
            Validity::Enhanced(o) => out.extend_from_slice(o),
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Validity", 3)?;
        match self {
            Validity::Relative(v) => {
                st.serialize_field("format", "relative")?;
                st.serialize_field("raw", v)?;
            }
            Validity::Absolute(_) => {
                st.serialize_field("format", "absolute")?;
                st.skip_field("raw")?;
            }
            Validity::Enhanced(_) => {
                st.serialize_field("format", "enhanced")?;
                st.skip_field("raw")?;
            }
        }
        st.serialize_field("value", &self.to_iso8601())?;
        st.end()
    }
}
