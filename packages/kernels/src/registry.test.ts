import { describe, expect, it } from "vitest";
import { cpuRefBackend } from "./cpu-ref/index.js";
import { createKernelRegistry } from "./registry.js";
import type { Backend, BackendName, KernelDef, QuantMatrix } from "./types.js";

/** A fake backend whose matmul writes a marker value, for dispatch tests. */
function fake(name: BackendName, ok: boolean, schemes: readonly string[], marker: number, extra: KernelDef[] = []): Backend & { probes: number } {
  const b = {
    name,
    probes: 0,
    probe() {
      b.probes++;
      return ok;
    },
    kernels: [
      { op: "matmul", backend: name, schemes, run: (_x: Float32Array, n: number, w: QuantMatrix, out: Float32Array) => void out.fill(marker, 0, n * w.rows) },
      ...extra,
    ] as KernelDef[],
  };
  return b;
}

const w = (scheme: string): QuantMatrix => ({ name: "t", scheme, typeId: 0, rows: 2, cols: 4, data: new Uint8Array(32), rowBytes: 16 });

describe("createKernelRegistry", () => {
  it("auto takes the highest-priority backend whose probe passes, caching probes", async () => {
    const gpu = fake("gpu", false, ["f32"], 1);
    const cpu = fake("cpu", true, ["f32"], 2);
    const reg = createKernelRegistry([cpuRefBackend, gpu, cpu]);
    expect(reg.backends.map((b) => b.name)).toEqual(["gpu", "cpu", "cpu-ref"]);
    const K = await reg.resolve();
    expect(K.backend).toBe("cpu");
    expect(K.order).toEqual(["cpu", "cpu-ref"]);
    await reg.resolve("auto");
    expect(gpu.probes).toBe(1);
    expect(await reg.available()).toEqual(["cpu", "cpu-ref"]);
    const out = new Float32Array(2);
    await K.matmul(new Float32Array(4), 1, w("f32"), out);
    expect(Array.from(out)).toEqual([2, 2]);
  });

  it("auto skips a backend that declines it (a GPU on a software driver); by name it is still used", async () => {
    const gpu = { ...fake("gpu", true, ["f32"], 1), autoEligible: () => false };
    const cpu = fake("cpu", true, ["f32"], 2);
    const reg = createKernelRegistry([gpu, cpu, cpuRefBackend]);
    expect((await reg.resolve("auto")).backend).toBe("cpu");
    expect((await reg.resolve("gpu")).backend).toBe("gpu");
  });

  it("falls back to the next backend for a scheme the chosen one lacks, and reports it", async () => {
    const cpu = fake("cpu", true, ["q8_0"], 2);
    const reg = createKernelRegistry([cpu, cpuRefBackend]);
    const K = await reg.resolve("cpu");
    expect(K.backendFor("matmul", "q8_0")).toBe("cpu");
    expect(K.backendFor("matmul", "f32")).toBe("cpu-ref");
    expect(K.backendFor("rmsnorm")).toBe("cpu-ref");
    const wf = w("f32");
    new Float32Array(wf.data.buffer).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const out = new Float32Array(2);
    await K.matmul(Float32Array.from([1, 1, 1, 1]), 1, wf, out);
    expect(Array.from(out)).toEqual([10, 26]);
    const u = K.usage().find((x) => x.op === "matmul" && x.scheme === "f32")!;
    expect(u).toMatchObject({ backend: "cpu-ref", fallback: true, calls: 1 });
    expect(K.describe()).toContain("matmul[f32] -> cpu-ref (fallback): 1 calls");
  });

  it("a named backend does not probe higher-priority ones", async () => {
    const gpu = fake("gpu", true, ["f32"], 1);
    const reg = createKernelRegistry([gpu, cpuRefBackend]);
    const K = await reg.resolve("cpu-ref");
    expect(K.backend).toBe("cpu-ref");
    expect(gpu.probes).toBe(0);
  });

  it("typed errors", async () => {
    const reg = createKernelRegistry([fake("cpu", false, ["f32"], 2), cpuRefBackend]);
    await expect(reg.resolve("cpu")).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    await expect(reg.resolve("gpu")).rejects.toMatchObject({ code: "BACKEND_UNKNOWN" });
    await expect(createKernelRegistry([]).resolve()).rejects.toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    const K = await reg.resolve("cpu-ref");
    expect(K.supports("matmul", "no_such_scheme")).toBe(false);
    expect(() => K.matmul(new Float32Array(4), 1, w("no_such_scheme"), new Float32Array(2))).toThrow(expect.objectContaining({ code: "KERNEL_NOT_FOUND", tensor: "t" }));
  });

  it("kernel priority within a backend", async () => {
    const b = fake("cpu", true, ["f32"], 2, [
      { op: "matmul", backend: "cpu", schemes: ["f32"], priority: 5, run: (_x: Float32Array, n: number, ww: QuantMatrix, out: Float32Array) => void out.fill(9, 0, n * ww.rows) } as KernelDef,
    ]);
    const K = await createKernelRegistry([b]).resolve();
    const out = new Float32Array(2);
    await K.matmul(new Float32Array(4), 1, w("f32"), out);
    expect(out[0]).toBe(9);
  });
});
