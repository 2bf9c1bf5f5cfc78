// The SMS segment counter, mirroring drivers::pdu::count_segments (3GPP TS 23.038):
// GSM 7-bit default alphabet, its extension table (2 septets each) or UCS2; 160/153
// septets or 70/67 UTF-16 units per part; a part never splits a character.

// The default alphabet in code order (0x1B, the escape, left out).
const BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
const EXTENSION = new Set('\f^{}\\[~]|€');

/** { encoding: 'gsm7' | 'ucs2', parts, chars_left, units, per_part } */
export function countSegments(text) {
  const chars = Array.from(text);
  const gsm = chars.every((c) => BASIC.has(c) || EXTENSION.has(c));
  const unit = gsm
    ? (c) => (EXTENSION.has(c) ? 2 : 1)
    : (c) => (c.codePointAt(0) > 0xffff ? 2 : 1);
  let units = 0;
  for (const c of chars) units += unit(c);
  const single = gsm ? 160 : 70;
  const encoding = gsm ? 'gsm7' : 'ucs2';
  if (units <= single) {
    return { encoding, parts: 1, chars_left: single - units, units, per_part: single };
  }
  const cap = gsm ? 153 : 67;
  let parts = 1;
  let used = 0;
  for (const c of chars) {
    const n = unit(c);
    if (used + n > cap) { parts++; used = 0; }
    used += n;
  }
  return { encoding, parts, chars_left: cap - used, units, per_part: cap };
}

/** Characters that force UCS2 (for the counter's hint). */
export function nonGsm(text) {
  return [...new Set(Array.from(text).filter((c) => !BASIC.has(c) && !EXTENSION.has(c)))];
}
