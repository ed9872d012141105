/**
 * The WebGPU device of the gpu backend: `navigator.gpu` from the `webgpu` package (Dawn for Node), loaded with a
 * dynamic import so that @quantlab/kernels loads when that optional dependency is missing; buffer helpers, a pipeline
 * cache, dispatch splitting and readback.
 */
import { QuantlabError } from "@quantlab/gguf";

// GPUBufferUsage / GPUMapMode values (WebGPU spec), spelled out so that no global from the `webgpu` package is needed.
export const USAGE_MAP_READ = 0x0001;
export const USAGE_COPY_SRC = 0x0004;
export const USAGE_COPY_DST = 0x0008;
export const USAGE_UNIFORM = 0x0040;
export const USAGE_STORAGE = 0x0080;
const MAP_MODE_READ = 0x0001;

/** Workgroups per grid row: dispatches larger than this spill into y (shaders compute `wid.x + wid.y * 32768`). */
export const GRID_X = 32768;

export interface WebGpuModule {
  create(options: string[]): GPU;
}

let webgpuModule: Promise<WebGpuModule | null> | undefined;
let webgpuLoadError: string | undefined;

/** The `webgpu` module, or null (with {@link webgpuLoadErrorMessage}) when it cannot be loaded. Cached. */
export function loadWebGpu(): Promise<WebGpuModule | null> {
  webgpuModule ??= import("webgpu").then(
    (m) => m as unknown as WebGpuModule,
    (e: unknown) => {
      webgpuLoadError = e instanceof Error ? e.message : String(e);
      return null;
    },
  );
  return webgpuModule;
}

export function webgpuLoadErrorMessage(): string | undefined {
  return webgpuLoadError;
}

let gpuInstance: GPU | undefined;
/** One `GPU` (navigator.gpu) per process: Dawn's instance is shared by our device and gpu.js's. */
export async function getNavigatorGpu(): Promise<GPU | null> {
  if (gpuInstance) return gpuInstance;
  const mod = await loadWebGpu();
  if (!mod) return null;
  gpuInstance = mod.create([]);
  return gpuInstance;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new QuantlabError("GPU_TIMEOUT", `${what} took longer than ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A WebGPU device plus the helpers the kernels use. */
export class GpuContext {
  /** Largest storage binding we use, in bytes (≤ the device's limit, capped at 128 MiB to keep dispatches short). */
  readonly maxBinding: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly live = new Set<GPUBuffer>();
  private lost = false;
  /** A CPU implementation of Vulkan (lavapipe/llvmpipe, SwiftShader): kernels pick CPU-friendly shapes. */
  readonly isCpuAdapter: boolean;
  /** Dispatches submitted so far. */
  dispatches = 0;

  private constructor(
    readonly device: GPUDevice,
    readonly adapterDescription: string,
  ) {
    this.isCpuAdapter = /llvmpipe|lavapipe|swiftshader|software/i.test(adapterDescription);
    this.maxBinding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, 128 * 1024 * 1024);
    void device.lost.then(() => {
      this.lost = true;
    });
  }

  /** Requests an adapter and a device within `timeoutMs`; null when there is none. Never throws. */
  static async create(powerPreference: GPUPowerPreference | undefined, timeoutMs: number): Promise<{ ctx: GpuContext | null; reason: string }> {
    try {
      const gpu = await getNavigatorGpu();
      if (!gpu) return { ctx: null, reason: `the optional dependency "webgpu" could not be loaded: ${webgpuLoadError ?? "unknown error"}` };
      const adapter = await withTimeout(gpu.requestAdapter(powerPreference ? { powerPreference } : {}), timeoutMs, "requestAdapter");
      if (!adapter) return { ctx: null, reason: "requestAdapter() returned null (no Vulkan driver?)" };
      const device = await withTimeout(
        adapter.requestDevice({
          requiredLimits: {
            maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
            maxBufferSize: adapter.limits.maxBufferSize,
            maxStorageBuffersPerShaderStage: Math.min(8, adapter.limits.maxStorageBuffersPerShaderStage),
          },
        }),
        timeoutMs,
        "requestDevice",
      );
      const info = adapter.info;
      const desc = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(" ") || "unknown adapter";
      return { ctx: new GpuContext(device, desc), reason: "" };
    } catch (e) {
      return { ctx: null, reason: e instanceof Error ? e.message : String(e) };
    }
  }

  get isLost(): boolean {
    return this.lost;
  }

  pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A buffer holding `data` (padded to 4 bytes), created mapped: no queue.writeBuffer. */
  upload(data: ArrayBufferView, usage: number = USAGE_STORAGE, track = false): GPUBuffer {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(4, (bytes.byteLength + 3) & ~3);
    const buf = this.device.createBuffer({ size, usage, mappedAtCreation: true });
    new Uint8Array(buf.getMappedRange()).set(bytes);
    buf.unmap();
    if (track) this.live.add(buf);
    return buf;
  }

  /** A uniform buffer of 8 32-bit words; `floats` lists the word indices that hold f32 values. */
  uniform(words: readonly number[], floats: readonly number[] = []): GPUBuffer {
    const u = new Uint32Array(8);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < words.length; i++) {
      if (floats.includes(i)) f[i] = words[i]!;
      else u[i] = words[i]! >>> 0;
    }
    return this.upload(u, USAGE_UNIFORM);
  }

  storage(bytes: number): GPUBuffer {
    return this.device.createBuffer({ size: Math.max(4, (bytes + 3) & ~3), usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
  }

  bind(pipeline: GPUComputePipeline, buffers: readonly GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /** Encodes and submits one dispatch of `nWorkgroups` workgroups (split over x ≤ 32768 and y) plus `y2` in y. */
  dispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, nWorkgroups: number, y2 = 1): void {
    if (nWorkgroups <= 0 || y2 <= 0) return;
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    if (y2 > 1) pass.dispatchWorkgroups(nWorkgroups, y2);
    else pass.dispatchWorkgroups(Math.min(nWorkgroups, GRID_X), Math.ceil(nWorkgroups / GRID_X));
    pass.end();
    this.device.queue.submit([enc.finish()]);
    this.dispatches++;
  }

  /** Copies `count` f32 from `src` (at byte `srcOffset`) into `dst[dstOffset…]` once the queued work is done. */
  async read(src: GPUBuffer, dst: Float32Array, dstOffset: number, count: number, srcOffset = 0): Promise<void> {
    if (count <= 0) return;
    const bytes = count * 4;
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, srcOffset, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      dst.set(new Float32Array(staging.getMappedRange(), 0, count), dstOffset);
      staging.unmap();
    } finally {
      staging.destroy();
    }
  }

  /** Forget (and destroy) a tracked buffer. */
  release(buf: GPUBuffer): void {
    if (this.live.delete(buf)) buf.destroy();
  }

  destroy(): void {
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.pipelines.clear();
    this.device.destroy();
  }
}

/** Destroys every buffer of the list. */
export function destroyAll(bufs: readonly GPUBuffer[]): void {
  for (const b of bufs) b.destroy();
}
