/**
 * Forward-pass speed: pp256 (one 256-token prompt batch) and tg (single-token decode steps) in tokens/s, for
 * tinystories-5m F32 / Q8_0 / Q4_K_M on the cpu-ref and cpu backends (whichever probe), 1 and 2 threads, beside
 * llama.cpp's llama-bench figures from shared/golden/llamacpp-c392e50/tinystories-5m/PERF.md.
 *
 *   node --conditions=source --import tsx packages/runtime/bench/forward.ts [--tg 64] [--reps 3] [--backend cpu]
 */
import { loadModel, type BackendChoice } from "@quantlab/runtime";
import { sharedPath } from "@quantlab/testing";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const TG = Number(opt("tg", "64"));
const REPS = Number(opt("reps", "3"));
const only = opt("backend", "");

// llama-bench, c392e50, 2 vCPU Zen 3 (PERF.md): [pp256, tg128] tokens/s by file and threads.
const LLAMA: Record<string, Record<number, [number, number]>> = {
  F32: { 1: [2959, 1262], 2: [7078, 983] },
  Q8_0: { 1: [3916, 1837], 2: [4335, 1868] },
  Q4_K_M: { 1: [2407, 1717], 2: [3707, 2483] },
};
const FILES: Record<string, string[]> = {
  F32: ["models", "tinystories-5m-f32.gguf"],
  Q8_0: ["golden", "llamacpp-c392e50", "tinystories-5m", "tinystories-5m-Q8_0.gguf"],
  Q4_K_M: ["golden", "llamacpp-c392e50", "tinystories-5m", "tinystories-5m-Q4_K_M.gguf"],
};

const rows: string[] = [];
const backends: BackendChoice[] = only ? [only as BackendChoice] : ["cpu-ref", "cpu"];
for (const backend of backends) {
  for (const threads of backend === "cpu-ref" ? [1] : [1, 2]) {
    for (const [label, parts] of Object.entries(FILES)) {
      let model;
      try {
        model = await loadModel(sharedPath(...parts), { backend, threads });
      } catch (e) {
        console.log(`${backend}: unavailable (${(e as Error).message})`);
        break;
      }
      const prompt = Array.from({ length: 256 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 37) % 500)));
      await model.evaluate(prompt.slice(0, 16)); // warm-up
      let pp = Infinity;
      for (let r = 0; r < (backend === "cpu-ref" ? 1 : REPS); r++) {
        const t0 = performance.now();
        await model.evaluate(prompt, { logits: "last" });
        pp = Math.min(pp, performance.now() - t0);
      }
      const s = model.createSession({ nCtx: TG + 1 });
      await s.append([1]);
      const t1 = performance.now();
      let tok = 400;
      for (let i = 0; i < TG; i++) {
        const l = await s.append([tok]);
        tok = 3 + (l.indexOf(Math.max(...l)) % 500);
      }
      const tg = (TG * 1000) / (performance.now() - t1);
      const ppTps = (256 * 1000) / pp;
      const [lpp, ltg] = LLAMA[label]![threads] ?? [NaN, NaN];
      rows.push(
        `${label.padEnd(7)} ${backend.padEnd(8)} t=${threads}  pp256 ${ppTps.toFixed(0).padStart(6)} tok/s (llama.cpp ${lpp})  ` +
          `tg${TG} ${tg.toFixed(0).padStart(6)} tok/s (llama.cpp tg128 ${ltg})`,
      );
      console.log(rows.at(-1));
      await model.dispose();
    }
  }
}
