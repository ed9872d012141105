/**
 * The C++ standard library random pieces llama-perplexity uses to pick tasks: `std::mt19937` and libstdc++'s
 * `std::uniform_int_distribution<size_t>` (GCC >= 11, Lemire's nearly-divisionless `_S_nd`; the golden build used
 * gcc 12).
 */

/** `std::mt19937` (32-bit Mersenne Twister, default seed 5489). */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed = 5489) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** `mt19937::max()`. */
  static readonly MAX = 0xffffffff;

  /** The next 32-bit output, as an unsigned number. */
  next(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        let v = mt[(i + 397) % 624] ^ (y >>> 1);
        if (y & 1) v ^= 0x9908b0df;
        mt[i] = v >>> 0;
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * `std::uniform_int_distribution<size_t>(a, b)(rng)` as libstdc++ computes it for a 32-bit engine and a range
 * below 2^32: `_S_nd<uint64_t>(rng, b - a + 1) + a`.
 */
export function uniformIntLibstdcxx(rng: Mt19937, a: number, b: number): number {
  const range = b - a + 1; // __uerange, fits in uint32
  if (!(range >= 1 && range <= 0xffffffff)) throw new RangeError(`range [${a}, ${b}] is not supported`);
  const r = BigInt(range);
  let product = BigInt(rng.next()) * r;
  let low = Number(product & 0xffffffffn);
  if (low < range) {
    const threshold = (0x100000000 - range) % range; // -__range % __range in uint32
    while (low < threshold) {
      product = BigInt(rng.next()) * r;
      low = Number(product & 0xffffffffn);
    }
  }
  return Number(product >> 32n) + a;
}

/**
 * llama.cpp's float pick `(int)(scale * rng() * n)` with `scale = 1.f/(1.f + (float)mt19937::max())` (= 2^-32),
 * used by `multiple_choice_score` and `winogrande_score` to choose random tasks. Clamped to n-1 (C would read past
 * the end when the float product rounds up to n).
 */
export function floatPick(rng: Mt19937, n: number): number {
  const scale = Math.fround(1 / Math.fround(1 + Math.fround(Mt19937.MAX)));
  const j = Math.trunc(Math.fround(Math.fround(scale * Math.fround(rng.next())) * Math.fround(n)));
  return Math.min(j, n - 1);
}
