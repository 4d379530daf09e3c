// Fits the spread of the species' photos that "not a flower" is measured against
// (src/classifier/spread.ts).
import type { SpeciesSpread } from '../classifier/spread.ts';
import { toHalf } from '../util/float16.ts';
import { principalDirections } from './classStats.ts';

/** Default rank and shrinkage (chosen in the README's "Distance to the species"). */
export const SPREAD_DIRECTIONS = 32;
export const SPREAD_SHRINK = 0.1;

/**
 * Fits the shared spread on unit rows of one backbone (`rows`, with species
 * indices): the rows' offsets from their species' mean, their main directions,
 * and the variances shrunk towards the mean variance (a steadier inverse).
 */
export function fitSpread(
  rows: Float32Array[],
  species: number[],
  backbone: number,
  rank = SPREAD_DIRECTIONS,
  shrink = SPREAD_SHRINK,
): SpeciesSpread {
  const dim = rows[0]?.length ?? 0;
  const sums = new Map<number, Float64Array>();
  const counts = new Map<number, number>();
  rows.forEach((r, i) => {
    const s = sums.get(species[i]!) ?? new Float64Array(dim);
    r.forEach((v, k) => (s[k]! += v));
    sums.set(species[i]!, s);
    counts.set(species[i]!, (counts.get(species[i]!) ?? 0) + 1);
  });
  const centred = new Float32Array(rows.length * dim);
  let total = 0;
  rows.forEach((r, i) => {
    const s = sums.get(species[i]!)!,
      n = counts.get(species[i]!)!;
    for (let k = 0; k < dim; k++) total += (centred[i * dim + k] = r[k]! - s[k]! / n) ** 2;
  });
  const k = Math.min(rank, rows.length - 1, dim - 1);
  const { directions, directionVar } = principalDirections(centred, rows.length, dim, k);
  const meanVar = total / Math.max(1, rows.length - 1) / dim;
  const main = Array.from(directionVar, (v) => (1 - shrink) * v + shrink * meanVar);
  const restVar = (total / Math.max(1, rows.length - 1) - directionVar.reduce((a, b) => a + b, 0)) / Math.max(1, dim - k);
  const rest = (1 - shrink) * Math.max(restVar, 0) + shrink * meanVar;
  const scaled = Float32Array.from(directions, (v, i) => v * Math.sqrt(Math.max(0, 1 / rest - 1 / main[Math.floor(i / dim)]!)));
  return { backbone, rest, rank: k, directions: Buffer.from(Uint16Array.from(scaled, toHalf).buffer).toString('base64') };
}
