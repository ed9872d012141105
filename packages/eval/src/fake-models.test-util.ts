/** Test-only fake models (not exported from the package). */
import type { KldBase } from "./kld-base.js";
import type { LogitsModel } from "./model.js";

/**
 * A "model" that replays the decoded log-probs of a base file as its logits for the scored rows of each chunk
 * (rows before n_ctx/2 are zeros), optionally transformed. It checks that it is given the chunk's tokens.
 */
export class BaseReplayModel implements LogitsModel {
  readonly nVocab: number;
  calls = 0;
  constructor(
    private readonly base: KldBase,
    private readonly transform?: (row: Float32Array, target: number, chunk: number, i: number) => void,
    readonly bosSeen: number[] = [],
  ) {
    this.nVocab = base.nVocab;
  }
  async evaluate(tokens: ArrayLike<number>): Promise<Float32Array> {
    const b = this.base;
    const start = this.findChunk(tokens);
    const chunk = start / b.nCtx;
    this.calls++;
    this.bosSeen.push(tokens[0]!);
    const out = new Float32Array(b.nCtx * b.nVocab);
    const row = new Float32Array(b.nVocab);
    for (let i = 0; i < b.rowsPerChunk; i++) {
      b.logProbRow(chunk, i, row);
      this.transform?.(row, b.tokens[start + b.first + i + 1]!, chunk, i);
      out.set(row, (b.first + i) * b.nVocab);
    }
    return out;
  }
  private findChunk(tokens: ArrayLike<number>): number {
    const b = this.base;
    outer: for (let c = 0; c < b.nChunk; c++) {
      for (let k = 1; k < b.nCtx; k++) if (b.tokens[c * b.nCtx + k] !== tokens[k]) continue outer;
      return c * b.nCtx;
    }
    throw new Error("BaseReplayModel: tokens are not a chunk of the base file");
  }
}
