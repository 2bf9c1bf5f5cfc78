//! Which service a message is from: the sender ID first (alphanumeric sender
//! IDs are brand names), then a known brand named in the text, then a
//! signature in brackets (`【美团】`, `[TikTok]`) or a `Brand:` prefix.

use super::text::{is_word_char, Doc};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Canonical name and the folded spellings that identify it. Spellings are
/// matched on word boundaries (CJK ones anywhere).
const BRANDS: &[(&str, &[&str])] = &[
    ("WhatsApp", &["whatsapp", "v.whatsapp.com"]),
    ("Telegram", &["telegram"]),
    ("Google", &["google", "gmail", "youtube"]),
    (
        "Microsoft",
        &["microsoft", "outlook", "hotmail", "xbox", "skype"],
    ),
    ("Apple", &["apple", "icloud"]),
    ("Amazon", &["amazon"]),
    ("Facebook", &["facebook", "fb", "meta"]),
    ("Instagram", &["instagram"]),
    ("Twitter", &["twitter"]),
    ("Snapchat", &["snapchat"]),
    ("TikTok", &["tiktok"]),
    ("Douyin", &["抖音", "douyin"]),
    ("WeChat", &["wechat", "weixin", "微信"]),
    ("QQ", &["qq"]),
    ("Tencent", &["tencent", "腾讯", "騰訊"]),
    ("Alipay", &["alipay", "支付宝", "支付寶"]),
    ("Taobao", &["taobao", "淘宝", "淘寶"]),
    ("Alibaba", &["alibaba", "阿里巴巴", "阿里云", "aliyun"]),
    ("JD", &["京东", "京東"]),
    ("Pinduoduo", &["拼多多"]),
    ("Meituan", &["meituan", "美团", "美團"]),
    ("Ele.me", &["饿了么", "餓了麼"]),
    ("Baidu", &["baidu", "百度"]),
    ("Huawei", &["huawei", "华为", "華為"]),
    ("Xiaomi", &["xiaomi", "小米"]),
    ("Bilibili", &["bilibili", "哔哩哔哩", "嗶哩嗶哩"]),
    ("Weibo", &["weibo", "微博"]),
    ("Zhihu", &["zhihu", "知乎"]),
    ("LINE", &["line corporation"]),
    ("KakaoTalk", &["kakao", "카카오"]),
    ("Naver", &["naver", "네이버"]),
    ("Viber", &["viber"]),
    ("Signal", &["signal messenger"]),
    ("Discord", &["discord"]),
    ("Steam", &["steam"]),
    ("Uber", &["uber"]),
    ("Lyft", &["lyft"]),
    ("Gojek", &["gojek", "go-jek"]),
    ("Airbnb", &["airbnb"]),
    ("Booking.com", &["booking.com"]),
    ("PayPal", &["paypal"]),
    ("Stripe", &["stripe"]),
    ("Coinbase", &["coinbase"]),
    ("Binance", &["binance"]),
    ("GitHub", &["github"]),
    ("LinkedIn", &["linkedin"]),
    ("Netflix", &["netflix"]),
    ("Spotify", &["spotify"]),
    ("Yahoo", &["yahoo"]),
    ("Tinder", &["tinder"]),
    ("Bumble", &["bumble"]),
    ("Yandex", &["yandex", "яндекс"]),
    ("VK", &["vkontakte", "вконтакте", "vk.com"]),
    ("Sberbank", &["sberbank", "сбербанк", "сбер"]),
    ("Gosuslugi", &["госуслуги", "gosuslugi"]),
    ("Tinkoff", &["tinkoff", "тинькофф", "т-банк"]),
    ("Ozon", &["ozon", "озон"]),
    ("Wildberries", &["wildberries", "вайлдберриз"]),
    ("Avito", &["avito", "авито"]),
    ("Mail.ru", &["mail.ru"]),
    ("Shopee", &["shopee", "蝦皮"]),
    ("Lazada", &["lazada"]),
    ("Tokopedia", &["tokopedia"]),
    ("Paytm", &["paytm"]),
    ("PhonePe", &["phonepe"]),
    ("Zalo", &["zalo"]),
    ("Twilio", &["twilio"]),
    ("Authy", &["authy"]),
    ("Proton", &["proton"]),
    ("Mercari", &["mercari", "メルカリ"]),
    ("Rakuten", &["rakuten", "楽天"]),
    ("eBay", &["ebay"]),
    ("Walmart", &["walmart"]),
    ("Chase", &["chase"]),
    ("Citi", &["citi", "citibank"]),
    ("American Express", &["amex", "american express"]),
    ("USAA", &["usaa"]),
    ("HDFC Bank", &["hdfc", "hdfcbk"]),
    ("ICICI Bank", &["icici", "icicib"]),
    ("SBI", &["sbi", "sbiinb"]),
    ("Axis Bank", &["axis bank", "axisbk"]),
    ("Kotak", &["kotak"]),
    ("ICBC", &["icbc", "工商银行", "工商銀行"]),
    ("ING", &["ing"]),
    ("Revolut", &["revolut"]),
    ("Wise", &["transferwise"]),
    ("Samsung", &["samsung"]),
    ("Sony", &["sony", "playstation"]),
    ("Nintendo", &["nintendo"]),
    ("Epic Games", &["epic games"]),
    ("Roblox", &["roblox"]),
    ("OpenAI", &["openai", "chatgpt"]),
    ("Claude", &["anthropic"]),
    ("Vinted", &["vinted"]),
    ("OLX", &["olx"]),
    ("Careem", &["careem"]),
    ("Glovo", &["glovo"]),
    ("Deliveroo", &["deliveroo"]),
    ("DoorDash", &["doordash"]),
    ("Postmates", &["postmates"]),
    ("Badoo", &["badoo"]),
    ("Truecaller", &["truecaller"]),
    ("imo", &["imo"]),
];

fn brand_table() -> &'static [(&'static str, Vec<char>)] {
    static T: OnceLock<Vec<(&'static str, Vec<char>)>> = OnceLock::new();
    T.get_or_init(|| {
        BRANDS
            .iter()
            .flat_map(|(name, pats)| pats.iter().map(move |p| (*name, p.chars().collect())))
            .collect()
    })
}

/// Earliest known brand in `doc`.
fn known_brand(doc: &Doc) -> Option<&'static str> {
    // Where each character occurs, once per text, so that each brand is compared only
    // where its first letter stands (the table has hundreds of patterns).
    let mut starts: HashMap<char, Vec<usize>> = HashMap::new();
    for (i, &c) in doc.low.iter().enumerate() {
        starts.entry(c).or_default().push(i);
    }
    let mut best: Option<(usize, &'static str)> = None;
    for (name, pat) in brand_table() {
        let (Some(first), n) = (pat.first(), pat.len()) else {
            continue;
        };
        let Some(positions) = starts.get(first) else {
            continue;
        };
        let cjk = pat.iter().any(|&c| super::text::is_cjk(c));
        let found = positions.iter().copied().find(|&i| {
            i + n <= doc.len()
                && doc.low[i..i + n] == *pat.as_slice()
                && (cjk
                    || (!doc.before(i).is_some_and(is_word_char)
                        && !doc.at(i + n).is_some_and(is_word_char)))
        });
        if let Some(pos) = found {
            if best.is_none_or(|(b, _)| pos < b) {
                best = Some((pos, name));
            }
        }
    }
    best.map(|(_, n)| n)
}

/// A signature in 【】 or [] at the start or end of the text.
fn bracket_signature(doc: &Doc) -> Option<String> {
    let text: String = doc.chars.iter().collect();
    let t = text.trim();
    for (open, close) in [('【', '】'), ('[', ']'), ('［', '］')] {
        for cand in [
            t.strip_prefix(open),
            t.rfind(open).map(|i| &t[i + open.len_utf8()..]),
        ] {
            let Some(rest) = cand else { continue };
            let Some(end) = rest.find(close) else {
                continue;
            };
            let inner = rest[..end].trim().trim_start_matches('#').trim();
            let chars = inner.chars().count();
            if (2..=30).contains(&chars)
                && !inner.chars().all(|c| c.is_ascii_digit())
                && inner.chars().any(|c| c.is_alphabetic())
            {
                return Some(inner.to_string());
            }
        }
    }
    None
}

/// `Chase: ...`, `TD Ameritrade: ...`: a short capitalised prefix before a colon,
/// when it is not itself a code label ("Code:", "OTP:").
fn colon_prefix(doc: &Doc, is_label: impl Fn(usize, usize) -> bool) -> Option<String> {
    let text: String = doc.chars.iter().collect();
    let first = text.trim_start().lines().next()?;
    let colon = first.find(':')?;
    let head = first[..colon].trim();
    let words: Vec<&str> = head.split_whitespace().collect();
    if words.is_empty() || words.len() > 3 || head.chars().count() > 30 {
        return None;
    }
    if !words.iter().all(|w| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
    }) {
        return None;
    }
    if !head.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    // Char offsets of the head, to ask whether it holds a code keyword.
    let lead = text.chars().count() - text.trim_start().chars().count();
    let start = lead + first[..first.find(head).unwrap_or(0)].chars().count();
    if is_label(start, start + head.chars().count()) {
        return None;
    }
    Some(head.to_string())
}

/// Normalise a sender ID: Indian DLT prefixes (`AX-HDFCBK`, `VM-ICICIB-S`) and
/// phone numbers are not names.
fn sender_name(sender: &str) -> Option<String> {
    let s = sender.trim();
    if s.is_empty() || s.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return None;
    }
    let b = s.as_bytes();
    let s = if b.len() > 3 && b[2] == b'-' && b[..2].iter().all(|c| c.is_ascii_alphabetic()) {
        &s[3..]
    } else {
        s
    };
    let s = s
        .strip_suffix("-S")
        .or_else(|| s.strip_suffix("-T"))
        .or_else(|| s.strip_suffix("-P"))
        .unwrap_or(s);
    Some(s.to_string())
}

pub(crate) fn detect(
    doc: &Doc,
    sender: Option<&str>,
    google_prefix: bool,
    is_label: impl Fn(usize, usize) -> bool,
) -> Option<String> {
    if let Some(name) = sender.and_then(sender_name) {
        let sd = Doc::new(&name);
        if let Some(b) = known_brand(&sd) {
            return Some(b.to_string());
        }
        // Squeezed sender IDs: "WHATSAPP", "GOOGLE", "HDFCBK".
        let squeezed: String = name
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        for (canon, pats) in BRANDS {
            if pats
                .iter()
                .any(|p| p.chars().count() >= 4 && squeezed.contains(*p))
            {
                return Some(canon.to_string());
            }
        }
        return Some(name);
    }
    if google_prefix {
        return Some("Google".to_string());
    }
    if let Some(sig) = bracket_signature(doc) {
        let sd = Doc::new(&sig);
        return Some(known_brand(&sd).map(str::to_string).unwrap_or(sig));
    }
    if let Some(b) = known_brand(doc) {
        return Some(b.to_string());
    }
    colon_prefix(doc, is_label)
}
