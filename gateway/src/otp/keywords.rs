//! Keyword tables and the matcher that finds them in a [`Doc`].
//!
//! Pattern syntax (all lowercase, folded like `Doc::low`):
//! - a leading `*` lets the match start inside a word (German and Dutch
//!   compounds: `Sicherheitscode`; Hebrew and Arabic prefixes: `הקוד`);
//! - a trailing `*` lets it end inside a word (inflections: Turkish
//!   `kodunuz`, Russian `пароля`, Finnish `koodisi`);
//! - a space matches any run of spaces, hyphens or underscores, so
//!   `one time password` also finds `One-Time Password`.
//!
//! CJK, kana, hangul and Thai keywords never need word boundaries.

use super::text::{is_cjk, is_word_char, Doc};
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a keyword says about nearby numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Names the code: "verification code", "OTP", "验证码", "пароль".
    Code,
    /// Says something to do with a code without naming it: "enter", "valid
    /// for", "do not share". Weaker pull, but marks the message as an OTP.
    Hint,
    /// Turns a following code keyword into a non-OTP code: "promo code",
    /// "claim code", "邀请码".
    Anti,
    /// A label that makes the next number an identifier, not a code:
    /// account, card, order, reference, phone.
    Ident,
    /// Currency: a number right before or after it is an amount.
    Money,
    /// Amount label ("amount", "balance", "金额"): the next number is an amount.
    Amount,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub start: usize,
    pub end: usize,
    pub class: Class,
    /// Pull strength, 0..=1.
    pub weight: f32,
}

struct Pattern {
    chars: Vec<char>,
    left_free: bool,
    right_free: bool,
    class: Class,
    weight: f32,
}

/// Words that name a one-time code, by language. Weight 1.0 unless listed in
/// `CODE_MEDIUM` (words that also appear in "never share your password" warnings).
const CODE_STRONG: &[&str] = &[
    "code*",
    "*code",
    "codes",
    "otp",
    "otp*",
    "*otp",
    "2fa",
    "passcode*",
    "one time password",
    "one time passcode",
    "one time pin",
    "one time code",
    "onetime password",
    "verification",
    "verify code",
    "verifycode",
    "auth code",
    "authentication",
    "authorisation code",
    "authorization code",
    "security code",
    "login code",
    "access code",
    "sms code",
    "tan",
    "mtan",
    "smstan",
    "pushtan",
    "chiptan",
    "phototan",
    "token",
    "*kennwort",
    "einmalpasswort",
    "bestätigungscode",
    "sicherheitscode",
    "verifizierungscode",
    "*kode",
    "*koden",
    "*koodi*",
    "*kood*",
    "code de sécurité",
    "code de vérification",
    "codice*",
    "código*",
    "codigo*",
    "clave",
    "senha*",
    "token",
    "код*",
    "kod*",
    "kód*",
    "parol*",
    "doğrulama",
    "dogrulama",
    "şifre*",
    "sifre*",
    "kodi*",
    "kods",
    "kode*",
    "mã",
    "mã otp",
    "ma otp",
    "ma xac thuc",
    "mã xác thực",
    "ma xac nhan",
    "mã xác nhận",
    "ma kich hoat",
    "mã kích hoạt",
    "ma bao mat",
    "mã bảo mật",
    "验证码",
    "驗證碼",
    "校验码",
    "校驗碼",
    "动态码",
    "動態碼",
    "认证码",
    "認證碼",
    "确认码",
    "確認碼",
    "安全码",
    "安全碼",
    "代码",
    "代碼",
    "激活码",
    "激活碼",
    "授权码",
    "授權碼",
    "口令",
    "短信码",
    "確認コード",
    "認証コード",
    "コード",
    "認証番号",
    "確認番号",
    "ワンタイム",
    "パスコード",
    "인증번호",
    "인증 번호",
    "인증코드",
    "인증 코드",
    "코드",
    "승인번호",
    "*رمز",
    "*کد",
    "*کود",
    "کدامنیتی",
    "*קוד",
    "ओटीपी",
    "कोड",
    "सत्यापन",
    "รหัส",
    "code d'authentification",
    "code d'accès",
    "code de confirmation",
    "code d'activation",
    "code de validation",
    "authentification",
    "חד פעמי*",
    "安全代码",
    "安全代碼",
];

/// Password-ish words: a code is often called a password, but these words also
/// appear in "never share your password" warnings, so they pull a little less.
const CODE_MEDIUM: &[&str] = &[
    "password",
    "pin",
    "pin code",
    "contraseña*",
    "contrasena*",
    "mot de passe",
    "passwort",
    "wachtwoord",
    "hasło",
    "haslo",
    "heslo",
    "пароль*",
    "salasana*",
    "密码",
    "密碼",
    "動態密碼",
    "动态密码",
    "パスワード",
    "暗証番号",
    "비밀번호",
    "*סיסמ*",
    "كلمة المرور",
    "کلمة المرور",
    "کلمه عبور",
    "पासवर्ड",
    "mật khẩu",
    "mat khau",
    "kata sandi",
    "sandi",
    "parola",
];

/// Hints: instructions and validity phrases typical of OTP messages.
const HINTS: &[&str] = &[
    "enter",
    "use",
    "valid",
    "expires",
    "expire",
    "do not share",
    "don't share",
    "never share",
    "dont share",
    "login",
    "log in",
    "sign in",
    "verify",
    "confirm",
    "activation",
    "activate",
    "gültig",
    "geben sie",
    "durée",
    "valable",
    "saisir",
    "durata",
    "válido",
    "valido",
    "introduce",
    "ingrese",
    "digite",
    "введите",
    "действителен",
    "никому",
    "不要",
    "勿",
    "有效",
    "输入",
    "輸入",
    "登录",
    "登入",
    "有効",
    "入力",
    "유효",
    "입력",
    "geçerli",
    "gecerli",
    "berlaku",
    "jangan",
    "hiệu lực",
    "het han",
    "hết hạn",
    "nhap",
    "nhập",
    "صالح",
    "ادخل",
    "أدخل",
    "הזן",
    "הכנס",
    "दर्ज",
    "वैध",
    "geldig",
    "gebruik",
    "vervalt",
    "confirmation",
    "bestätigung",
];

/// Modifiers that turn the next code keyword into a non-verification code.
const ANTI: &[&str] = &[
    "claim",
    "discount",
    "promo",
    "promotional",
    "promotion",
    "coupon",
    "voucher",
    "gift",
    "referral",
    "refer",
    "invite",
    "invitation",
    "identifier",
    "postal",
    "zip",
    "area",
    "country",
    "tracking",
    "booking",
    "reservation",
    "product",
    "merchant",
    "agent",
    "bar",
    "qr",
    "redeem",
    "redemption",
    "offer",
    "bonus",
    "sort",
    "swift",
    "ifsc",
    "branch",
    "reference",
    "ref",
    "member",
    "customer",
    "pickup",
    "pick up",
    "access point",
    "barcode",
    "postcode",
    "zipcode",
    "promocode",
    "qrcode",
    "couponcode",
    "giftcode",
    "优惠",
    "邀请",
    "兑换",
    "取件",
    "取餐",
    "提货",
    "取货",
    "邀請",
    "兌換",
    "識別",
    "识别",
    "промокод",
    "промо",
    "código promocional",
    "cupón",
    "cupom",
    "gutschein",
    "rabatt",
];

/// Labels that make the following number an identifier.
const IDENT: &[&str] = &[
    "a/c",
    "ac",
    "acc",
    "acct",
    "account",
    "card",
    "ending",
    "ending in",
    "ending with",
    "no.",
    "nr.",
    "number",
    "id",
    "ref",
    "reference",
    "order",
    "txn",
    "trx",
    "trxid",
    "txnid",
    "utr",
    "rrn",
    "upi",
    "folio",
    "invoice",
    "ticket",
    "tracking",
    "call",
    "tel",
    "tel.",
    "phone",
    "mobile",
    "contact",
    "sms",
    "block",
    "blk",
    "dial",
    "helpline",
    "hotline",
    "fax",
    "store",
    "agent",
    "merchant",
    "receipt",
    "membership",
    "policy",
    "loan",
    "flight",
    "room",
    "seat",
    "pnr",
    "awb",
    "shipment",
    "parcel",
    "package",
    "box",
    "locker",
    "vpa",
    "lh",
    "gd",
    "尾号",
    "尾號",
    "账号",
    "帳號",
    "帐号",
    "账户",
    "帳戶",
    "卡号",
    "卡號",
    "订单",
    "訂單",
    "编号",
    "編號",
    "单号",
    "單號",
    "用户",
    "电话",
    "電話",
    "致电",
    "致電",
    "客服",
    "手机",
    "手機",
    "号码",
    "號碼",
    "номер*",
    "счет*",
    "счёт*",
    "карт*",
    "тел",
    "заказ*",
    "pedido",
    "número",
    "numero",
    "cuenta",
    "conta",
    "cartão",
    "tarjeta",
    "bestellung",
    "konto",
    "karte",
    "commande",
    "compte",
    "carte",
    "رقم",
    "حساب",
    "بطاقة",
    "شماره",
    "کارت",
    "حساب",
    "מספר",
    "חשבון",
    "כרטיס",
    "खाता",
    "कार्ड",
    "nomor",
    "rekening",
    "hesap",
    "sipariş",
    "so tai khoan",
    "tài khoản",
    "tai khoan",
    "口座",
    "番号",
    "계좌",
    "카드",
    "customer id",
    "customer no.",
    "member id",
    "user id",
];

/// Money words and currency codes: a number next to one is an amount.
const MONEY: &[&str] = &[
    "rs",
    "rs.",
    "inr",
    "usd",
    "eur",
    "gbp",
    "aed",
    "sar",
    "omr",
    "qar",
    "kwd",
    "bhd",
    "egp",
    "npr",
    "lkr",
    "pkr",
    "bdt",
    "etb",
    "tzs",
    "tsh",
    "kes",
    "ugx",
    "ngn",
    "ghs",
    "zar",
    "tk",
    "jpy",
    "rmb",
    "cny",
    "rub",
    "руб",
    "руб.",
    "uah",
    "грн",
    "idr",
    "rp",
    "vnd",
    "thb",
    "myr",
    "sgd",
    "php",
    "brl",
    "r$",
    "mxn",
    "ars",
    "cop",
    "clp",
    "try",
    "tl",
    "chf",
    "sek",
    "nok",
    "dkk",
    "pln",
    "zł",
    "czk",
    "kč",
    "huf",
    "irr",
    "irt",
    "ریال",
    "تومان",
    "ريال",
    "جنيه",
    "درهم",
    "دينار",
    "mt",
    "mzn",
    "twd",
    "hkd",
    "krw",
    "원",
    "円",
    "元",
    "块",
    "塊",
];

/// Amount labels: the number after one is an amount.
const AMOUNT: &[&str] = &[
    "amount",
    "amt",
    "amt.",
    "bal",
    "bal.",
    "balance",
    "limit",
    "sum",
    "сумма",
    "сумму",
    "monto",
    "importe",
    "valor",
    "betrag",
    "montant",
    "مبلغ",
    "金额",
    "金額",
    "余额",
    "餘額",
    "số tiền",
    "so tien",
    "jumlah",
    "tutar",
    "kiasi",
    "saldo",
    "total",
    "fee",
    "charges",
    "vat",
    "price",
    "paid",
    "spent",
    "debited",
    "credited",
    "value",
];

fn compile(list: &[&str], class: Class, weight: f32, out: &mut Vec<Pattern>) {
    for raw in list {
        let left_free = raw.starts_with('*');
        let right_free = raw.ends_with('*') && raw.len() > 1;
        let body = raw.trim_start_matches('*').trim_end_matches('*');
        let chars: Vec<char> = body.chars().collect();
        if chars.is_empty() {
            continue;
        }
        let first_cjk = chars.first().is_some_and(|&c| is_cjk(c));
        let last_cjk = chars.last().is_some_and(|&c| is_cjk(c));
        out.push(Pattern {
            chars,
            left_free: left_free || first_cjk,
            right_free: right_free || last_cjk,
            class,
            weight,
        });
    }
}

/// Patterns, and for each first char the indices of the patterns that start with it.
struct Table {
    pats: Vec<Pattern>,
    by_first: HashMap<char, Vec<usize>>,
}

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let pats = patterns();
        let mut by_first: HashMap<char, Vec<usize>> = HashMap::new();
        for (i, p) in pats.iter().enumerate() {
            by_first.entry(p.chars[0]).or_default().push(i);
        }
        Table { pats, by_first }
    })
}

fn patterns() -> Vec<Pattern> {
    {
        let mut v = Vec::new();
        compile(CODE_STRONG, Class::Code, 1.0, &mut v);
        compile(CODE_MEDIUM, Class::Code, 0.85, &mut v);
        compile(HINTS, Class::Hint, 0.45, &mut v);
        compile(ANTI, Class::Anti, 1.0, &mut v);
        compile(IDENT, Class::Ident, 1.0, &mut v);
        compile(MONEY, Class::Money, 1.0, &mut v);
        compile(AMOUNT, Class::Amount, 1.0, &mut v);
        v
    }
}

/// Try to match `p` at `i`; returns the end index.
fn match_at(doc: &Doc, p: &Pattern, i: usize) -> Option<usize> {
    let mut j = i;
    let mut k = 0;
    while k < p.chars.len() {
        let pc = p.chars[k];
        if pc == ' ' {
            // One or more separators.
            let mut n = 0;
            while matches!(doc.at(j), Some(' ' | '-' | '_' | '\t')) {
                j += 1;
                n += 1;
            }
            if n == 0 {
                return None;
            }
        } else {
            if doc.at(j)? != pc {
                return None;
            }
            j += 1;
        }
        k += 1;
    }
    Some(j)
}

fn boundary_ok(doc: &Doc, p: &Pattern, start: usize, end: usize) -> bool {
    let first_word = p.chars.first().is_some_and(|&c| is_word_char(c));
    let last_word = p.chars.last().is_some_and(|&c| is_word_char(c));
    if !p.left_free && first_word && doc.before(start).is_some_and(is_word_char) {
        return false;
    }
    if !p.right_free && last_word {
        if let Some(c) = doc.at(end) {
            if is_word_char(c) {
                return false;
            }
        }
    }
    true
}

/// All keyword occurrences, sorted by start. Where matches of the same class
/// overlap, the longest wins ("verification code" over "code").
pub(crate) fn find(doc: &Doc) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let t = table();
    for i in 0..doc.len() {
        let Some(idx) = t.by_first.get(&doc.low[i]) else {
            continue;
        };
        for p in idx.iter().map(|&k| &t.pats[k]) {
            if let Some(end) = match_at(doc, p, i) {
                if boundary_ok(doc, p, i, end) {
                    hits.push(Hit {
                        start: i,
                        end,
                        class: p.class,
                        weight: p.weight,
                    });
                }
            }
        }
    }
    // Drop matches contained in a longer one of the same class: sorted by
    // start, longest first, a hit is contained iff an earlier hit of its class
    // reaches at least as far. One pass, so long inputs stay linear.
    hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut reach: Vec<(Class, usize)> = Vec::new();
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        match reach.iter_mut().find(|(c, _)| *c == h.class) {
            Some((_, end)) if *end >= h.end => continue,
            Some((_, end)) => *end = h.end,
            None => reach.push((h.class, h.end)),
        }
        kept.push(h);
    }
    kept.sort_by_key(|h| (h.start, h.end));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(s: &str) -> Vec<(String, Class)> {
        let d = Doc::new(s);
        find(&d)
            .into_iter()
            .map(|h| (d.folded(h.start, h.end), h.class))
            .collect()
    }

    #[test]
    fn boundaries() {
        let c = classes("Important: Tanzania");
        assert!(!c.iter().any(|(_, k)| *k == Class::Code), "{c:?}");
        let c = classes("Ihr Sicherheitscode");
        assert!(c
            .iter()
            .any(|(w, k)| w == "sicherheitscode" && *k == Class::Code));
        let c = classes("One-Time Password:");
        assert!(c.iter().any(|(w, _)| w == "one-time password"));
    }
}
