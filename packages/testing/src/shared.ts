/**
 * The one place tests find the real data in `../shared` (beside the project root).
 * Override with the environment variable `QUANTLAB_SHARED`. A missing folder is a loud failure,
 * never a silent skip: CI has it, and a test that cannot see its data must not pass.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** Absolute path of the shared data folder; throws with instructions when it is missing. */
export function sharedRoot(): string {
  if (cached !== undefined) return cached;
  const fromEnv = process.env.QUANTLAB_SHARED;
  const candidates: string[] = [];
  if (fromEnv) candidates.push(resolve(fromEnv));
  // packages/testing/src -> repo root -> ../shared
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    candidates.push(join(dir, "..", "shared"));
    dir = dirname(dir);
  }
  for (const c of candidates) {
    if (existsSync(join(c, "golden")) && existsSync(join(c, "models"))) {
      cached = resolve(c);
      return cached;
    }
  }
  throw new Error(
    `quantlab test data not found: looked for a 'shared' folder (with models/ and golden/) at ${candidates.join(", ")}. ` +
      "Place the shared data beside the project root or set QUANTLAB_SHARED=/path/to/shared.",
  );
}

/** Path of a file or folder inside shared/, which must exist. */
export function sharedPath(...parts: string[]): string {
  const p = join(sharedRoot(), ...parts);
  if (!existsSync(p)) throw new Error(`quantlab test data missing: ${p}`);
  return p;
}

/** Bytes of a file inside shared/. */
export function readShared(...parts: string[]): Uint8Array {
  const buf = readFileSync(sharedPath(...parts));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Parsed JSON of a file inside shared/. */
export function readSharedJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(readFileSync(sharedPath(...parts), "utf8")) as T;
}

/** A Float32Array view over a little-endian float32 file inside shared/ (copied to an aligned buffer). */
export function readSharedF32(...parts: string[]): Float32Array {
  const b = readShared(...parts);
  const out = new Float32Array(b.byteLength >>> 2);
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 4));
  return out;
}
