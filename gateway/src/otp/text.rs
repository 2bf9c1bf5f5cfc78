//! Char-level view of a message that every other pass works on.
//!
//! We index by `char`, never by byte, so no slice can ever land inside a UTF-8
//! sequence. `low` is a one-to-one folding of `chars` (same length, same
//! indices): lowercase where lowercasing yields one char, every script's
//! decimal digits mapped to ASCII, fullwidth ASCII mapped to ASCII, and the
//! Arabic/Persian letter variants (ك/ک, ي/ی/ى) unified so one keyword list
//! serves both languages.

/// A message prepared for scanning.
pub(crate) struct Doc {
    /// The original characters.
    pub chars: Vec<char>,
    /// Folded characters, index-aligned with `chars`.
    pub low: Vec<char>,
}

impl Doc {
    pub fn new(text: &str) -> Doc {
        let chars: Vec<char> = text.chars().collect();
        let low = chars.iter().map(|&c| fold(c)).collect();
        Doc { chars, low }
    }

    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// Folded char at `i`, or `None` out of range (callers probe neighbours freely).
    pub fn at(&self, i: usize) -> Option<char> {
        self.low.get(i).copied()
    }

    /// Folded char at `i - 1`, `None` at the start.
    pub fn before(&self, i: usize) -> Option<char> {
        i.checked_sub(1).and_then(|j| self.at(j))
    }

    /// Original text of `[a, b)`.
    pub fn original(&self, a: usize, b: usize) -> String {
        let b = b.min(self.chars.len());
        let a = a.min(b);
        self.chars[a..b].iter().collect()
    }

    /// Folded text of `[a, b)`.
    pub fn folded(&self, a: usize, b: usize) -> String {
        let b = b.min(self.low.len());
        let a = a.min(b);
        self.low[a..b].iter().collect()
    }
}

/// Value of a decimal digit in any script we expect in SMS (ASCII, fullwidth,
/// Arabic-Indic, Persian, Devanagari, Bengali, Thai).
pub(crate) fn digit_value(c: char) -> Option<u32> {
    let zeros = [
        '0', '\u{FF10}', '\u{0660}', '\u{06F0}', '\u{0966}', '\u{09E6}', '\u{0E50}',
    ];
    for z in zeros {
        let d = (c as u32).wrapping_sub(z as u32);
        if d < 10 {
            return Some(d);
        }
    }
    None
}

fn fold(c: char) -> char {
    if let Some(d) = digit_value(c) {
        return char::from_digit(d, 10).unwrap_or(c);
    }
    match c {
        // Fullwidth ASCII block (！ to ～), common in CJK messages: "：", "，".
        '\u{FF01}'..='\u{FF5E}' => {
            let a = char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c);
            return a.to_ascii_lowercase();
        }
        '\u{0643}' => return '\u{06A9}', // Arabic kaf -> Persian keheh
        '\u{064A}' | '\u{0649}' => return '\u{06CC}', // Arabic yeh / alef maksura -> Farsi yeh
        '\u{00A0}' | '\u{2007}' | '\u{202F}' => return ' ',
        '\u{2010}' | '\u{2011}' => return '-',
        '\u{2019}' => return '\'',
        _ => {}
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Scripts written without spaces between words: keyword matches there need no
/// word boundary, and each char counts as a fraction of a word in distances.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // kana
        | 0x3400..=0x4DBF // CJK ext A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xF900..=0xFAFF // compatibility ideographs
        | 0xAC00..=0xD7AF // hangul syllables
        | 0x1100..=0x11FF // hangul jamo
        | 0x0E00..=0x0E7F // thai
    )
}

/// A letter or digit of any script (combining marks count, so an Indic or
/// Arabic word with vowel signs stays one word).
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_mark(c)
}

/// Combining marks of the blocks we see in SMS (no Unicode tables in std).
pub(crate) fn is_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F
        | 0x0591..=0x05C7
        | 0x0610..=0x061A
        | 0x064B..=0x065F
        | 0x0670
        | 0x06D6..=0x06ED
        | 0x0900..=0x0903
        | 0x093A..=0x094F
        | 0x0951..=0x0957
        | 0x0962..=0x0963
        | 0x0981..=0x0983
        | 0x09BC..=0x09D7
        | 0x0E31
        | 0x0E34..=0x0E3A
        | 0x0E47..=0x0E4E
        | 0x200C..=0x200D
        | 0x20D0..=0x20FF
        | 0xFE00..=0xFE0F
    )
}

pub(crate) fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// Sentence-ending punctuation (the ASCII ones only count when followed by a
/// space or the end, see `Doc`-level callers).
pub(crate) fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '؟' | '।')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_indices() {
        let d = Doc::new("İ验证码：１２３");
        assert_eq!(d.chars.len(), d.low.len());
        assert_eq!(d.folded(4, 8), ":123");
        assert_eq!(d.original(5, 8), "１２３");
    }

    #[test]
    fn digits_of_other_scripts() {
        assert_eq!(digit_value('۷'), Some(7));
        assert_eq!(digit_value('٣'), Some(3));
        assert_eq!(digit_value('९'), Some(9));
        assert_eq!(digit_value('a'), None);
    }
}
