/**
 * Unicode helpers for the tokenizers: GPT-2 byte-level mapping, UTF-8 sizes, the whitespace and letter classes,
 * and the NFD / lower-case maps that the WPM normalizer uses.
 * @see unicode_byte_to_utf8, unicode_utf8_to_byte, unicode_cpt_flags_from_cpt, unicode_cpts_normalize_nfd,
 *      unicode_tolower (llama.cpp src/unicode.cpp)
 */

/** GPT-2 `bytes_to_unicode`: byte → the printable code point that stands for it in byte-level BPE vocabularies. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const out: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();

/** Inverse of {@link BYTE_TO_UNICODE}: UTF-16 code unit → byte (or -1). */
export const UNICODE_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(512).fill(-1);
  for (let b = 0; b < 256; b++) t[BYTE_TO_UNICODE[b]!.charCodeAt(0)] = b;
  return t;
})();

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

export function utf8Bytes(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

export function utf8Decode(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

/** Number of UTF-8 bytes of a JS string (no allocation). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** `unicode_byte_encoding_process` for one word: its UTF-8 bytes written as byte-level code points. */
export function byteEncode(word: string): string {
  const bytes = utf8Encoder.encode(word);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_UNICODE[bytes[i]!];
  return out;
}

const RE_WS = /^\p{White_Space}$/u;
const RE_PUNCT = /^\p{P}$/u;
const RE_SYMBOL = /^\p{S}$/u;
const RE_CONTROL = /^\p{Cc}$/u;
const RE_MARK = /^\p{M}$/u;

/** The flags of one code point that the WPM pre-processor reads (llama.cpp's whitespace table is Python `regex` `\s`, the White_Space list). */
export function isWhitespace(ch: string): boolean {
  return RE_WS.test(ch);
}
export function isPunctuation(ch: string): boolean {
  return RE_PUNCT.test(ch);
}
export function isSymbol(ch: string): boolean {
  return RE_SYMBOL.test(ch);
}
export function isControl(ch: string): boolean {
  return RE_CONTROL.test(ch);
}
export function isAccentMark(ch: string): boolean {
  return RE_MARK.test(ch);
}

/**
 * `unicode_cpts_normalize_nfd`: llama.cpp maps every code point to the FIRST code point of its NFD decomposition
 * (its generated table holds one code point per entry), so "é" becomes "e" and the accent is dropped.
 */
export function nfdFirst(ch: string): string {
  const d = ch.normalize("NFD");
  if (d === ch) return ch;
  return String.fromCodePoint(d.codePointAt(0)!);
}

/** `unicode_tolower`: the first code point of the lower-case form (gen-unicode-data.py stores `ord(c.lower()[0])`). */
export function toLowerCpt(ch: string): string {
  const l = ch.toLowerCase();
  if (l === ch) return ch;
  return String.fromCodePoint(l.codePointAt(0)!);
}
