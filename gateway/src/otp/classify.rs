//! Message type when no code was found: a verification message without a
//! code, a transactional notification, or anything else.
//!
//! The verification side looks for verbs and states of verifying ("verify your
//! number", "was verified", "2-step verification", "验证", "подтвержд"); the
//! notification side for transactions, balances, deliveries and appointments.
//! A bank alert that warns "never share your OTP" counts words on both sides;
//! the larger side wins, so the alert stays a notification.

use super::text::{is_cjk, is_word_char, Doc};
use super::MessageType;
use std::sync::OnceLock;

const VERIFY: &[&str] = &[
    "verify",
    "verified",
    "verification",
    "verifying",
    "confirm your",
    "confirmed your",
    "activate",
    "activation",
    "2-step",
    "two-step",
    "two-factor",
    "2fa",
    "sign-in attempt",
    "sign in attempt",
    "login attempt",
    "new device",
    "new login",
    "reset your password",
    "password reset",
    "security alert",
    "security code",
    "one-time",
    "otp",
    "passcode",
    "verificación",
    "verificar",
    "verificação",
    "confirmar",
    "bestätig",
    "verifizier",
    "vérif",
    "confirmez",
    "подтвержд",
    "верификац",
    "doğrula",
    "dogrula",
    "verifikasi",
    "xác thực",
    "xac thuc",
    "xác nhận",
    "xac nhan",
    "验证",
    "驗證",
    "认证",
    "認證",
    "确认",
    "確認",
    "认证",
    "登录",
    "登入",
    "تحقق",
    "تأیید",
    "تایید",
    "التحقق",
    "אימות",
    "सत्यापन",
    "認証",
    "인증",
    "verifica",
    "weryfik",
    "doğrulama",
    "code",
    "código",
    "codigo",
    "код",
    "验证码",
    "pin",
    "password",
    "contraseña",
    "senha",
    "пароль",
    "密码",
];

const NOTIFY: &[&str] = &[
    "debited",
    "credited",
    "debit",
    "credit",
    "balance",
    "bal",
    "avl",
    "transaction",
    "transfer",
    "transferred",
    "spent",
    "purchase",
    "payment",
    "paid",
    "withdrawn",
    "withdrawal",
    "received",
    "deposit",
    "a/c",
    "acct",
    "account",
    "card",
    "txn",
    "upi",
    "refund",
    "invoice",
    "bill",
    "due",
    "statement",
    "order",
    "shipped",
    "delivered",
    "delivery",
    "out for delivery",
    "tracking",
    "parcel",
    "package",
    "shipment",
    "courier",
    "appointment",
    "reminder",
    "booking",
    "booked",
    "reservation",
    "scheduled",
    "flight",
    "ticket",
    "recharge",
    "plan",
    "subscription",
    "renewal",
    "expire",
    "expiring",
    "expiry",
    "limit",
    "fee",
    "charged",
    "pin has been changed",
    "has been changed",
    "registration",
    "confirmed",
    "confirmado",
    "inr",
    "rs",
    "usd",
    "eur",
    "aed",
    "余额",
    "餘額",
    "交易",
    "支付",
    "付款",
    "转账",
    "轉帳",
    "到期",
    "快递",
    "快遞",
    "订单",
    "訂單",
    "续费",
    "续订",
    "已受理",
    "办理",
    "扣款",
    "消费",
    "消費",
    "入账",
    "списан",
    "зачислен",
    "покупка",
    "баланс",
    "доступно",
    "перевод",
    "оплата",
    "заказ",
    "доставк",
    "счет",
    "счёт",
    "compra",
    "saldo",
    "pago",
    "pedido",
    "entrega",
    "transferencia",
    "transferência",
    "cita",
    "consulta",
    "buchung",
    "zahlung",
    "lieferung",
    "paket",
    "bestellung",
    "kontostand",
    "virement",
    "paiement",
    "commande",
    "livraison",
    "solde",
    "rendez-vous",
    "paiement",
    "تم خصم",
    "خصم",
    "رصيد",
    "رصید",
    "مبلغ",
    "شراء",
    "برداشت",
    "خرید",
    "واریز",
    "مانده",
    "انتقال",
    "حساب",
    "משלוח",
    "חבילה",
    "תשלום",
    "खाते",
    "डेबिट",
    "क्रेडिट",
    "giao dịch",
    "giao dich",
    "số dư",
    "so du",
    "tài khoản",
    "tai khoan",
    "hesab",
    "ödeme",
    "bakiye",
    "kargo",
    "sipariş",
    "transaksi",
    "pembayaran",
    "pengiriman",
    "saldo",
    "tagihan",
    "kiasi",
    "imethibitishwa",
    "platba",
    "zůstatek",
    "口座",
    "お支払い",
    "ご利用",
    "配送",
    "잔액",
    "결제",
    "배송",
    "رصيدك",
    "مدى",
];

/// Spam and chat markers: a message with these and no code is "other".
const OTHER: &[&str] = &[
    "claim",
    "prize",
    "winner",
    "won",
    "award",
    "congratulations",
    "free msg",
    "free entry",
    "ringtone",
    "unredeemed",
    "bonus points",
    "discount code",
    "txt stop",
    "reply stop",
    "to stop",
    "unsubscribe",
];

fn compiled(list: &[&str]) -> Vec<Vec<char>> {
    list.iter().map(|w| w.chars().collect()).collect()
}

fn tables() -> &'static [Vec<Vec<char>>; 3] {
    static T: OnceLock<[Vec<Vec<char>>; 3]> = OnceLock::new();
    T.get_or_init(|| [compiled(VERIFY), compiled(NOTIFY), compiled(OTHER)])
}

fn count(doc: &Doc, words: &[Vec<char>]) -> usize {
    let mut n = 0;
    for pat in words {
        let k = pat.len();
        if k == 0 || doc.len() < k {
            continue;
        }
        let cjk = pat.iter().any(|&c| is_cjk(c));
        let found = (0..=doc.len() - k).any(|i| {
            doc.low[i..i + k] == *pat
                && (cjk || !doc.before(i).is_some_and(is_word_char))
                && (cjk || k > 4 || !doc.at(i + k).is_some_and(is_word_char))
        });
        if found {
            n += 1;
        }
    }
    n
}

/// Type of a message in which no code was found.
pub(crate) fn without_code(doc: &Doc) -> MessageType {
    let [verify, notify, other] = tables();
    let v = count(doc, verify);
    let n = count(doc, notify);
    let o = count(doc, other);
    if o > 0 && o >= v && o >= n {
        return MessageType::Other;
    }
    // Amounts with currency make a transaction; one "verify" word does not beat them.
    if n > v {
        MessageType::Notification
    } else if v > 0 {
        MessageType::Verification
    } else {
        MessageType::Other
    }
}
