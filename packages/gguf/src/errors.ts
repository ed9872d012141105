/**
 * Typed errors shared by every quantlab package.
 *
 * Each error has a stable `code` (a string that never changes between versions, for programs to branch on),
 * a human message, and optional context (file, tensor, offset). A `Symbol.for` marker makes
 * `QuantlabError.isInstance` work across duplicate copies of the package (after vercel/ai's `AISDKError`).
 */

const MARKER = Symbol.for("quantlab.error");

export interface QuantlabErrorContext {
  /** File path or URL the error is about. */
  file?: string | undefined;
  /** Tensor name the error is about. */
  tensor?: string | undefined;
  /** Absolute byte offset in the file where the problem was found. */
  offset?: number | undefined;
  /** Anything else worth reporting (key name, row index, ...). */
  [key: string]: unknown;
}

export class QuantlabError extends Error {
  readonly [MARKER] = true;
  /** Stable machine-readable code, e.g. `GGUF_BAD_MAGIC`. */
  readonly code: string;
  readonly context: QuantlabErrorContext;

  constructor(code: string, message: string, context: QuantlabErrorContext = {}, options?: { cause?: unknown }) {
    super(formatMessage(message, context), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "QuantlabError";
    this.code = code;
    this.context = context;
  }

  get file(): string | undefined {
    return this.context.file;
  }
  get tensor(): string | undefined {
    return this.context.tensor;
  }
  get offset(): number | undefined {
    return this.context.offset;
  }

  /** True for any quantlab error, also one thrown by another copy of the package. */
  static isInstance(error: unknown): error is QuantlabError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}

function formatMessage(message: string, ctx: QuantlabErrorContext): string {
  const where: string[] = [];
  if (ctx.file !== undefined) where.push(ctx.file);
  if (ctx.tensor !== undefined) where.push(`tensor '${ctx.tensor}'`);
  if (ctx.offset !== undefined) where.push(`offset ${ctx.offset}`);
  return where.length ? `${message} (${where.join(", ")})` : message;
}
