/**
 * A binary min-heap over parallel typed arrays: key (lower first), then `left` (lower first). Used as the work queue
 * of the SPM and BPE merges (`llm_bigram_spm::queue`, `llm_bigram_bpe::queue` in llama.cpp src/llama-vocab.cpp).
 * Entries carry `left`, `right` and `size` (the merged length, to detect outdated entries).
 */
export class BigramHeap {
  private key = new Float64Array(64);
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private size = new Int32Array(64);
  length = 0;

  /** Values of the entry popped last. */
  topLeft = 0;
  topRight = 0;
  topSize = 0;

  clear(): void {
    this.length = 0;
  }

  private less(i: number, j: number): boolean {
    const a = this.key[i]!;
    const b = this.key[j]!;
    return a < b || (a === b && this.left[i]! < this.left[j]!);
  }

  private swap(i: number, j: number): void {
    let t = this.key[i]!;
    this.key[i] = this.key[j]!;
    this.key[j] = t;
    t = this.left[i]!;
    this.left[i] = this.left[j]!;
    this.left[j] = t;
    t = this.right[i]!;
    this.right[i] = this.right[j]!;
    this.right[j] = t;
    t = this.size[i]!;
    this.size[i] = this.size[j]!;
    this.size[j] = t;
  }

  push(key: number, left: number, right: number, size: number): void {
    if (this.length === this.key.length) {
      const n = this.length * 2;
      const grow = <T extends Float64Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
      this.key = grow(this.key, new Float64Array(n));
      this.left = grow(this.left, new Int32Array(n));
      this.right = grow(this.right, new Int32Array(n));
      this.size = grow(this.size, new Int32Array(n));
    }
    let i = this.length++;
    this.key[i] = key;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Remove the smallest entry into topLeft/topRight/topSize. Returns false when empty. */
  pop(): boolean {
    if (this.length === 0) return false;
    this.topLeft = this.left[0]!;
    this.topRight = this.right[0]!;
    this.topSize = this.size[0]!;
    const last = --this.length;
    if (last > 0) {
      this.key[0] = this.key[last]!;
      this.left[0] = this.left[last]!;
      this.right[0] = this.right[last]!;
      this.size[0] = this.size[last]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        const m = r < last && this.less(r, l) ? r : l;
        if (!this.less(m, i)) break;
        this.swap(m, i);
        i = m;
      }
    }
    return true;
  }
}
