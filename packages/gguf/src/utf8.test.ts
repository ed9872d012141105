import { describe, expect, it } from "vitest";
import { decodeUtf8, decodeUtf8Portable, lastDecodeWasLossy } from "./utf8.js";

const reference = new TextDecoder("utf-8", { ignoreBOM: true, fatal: false });
const strict = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });
const isValid = (b: Uint8Array) => {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
};

describe("UTF-8 decoding equals TextDecoder('utf-8', { ignoreBOM: true })", () => {
  const samples: Uint8Array[] = [
    new Uint8Array([0xef, 0xbb, 0xbf]), // BOM alone: kept
    new Uint8Array([0xef, 0xbb, 0xbf, 0x61]),
    new Uint8Array([0xef, 0xbf, 0xbd]), // a genuine U+FFFD is not "lossy"
    new Uint8Array([0xc0, 0x80]), // overlong
    new Uint8Array([0xed, 0xa0, 0x80]), // surrogate
    new Uint8Array([0xf4, 0x90, 0x80, 0x80]), // > U+10FFFF
    new Uint8Array([0xf0, 0x9f, 0x98, 0x80]), // 😀
    new Uint8Array([0xe2, 0x82]), // truncated
    new TextEncoder().encode("Ġhello wörld ✓ 😀".repeat(5)),
  ];
  // Random byte strings biased toward UTF-8 lead/continuation bytes, short and long.
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const alphabet = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xbb];
  for (let i = 0; i < 3000; i++) {
    const n = Math.floor(rnd() * (i % 10 === 0 ? 200 : 12));
    samples.push(Uint8Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
  }
  it("for every sample, on both the Node fast path and the portable path, with the lossy flag right", () => {
    for (const s of samples) {
      const want = reference.decode(s);
      const padded = new Uint8Array(s.length + 4);
      padded.set(s, 2);
      for (const fn of [decodeUtf8, decodeUtf8Portable]) {
        expect(fn(padded, 2, 2 + s.length), `${fn.name} ${Array.from(s)}`).toBe(want);
        expect(lastDecodeWasLossy, `${fn.name} lossy ${Array.from(s)}`).toBe(!isValid(s));
      }
    }
  });
});
