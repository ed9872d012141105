/**
 * UTF-8 decoding for GGUF strings, identical to `new TextDecoder("utf-8", { ignoreBOM: true, fatal: false })`
 * (a leading U+FEFF is kept: some vocabularies have a token that is exactly the BOM) but faster for the short
 * strings that make up vocabularies: those are decoded by hand, and anything unusual goes to `TextDecoder`.
 */

const decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: false });
const strictDecoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });

/**
 * Node's native `Buffer.prototype.utf8Slice`, when present (about twice as fast as TextDecoder on short strings).
 * Used only as a fast path: any result holding U+FFFD is decoded again by TextDecoder, so the output is always
 * exactly TextDecoder's. Absent in browsers, where the hand decoder below is used.
 */
const nativeUtf8Slice: ((this: Uint8Array, start: number, end: number) => string) | undefined = (() => {
  const B = (globalThis as { Buffer?: { prototype?: { utf8Slice?: unknown } } }).Buffer;
  const f = B?.prototype?.utf8Slice;
  if (typeof f !== "function") return undefined;
  try {
    const probe = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xc3, 0xa9]);
    return (f as (this: Uint8Array, s: number, e: number) => string).call(probe, 0, 6) === "\uFEFFa\u00E9" ? (f as (this: Uint8Array, s: number, e: number) => string) : undefined;
  } catch {
    return undefined;
  }
})();

/** Strings up to this many bytes are decoded by hand. */
const SHORT = 64;
const units = new Uint16Array(SHORT);

/**
 * Decodes `buf[start, end)`. Sets {@link lastDecodeWasLossy} when the bytes were not valid UTF-8 (the result then
 * holds U+FFFD replacement characters, exactly as TextDecoder produces them).
 */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) {
    lastDecodeWasLossy = false;
    return "";
  }
  if (nativeUtf8Slice !== undefined) {
    const s = nativeUtf8Slice.call(buf, start, end);
    if (s.indexOf("\uFFFD") === -1) {
      lastDecodeWasLossy = false;
      return s;
    }
    return decodeSlow(buf.subarray(start, end));
  }
  return decodeUtf8Portable(buf, start, end);
}

/** The decoder used where `Buffer` is absent (browsers): by hand for short strings, TextDecoder otherwise. */
export function decodeUtf8Portable(buf: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len <= SHORT) {
    let n = 0;
    let i = start;
    while (i < end) {
      const b0 = buf[i]!;
      if (b0 < 0x80) {
        units[n++] = b0;
        i++;
        continue;
      }
      if (b0 >= 0xc2 && b0 <= 0xdf) {
        if (i + 1 >= end) break;
        const b1 = buf[i + 1]!;
        if ((b1 & 0xc0) !== 0x80) break;
        units[n++] = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
        i += 2;
        continue;
      }
      if (b0 >= 0xe0 && b0 <= 0xef) {
        if (i + 2 >= end) break;
        const b1 = buf[i + 1]!;
        const b2 = buf[i + 2]!;
        const lo = b0 === 0xe0 ? 0xa0 : 0x80;
        const hi = b0 === 0xed ? 0x9f : 0xbf;
        if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80) break;
        units[n++] = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
        i += 3;
        continue;
      }
      if (b0 >= 0xf0 && b0 <= 0xf4) {
        if (i + 3 >= end) break;
        const b1 = buf[i + 1]!;
        const b2 = buf[i + 2]!;
        const b3 = buf[i + 3]!;
        const lo = b0 === 0xf0 ? 0x90 : 0x80;
        const hi = b0 === 0xf4 ? 0x8f : 0xbf;
        if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) break;
        const cp = (((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)) - 0x10000;
        units[n++] = 0xd800 + (cp >> 10);
        units[n++] = 0xdc00 + (cp & 0x3ff);
        i += 4;
        continue;
      }
      break; // invalid lead byte: let TextDecoder produce the exact replacement sequence
    }
    if (i === end) {
      lastDecodeWasLossy = false;
      return n === 1 ? String.fromCharCode(units[0]!) : String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]);
    }
  }
  return decodeSlow(buf.subarray(start, end));
}

function decodeSlow(bytes: Uint8Array): string {
  try {
    const s = strictDecoder.decode(bytes);
    lastDecodeWasLossy = false;
    return s;
  } catch {
    lastDecodeWasLossy = true;
    return decoder.decode(bytes);
  }
}

/** Whether the last {@link decodeUtf8} call met invalid UTF-8. */
export let lastDecodeWasLossy = false;

const encoder = new TextEncoder();
/** UTF-8 bytes of a string. */
export function encodeUtf8(s: string): Uint8Array {
  return encoder.encode(s);
}
