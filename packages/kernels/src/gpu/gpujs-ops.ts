/**
 * Element-wise / row ops written as gpu.js kernels, run by gpu.js's `webgpu` mode (it compiles each JS kernel to a
 * WGSL compute shader over f32 storage buffers). gpu.js reads `globalThis.navigator.gpu`, which Node lacks, so we set
 * it to the `webgpu` package's `GPU` before loading gpu.js (gpu.js then acquires its own device from it).
 *
 * Only swiglu and rmsnorm go through gpu.js: gpu.js kernels have no workgroup memory, so a row reduction is one thread
 * looping over the row (fine for rmsnorm's per-token scale, too slow for softmax/attention over long rows), and its
 * thread indices are floats, so sizes are limited to < 2^24 elements here; those ops and larger inputs use raw WGSL.
 *
 * Kernel sources are strings so that no transpiler (tsx, tsup, vitest) rewrites the JS that gpu.js parses.
 */

interface GpuJsKernel {
  (...args: unknown[]): Promise<Float32Array | Float32Array[]>;
  setOutput(output: number[]): unknown;
}
interface GpuJsGpu {
  createKernel(source: string, settings?: Record<string, unknown>): GpuJsKernel;
  destroy(): unknown;
}
interface GpuJsModule {
  GPU: { new (settings: { mode: string }): GpuJsGpu; isWebGPUAvailable(): Promise<boolean> };
  WebGPUContext?: { destroy(): Promise<void> };
}

/** Largest element count handed to gpu.js (its thread ids are f32: exact integers below 2^24). */
export const GPUJS_MAX_ELEMENTS = 1 << 24;

// @see ggml_vec_swiglu_f32 (ggml/src/ggml-cpu/vec.h): y = x / (1 + exp(-x)) * g
const SWIGLU_SRC = `function (gate, up) {
  const g = gate[this.thread.x];
  return (g / (1 + Math.exp(-g))) * up[this.thread.x];
}`;

// @see ggml_compute_forward_rms_norm_f32: scale = 1 / sqrt(Σx² / n + eps), one thread per token.
const RMS_SCALE_SRC = `function (x, dim, eps) {
  let sum = 0;
  for (let i = 0; i < dim; i++) {
    const v = x[this.thread.x * dim + i];
    sum += v * v;
  }
  return 1 / Math.sqrt(sum / dim + eps);
}`;

// (x · scale) · weight (ggml_rms_norm then ggml_mul), one thread per element of a [nTokens, dim] grid.
const RMS_APPLY_SRC = `function (x, scale, weight, dim) {
  return (x[this.thread.y * dim + this.thread.x] * scale[this.thread.y]) * weight[this.thread.x];
}`;

const SETTINGS = { dynamicOutput: true, dynamicArguments: true, tactic: "precision" };

/** gpu.js in webgpu mode, or the reason it could not be used. */
export class GpuJsOps {
  private constructor(
    private readonly mod: GpuJsModule,
    private readonly gpu: GpuJsGpu,
    private readonly swigluK: GpuJsKernel,
    private readonly rmsScaleK: GpuJsKernel,
    private readonly rmsApplyK: GpuJsKernel,
  ) {}

  static async create(navigatorGpu: GPU): Promise<{ ops: GpuJsOps | null; reason: string }> {
    try {
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (g.navigator === undefined) {
        Object.defineProperty(globalThis, "navigator", { value: { gpu: navigatorGpu }, configurable: true, writable: true });
      } else if (!g.navigator.gpu) {
        Object.defineProperty(g.navigator, "gpu", { value: navigatorGpu, configurable: true, writable: true });
      }
      const imported = (await import("gpu.js")) as unknown as { default?: GpuJsModule } & GpuJsModule;
      const mod = imported.default ?? imported;
      if (!(await mod.GPU.isWebGPUAvailable())) return { ops: null, reason: "gpu.js: GPU.isWebGPUAvailable() is false" };
      const gpu = new mod.GPU({ mode: "webgpu" });
      const ops = new GpuJsOps(
        mod,
        gpu,
        gpu.createKernel(SWIGLU_SRC, SETTINGS),
        gpu.createKernel(RMS_SCALE_SRC, SETTINGS),
        gpu.createKernel(RMS_APPLY_SRC, SETTINGS),
      );
      // One tiny run of each kernel proves they compile on this device.
      const probe = new Float32Array([1, -2, 3, -4]);
      const s = new Float32Array(4);
      await ops.swiglu(probe, probe, 4, s);
      await ops.rmsnorm(probe, 2, 2, probe.subarray(0, 2), 1e-6, s);
      return { ops, reason: "" };
    } catch (e) {
      return { ops: null, reason: `gpu.js: ${e instanceof Error ? e.message : String(e)}` };
    }
  }

  async swiglu(gate: Float32Array, up: Float32Array, n: number, out: Float32Array): Promise<void> {
    this.swigluK.setOutput([n]);
    const r = (await this.swigluK(gate.subarray(0, n), up.subarray(0, n))) as Float32Array;
    out.set(r.subarray(0, n));
  }

  async rmsnorm(x: Float32Array, nTokens: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): Promise<void> {
    const xs = x.subarray(0, nTokens * dim);
    this.rmsScaleK.setOutput([nTokens]);
    const scale = Float32Array.from((await this.rmsScaleK(xs, dim, eps)) as Float32Array).subarray(0, nTokens);
    this.rmsApplyK.setOutput([dim, nTokens]);
    const r = await this.rmsApplyK(xs, scale, weight.subarray(0, dim), dim);
    if (r instanceof Float32Array) {
      out.set(r.subarray(0, nTokens * dim));
    } else {
      for (let t = 0; t < nTokens; t++) out.set(r[t]!.subarray(0, dim), t * dim);
    }
  }

  async destroy(): Promise<void> {
    try {
      await Promise.resolve(this.gpu.destroy());
      await this.mod.WebGPUContext?.destroy();
    } catch {
      // teardown is best effort
    }
  }
}
