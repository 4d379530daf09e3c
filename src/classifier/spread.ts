// How far a photo is from the nearest species, measured against how the species'
// own photos vary: a Mahalanobis distance with one covariance shared by all species
// (Lee et al., NeurIPS 2018), on one backbone's features. A cosine similarity
// treats every direction alike; photos of other things differ from flowers mostly
// in directions where flower photos hardly vary, and this distance weighs those
// most. The covariance is kept as its main directions plus one variance for all
// the others (`rank` × features floats, float16 in meta.json), so it travels with
// the answer settings and costs one small matmul per photo.
import { fromHalf } from '../util/float16.ts';
import { featureOffsets } from './answers.ts';

export interface SpeciesSpread {
  /** Which backbone's part of the features (index into meta.backbones). */
  backbone: number;
  /** The variance assumed along every direction but the main ones. */
  rest: number;
  rank: number;
  /**
   * rank × featureSize, float16, base64: each main direction of the within-species
   * spread scaled by √(1/rest − 1/its variance), so that
   * distance² = ‖x‖² / rest − ‖directions · x‖² for x = photo − species centre.
   */
  directions: string;
}

/** One backbone's slice of concatenated features, scaled to unit length. */
export function unitSlice(f: ArrayLike<number>, at: number, size: number): Float32Array {
  const out = new Float32Array(size);
  let s = 0;
  for (let k = 0; k < size; k++) s += (out[k] = f[at + k]!) ** 2;
  const n = Math.sqrt(s) || 1;
  for (let k = 0; k < size; k++) out[k]! /= n;
  return out;
}

/** The distance of photos to the nearest of some centres (species prototypes), under a fitted spread. */
export class SpreadDistance {
  private readonly dirs: Float32Array;
  private readonly centres: Float32Array[];
  private readonly projected: Float32Array[];

  private readonly at: number;
  private readonly size: number;

  /** `centres`: rows of concatenated features (the species prototypes); `sizes`: each backbone's feature size, in order. */
  constructor(
    readonly spread: SpeciesSpread,
    centres: Float32Array,
    sizes: number[],
  ) {
    const size = sizes[spread.backbone];
    if (size === undefined) throw new Error(`no backbone ${spread.backbone} (the features have ${sizes.length})`);
    this.at = featureOffsets(sizes)[spread.backbone]!;
    this.size = size;
    const dim = sizes.reduce((a, b) => a + b, 0);
    const bytes = Buffer.from(spread.directions, 'base64');
    this.dirs = Float32Array.from(new Uint16Array(new Uint8Array(bytes).buffer), fromHalf);
    this.centres = [];
    for (let r = 0; r + dim <= centres.length; r += dim) this.centres.push(unitSlice(centres, r + this.at, size));
    this.projected = this.centres.map((c) => this.project(c));
  }

  private project(x: Float32Array): Float32Array {
    const out = new Float32Array(this.spread.rank);
    for (let r = 0; r < out.length; r++) {
      let s = 0;
      for (let k = 0; k < this.size; k++) s += this.dirs[r * this.size + k]! * x[k]!;
      out[r] = s;
    }
    return out;
  }

  /** Squared distance of one photo's (concatenated) features to the nearest centre. */
  distance(features: Float32Array): number {
    const z = unitSlice(features, this.at, this.size);
    const pz = this.project(z);
    let best = Infinity;
    this.centres.forEach((c, i) => {
      let e = 0;
      for (let k = 0; k < this.size; k++) e += (z[k]! - c[k]!) ** 2;
      let p = 0;
      const pc = this.projected[i]!;
      for (let r = 0; r < pz.length; r++) p += (pz[r]! - pc[r]!) ** 2;
      best = Math.min(best, e / this.spread.rest - p);
    });
    return best;
  }
}
