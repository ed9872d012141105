/**
 * Builds the planner's model description from a parsed GGUF header (what `llama_model_loader` +
 * `llama_model::load_hparams` read for type selection).
 */
import type { GgufPlainValue } from "@quantlab/gguf";
import { RecipeError } from "./errors.js";
import type { PlanModel } from "./types.js";

/** The part of a `GgufFile` the planner needs: tensor infos in file order and metadata lookup. */
export interface GgufHeaderLike {
  readonly tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly type: number }[];
  get(key: string): GgufPlainValue | undefined;
  readonly file?: string | undefined;
}

function num(v: GgufPlainValue | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

/** A scalar or per-layer array key (`get_key_or_arr`): the first element and the array. */
function numOrArr(v: GgufPlainValue | undefined): [number | undefined, number[] | undefined] {
  if (Array.isArray(v)) {
    const arr = v.map((x) => num(x) ?? 0);
    return [arr[0], arr];
  }
  return [num(v), undefined];
}

/**
 * The planner's view of a GGUF model: `general.architecture`, `<arch>.block_count`, `<arch>.attention.head_count`,
 * `<arch>.attention.head_count_kv`, `<arch>.expert_count`, the vocabulary size and `general.file_type`.
 * Throws `RECIPE_INVALID` when the architecture or the block count is missing.
 */
export function planModelFromGguf(file: GgufHeaderLike): PlanModel {
  const arch = file.get("general.architecture");
  if (typeof arch !== "string") {
    throw new RecipeError("RECIPE_INVALID", "general.architecture is missing or not a string", { file: file.file });
  }
  const nLayer = num(file.get(`${arch}.block_count`));
  if (nLayer === undefined) throw new RecipeError("RECIPE_INVALID", `${arch}.block_count is missing`, { file: file.file });
  const [nHead] = numOrArr(file.get(`${arch}.attention.head_count`));
  const [nHeadKv, nHeadKvArr] = numOrArr(file.get(`${arch}.attention.head_count_kv`));
  const tokens = file.get("tokenizer.ggml.tokens");
  const nVocab = num(file.get(`${arch}.vocab_size`)) ?? (Array.isArray(tokens) ? tokens.length : undefined);
  return {
    arch,
    tensors: file.tensors.map((t) => ({ name: t.name, shape: [...t.shape], type: t.type })),
    hparams: {
      nLayer,
      nHead: nHead ?? 0,
      nHeadKv: nHeadKv ?? nHead ?? 0,
      nHeadKvArr,
      nExpert: num(file.get(`${arch}.expert_count`)) ?? 0,
      nVocab,
    },
    fileType: num(file.get("general.file_type")),
  };
}
