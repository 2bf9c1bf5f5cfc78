//! Candidate codes and their scores.
//!
//! A message is cut into runs of ASCII letters and digits (other scripts'
//! digits are already folded to ASCII by [`Doc`]). Runs that are pieces of a
//! bigger structured number (an amount `1,234.56`, a date `2024-05-01`, a time
//! `12:30`, a phone `+1 415 555 0123`, a masked account `XX1234`, anything
//! inside a URL or e-mail address) are dropped outright. The survivors get a
//! score:
//!
//! - `shape`: how code-like the token is (six digits best);
//! - plus `pull`: how close a code keyword is, in words that are not fillers
//!   like "is your";
//! - plus `layout`: alone on its line, a WebOTP `@domain #code` line;
//! - plus `message`: the message talks about codes at all;
//! - minus `context`: a currency next to it, an account/order/phone label
//!   before it, a unit after it.
//!
//! The best candidate at or above [`ACCEPT`] is the code. The weights are
//! rounded numbers chosen so each signal alone cannot accept a code: a bare
//! six-digit number needs a keyword nearby or a line of its own in a message
//! that talks about codes.

use super::keywords::{Class, Hit};
use super::text::{is_cjk, is_newline, is_sentence_end, is_word_char, Doc};

/// Score a candidate needs to be reported.
pub(crate) const ACCEPT: f32 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Digits,
    /// Two equal digit groups: `123-456`, `123 456`.
    SplitDigits,
    /// Letters and digits: `TF33`, `RKJ-YP6`.
    Mixed,
    /// Letters only: `mifsuc`, `QGFDAE`. Only right after a keyword.
    Letters,
    /// Single characters spaced out: `4 u 8 k u f`.
    Spaced,
    /// Google's `G-123456`.
    Google,
}

#[derive(Debug, Clone)]
pub(crate) struct Cand {
    pub start: usize,
    pub end: usize,
    pub shape: Shape,
    /// Normalised code: separators and `G-` removed, ASCII, case kept.
    pub code: String,
    pub score: f32,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    end: usize,
    digits: usize,
    letters: usize,
}

impl Run {
    fn len(&self) -> usize {
        self.end - self.start
    }
    fn all_digits(&self) -> bool {
        self.letters == 0
    }
}

fn is_ascii_alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

fn is_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

fn runs(doc: &Doc) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.len() {
        if !doc.low[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        let (mut digits, mut letters) = (0, 0);
        while i < doc.len() && doc.low[i].is_ascii_alphanumeric() {
            if doc.low[i].is_ascii_digit() {
                digits += 1;
            } else {
                letters += 1;
            }
            i += 1;
        }
        out.push(Run {
            start,
            end: i,
            digits,
            letters,
        });
    }
    out
}

/// Char spans of URLs, e-mail addresses and bare domains with a path: a
/// whitespace-delimited token with `://`, `www.`, an `@`, or `x.y/`.
pub(crate) fn url_spans(doc: &Doc) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    let n = doc.len();
    while i < n {
        if doc.low[i].is_whitespace() || is_cjk(doc.low[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !doc.low[i].is_whitespace() && !is_cjk(doc.low[i]) {
            i += 1;
        }
        let tok = doc.folded(start, i);
        let looks_url = tok.contains("://")
            || tok.contains("www.")
            || (tok.contains('@') && !tok.starts_with('@') && tok.contains('.'))
            || has_domain_path(&tok)
            || bare_domain(&tok)
            || tok.contains("?") && tok.contains('=');
        if looks_url {
            spans.push((start, i));
        }
    }
    spans
}

/// `v.whatsapp.com/105876`, `bit.ly/3QZ`: letters, a dot, letters, then a slash.
fn has_domain_path(tok: &str) -> bool {
    let Some(slash) = tok.find('/') else {
        return false;
    };
    let host = &tok[..slash];
    match host.rfind('.') {
        Some(dot) => {
            let tld = &host[dot + 1..];
            tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// `login.o2online.de`, `manulife.ca`: host names without a scheme.
fn bare_domain(tok: &str) -> bool {
    const TLDS: &[&str] = &[
        "com", "net", "org", "de", "nl", "ru", "cn", "uk", "ca", "in", "io", "me", "ly", "co",
        "gov", "edu", "info", "biz", "app", "fr", "es", "it", "br", "jp", "kr", "tr", "ir", "id",
        "vn", "ae", "sa", "eg", "au", "be", "by", "ua", "pl", "cz", "at", "ch", "se", "no", "fi",
        "dk", "asia", "tv", "cc", "us", "mx", "ar", "cl", "pe", "pk", "bd", "lk", "np", "ng", "ke",
        "za", "il", "gr", "pt", "ro", "hu", "sk", "ie", "nz", "sg", "my", "ph", "th", "tw", "hk",
        "mo", "kz", "uz", "am", "ge", "az", "et", "tz", "ug", "gh",
    ];
    let t = tok.trim_matches(|c: char| !c.is_alphanumeric());
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return false;
    }
    let labels: Vec<&str> = t.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels[..labels.len() - 1]
            .iter()
            .any(|l| l.chars().any(|c| c.is_ascii_alphabetic()))
        && labels.last().is_some_and(|l| TLDS.contains(l))
}

fn in_spans(spans: &[(usize, usize)], a: usize, b: usize) -> bool {
    spans.iter().any(|&(s, e)| a < e && s < b)
}

/// Separators that glue digits into one structured number.
fn is_num_glue(c: Option<char>) -> bool {
    matches!(c, Some('-' | '.' | '/' | ':' | ',' | '*' | '_' | '\''))
}

/// Whether the run is a piece of a bigger number: `1,234.56`, `12:30`,
/// `2024-05-01`, `56765*1234`, `1.2.3.4`.
fn glued(doc: &Doc, start: usize, end: usize) -> bool {
    let left = start >= 2 && glue_at(doc, start - 1) && is_digit(doc.at(start - 2));
    let right = glue_at(doc, end) && is_digit(doc.at(end + 1)) && {
        // A comma only glues as a thousands separator or a decimal comma:
        // two or three digits follow ("1,234", "200,00").
        let digits_after = (1..=4).take_while(|&k| is_digit(doc.at(end + k))).count();
        doc.at(end) != Some(',') || digits_after == 2 || digits_after == 3
    };
    left || right
}

/// Glue as written: a fullwidth comma or colon in CJK text ends a clause, it
/// never groups digits.
fn glue_at(doc: &Doc, i: usize) -> bool {
    is_num_glue(doc.at(i)) && doc.chars.get(i).is_some_and(|c| c.is_ascii())
}

/// Spaced short digit groups around the run: phone numbers written in groups
/// (`415 555 0123`, `600 52 3693`, `0800 714 888`).
fn phone_groups(doc: &Doc, start: usize, end: usize) -> bool {
    let group_left = doc.before(start) == Some(' ') && start >= 2 && is_digit(doc.at(start - 2));
    let group_right = doc.at(end) == Some(' ') && is_digit(doc.at(end + 1));
    if !(group_left || group_right) {
        return false;
    }
    // Count the groups in the chain this run belongs to.
    let mut groups = 1;
    let mut i = start;
    while i >= 2 && doc.at(i - 1) == Some(' ') && is_digit(doc.at(i - 2)) {
        let mut j = i - 1;
        while j > 0 && is_digit(doc.at(j - 1)) {
            j -= 1;
        }
        if is_ascii_alnum(doc.before(j)) {
            break;
        }
        groups += 1;
        i = j;
    }
    let mut k = end;
    while doc.at(k) == Some(' ') && is_digit(doc.at(k + 1)) {
        let mut j = k + 1;
        while is_digit(doc.at(j)) {
            j += 1;
        }
        if is_ascii_alnum(doc.at(j)) {
            break;
        }
        groups += 1;
        k = j;
    }
    groups >= 3 || doc.before(i) == Some('+') || doc.before(i) == Some('(')
}

/// ASCII code characters from the original text, case kept.
fn code_text(doc: &Doc, start: usize, end: usize) -> String {
    (start..end)
        .filter_map(|i| {
            let o = doc.chars[i];
            let f = doc.low[i];
            if f.is_ascii_digit() {
                Some(f)
            } else if f.is_ascii_alphabetic() {
                // Fullwidth letters folded to ASCII, keeping the original case.
                if o.is_ascii() {
                    Some(o)
                } else if o.is_uppercase() {
                    Some(f.to_ascii_uppercase())
                } else {
                    Some(f)
                }
            } else {
                None
            }
        })
        .collect()
}

/// Unit words and letters glued to digits that make a token a quantity, not a code.
const UNIT_SUFFIX: &[&str] = &[
    "min", "mins", "minute", "minutes", "sec", "secs", "s", "h", "hr", "hrs", "hours", "d", "days",
    "gb", "mb", "kb", "tb", "km", "kg", "g", "ml", "l", "m", "cm", "mm", "am", "pm", "st", "nd",
    "rd", "th", "x", "k", "p", "mt", "jpy", "inr", "usd", "eur", "aed", "irt", "irr", "rub", "tl",
    "vnd", "rs", "cr", "dr", "bdt", "tk", "sar", "egp", "etb", "tsh", "tzs", "lkr", "npr", "pkr",
    "gbp", "cny", "rmb", "idr", "php", "thb", "myr", "mzn", "ugx", "kes", "ngn", "zar", "omr",
    "qar", "kwd", "mxn", "brl", "try", "pln", "czk",
];
const UNIT_PREFIX: &[&str] = &[
    "rs", "inr", "usd", "eur", "aed", "sar", "egp", "etb", "tsh", "tzs", "lkr", "npr", "pkr",
    "gbp", "rmb", "cny", "idr", "rp", "php", "thb", "myr", "jpy", "vnd", "tk", "bdt", "omr", "qar",
    "kwd", "mxn", "brl", "try", "pln", "czk", "ngn", "kes", "ugx", "zar", "mzn",
];

/// Mixed tokens that are not codes: `30GB`, `INR500`, `XX1234`, `18h46`.
fn quantity_or_mask(tok: &str) -> bool {
    let lower = tok.to_ascii_lowercase();
    let letters: String = lower.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if letters.chars().all(|c| c == 'x') {
        return true; // masked digits
    }
    let lead_digits = lower.chars().take_while(|c| c.is_ascii_digit()).count();
    let tail_digits = lower
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let n = lower.len();
    if lead_digits > 0
        && lead_digits + letters.len() == n
        && UNIT_SUFFIX.contains(&&lower[lead_digits..])
    {
        return true;
    }
    if tail_digits > 0
        && tail_digits + letters.len() == n
        && UNIT_PREFIX.contains(&&lower[..n - tail_digits])
    {
        return true;
    }
    // Words with a digit in them: "98point6", "o2online", "1xJetBrains".
    let mut run = 0;
    for ch in tok.chars() {
        run = if ch.is_ascii_lowercase() { run + 1 } else { 0 };
        if run >= 4 {
            return true;
        }
    }
    // Times like 18h46, 18h46m18s.
    letters.chars().all(|c| matches!(c, 'h' | 'm' | 's'))
        && lower.starts_with(|c: char| c.is_ascii_digit())
}

/// Collect candidates. Scores are filled in by [`score_all`].
pub(crate) fn candidates(doc: &Doc, urls: &[(usize, usize)]) -> Vec<Cand> {
    let rs = runs(doc);
    let mut out = Vec::new();
    let mut consumed = vec![false; rs.len()];
    let push = |out: &mut Vec<Cand>, start: usize, end: usize, shape: Shape, code: String| {
        if !in_spans(urls, start, end) && !code.is_empty() {
            out.push(Cand {
                start,
                end,
                shape,
                code,
                score: 0.0,
            });
        }
    };

    for i in 0..rs.len() {
        if consumed[i] {
            continue;
        }
        let r = rs[i];
        let next = rs.get(i + 1).copied();
        let sep = doc.at(r.end);
        let adjacent = next.filter(|n| n.start == r.end + 1);

        // G-123456
        if let Some(n) = adjacent {
            if doc.low[r.start] == 'g'
                && r.len() == 1
                && sep == Some('-')
                && n.all_digits()
                && (4..=8).contains(&n.len())
                && !is_ascii_alnum(doc.before(r.start))
                && !(is_num_glue(doc.at(n.end)) && is_digit(doc.at(n.end + 1)))
            {
                consumed[i + 1] = true;
                push(
                    &mut out,
                    r.start,
                    n.end,
                    Shape::Google,
                    code_text(doc, n.start, n.end),
                );
                continue;
            }
        }

        // 4 u 8 k u f: five or more single characters, single-spaced.
        if r.len() == 1 {
            let mut j = i;
            while j + 1 < rs.len()
                && rs[j + 1].len() == 1
                && rs[j + 1].start == rs[j].end + 1
                && doc.at(rs[j].end) == Some(' ')
            {
                j += 1;
            }
            let count = j - i + 1;
            let any_digit = rs[i..=j].iter().any(|x| x.digits > 0);
            if count >= 5 && any_digit && !is_ascii_alnum(doc.at(rs[j].end)) {
                for c in consumed.iter_mut().take(j + 1).skip(i) {
                    *c = true;
                }
                push(
                    &mut out,
                    r.start,
                    rs[j].end,
                    Shape::Spaced,
                    code_text(doc, r.start, rs[j].end),
                );
                continue;
            }
        }

        // 123-456, 123 456, RKJ-YP6: exactly two equal groups.
        if let Some(n) = adjacent {
            let same_len = r.len() == n.len() && (r.len() == 3 || r.len() == 4);
            let both_digits = r.all_digits() && n.all_digits();
            let alnum_caps = sep == Some('-')
                && r.len() == 3
                && r.digits + n.digits > 0
                && doc
                    .original(r.start, n.end)
                    .chars()
                    .all(|c| !c.is_lowercase());
            let sep_ok = sep == Some('-') || (sep == Some(' ') && both_digits);
            // Exactly two groups: no digit group glued on either side.
            let left_more = matches!(doc.before(r.start), Some('-' | ' ' | '.' | '/' | ':' | ','))
                && r.start >= 2
                && is_digit(doc.at(r.start - 2));
            let right_more = matches!(doc.at(n.end), Some('-' | ' ' | '.' | '/' | ':' | ','))
                && is_digit(doc.at(n.end + 1));
            let outer_free = !left_more && !right_more && doc.before(r.start) != Some('+');
            if same_len && sep_ok && (both_digits || alnum_caps) && outer_free {
                consumed[i + 1] = true;
                let shape = if both_digits {
                    Shape::SplitDigits
                } else {
                    Shape::Mixed
                };
                push(
                    &mut out,
                    r.start,
                    n.end,
                    shape,
                    code_text(doc, r.start, n.end),
                );
                continue;
            }
        }

        if r.len() < 3 || r.len() > 10 || glued(doc, r.start, r.end) {
            continue;
        }
        let shape = if r.all_digits() {
            if phone_groups(doc, r.start, r.end) {
                continue;
            }
            Shape::Digits
        } else if r.digits == 0 {
            if r.len() < 4 {
                continue;
            }
            Shape::Letters
        } else {
            if r.len() < 4 || quantity_or_mask(&doc.folded(r.start, r.end)) {
                continue;
            }
            Shape::Mixed
        };
        push(
            &mut out,
            r.start,
            r.end,
            shape,
            code_text(doc, r.start, r.end),
        );
    }
    out
}

/// Words that cost nothing between a keyword and its code ("is your", "为").
const FILLERS: &[&str] = &[
    "is",
    "was",
    "are",
    "be",
    "will",
    "your",
    "you",
    "the",
    "a",
    "an",
    "this",
    "that",
    "here",
    "as",
    "for",
    "of",
    "to",
    "in",
    "with",
    "it",
    "its",
    "my",
    "our",
    "following",
    "below",
    "simply",
    "please",
    "use",
    "enter",
    "new",
    "requested",
    "following:",
    "ist",
    "lautet",
    "der",
    "die",
    "das",
    "dein",
    "deine",
    "ihr",
    "ihre",
    "ihren",
    "bitte",
    "folgenden",
    "est",
    "votre",
    "ton",
    "le",
    "la",
    "les",
    "de",
    "du",
    "voici",
    "es",
    "su",
    "tu",
    "el",
    "del",
    "é",
    "o",
    "seu",
    "sua",
    "do",
    "da",
    "è",
    "il",
    "tuo",
    "tua",
    "di",
    "uw",
    "je",
    "jouw",
    "het",
    "ваш",
    "ваша",
    "ваше",
    "твой",
    "для",
    "это",
    "twój",
    "twoj",
    "jest",
    "sizin",
    "için",
    "icin",
    "anda",
    "adalah",
    "kamu",
    "ini",
    "là",
    "cua",
    "của",
    "quy",
    "khach",
    "ban",
    "bạn",
    "quý",
    "khách",
    "هو",
    "هی",
    "الخاص",
    "بک",
    "لک",
    "شما",
    "הוא",
    "היא",
    "הינו",
    "הינה",
    "שלך",
    "שלכם",
    "है",
    "आपका",
    "का",
    "की",
    "は",
    "です",
    "の",
    "는",
    "은",
    "이",
    "가",
    "입니다",
    "you're",
    "yours",
    "code",
    "sms",
];
const CJK_FILLERS: &[char] = &[
    '为', '是', '為', '的', '您', '你', '本', '次', '码', '碼', 'は', 'の', 'で', 'す', '이', '가',
    '는', '은',
];

/// Cost, in words, of the text between a keyword and a candidate.
fn gap_cost(doc: &Doc, a: usize, b: usize, cands: &[Cand], hits: &[Hit], newline: f32) -> f32 {
    if b < a {
        return 99.0;
    }
    if b - a > 160 {
        return 99.0;
    }
    let mut cost = 0.0f32;
    let mut i = a;
    let mut in_newline = false;
    while i < b {
        let c = doc.low[i];
        if is_newline(c) {
            if !in_newline {
                cost += newline;
            }
            in_newline = true;
            i += 1;
            continue;
        }
        if !c.is_whitespace() {
            in_newline = false;
        }
        if is_cjk(c) {
            if !CJK_FILLERS.contains(&c) {
                let in_kw = hits
                    .iter()
                    .any(|h| h.class == Class::Code && h.start <= i && i < h.end);
                cost += if in_kw { 0.15 } else { 0.35 };
            }
            if is_sentence_end(c) {
                cost += 1.2;
            }
            i += 1;
            continue;
        }
        if is_word_char(c) {
            let s = i;
            while i < b && is_word_char(doc.low[i]) && !is_cjk(doc.low[i]) {
                i += 1;
            }
            let w = doc.folded(s, i);
            if FILLERS.contains(&w.as_str()) {
                continue;
            }
            if cands
                .iter()
                .any(|k| k.start <= s && i <= k.end && k.code.chars().any(|d| d.is_ascii_digit()))
            {
                cost += 2.5;
            } else if hits
                .iter()
                .any(|h| matches!(h.class, Class::Code | Class::Hint) && h.start <= s && i <= h.end)
            {
                cost += 0.3;
            } else {
                cost += 1.0;
            }
            continue;
        }
        if is_sentence_end(c) {
            let next = doc.at(i + 1);
            if c as u32 > 0x7f || next.is_none_or(|n| n.is_whitespace()) || i + 1 >= b {
                cost += 1.2;
            }
        }
        i += 1;
    }
    cost
}

/// Copulas and list marks that say "the following is the value".
const COPULAS: &[&str] = &[
    "is", "are", "was", "es", "est", "ist", "é", "è", "lautet", "هو", "هی", "הוא", "היא", "הינו",
    "הינה", "la", "là", "adalah", "是", "为", "為", "は", "är", "er", "er:", "jest", "je", "—",
    "–", "-", "é:", "है", "=", "dır", "dur", "-", "用作", "作为", "作為",
];

fn copula_before(doc: &Doc, start: usize) -> bool {
    let mut i = start;
    while i > 0
        && matches!(
            doc.low[i - 1],
            ' ' | '"' | '\'' | '(' | '「' | '『' | '【' | '«' | '“'
        )
    {
        i -= 1;
    }
    if i > 0 && matches!(doc.low[i - 1], ':' | '=') {
        return true;
    }
    let w = word_before(doc, i);
    let w = if w.is_empty() {
        doc.before(i).map(String::from).unwrap_or_default()
    } else {
        w
    };
    COPULAS.contains(&w.as_str())
}

fn cjk_copula_at(doc: &Doc, i: usize) -> bool {
    COPULAS.iter().filter(|w| w.chars().all(is_cjk)).any(|w| {
        w.chars()
            .enumerate()
            .all(|(k, ch)| doc.at(i + k) == Some(ch))
    })
}

fn copula_after(doc: &Doc, end: usize) -> bool {
    let mut i = end;
    while matches!(
        doc.at(i),
        Some(' ' | '"' | '\'' | ')' | '」' | '』' | '】' | '»' | '”')
    ) {
        i += 1;
    }
    if cjk_copula_at(doc, i) {
        return true;
    }
    let w = word_after(doc, i);
    let w = if w.is_empty() {
        doc.at(i).map(String::from).unwrap_or_default()
    } else {
        w
    };
    COPULAS.contains(&w.as_str())
}

/// No line break, sentence end or other digit candidate between `a` and `b`.
fn clause_clear(doc: &Doc, a: usize, b: usize, others: &[Cand]) -> bool {
    if b < a || b - a > 120 {
        return false;
    }
    for i in a..b {
        let c = doc.low[i];
        if is_newline(c) {
            return false;
        }
        if is_sentence_end(c)
            && (c as u32 > 0x7f || doc.at(i + 1).is_none_or(|n| n.is_whitespace()))
        {
            return false;
        }
    }
    !others
        .iter()
        .any(|o| a <= o.start && o.end <= b && o.code.chars().any(|d| d.is_ascii_digit()))
}

/// Start of the window of up to `words` words before `pos` on the same line.
fn window_back(doc: &Doc, pos: usize, words: usize) -> usize {
    let mut i = pos;
    let mut seen = 0.0f32;
    while i > 0 {
        let c = doc.low[i - 1];
        if is_newline(c) || matches!(c, ',' | ';' | '!' | '?' | '。' | '、') {
            break;
        }
        if is_cjk(c) {
            seen += 0.35;
            i -= 1;
        } else if is_word_char(c) {
            while i > 0 && is_word_char(doc.low[i - 1]) && !is_cjk(doc.low[i - 1]) {
                i -= 1;
            }
            seen += 1.0;
        } else {
            i -= 1;
            continue;
        }
        if seen >= words as f32 {
            break;
        }
    }
    i
}

/// Next word after `pos` (skipping at most one space), folded.
fn word_after(doc: &Doc, pos: usize) -> String {
    let mut i = pos;
    if doc.at(i) == Some(' ') {
        i += 1;
    }
    let s = i;
    if doc.at(i).is_some_and(is_cjk) {
        return doc.folded(i, i + 1);
    }
    while doc.at(i).is_some_and(|c| is_word_char(c) && !is_cjk(c)) {
        i += 1;
    }
    doc.folded(s, i)
}

/// Previous word before `pos` (skipping at most one space), folded.
fn word_before(doc: &Doc, pos: usize) -> String {
    let mut i = pos;
    if matches!(doc.before(i), Some(' ' | '-' | '/')) {
        i -= 1;
    }
    let e = i;
    while doc.before(i).is_some_and(|c| is_word_char(c) && !is_cjk(c)) {
        i -= 1;
    }
    doc.folded(i, e)
}

const UNITS_AFTER: &[&str] = &[
    "min",
    "mins",
    "minute",
    "minutes",
    "minuten",
    "minuti",
    "minutos",
    "minutter",
    "минут",
    "минуты",
    "phút",
    "phut",
    "dakika",
    "menit",
    "sec",
    "secs",
    "seconds",
    "sekunden",
    "hours",
    "hrs",
    "hr",
    "h",
    "days",
    "day",
    "gb",
    "mb",
    "kb",
    "km",
    "kg",
    "points",
    "pts",
    "units",
    "x",
    "%",
    "分钟",
    "分鐘",
    "分",
    "秒",
    "小",
    "天",
    "日",
    "次",
    "位",
    "元",
    "块",
    "年",
    "月",
    "号",
    "號",
    "时",
    "時",
    "点",
    "點",
    "个",
    "個",
    "円",
    "원",
    "개",
    "件",
    "条",
    "條",
    "名",
    "人",
    "岁",
    "歲",
    "周",
    "週",
    "mal",
    "times",
];
const MONTHS: &[&str] = &[
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const CURRENCY_SIGNS: &[char] = &[
    '$', '€', '£', '¥', '₹', '₽', '₺', '₩', '₫', '฿', '₦', '₴', '₱', '₪', '﷼', '৳', '₨',
];

fn line_alone(doc: &Doc, start: usize, end: usize) -> bool {
    let mut i = start;
    while i > 0 && !is_newline(doc.low[i - 1]) {
        i -= 1;
        if is_word_char(doc.low[i]) {
            return false;
        }
    }
    let mut j = end;
    while j < doc.len() && !is_newline(doc.low[j]) {
        if is_word_char(doc.low[j]) {
            return false;
        }
        j += 1;
    }
    // A line of its own means text on another line; a one-line message is not "alone".
    i > 0 || j < doc.len()
}

/// WebOTP (`@example.com #123456`) or a lone `#` before the number.
fn hash_context(doc: &Doc, start: usize) -> Option<bool> {
    let start = if doc.before(start) == Some(' ') && start >= 2 && doc.at(start - 2) == Some('#') {
        start - 1
    } else {
        start
    };
    if doc.before(start) != Some('#') {
        return None;
    }
    let mut i = start - 1;
    if doc.before(i) != Some(' ') {
        return Some(false);
    }
    i -= 1;
    while i > 0 && !doc.low[i - 1].is_whitespace() {
        i -= 1;
    }
    Some(doc.at(i) == Some('@'))
}

/// Fill in `score` for every candidate.
pub(crate) fn score_all(doc: &Doc, cands: &mut [Cand], hits: &[Hit]) {
    let code_in_msg = hits
        .iter()
        .any(|h| h.class == Class::Code && !neutralised(doc, h, hits));
    let hint_in_msg = hits.iter().any(|h| h.class == Class::Hint);
    let message = if code_in_msg {
        0.8
    } else if hint_in_msg {
        0.4
    } else {
        0.0
    };
    // Only what lies within reach of a candidate is looked at, so a long
    // input costs linear time, not candidates x keywords.
    let scores: Vec<f32> = cands
        .iter()
        .map(|c| {
            let lo = c.start.saturating_sub(REACH);
            let hi = c.end + REACH;
            let near_hits = window(hits, lo, hi, |h| h.start);
            let near_cands = window(cands, lo, hi, |o| o.start);
            score_one(doc, c, near_cands, near_hits, message)
        })
        .collect();
    for (c, s) in cands.iter_mut().zip(scores) {
        c.score = s;
    }
}

/// How far (in chars) a keyword or label can act on a candidate; `gap_cost`
/// gives up beyond 160 chars anyway.
const REACH: usize = 200;

/// The items of `v` (sorted by `key`) whose key lies in `[lo, hi]`.
fn window<T>(v: &[T], lo: usize, hi: usize, key: impl Fn(&T) -> usize) -> &[T] {
    let a = v.partition_point(|x| key(x) < lo);
    let b = v.partition_point(|x| key(x) <= hi).max(a);
    &v[a..b]
}

fn score_one(doc: &Doc, c: &Cand, others: &[Cand], hits: &[Hit], message: f32) -> f32 {
    let len = c.code.chars().count();
    let shape = match c.shape {
        Shape::Google => return 10.0,
        Shape::Digits => match len {
            6 => 3.0,
            4 | 5 | 7 | 8 => 2.5,
            3 => 1.5,
            _ => 1.5,
        },
        Shape::SplitDigits => 3.0,
        Shape::Mixed => 1.8,
        Shape::Letters => 0.8,
        Shape::Spaced => 1.0,
    };

    // Keyword pull: the best of all code and hint keywords around.
    let mut pull = 0.0f32;
    let mut pull_before = 0.0f32;
    let mut colon_slot = false;
    for h in hits {
        if !matches!(h.class, Class::Code | Class::Hint) {
            continue;
        }
        if neutralised(doc, h, hits) {
            continue;
        }
        let (cost, bonus, before) = if h.end <= c.start {
            (gap_cost(doc, h.end, c.start, others, hits, 1.0), 0.3, true)
        } else if h.start >= c.end {
            (gap_cost(doc, c.end, h.start, others, hits, 1.8), 0.0, false)
        } else {
            continue;
        };
        // "<code keyword> ... is: X" and "X is your ... <code keyword>" in one
        // clause: the sentence says X is the code, however many words the
        // keyword's qualifiers take ("Your DigiD SMS code to log into ... is:").
        let label_colon = before && {
            let between = doc.folded(h.end, c.start);
            between.contains(':') && between.chars().all(|ch| ch.is_whitespace() || ch == ':')
        };
        let cost = if label_colon {
            0.0
        } else if h.class == Class::Code
            && if before {
                copula_before(doc, c.start) && clause_clear(doc, h.end, c.start, others)
            } else {
                copula_after(doc, c.end) && clause_clear(doc, c.end, h.start, others)
            }
        {
            cost.min(1.0)
        } else {
            cost
        };
        let p = (4.0 - cost).max(0.0) * h.weight;
        let p = if p > 0.0 { p + bonus } else { 0.0 };
        if p > pull {
            pull = p;
        }
        if before && p > pull_before {
            pull_before = p;
            if h.class == Class::Code {
                let between = doc.folded(h.end, c.start);
                colon_slot = between.contains(':')
                    && between
                        .trim_matches(|ch: char| ch.is_whitespace() || ch == ':')
                        .is_empty();
            }
        }
    }

    // Gates: weak shapes need a keyword right there.
    match c.shape {
        Shape::Letters => {
            let caps = doc
                .original(c.start, c.end)
                .chars()
                .all(|ch| ch.is_uppercase());
            if pull_before < 3.5
                || !(caps || colon_slot)
                || STOP_LETTERS.contains(&doc.folded(c.start, c.end).as_str())
            {
                return 0.0;
            }
        }
        Shape::Mixed | Shape::Spaced if pull < 2.5 => return 0.0,
        Shape::Digits if len == 3 && pull < 3.0 => return 0.0,
        _ => {}
    }

    let mut layout = 0.0;
    if line_alone(doc, c.start, c.end) {
        layout += 1.2;
    }
    match hash_context(doc, c.start) {
        Some(true) => layout += 3.0,
        Some(false) => layout -= 3.0,
        None => {}
    }

    layout + shape + pull + message - context_penalty(doc, c, hits)
}

const STOP_LETTERS: &[&str] = &[
    "code", "codes", "your", "this", "that", "will", "from", "sent", "valid", "below", "here",
    "above", "only", "with", "when", "please", "must", "never", "expires", "expire", "lautet",
    "para", "pour", "dont", "anyone", "share", "enter", "login", "sign", "verify", "were", "have",
    "been", "used", "also", "again", "just", "then",
];

/// Whether an anti word ("promo", "claim", "邀请") sits right before the keyword.
fn neutralised(doc: &Doc, h: &Hit, hits: &[Hit]) -> bool {
    let from = window_back(doc, h.start, 2);
    let hits = window(hits, from.saturating_sub(REACH), h.end, |a| a.start);
    hits.iter().any(|a| {
        a.class == Class::Anti
            && ((a.end <= h.start && a.end >= from) || (a.start <= h.start && h.end <= a.end))
    })
}

fn context_penalty(doc: &Doc, c: &Cand, hits: &[Hit]) -> f32 {
    let mut pen = 0.0f32;
    let prev = doc.before(c.start);
    let next = doc.at(c.end);
    if prev == Some('+') {
        pen += 8.0;
    }
    if matches!(prev, Some('*' | '@' | '=')) || prev.is_some_and(|p| CURRENCY_SIGNS.contains(&p)) {
        pen += 8.0;
    }
    if next.is_some_and(|p| CURRENCY_SIGNS.contains(&p) || p == '%') {
        pen += 8.0;
    }
    if c.start >= 2
        && doc.at(c.start - 1) == Some(' ')
        && doc
            .at(c.start - 2)
            .is_some_and(|p| CURRENCY_SIGNS.contains(&p))
    {
        pen += 8.0;
    }

    // Labels before the number on the same line, unless a code keyword comes
    // between the label and the number ("card OTP 123456").
    let from = window_back(doc, c.start, 3);
    let last_code = hits
        .iter()
        .filter(|h| matches!(h.class, Class::Code) && h.end <= c.start && h.end >= from)
        .map(|h| h.end)
        .max();
    for h in hits {
        if h.end > c.start || h.end < from || last_code.is_some_and(|e| e >= h.end) {
            continue;
        }
        // "EUR est 12345678": a verb between the label and the number ends the label.
        if copula_before(doc, c.start)
            && !doc.folded(h.end, c.start).trim().is_empty()
            && doc.folded(h.end, c.start).trim() != ":"
        {
            continue;
        }
        let near = doc
            .folded(h.end, c.start)
            .chars()
            .filter(|&ch| is_word_char(ch))
            .count()
            == 0;
        match h.class {
            Class::Money | Class::Amount => pen += if near { 7.0 } else { 3.0 },
            Class::Ident => pen += if near { 5.0 } else { 3.0 },
            _ => {}
        }
    }
    // Money or unit right after.
    let after = word_after(doc, c.end);
    if UNITS_AFTER.contains(&after.as_str())
        || hits
            .iter()
            .any(|h| h.class == Class::Money && (h.start == c.end || h.start == c.end + 1))
    {
        pen += 6.0;
    }
    let before = word_before(doc, c.start);
    if MONTHS.contains(&after.as_str()) || MONTHS.contains(&before.as_str()) {
        pen += 5.0;
    }
    pen
}

/// The best candidate at or above [`ACCEPT`].
pub(crate) fn best(cands: &[Cand]) -> Option<&Cand> {
    let mut best: Option<&Cand> = None;
    for c in cands {
        if c.score < ACCEPT {
            continue;
        }
        if best.is_none_or(|b| c.score > b.score) {
            best = Some(c);
        }
    }
    best
}
