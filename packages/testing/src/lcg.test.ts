import { describe, expect, it } from "vitest";
import { readSharedF32 } from "./shared.js";
import { Lcg64, syntheticImportance } from "./lcg.js";

describe("reference generator", () => {
  it("reproduces the golden imatrix vectors bit for bit", () => {
    // seeds from ../shared/golden/README.md: 0x1A7A0000 + {synth-gauss 2, edge 3}
    for (const [name, seed] of [["synth-gauss", 2], ["edge", 3]] as const) {
      const want = readSharedF32("golden", "quants", "inputs", `${name}.imatrix.f32`);
      const got = syntheticImportance(want.length, 0x1a7a0000 + seed);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
  });

  it("matches a BigInt LCG", () => {
    const g = new Lcg64(0x9e2f0000);
    let s = 0x9e2f0000n;
    for (let i = 0; i < 1000; i++) {
      s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      expect(g.u01()).toBe(Number(s >> 11n) * 2 ** -53);
    }
  });
});
