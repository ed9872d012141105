/**
 * The deterministic generator used by the reference data in ../shared/golden/quants (README "Generator"):
 * a 64-bit LCG (advance first), u01 = (s >> 11)·2^-53, gauss = sqrt(-2 ln(1 - u1))·cos(2π u2).
 * Implemented with 32-bit limbs so it needs no BigInt in hot loops.
 */
const MUL_HI = 0x5851f42d;
const MUL_LO = 0x4c957f2d; // 6364136223846793005
const INC_HI = 0x14057b7e;
const INC_LO = 0xf767814f; // 1442695040888963407
const TWO32 = 4294967296;

export class Lcg64 {
  private hi: number;
  private lo: number;

  constructor(seed: number | bigint) {
    const s = BigInt.asUintN(64, BigInt(seed));
    this.hi = Number(s >> 32n);
    this.lo = Number(s & 0xffffffffn);
  }

  /** Advances the state: s = s·6364136223846793005 + 1442695040888963407 (mod 2^64). */
  next(): void {
    const al = this.lo;
    const ah = this.hi;
    const a0 = al & 0xffff;
    const a1 = al >>> 16;
    const b0 = MUL_LO & 0xffff;
    const b1 = MUL_LO >>> 16;
    const mid = a0 * b1 + a1 * b0;
    const low = a0 * b0 + (mid % 65536) * 65536;
    const carry = Math.floor(low / TWO32);
    let hi = a1 * b1 + Math.floor(mid / 65536) + carry + Math.imul(ah, MUL_LO) + Math.imul(al, MUL_HI);
    let lo = (low % TWO32) + INC_LO;
    hi += INC_HI + (lo >= TWO32 ? 1 : 0);
    this.lo = lo % TWO32;
    this.hi = hi >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits. */
  u01(): number {
    this.next();
    return (this.hi * 2097152 + (this.lo >>> 11)) * 1.1102230246251565e-16;
  }

  /** Standard normal (cos branch only, 2 draws per value). */
  gauss(): number {
    const u1 = 1 - this.u01();
    const u2 = this.u01();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307179586 * u2);
  }
}

/** `rows × cols` float32 gaussian rows, row r seeded with `seed + r` (the perf-ggml.tsv input). */
export function gaussianMatrix(rows: number, cols: number, seed = 0x9e2f0000): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const g = new Lcg64(seed + r);
    for (let c = 0; c < cols; c++) out[r * cols + c] = g.gauss();
  }
  return out;
}

/** The reference's synthetic importance vector: exp(gauss) column scales, mean of 64 squared draws. */
export function syntheticImportance(n: number, seed: number): Float32Array {
  const g = new Lcg64(seed);
  const c = new Float64Array(n);
  for (let j = 0; j < n; j++) c[j] = Math.exp(g.gauss());
  const acc = new Float64Array(n);
  for (let t = 0; t < 64; t++) {
    for (let j = 0; j < n; j++) {
      const a = c[j]! * g.gauss();
      acc[j]! += a * a;
    }
  }
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = acc[j]! / 64;
  return out;
}
