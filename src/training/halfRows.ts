// Training rows kept as float16: half the memory of float32. Pooled CNN
// features need about three significant digits (they are standardised before
// the head sees them), and an ensemble's rows are most of a retrain's memory.
import { fromHalf, toHalf } from '../util/float16.ts';

export { fromHalf, toHalf };

const TABLE = Float32Array.from({ length: 65536 }, (_, h) => fromHalf(h));

export class HalfRows {
  private readonly data: Uint16Array;

  constructor(
    readonly count: number,
    readonly dim: number,
  ) {
    this.data = new Uint16Array(count * dim);
  }

  set(i: number, row: Float32Array): void {
    const o = i * this.dim;
    for (let d = 0; d < this.dim; d++) this.data[o + d] = toHalf(row[d]!);
  }

  get(i: number): Float32Array {
    const out = new Float32Array(this.dim);
    this.readInto(i, out, 0);
    return out;
  }

  /** Row i into out at offset `at`, standardised when mean/std are given. */
  readInto(i: number, out: Float32Array, at: number, norm?: { mean: Float32Array; std: Float32Array }): void {
    const o = i * this.dim;
    for (let d = 0; d < this.dim; d++) {
      const v = TABLE[this.data[o + d]!]!;
      out[at + d] = norm ? (v - norm.mean[d]!) / norm.std[d]! : v;
    }
  }
}
