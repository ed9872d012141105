/** The data of a quantization study (`quantlab sweep`): what report.json holds and the renderers read. */

export interface SweepModelInfo {
  readonly file: string;
  readonly arch: string;
  readonly fileBytes: number;
  /** Number of weights (every tensor), the bpw denominator. */
  readonly nWeights: number;
  readonly nLayer: number;
}

export interface MultipleChoiceFigure {
  readonly task: string;
  readonly tasks: number;
  /** Accuracy in percent and its standard error (percent points). */
  readonly accuracy: number;
  readonly stderr: number;
}

export interface SweepRow {
  /** Unique label: the preset name, `-imatrix` appended when an importance matrix was used, or `target-<bpw>bpw`. */
  readonly label: string;
  /** Preset (`Q4_K_M`) or `F32` for the baseline row. */
  readonly preset: string;
  readonly imatrix: boolean;
  /** The budget target when the row comes from `--target-bpw`. */
  readonly targetBpw?: number | undefined;
  readonly status: "ok" | "failed" | "refused";
  /** Why it failed or was refused. */
  readonly error?: string | undefined;
  readonly file?: string | undefined;
  readonly fileBytes?: number | undefined;
  /** 8 × tensor data bytes / weights (llama.cpp's "BPW"). */
  readonly bpw?: number | undefined;
  readonly ppl?: number | undefined;
  readonly pplErr?: number | undefined;
  /** (PPL / PPL(base) − 1) × 100. */
  readonly dPplPct?: number | undefined;
  readonly meanKld?: number | undefined;
  readonly meanKldErr?: number | undefined;
  /** Percent. */
  readonly sameTopP?: number | undefined;
  /** Percent. */
  readonly rmsDp?: number | undefined;
  readonly mc?: readonly MultipleChoiceFigure[] | undefined;
  /** Prompt-processing tokens/s measured during the perplexity run. */
  readonly ppTokensPerSecond?: number | undefined;
  /** Answers to the prompts, in prompt order. */
  readonly answers?: readonly string[] | undefined;
  /** Memory needed for the requested context (bytes), and whether it fits the VRAM given. */
  readonly memoryBytes?: number | undefined;
  readonly fits?: boolean | undefined;
  /** Seconds spent on this row (quantize + evaluate). */
  readonly seconds?: number | undefined;
}

export interface SweepReport {
  readonly version: 1;
  readonly createdAt: string;
  readonly model: SweepModelInfo;
  readonly settings: {
    readonly text?: string | undefined;
    readonly ctx: number;
    readonly chunks?: number | undefined;
    readonly imatrix?: string | undefined;
    readonly vram?: number | undefined;
    readonly kvCtx?: number | undefined;
    readonly backend: string;
    readonly threads: number;
  };
  /** The F32 (or source precision) reference. */
  readonly baseline: SweepRow;
  readonly rows: readonly SweepRow[];
  readonly prompts?: readonly string[] | undefined;
  /** The recommended row label and why. */
  readonly recommendation?: { readonly label: string; readonly reason: string } | undefined;
}
