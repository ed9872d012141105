/**
 * Multiple-choice scoring by the log-likelihood of each choice's continuation, as llama-perplexity does it:
 * `hellaswag_score` (`--hellaswag`, acc_norm) and `multiple_choice_score` (`--multiple-choice`: ARC, MMLU, ...).
 *
 * For each task every choice is tokenized as `context + " " + choice` with `add_special = true`; the tokens shared by
 * all choices are the common prefix. A choice's score is the average log-prob of its tokens after the common prefix:
 * the first from the logits of the last common-prefix token (softmax), the rest from the choice's own logits; the
 * highest score is the prediction. Float/double as in the C: hellaswag sums in double, multiple_choice in float.
 *
 * llama.cpp packs several tasks into one batch sharing the common prefix; here each choice is one
 * `model.evaluate(seq)` from an empty cache, which gives the same logits.
 */
import { EvalErrorCode, evalError } from "../errors.js";
import type { Cancellable, LogitsModel, TextTokenizer } from "../model.js";
import type { McTask } from "./parse.js";
import { Mt19937, floatPick, uniformIntLibstdcxx } from "./random.js";

export interface McTaskResult {
  /** Index of the task in the input list. */
  readonly index: number;
  readonly id?: string | undefined;
  readonly answer: number;
  readonly predicted: number;
  readonly correct: boolean;
  /** Length-normalised log-likelihood of each choice. */
  readonly scores: readonly number[];
  /** Tokens shared by all choices. */
  readonly commonPrefix: number;
}

export interface McResult {
  readonly tasks: readonly McTaskResult[];
  readonly n: number;
  readonly nCorrect: number;
  /** Fraction correct. */
  readonly accuracy: number;
  /** Binomial standard error `sqrt(p(1-p)/(n-1))` (what `multiple_choice_score` prints as `+/-`), a fraction. */
  readonly stderr: number;
  /** 95 % Wilson score interval (what `hellaswag_score` prints), fractions. */
  readonly wilson95: readonly [number, number];
  /** Random-chance accuracy (tasks / total answers) and its stderr, as `multiple_choice_score` prints. */
  readonly randomChance: { readonly value: number; readonly error: number };
}

export interface McProgress {
  /** Tasks done (1-based count). */
  readonly done: number;
  readonly total: number;
  /** Running accuracy (fraction). */
  readonly accuracy: number;
  readonly last: McTaskResult;
}

export interface McOptions extends Cancellable {
  /**
   * Number of tasks. HellaSwag: llama.cpp's `--hellaswag-tasks` (default 400), picked at random with mt19937(1)
   * exactly as llama.cpp; multiple choice: `--multiple-choice-tasks` (default 0 = all, in file order).
   */
  readonly tasks?: number | undefined;
  /** Use the tasks in the given order, without llama.cpp's random selection. */
  readonly noShuffle?: boolean | undefined;
  /** Context size: a task whose tokens do not fit is an error (`MC_BAD_TASK`), as in llama.cpp. Default: no limit. */
  readonly nCtx?: number | undefined;
  readonly onTask?: ((p: McProgress) => void) | undefined;
}

/** A model with its tokenizer (runtime's `Model`). */
export type McModel = LogitsModel & { readonly tokenizer: TextTokenizer };

/** HellaSwag's task pick: mt19937(1), `uniform_int_distribution<size_t>(0, remaining-1)`, picked tasks removed. */
export function hellaswagSelection(nTasks: number, count: number): number[] {
  const rng = new Mt19937(1);
  const remaining = Array.from({ length: nTasks }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < Math.min(count, nTasks); i++) {
    const idx = uniformIntLibstdcxx(rng, 0, remaining.length - 1);
    out.push(remaining[idx]);
    remaining.splice(idx, 1);
  }
  return out;
}

/** `multiple_choice_score`'s random pick: mt19937(1), `j = (int)(scale*rng()*aux.size())`, swap-with-last removal. */
export function multipleChoiceSelection(nTasks: number, count: number): number[] {
  const rng = new Mt19937(1);
  const aux = Array.from({ length: nTasks }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = floatPick(rng, aux.length);
    out.push(aux[j]);
    aux[j] = aux[aux.length - 1];
    aux.pop();
  }
  return out;
}

/** C `softmax` of perplexity.cpp at one row, returning the float probability of `tok`. */
function softmaxProb(logits: Float32Array, off: number, nVocab: number, tok: number): number {
  let maxLogit = logits[off];
  for (let i = 1; i < nVocab; i++) if (logits[off + i] > maxLogit) maxLogit = logits[off + i];
  let sumExp = 0;
  for (let i = 0; i < nVocab; i++) sumExp += Math.fround(Math.exp(Math.fround(logits[off + i] - maxLogit)));
  return Math.fround(Math.fround(Math.exp(Math.fround(logits[off + tok] - maxLogit))) / sumExp);
}

/** `compute_logprobs` of perplexity.cpp: float sum of expf, `logits[tok] - max - log(sum)` in float. */
function logProbF32(logits: Float32Array, off: number, nVocab: number, tok: number): number {
  let maxLogit = logits[off];
  for (let j = 1; j < nVocab; j++) if (logits[off + j] > maxLogit) maxLogit = logits[off + j];
  let sumP = 0;
  for (let j = 0; j < nVocab; j++) sumP = Math.fround(sumP + Math.fround(Math.exp(Math.fround(logits[off + j] - maxLogit))));
  return Math.fround(Math.fround(logits[off + tok] - maxLogit) - Math.fround(Math.log(sumP)));
}

interface Prepared {
  seqs: number[][];
  commonPrefix: number;
  required: number;
}

/** Tokenize a task's choices and find the common prefix (`multiple_choice_prepare_one_task`). */
export function prepareTask(tokenizer: TextTokenizer, task: McTask, index: number): Prepared {
  if (task.context === "" || task.choices.length === 0) throw evalError(EvalErrorCode.MC_BAD_TASK, `task ${index} has an empty question or no answers`, { task: task.id });
  const seqs = task.choices.map((c) => {
    if (c === "") throw evalError(EvalErrorCode.MC_BAD_TASK, `task ${index} has an empty answer`, { task: task.id });
    return tokenizer.encode(task.context + " " + c, { addBos: true });
  });
  let minLen = seqs[0].length;
  for (const s of seqs) minLen = Math.min(minLen, s.length);
  let cp = 0;
  for (; cp < minLen; cp++) {
    const t = seqs[0][cp];
    if (!seqs.every((s) => s[cp] === t)) break;
  }
  if (cp === 0) throw evalError(EvalErrorCode.MC_BAD_TASK, `task ${index}: the choices share no prefix token (no BOS and no common context)`, { task: task.id });
  for (let s = 0; s < seqs.length; s++) {
    if (seqs[s].length <= cp) {
      throw evalError(EvalErrorCode.MC_BAD_TASK, `task ${index}: choice ${s} has no tokens after the common prefix (it is a prefix of another choice)`, { task: task.id });
    }
  }
  let required = cp;
  for (const s of seqs) required += s.length - cp;
  return { seqs, commonPrefix: cp, required };
}

async function scoreTask(model: McModel, task: McTask, index: number, nCtx: number | undefined, kind: "hellaswag" | "mc"): Promise<McTaskResult> {
  const { seqs, commonPrefix: cp, required } = prepareTask(model.tokenizer, task, index);
  if (nCtx !== undefined && required > nCtx) {
    throw evalError(EvalErrorCode.MC_BAD_TASK, `task ${index} does not fit in the context window (requires ${required} tokens, n_ctx ${nCtx})`, { task: task.id });
  }
  const nVocab = model.nVocab;
  const scores: number[] = [];
  let firstLogits: Float32Array | undefined;
  for (let s = 0; s < seqs.length; s++) {
    const seq = seqs[s];
    const logits = await model.evaluate(seq, { logits: "all" });
    if (logits.length !== seq.length * nVocab) {
      throw evalError(EvalErrorCode.EVAL_BAD_LOGITS, `model returned ${logits.length} logits for ${seq.length} tokens x ${nVocab} vocab`);
    }
    // the logits of the last common-prefix token are shared by all choices (llama.cpp computes them once)
    if (s === 0) firstLogits = logits.slice((cp - 1) * nVocab, cp * nVocab);
    const p0 = softmaxProb(firstLogits!, 0, nVocab, seq[cp]);
    if (kind === "hellaswag") {
      let lp = Math.fround(Math.log(p0)); // std::log(float) -> float, stored in double
      let count = 1;
      for (let j = cp; j < seq.length - 1; j++) {
        lp += logProbF32(logits, j * nVocab, nVocab, seq[j + 1]);
        count++;
      }
      scores.push(lp / count);
    } else {
      let lp = Math.fround(Math.log(p0));
      let count = 1;
      for (let j = cp; j < seq.length - 1; j++) {
        count++;
        lp = Math.fround(lp + logProbF32(logits, j * nVocab, nVocab, seq[j + 1]));
      }
      scores.push(Math.fround(lp / count));
    }
  }
  let best = 0;
  for (let s = 1; s < scores.length; s++) if (scores[s] > scores[best]) best = s;
  return { index, id: task.id, answer: task.answer, predicted: best, correct: best === task.answer, scores, commonPrefix: cp };
}

/** Wilson score interval as `hellaswag_score` computes it (za = 1.95996398454). */
export function wilson95(nCorrect: number, n: number): [number, number] {
  const za = 1.95996398454;
  const freq = nCorrect / n;
  const z = (za * za) / n;
  const cnf = (z * Math.sqrt(n * (4.0 * freq * (1 - freq) + z))) / (za + za);
  return [(freq + z * 0.5 - cnf) / (1.0 + z), (freq + z * 0.5 + cnf) / (1.0 + z)];
}

function summarize(results: McTaskResult[], totalAnswers: number): McResult {
  const n = results.length;
  const nCorrect = results.filter((r) => r.correct).length;
  // multiple_choice_score: float p = 1.f*n_correct/n_done; float sigma = sqrt(p*(1-p)/(n_done-1))
  const p = Math.fround(nCorrect / n);
  const sigma = n > 1 ? Math.fround(Math.sqrt(Math.fround(Math.fround(p * Math.fround(1 - p)) / (n - 1)))) : Number.NaN;
  const pr = Math.fround(n / totalAnswers);
  const sr = n > 1 ? Math.fround(Math.sqrt(Math.fround(Math.fround(pr * Math.fround(1 - pr)) / (n - 1)))) : Number.NaN;
  return {
    tasks: results,
    n,
    nCorrect,
    accuracy: nCorrect / n,
    stderr: sigma,
    wilson95: n > 0 ? wilson95(nCorrect, n) : [Number.NaN, Number.NaN],
    randomChance: { value: pr, error: sr },
  };
}

async function run(model: McModel, tasks: readonly McTask[], order: number[], opts: McOptions, kind: "hellaswag" | "mc"): Promise<McResult> {
  const results: McTaskResult[] = [];
  let totalAnswers = 0;
  let nCorrect = 0;
  for (const idx of order) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
    const r = await scoreTask(model, tasks[idx], idx, opts.nCtx, kind);
    results.push(r);
    totalAnswers += tasks[idx].choices.length;
    if (r.correct) nCorrect++;
    opts.onTask?.({ done: results.length, total: order.length, accuracy: nCorrect / results.length, last: r });
  }
  if (results.length === 0) throw evalError(EvalErrorCode.EVAL_BAD_OPTION, "no tasks to score");
  return summarize(results, totalAnswers);
}

/**
 * HellaSwag acc_norm as `llama-perplexity --hellaswag [--hellaswag-tasks N]`: N tasks (default 400) picked with
 * mt19937(1) unless `noShuffle`.
 */
export async function hellaswagScore(model: McModel, tasks: readonly McTask[], opts: McOptions = {}): Promise<McResult> {
  const count = Math.min(opts.tasks ?? 400, tasks.length);
  const order = opts.noShuffle ? Array.from({ length: count }, (_, i) => i) : hellaswagSelection(tasks.length, count);
  return run(model, tasks, order, opts, "hellaswag");
}

/**
 * Multiple-choice accuracy as `llama-perplexity --multiple-choice [--multiple-choice-tasks N]`: all tasks in order
 * (N = 0 or >= count), else N tasks picked with mt19937(1).
 */
export async function multipleChoiceScore(model: McModel, tasks: readonly McTask[], opts: McOptions = {}): Promise<McResult> {
  const want = opts.tasks ?? 0;
  const order =
    want === 0 || want >= tasks.length || opts.noShuffle
      ? Array.from({ length: want === 0 ? tasks.length : Math.min(want, tasks.length) }, (_, i) => i)
      : multipleChoiceSelection(tasks.length, want);
  return run(model, tasks, order, opts, "mc");
}

/** `hellaswag_score`'s line for a task: `n\tacc%\t[lo%, hi%]` (`%zu\t%3.8lf%%\t[%3.4lf%%, %3.4lf%%]`). */
export function formatHellaswagLine(done: number, nCorrect: number): string {
  const [a, b] = wilson95(nCorrect, done);
  return `${done}\t${((nCorrect / done) * 100).toFixed(8)}%\t[${(a * 100).toFixed(4)}%, ${(b * 100).toFixed(4)}%]`;
}

/** `multiple_choice_score`'s final lines: `Final result: 45.1234 +/- 1.2345` and `Random chance: ...`. */
export function formatMcFinal(r: McResult): string {
  return (
    `Final result: ${Math.fround(100 * Math.fround(r.accuracy)).toFixed(4)} +/- ${Math.fround(100 * r.stderr).toFixed(4)}\n` +
    `Random chance: ${Math.fround(100 * r.randomChance.value).toFixed(4)} +/- ${Math.fround(100 * r.randomChance.error).toFixed(4)}\n`
  );
}
