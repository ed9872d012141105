/**
 * The default {@link SweepEvaluator}: runs each file with @quantlab/runtime and measures what llama.cpp's tools
 * measure — perplexity on a text (llama-perplexity), KL divergence against the baseline's logits
 * (`--kl-divergence-base` / `--kl-divergence`), multiple-choice accuracy, and the answers to prompts (greedy).
 */
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generate, loadModel, type ActivationMode, type BackendChoice, type Model } from "@quantlab/runtime";
import { fitModels, type KvCacheType } from "../fit.js";
import { parseKldBase, type KldBase } from "../kld-base.js";
import { klDivergence } from "../kld.js";
import { parseArcJsonl, parseHellaswag, parseMmluCsv, type McTask } from "../mc/parse.js";
import { hellaswagScore, multipleChoiceScore } from "../mc/score.js";
import { perplexity } from "../perplexity.js";
import type { MultipleChoiceFigure } from "../report/types.js";
import type { RowFigures, SweepEvaluator } from "./sweep.js";

export interface McTaskFile {
  /** `hellaswag`, `arc`, `mmlu`: selects the parser and the scoring (HellaSwag's or the multiple-choice one). */
  readonly kind: "hellaswag" | "arc" | "mmlu";
  readonly file: string;
  /** Tasks to score (HellaSwag default 400 like llama.cpp; others default all). */
  readonly tasks?: number | undefined;
}

export interface DefaultEvaluatorOptions {
  /** Folder for the baseline's KLD base file. */
  readonly workDir: string;
  /** Perplexity / KLD text. */
  readonly text?: string | undefined;
  readonly textName?: string | undefined;
  readonly ctx: number;
  readonly chunks?: number | undefined;
  readonly mc?: readonly McTaskFile[] | undefined;
  readonly prompts?: readonly string[] | undefined;
  /** Tokens generated per prompt (default 48). */
  readonly maxTokens?: number | undefined;
  readonly backend?: BackendChoice | undefined;
  readonly threads?: number | undefined;
  /** Matmul activations: `ggml` (default, rounded like llama.cpp, so figures compare with its tables) or `f32`. */
  readonly activations?: ActivationMode | undefined;
  /** Progress of the evaluation of one file. */
  readonly onProgress?: ((p: { readonly label: string; readonly phase: string; readonly done: number; readonly total: number }) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

function loadTasks(t: McTaskFile): McTask[] {
  const text = readFileSync(t.file, "utf8");
  switch (t.kind) {
    case "hellaswag":
      return parseHellaswag(text, t.file);
    case "arc":
      return parseArcJsonl(text, t.file);
    case "mmlu":
      return parseMmluCsv(text, t.file);
  }
}

/** Builds the default evaluator (see the module comment). */
export function createDefaultEvaluator(o: DefaultEvaluatorOptions): SweepEvaluator {
  const basePath = join(o.workDir, "kld-base.bin");
  let base: KldBase | undefined;
  const tasks = (o.mc ?? []).map((t) => ({ spec: t, tasks: loadTasks(t) }));
  const settingsKey = JSON.stringify({
    text: o.textName ?? (o.text !== undefined ? o.text.length : null),
    ctx: o.ctx,
    chunks: o.chunks ?? null,
    mc: (o.mc ?? []).map((t) => [t.kind, t.tasks ?? null]),
    prompts: o.prompts ?? [],
    maxTokens: o.maxTokens ?? 48,
    activations: o.activations ?? "ggml",
  });

  async function common(model: Model, file: string, label: string): Promise<RowFigures> {
    const mc: MultipleChoiceFigure[] = [];
    for (const t of tasks) {
      const score = t.spec.kind === "hellaswag" ? hellaswagScore : multipleChoiceScore;
      const r = await score(model, t.tasks, {
        tasks: t.spec.tasks,
        signal: o.signal,
        onTask: (p) => o.onProgress?.({ label, phase: t.spec.kind, done: p.done, total: p.total }),
      });
      mc.push({ task: t.spec.kind, tasks: r.n, accuracy: r.accuracy * 100, stderr: r.stderr * 100 });
    }
    const answers: string[] = [];
    for (const p of o.prompts ?? []) {
      let text = "";
      for await (const step of generate(model, p, { maxTokens: o.maxTokens ?? 48, temperature: 0, ...(o.signal ? { signal: o.signal } : {}) })) text += step.text;
      answers.push(text);
    }
    return {
      ...(mc.length > 0 ? { mc } : {}),
      ...(answers.length > 0 ? { answers } : {}),
    };
  }

  async function withModel<T>(file: string, f: (m: Model) => Promise<T>): Promise<T> {
    const model = await loadModel(file, { backend: o.backend ?? "cpu", activations: o.activations ?? "ggml", ...(o.threads !== undefined ? { threads: o.threads } : {}) });
    try {
      return await f(model);
    } finally {
      await model.dispose();
    }
  }

  return {
    settingsKey,
    async baseline(file) {
      return withModel(file, async (model) => {
        let ppl: number | undefined;
        let pplErr: number | undefined;
        let tps: number | undefined;
        if (o.text !== undefined) {
          const t0 = performance.now();
          const r = await perplexity(model, o.text, {
            nCtx: o.ctx,
            chunks: o.chunks,
            kldBase: true,
            signal: o.signal,
            onChunk: (p) => o.onProgress?.({ label: "F32", phase: "perplexity", done: p.chunk, total: p.nChunk }),
          });
          tps = (r.nChunk * r.nCtx) / ((performance.now() - t0) / 1000);
          ppl = r.ppl;
          pplErr = r.pplError;
          const tmp = `${basePath}.tmp-${process.pid}`;
          writeFileSync(tmp, r.kldBase!);
          renameSync(tmp, basePath);
          base = parseKldBase(r.kldBase!, basePath);
        }
        return { ppl, pplErr, ppTokensPerSecond: tps, ...(await common(model, file, "F32")) };
      });
    },
    async evaluate(file, label) {
      return withModel(file, async (model) => {
        let figures: RowFigures = {};
        if (o.text !== undefined) {
          base ??= parseKldBase(new Uint8Array(readFileSync(basePath)), basePath);
          const t0 = performance.now();
          const r = await klDivergence(model, base, {
            chunks: o.chunks,
            signal: o.signal,
            onChunk: (p) => o.onProgress?.({ label, phase: "kld", done: p.chunk, total: p.nChunk }),
          });
          const s = r.summary;
          figures = {
            ppl: s.pplQ.value,
            pplErr: s.pplQ.error,
            meanKld: s.kld.mean,
            meanKldErr: s.kld.error,
            sameTopP: s.sameTopP.value * 100,
            rmsDp: s.rmsDeltaP.value * 100,
            ppTokensPerSecond: (r.nChunk * r.nCtx) / ((performance.now() - t0) / 1000),
          };
        }
        return { ...figures, ...(await common(model, file, label)) };
      });
    },
  };
}

/** The memory check of a sweep row: eval's {@link fitModels} for one file at the wanted context and KV type. */
export function memoryCheck(o: { readonly vram: number | string; readonly ctx?: number | undefined; readonly kvType?: KvCacheType | undefined }) {
  return async (file: string): Promise<{ memoryBytes: number; fits: boolean }> => {
    const [f] = await fitModels([file], { vram: o.vram, ctx: o.ctx, kvType: o.kvType });
    return { memoryBytes: f!.estimate.total, fits: f!.fits };
  };
}
