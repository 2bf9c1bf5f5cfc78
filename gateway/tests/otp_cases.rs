//! Hand-written cases for `gateway::otp`, beside the shared corpus: one or more
//! per required language, one per false-positive class, service detection,
//! message types, and a deterministic fuzz run that must never panic.
//!
//! These texts were written for this test in the shapes real services use;
//! none is copied from the corpus.

use gateway::otp::{explain, extract, MessageType};

#[track_caller]
fn code(text: &str, want: Option<&str>) {
    let got = extract(text, None);
    assert_eq!(
        got.code.as_deref(),
        want,
        "text: {text:?}\ncandidates: {:?}",
        explain(text)
    );
    if want.is_some() {
        assert_eq!(got.kind, MessageType::Otp, "text: {text:?}");
        let written = got.code_as_written.expect("code_as_written with a code");
        assert!(text.contains(&written), "{written:?} not in {text:?}");
    } else {
        assert_ne!(got.kind, MessageType::Otp, "text: {text:?}");
        assert!(got.code_as_written.is_none());
    }
}

#[test]
fn english() {
    code("Your Discord verification code is 482913", Some("482913"));
    code("G-538201 is your Google verification code.", Some("538201"));
    code(
        "Your Amazon OTP is 123-456. Do not share it.",
        Some("123456"),
    );
    code("Your code: 482 913", Some("482913"));
    code("Steam Guard code: 7K2QF", Some("7K2QF"));
    code(
        "Use 7391 to sign in to Lyft. Never share this code.",
        Some("7391"),
    );
    code(
        "Your one-time passcode is 04829163. It expires in 10 minutes.",
        Some("04829163"),
    );
    code("<#> 582913 is your Uber code. qLr8Gx2VbN1", Some("582913"));
}

#[test]
fn chinese() {
    code(
        "【京东】验证码：738291，您正在登录，若非本人操作请忽略。",
        Some("738291"),
    );
    code("您的验证码是8291，5分钟内有效。", Some("8291"));
    code(
        "【淘宝】您的校验码为 472910，请勿告诉他人。",
        Some("472910"),
    );
    code("驗證碼：582913（10分鐘內有效）", Some("582913"));
    code("验证码：１２３４５６", Some("123456"));
}

#[test]
fn russian() {
    code(
        "Код подтверждения: 5729. Никому не сообщайте его.",
        Some("5729"),
    );
    code("Ваш пароль для входа в Госуслуги: 482019", Some("482019"));
    code("482019 — ваш код для входа в Telegram", Some("482019"));
}

#[test]
fn spanish() {
    code("Tu código de verificación de Uber es 4821.", Some("4821"));
    code(
        "Tu código de WhatsApp: 482-193. No lo compartas.",
        Some("482193"),
    );
    code("Clave de un solo uso (OTP): 583920", Some("583920"));
}

#[test]
fn portuguese() {
    code(
        "Seu código de verificação do Nubank é 928371. Não compartilhe.",
        Some("928371"),
    );
    code(
        "Use o código 4829 para confirmar seu número no iFood.",
        Some("4829"),
    );
    code("Sua senha temporária: 582910", Some("582910"));
}

#[test]
fn german() {
    code(
        "Ihr Bestätigungscode lautet 582913. Er ist 10 Minuten gültig.",
        Some("582913"),
    );
    code("Dein TikTok-Code lautet 482019", Some("482019"));
    code("Ihre mTAN für die Überweisung: 729104", Some("729104"));
}

#[test]
fn french() {
    code(
        "Votre code de vérification Doctolib est : 582913",
        Some("582913"),
    );
    code("482019 est votre code Facebook", Some("482019"));
    code(
        "Votre mot de passe à usage unique est 7391. Ne le communiquez à personne.",
        Some("7391"),
    );
}

#[test]
fn arabic() {
    code(
        "رمز التحقق الخاص بك هو 582913. لا تشاركه مع أي شخص.",
        Some("582913"),
    );
    // Arabic-Indic digits: the code to type is ASCII, as written stays.
    let e = extract("رمز التحقق: ٤٨٢٩١٣", None);
    assert_eq!(e.code.as_deref(), Some("482913"));
    assert_eq!(e.code_as_written.as_deref(), Some("٤٨٢٩١٣"));
    code("كود التفعيل 7391", Some("7391"));
}

#[test]
fn hindi() {
    code(
        "आपका ओटीपी 482913 है। इसे किसी के साथ साझा न करें।",
        Some("482913"),
    );
    code("482913 आपका Paytm सत्यापन कोड है", Some("482913"));
}

#[test]
fn vietnamese() {
    code(
        "Mã xác thực của bạn là 482913. Không chia sẻ mã này cho bất kỳ ai.",
        Some("482913"),
    );
    code("Ma OTP cua ban la 5829", Some("5829"));
}

#[test]
fn turkish() {
    code(
        "Doğrulama kodunuz: 482913. Bu kodu kimseyle paylaşmayın.",
        Some("482913"),
    );
    code(
        "Giriş için tek kullanımlık şifreniz 7391'dir.",
        Some("7391"),
    );
}

#[test]
fn indonesian() {
    code(
        "Kode verifikasi Anda adalah 482913. JANGAN BERIKAN kode ini kepada siapa pun.",
        Some("482913"),
    );
    code(
        "<#> Kode OTP Gojek kamu: 4829. Jangan kasih tau siapa-siapa.",
        Some("4829"),
    );
}

#[test]
fn more_languages() {
    code("認証コード：582913", Some("582913"));
    code("[카카오] 인증번호 [482913]를 입력해주세요.", Some("482913"));
    code("קוד האימות שלך הוא 582913", Some("582913"));
    code("کد تایید شما: ۵۸۲۹۱۳", Some("582913"));
    code("Twój kod weryfikacyjny to 482913", Some("482913"));
}

#[test]
fn no_false_codes() {
    // Amounts.
    code(
        "Your card ending 4821 was charged $1,234.56 at AMAZON on 2024-05-01.",
        None,
    );
    code(
        "Rs. 5000 debited from A/c XX1234 on 05-01-24. Avl Bal Rs. 12,345.67",
        None,
    );
    code("You paid 250000 VND to Grab.", None);
    // Dates and times.
    code("See you on 2024-05-01 at 12:30.", None);
    code(
        "Your appointment is on 01/05/2024 at 14:30. Reply C to confirm.",
        None,
    );
    // Phone numbers.
    code("Call me at +1 415 555 0123 when you land", None);
    code("Questions? Call 1-800-555-0199 or 0800 714 888.", None);
    // Order and reference numbers.
    code("Order #123456 has been shipped.", None);
    code("Ref # 960855: transfer completed.", None);
    code("Your order 4829130 is out for delivery.", None);
    // URLs.
    code(
        "Track your parcel at https://example.com/track/839201 today",
        None,
    );
    code(
        "Click www.example.com/verify?id=482913 to verify your email",
        None,
    );
    code("Rate us: example.com/r/582913", None);
    // Codes that are not verification codes.
    code("Use promo code SAVE2024 for 20% off", None);
    code("Your referral code is 482913. Share it with friends!", None);
    // Security warnings with no code.
    code(
        "Never share your OTP or PIN with anyone. Bank staff will never ask for it. Helpline 1800 2662.",
        None,
    );
}

#[test]
fn codes_among_other_numbers() {
    code(
        "Your OTP for the payment of Rs. 5,000.00 at Flipkart is 482913. Valid for 10 min.",
        Some("482913"),
    );
    code(
        "Amount $482.91 due 05/01/2024; verification code 839201",
        Some("839201"),
    );
    code(
        "OTP 482913 for txn of INR 1,500.00 on card XX4821",
        Some("482913"),
    );
    code(
        "Your verification code is 123456. Call +1 415 555 0123 for help.",
        Some("123456"),
    );
    code(
        "2024-05-01 12:30 Your login code: 5820. Order #123456.",
        Some("5820"),
    );
    code(
        "@example.com #582913\nYour Example code is 582913",
        Some("582913"),
    );
}

#[test]
fn services() {
    let s = |text: &str, sender: Option<&str>| extract(text, sender).service;
    assert_eq!(
        s("Your code is 482913", Some("WhatsApp")).as_deref(),
        Some("WhatsApp")
    );
    assert_eq!(
        s("Your code is 482913", Some("AX-HDFCBK")).as_deref(),
        Some("HDFC Bank")
    );
    assert_eq!(
        s("Telegram code 48291", Some("+14155550123")).as_deref(),
        Some("Telegram")
    );
    assert_eq!(
        s("G-482913 is your Google verification code.", None).as_deref(),
        Some("Google")
    );
    assert_eq!(s("【微信】验证码：482913", None).as_deref(), Some("WeChat"));
    assert_eq!(
        s("【自如网】验证码 482913", None).as_deref(),
        Some("自如网")
    );
    assert_eq!(
        s("MetroHealth: Your verification code is: 123456.", None).as_deref(),
        Some("MetroHealth")
    );
    assert_eq!(s("Your code is 482913", None), None);
}

#[test]
fn types() {
    let k = |text: &str| extract(text, None).kind;
    assert_eq!(k("Your verification code is 482913"), MessageType::Otp);
    assert_eq!(
        k("Your phone number has been verified successfully."),
        MessageType::Verification
    );
    assert_eq!(
        k("Tap to verify your account: https://ex.com/v/abc"),
        MessageType::Verification
    );
    assert_eq!(
        k("Your package will be delivered today between 10:00 and 14:00."),
        MessageType::Notification
    );
    assert_eq!(
        k("INR 2,000.00 debited from A/c XX1234. Avl bal INR 9,999.00. Never share your OTP."),
        MessageType::Notification
    );
    assert_eq!(
        k("Hey, are we still on for dinner at 7?"),
        MessageType::Other
    );
    assert_eq!(
        k("Congratulations! You've won a $1000 prize. Claim now at 0871234567"),
        MessageType::Other
    );
    assert_eq!(k(""), MessageType::Other);
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "code",
    "验证码",
    "：",
    ":",
    "-",
    "G-",
    " ",
    "\n",
    "is",
    "رمز",
    "код",
    "#",
    "@",
    "http://",
    "www.",
    ".",
    ",",
    "*",
    "+",
    "$",
    "€",
    "元",
    "分钟",
    "OTP",
    "【",
    "】",
    "(",
    ")",
    "is your",
    "est",
    "ist",
    "هو",
    "הוא",
    "é",
    "\u{0301}",
    "\u{200d}",
    "\u{FE0F}",
    "👩‍👩‍👧",
    "🙂",
    "x",
    "X",
    "A/c",
    "Rs.",
    "2024-05-01",
    "12:30",
    "ۀ",
    "İ",
    "ß",
    "ﬃ",
    "\u{10FFFF}",
    "\r\n",
];

fn random_text(rng: &mut Rng) -> String {
    let len = rng.below(80);
    let mut s = String::new();
    for _ in 0..len {
        match rng.below(8) {
            0 | 1 => s.push(char::from(b'0' + rng.below(10) as u8)),
            2 => s.push(char::from(b'A' + rng.below(26) as u8)),
            3 => s.push(char::from_u32(0x4E00 + rng.below(0x5000) as u32).unwrap_or('中')),
            4 => s.push(char::from_u32(0x0600 + rng.below(0x100) as u32).unwrap_or('ا')),
            5 => s.push(char::from_u32(0x0300 + rng.below(0x70) as u32).unwrap_or('\u{301}')),
            6 => s.push(char::from_u32(0x1F300 + rng.below(0x300) as u32).unwrap_or('🙂')),
            _ => s.push_str(PIECES[rng.below(PIECES.len())]),
        }
    }
    s
}

#[test]
fn fuzz_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Same seed either way; debug builds run a prefix of the release sequence.
    let rounds = if cfg!(debug_assertions) {
        4_000
    } else {
        40_000
    };
    for _ in 0..rounds {
        let text = random_text(&mut rng);
        let sender = if rng.below(3) == 0 {
            Some(random_text(&mut rng))
        } else {
            None
        };
        let e = extract(&text, sender.as_deref());
        if let Some(w) = &e.code_as_written {
            assert!(text.contains(w.as_str()), "{w:?} not in {text:?}");
        }
        if let Some(c) = &e.code {
            assert!(
                !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()),
                "{c:?} from {text:?}"
            );
            assert_eq!(e.kind, MessageType::Otp);
        }
        // Deterministic: same input, same output.
        assert_eq!(e, extract(&text, sender.as_deref()));
    }
}

#[test]
fn long_and_degenerate_inputs() {
    let long = "验证码123456 ".repeat(5_000);
    assert_eq!(extract(&long, None).code.as_deref(), Some("123456"));
    for t in [
        "",
        " ",
        "\n\n",
        "G-",
        "G-1",
        "code:",
        "#",
        "@",
        "١",
        "\u{301}\u{301}",
    ] {
        let _ = extract(t, Some(t));
    }
}
