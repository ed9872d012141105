/**
 * llama.cpp's per-tensor type choice for its presets, as of llama.cpp c392e50 (2025-02-20).
 *
 * @see llama_tensor_get_type (src/llama-quant.cpp, c392e50). {@link llamaMixRules} is that function without its
 * last part (the shape fallback), which the host does for every recipe ({@link shapeFallbackC392e50}). The if/else
 * chain, its order and its type choices follow the C line by line; only the names are TypeScript.
 * MXFP4_MOE did not exist at c392e50: its branch is the one llama.cpp added later (2025-08), placed where it is there.
 */
import { GGMLQuantizationType as T, LlamaFileType as F, ggmlTypeInfo } from "@quantlab/gguf";
import type { RecipeTensorContext, TensorCategory } from "./types.js";

/**
 * `use_more_bits` lambda: the first eighth, the last eighth, and every third layer in between.
 * Integer divisions as in C (operands are non-negative here except `i - n/8`, where C's `%` keeps the sign).
 */
export function useMoreBits(iLayer: number, nLayers: number): boolean {
  const n8 = Math.trunc(nLayers / 8);
  return iLayer < n8 || iLayer >= Math.trunc((7 * nLayers) / 8) || (iLayer - n8) % 3 === 2;
}

/**
 * The category of a tensor name, tested in the order of llama_tensor_get_type's if/else chain. `token_embd` is
 * returned for `token_embd.weight` also when the model has no output.weight; the host then treats it as the output.
 */
export function tensorCategoryC392e50(name: string): TensorCategory {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight") return "token_embd";
  if (name.includes("attn_v.weight")) return "attn_v";
  if (name.includes("attn_k.weight")) return "attn_k";
  if (name.includes("attn_q.weight")) return "attn_q";
  if (name.includes("ffn_down")) return "ffn_down";
  if (name.includes("attn_output.weight")) return "attn_output";
  if (name.includes("attn_qkv.weight")) return "attn_qkv";
  if (name.includes("ffn_gate")) return "ffn_gate";
  if (name.includes("ffn_up")) return "ffn_up";
  return "other";
}

function blck(type: number): number {
  return ggmlTypeInfo(type)?.blockSize ?? 1;
}

const IQ2_FAMILY = new Set<number>([F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ1_M]);
const OUTPUT_Q5_K = new Set<number>([
  F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ3_XXS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ1_M,
]);
const MOE8_ATTN_OUTPUT_Q5_K = new Set<number>([
  F.MOSTLY_Q2_K, F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_XXS, F.MOSTLY_Q3_K_S, F.MOSTLY_Q3_K_M, F.MOSTLY_IQ4_NL,
  F.MOSTLY_Q4_K_S, F.MOSTLY_Q4_K_M, F.MOSTLY_IQ3_S, F.MOSTLY_IQ3_M, F.MOSTLY_IQ4_XS,
]);

/**
 * The rules of llama.cpp's presets for file type `ftype`.
 * @see llama_tensor_get_type (src/llama-quant.cpp, c392e50), everything before `convert_incompatible_tensor`.
 * The layer counters are the host's (`ctx.counters`); the host advances them after this returns, as the C does
 * at the end of each attn_v / ffn_down / ffn_gate / ffn_up branch.
 */
export function llamaMixRules(ctx: RecipeTensorContext, ftype: number): T {
  const { name, arch, hparams, counters: qs } = ctx;
  let newType: T = ctx.defaultType;
  const category = ctx.category;
  const isFalcon = arch === "falcon";

  // for arches that share the same tensor between the token embeddings and the output, we quantize the token
  // embeddings with the quantization of the output tensor
  if (category === "output" || (!ctx.hasOutput && category === "token_embd")) {
    if (ctx.outputTensorType !== undefined) {
      newType = ctx.outputTensorType;
    } else {
      const nx = ctx.shape[0];
      const qkK = blck(newType);
      if (ftype === F.MOSTLY_MXFP4_MOE) {
        newType = T.Q8_0; // post-c392e50 branch
      } else if (isFalcon || nx % qkK !== 0) {
        newType = T.Q8_0;
      } else if (OUTPUT_Q5_K.has(ftype)) {
        newType = T.Q5_K;
      } else if (newType !== T.Q8_0) {
        newType = T.Q6_K;
      }
    }
  } else if (ftype === F.MOSTLY_MXFP4_MOE) {
    // post-c392e50: MoE tensors -> MXFP4, other tensors -> Q8_0
    newType = (ctx.shape[2] ?? 1) > 1 ? T.MXFP4 : T.Q8_0;
  } else if (category === "token_embd") {
    if (ctx.tokenEmbeddingType !== undefined) {
      newType = ctx.tokenEmbeddingType;
    } else if (ftype === F.MOSTLY_IQ2_XXS || ftype === F.MOSTLY_IQ2_XS || ftype === F.MOSTLY_IQ1_S || ftype === F.MOSTLY_IQ1_M) {
      newType = T.Q2_K;
    } else if (ftype === F.MOSTLY_IQ2_S || ftype === F.MOSTLY_IQ2_M) {
      newType = T.IQ3_S;
    } else if (ftype === F.MOSTLY_IQ3_XXS) {
      newType = T.IQ3_S;
    } else if (ftype === F.MOSTLY_TQ1_0 || ftype === F.MOSTLY_TQ2_0) {
      newType = T.Q4_K;
    }
  } else if (IQ2_FAMILY.has(ftype)) {
    const iq2sOrM = ftype === F.MOSTLY_IQ2_S || ftype === F.MOSTLY_IQ2_M;
    if (category === "attn_v") {
      if (hparams.nGqa >= 4 || hparams.nExpert >= 4) newType = T.Q4_K;
      else newType = iq2sOrM ? T.IQ3_S : T.Q2_K;
    } else if (hparams.nExpert === 8 && category === "attn_k") {
      newType = T.Q4_K;
    } else if (category === "ffn_down") {
      // counter-based in the C, no layer_info here
      if (qs.iFfnDown < Math.trunc(qs.nFfnDown / 8)) {
        newType = iq2sOrM ? T.IQ3_S : T.Q2_K;
      }
    } else if (category === "attn_output") {
      if (hparams.nExpert === 8) {
        newType = T.Q5_K;
      } else if (ftype === F.MOSTLY_IQ1_S || ftype === F.MOSTLY_IQ1_M) {
        newType = T.IQ2_XXS;
      } else if (iq2sOrM) {
        newType = T.IQ3_S;
      }
    }
  } else if (category === "attn_v") {
    const nGqa = hparams.nGqa;
    if (ftype === F.MOSTLY_Q2_K) {
      newType = nGqa >= 4 ? T.Q4_K : T.Q3_K;
    } else if (ftype === F.MOSTLY_Q2_K_S && nGqa >= 4) {
      newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_IQ3_XXS) {
      newType = nGqa >= 4 ? T.Q4_K : !ctx.hasImatrix ? T.IQ3_S : T.IQ3_XXS;
    } else if ((ftype === F.MOSTLY_IQ3_XS || ftype === F.MOSTLY_IQ3_S) && nGqa >= 4) {
      newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_IQ3_M) {
      newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_Q3_K_M) {
      newType = qs.iAttentionWv < 2 ? T.Q5_K : T.Q4_K;
    } else if (ftype === F.MOSTLY_Q3_K_L) {
      newType = T.Q5_K;
    } else if ((ftype === F.MOSTLY_IQ4_NL || ftype === F.MOSTLY_IQ4_XS) && nGqa >= 4) {
      newType = T.Q5_K;
    } else if ((ftype === F.MOSTLY_Q4_K_M || ftype === F.MOSTLY_Q5_K_M) && useMoreBits(qs.iAttentionWv, qs.nAttentionWv)) {
      newType = T.Q6_K;
    } else if (ftype === F.MOSTLY_Q4_K_S && qs.iAttentionWv < 4) {
      newType = T.Q5_K;
    }
    if (hparams.modelType === "70B") {
      // 8 heads share the same attn_v weights: more bits here cost little
      if (newType === T.Q3_K || newType === T.Q4_K) newType = T.Q5_K;
    }
    if (hparams.nExpert === 8) {
      newType = T.Q8_0;
    }
  } else if (category === "attn_k") {
    if (hparams.nExpert === 8) {
      newType = T.Q8_0;
    } else if (ftype === F.MOSTLY_IQ3_XS) {
      newType = T.IQ3_XXS;
    } else if (ftype === F.MOSTLY_IQ3_XXS) {
      newType = T.IQ2_S;
    }
  } else if (category === "attn_q") {
    if (ftype === F.MOSTLY_IQ3_XS) {
      newType = T.IQ3_XXS;
    } else if (ftype === F.MOSTLY_IQ3_XXS) {
      newType = T.IQ2_S;
    }
  } else if (category === "ffn_down") {
    const [iLayer, nLayer] = ctx.layerInfo(qs.iFfnDown, qs.nFfnDown);
    const n8 = Math.trunc(nLayer / 8);
    const n16 = Math.trunc(nLayer / 16);
    if (ftype === F.MOSTLY_Q2_K) {
      newType = T.Q3_K;
    } else if (ftype === F.MOSTLY_Q2_K_S) {
      if (iLayer < n8) newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_IQ3_XXS && !ctx.hasImatrix) {
      newType = iLayer < n8 ? T.Q4_K : T.Q3_K;
    } else if (ftype === F.MOSTLY_Q3_K_M) {
      newType = iLayer < n16 ? T.Q5_K : !isFalcon || useMoreBits(iLayer, nLayer) ? T.Q4_K : T.Q3_K;
    } else if (ftype === F.MOSTLY_IQ3_M && (iLayer < n8 || (hparams.nExpert === 8 && useMoreBits(iLayer, nLayer)))) {
      newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_Q3_K_L) {
      newType = isFalcon ? T.Q4_K : T.Q5_K;
    } else if (ftype === F.MOSTLY_Q4_K_M) {
      if (isFalcon) {
        newType = iLayer < n16 ? T.Q6_K : useMoreBits(iLayer, nLayer) ? T.Q5_K : T.Q4_K;
      } else if (useMoreBits(iLayer, nLayer)) {
        newType = T.Q6_K;
      }
    } else if (iLayer < n8 && (ftype === F.MOSTLY_IQ4_NL || ftype === F.MOSTLY_IQ4_XS) && !ctx.hasImatrix) {
      newType = T.Q5_K;
    } else if (ftype === F.MOSTLY_Q5_K_M && useMoreBits(iLayer, nLayer)) {
      newType = T.Q6_K;
    } else if (ftype === F.MOSTLY_Q4_K_S && !isFalcon && iLayer < n8) {
      newType = T.Q5_K;
    } else if ((ftype === F.MOSTLY_Q4_0 || ftype === F.MOSTLY_Q5_0) && ctx.hasImatrix && iLayer < n8) {
      // guard against craziness in the first few ffn_down layers; only with an imatrix (see the C comment)
      newType = ftype === F.MOSTLY_Q4_0 ? T.Q4_1 : T.Q5_1;
    }
  } else if (category === "attn_output") {
    if (!isFalcon) {
      if (hparams.nExpert === 8) {
        if (MOE8_ATTN_OUTPUT_Q5_K.has(ftype)) newType = T.Q5_K;
      } else {
        if (ftype === F.MOSTLY_Q2_K) newType = T.Q3_K;
        else if (ftype === F.MOSTLY_IQ3_XXS) newType = T.IQ3_S;
        else if (ftype === F.MOSTLY_Q3_K_M) newType = T.Q4_K;
        else if (ftype === F.MOSTLY_Q3_K_L) newType = T.Q5_K;
        else if (ftype === F.MOSTLY_IQ3_M) newType = T.Q4_K;
      }
    } else {
      if (ftype === F.MOSTLY_Q3_K_L) newType = T.Q4_K;
    }
  } else if (category === "attn_qkv") {
    if (ftype === F.MOSTLY_Q3_K_M || ftype === F.MOSTLY_Q3_K_L || ftype === F.MOSTLY_IQ3_M) {
      newType = T.Q4_K;
    } else if (ftype === F.MOSTLY_Q4_K_M) newType = T.Q5_K;
    else if (ftype === F.MOSTLY_Q5_K_M) newType = T.Q6_K;
  } else if (category === "ffn_gate") {
    const [iLayer, nLayer] = ctx.layerInfo(qs.iFfnGate, qs.nFfnGate);
    if (ftype === F.MOSTLY_IQ3_XS && iLayer >= Math.trunc(nLayer / 8) && iLayer < Math.trunc((7 * nLayer) / 8)) {
      newType = T.IQ3_XXS;
    }
  } else if (category === "ffn_up") {
    const [iLayer, nLayer] = ctx.layerInfo(qs.iFfnUp, qs.nFfnUp);
    if (ftype === F.MOSTLY_IQ3_XS && iLayer >= Math.trunc(nLayer / 8) && iLayer < Math.trunc((7 * nLayer) / 8)) {
      newType = T.IQ3_XXS;
    }
  }
  return newType;
}

/**
 * The shape fallback of llama_tensor_get_type at c392e50 (`convert_incompatible_tensor`): when the row length is
 * not a multiple of the chosen type's block size. Returns `undefined` where the C throws "Unsupported tensor size
 * encountered" (no fallback for that type).
 * Later llama.cpp sends Q2_K/Q3_K to Q4_0 instead of IQ4_NL; this is the c392e50 table.
 */
export function shapeFallbackC392e50(type: number, ne0: number): T | undefined {
  let next: T;
  switch (type) {
    case T.TQ1_0:
    case T.TQ2_0:
      next = T.Q4_0;
      break;
    case T.IQ2_XXS:
    case T.IQ2_XS:
    case T.IQ2_S:
    case T.IQ3_XXS:
    case T.IQ3_S:
    case T.IQ1_S:
    case T.IQ1_M:
    case T.Q2_K:
    case T.Q3_K:
    case T.IQ4_XS:
      next = T.IQ4_NL;
      break;
    case T.Q4_K:
      next = T.Q5_0;
      break;
    case T.Q5_K:
      next = T.Q5_1;
      break;
    case T.Q6_K:
      next = T.Q8_0;
      break;
    default:
      return undefined;
  }
  if (ne0 % blck(next) !== 0) next = T.F16;
  return next;
}

/**
 * Whether a tensor with target type `type` must have importance data, at c392e50.
 * @see llama_model_quantize_impl (src/llama-quant.cpp, c392e50), the "Missing importance matrix" check.
 */
export function tensorRequiresImatrixC392e50(name: string, type: number, ftype: number): boolean {
  return (
    type === T.IQ2_XXS ||
    type === T.IQ2_XS ||
    type === T.IQ2_S ||
    type === T.IQ1_S ||
    (type === T.IQ1_M && name !== "token_embd.weight" && name !== "output.weight") ||
    (type === T.Q2_K && ftype === F.MOSTLY_Q2_K_S && name !== "token_embd.weight")
  );
}
