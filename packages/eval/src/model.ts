/**
 * The minimal structural interfaces the evaluators need. `@quantlab/runtime`'s `Model` (and its `Tokenizer`)
 * satisfy them; tests use small hand-built fakes.
 */

/** Which logits {@link LogitsModel.evaluate} returns. */
export type LogitsMode = "all" | "last";

/** Something that turns a token sequence into next-token logits. */
export interface LogitsModel {
  /** Vocabulary size: the width of one logits row. */
  readonly nVocab: number;
  /**
   * Run the tokens through the model from an empty KV cache (position 0 = `tokens[0]`) and return the logits,
   * row-major `[nTokens, nVocab]` for `"all"` (the default) or one row for `"last"`.
   */
  evaluate(tokens: ArrayLike<number>, opts?: { logits?: LogitsMode }): Promise<Float32Array>;
}

/** Something that turns text into token ids the way llama.cpp's `common_tokenize` does. */
export interface TextTokenizer {
  /**
   * `addBos: true` is llama.cpp's `add_special = true`: a BOS is prepended when the vocab adds one
   * (`tokenizer.ggml.add_bos_token`). `parseSpecial` matches control-token texts.
   */
  encode(text: string, opts?: { addBos?: boolean; parseSpecial?: boolean }): number[];
  /** The BOS token id, if the vocab has one. */
  readonly bos?: number | undefined;
  /** Whether the vocab adds BOS (`llama_vocab_get_add_bos`). */
  readonly addBosToken?: boolean;
}

/** A model bundled with its tokenizer (runtime's `Model` has this shape). */
export interface TokenizedModel extends LogitsModel {
  readonly tokenizer: TextTokenizer;
}

/** Cooperative cancellation shared by the long-running evaluators. */
export interface Cancellable {
  readonly signal?: AbortSignal | undefined;
}
