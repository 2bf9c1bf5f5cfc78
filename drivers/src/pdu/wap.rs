//! The little of WAP push (WAP-230 WSP) and MMS encapsulation (OMA-MMS-ENC) needed to show
//! an MMS notification (m-notification-ind) received as 8-bit SMS data on port 2948.

use serde::Serialize;

/// What an MMS notification announces.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MmsNotification {
    pub transaction_id: Option<String>,
    /// The sender, without a `/TYPE=PLMN` suffix.
    pub from: Option<String>,
    pub subject: Option<String>,
    /// Message size in octets.
    pub size: Option<u64>,
    /// Where to fetch the message (X-Mms-Content-Location).
    pub location: Option<String>,
}

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }

    fn uintvar(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for _ in 0..5 {
            let b = self.u8()?;
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A null-terminated text string (a leading quote 0x7F is dropped).
    fn text(&mut self) -> Option<String> {
        let rest = self.b.get(self.i..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        self.i += end + 1;
        let s = rest.get(..end)?;
        let s = s.strip_prefix(&[0x7F]).unwrap_or(s);
        Some(String::from_utf8_lossy(s).into_owned())
    }

    /// Value-length (WSP 8.4.2.2): a short length or 31 + uintvar.
    fn value_length(&mut self) -> Option<usize> {
        match self.u8()? {
            n @ 0..=30 => Some(usize::from(n)),
            31 => usize::try_from(self.uintvar()?).ok(),
            _ => None,
        }
    }

    /// Skips one header value of any type.
    fn skip_value(&mut self) -> Option<()> {
        let first = *self.b.get(self.i)?;
        match first {
            0..=31 => {
                let n = self.value_length()?;
                self.take(n)?;
            }
            32..=127 => {
                self.text()?;
            }
            _ => {
                self.i += 1;
            }
        }
        Some(())
    }

    /// Encoded-string-value: text, or value-length + charset + text.
    fn encoded_string(&mut self) -> Option<String> {
        let first = *self.b.get(self.i)?;
        if first == 0 {
            self.i += 1; // an empty text string
            return Some(String::new());
        }
        if first <= 31 {
            let n = self.value_length()?;
            let inner = self.take(n)?;
            let mut c = Cur { b: inner, i: 0 };
            c.skip_value()?; // charset
            return c.text();
        }
        self.text()
    }
}

/// Reads a WSP push carrying an MMS m-notification-ind; `None` for anything else.
pub fn mms_notification(data: &[u8]) -> Option<MmsNotification> {
    let mut c = Cur { b: data, i: 0 };
    let _tid = c.u8()?;
    if c.u8()? != 0x06 {
        return None; // not a WSP push
    }
    let hlen = usize::try_from(c.uintvar()?).ok()?;
    let headers = c.take(hlen)?;
    if !headers
        .windows(b"mms-message".len())
        .any(|w| w == b"mms-message")
        && headers.first() != Some(&0xBE)
    {
        return None;
    }
    let mut n = MmsNotification::default();
    let mut seen_type = false;
    while c.i < c.b.len() {
        let field = c.u8()?;
        match field {
            0x8C => {
                seen_type = c.u8()? == 0x82;
                if !seen_type {
                    return None;
                }
            }
            0x98 => n.transaction_id = Some(c.text()?),
            0x89 => {
                let len = c.value_length()?;
                let inner = c.take(len)?;
                let mut f = Cur { b: inner, i: 0 };
                if f.u8()? == 0x80 {
                    let s = f.encoded_string()?;
                    let s = s.split("/TYPE=").next().unwrap_or(&s).to_string();
                    n.from = Some(s);
                }
            }
            0x96 => n.subject = Some(c.encoded_string()?),
            0x8E => {
                let len = usize::from(c.u8()?);
                if len > 8 {
                    return None;
                }
                let bytes = c.take(len)?;
                n.size = Some(bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)));
            }
            0x83 => n.location = Some(c.text()?),
            f if f >= 0x80 => c.skip_value()?,
            _ => return None,
        }
    }
    seen_type.then_some(n)
}
