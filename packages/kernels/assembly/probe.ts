// Smallest module: proves the toolchain and SIMD support at run time (see src/wasm/load.ts).
export function dot4(p: usize, q: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(p + (<usize>i << 2)), v128.load(q + (<usize>i << 2))));
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
}
