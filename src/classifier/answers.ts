// The three kinds of answer (issue 12): a species, "not sure" (with the
// candidates), or "that doesn't look like a flower". Decided from two signals
// of the photo, with settings fitted on held-out data and kept in the
// checkpoint (meta.answers); a checkpoint without them answers as before:
// a species, or "not sure" under the configured confidence threshold.
import type { AnswerViews } from './crops.ts';
import { imagenetProbs, type ImagenetHead } from './imagenetHead.ts';
import type { SpeciesSpread } from './spread.ts';

export type AnswerKind = 'species' | 'notSure' | 'notFlower';

/** The species threshold for a checkpoint that has none fitted: BLOOM_CONFIDENCE_THRESHOLD's default (src/config.ts; test/config.test.ts keeps them equal). */
export const FALLBACK_SPECIES_THRESHOLD = 0.35;

export interface AnswerSettings {
  /** Temperature scaling of the head (fitted on valid): p ∝ p_raw^(1/T). */
  temperature: number;
  /**
   * Top-label calibration (fitted on valid), used instead of the temperature when
   * present: the best species' probability becomes σ(a·logit(p) + b), the others
   * keep their ratios. It is monotone in the head's own top-1, so photos rank as the
   * head ranks them, where a temperature below 1 would reorder them.
   */
  topLabel?: TopLabelMap;
  /**
   * Per backbone (meta.backbones order): the ImageNet classes the training
   * photos put their mass on. A photo's flower-likeness is its ImageNet mass on
   * these classes, averaged over the backbones that have a head.
   */
  flowerClasses?: number[][];
  /** A calibrated top-1 probability at or above this answers with the species. */
  speciesThreshold?: number;
  /** A flower-likeness below this answers "that doesn't look like a flower". */
  notFlowerBelow?: number;
  /** File in the checkpoint folder with the species prototypes (unit rows, float32 or float16, see speciesPrototypes). */
  centroids?: string;
  /** Prototypes per species in that file (at most; 1 when absent: the species' mean). */
  prototypes?: number;
  /** The species' spread the distance to them is measured in (src/classifier/spread.ts), centred on the prototypes. */
  spread?: SpeciesSpread;
  /**
   * A distance to the nearest species prototype above this answers "that doesn't
   * look like a flower" too: farther than all but the farthest flower photos held out.
   */
  notFlowerDistanceAbove?: number;
  /** The crops the settings were fitted on, and so the ones the bot looks at (centre only when absent). */
  views?: AnswerViews;
  /** How the settings were chosen (for people reading meta.json). */
  fitted?: Record<string, unknown>;
}

export interface AnswerSignals {
  /** Calibrated probability of the best species. */
  top1: number;
  /** ImageNet mass on the flower classes, when the model can tell. */
  flowerLikeness?: number;
  /** Distance of the features to the nearest species prototype under the species' spread, when the checkpoint has them. */
  distance?: number;
}

export interface Answer {
  kind: AnswerKind;
}

/**
 * The answer for one photo. Never "not a flower" without a fitted threshold
 * and the photo's signal it applies to; the species threshold falls back
 * to `fallbackThreshold` (BLOOM_CONFIDENCE_THRESHOLD) when none was fitted.
 */
export function decideAnswer(s: AnswerSignals, settings: AnswerSettings | undefined, fallbackThreshold: number): Answer {
  const below = settings?.notFlowerBelow;
  if (below !== undefined && s.flowerLikeness !== undefined && s.flowerLikeness < below) return { kind: 'notFlower' };
  const above = settings?.notFlowerDistanceAbove;
  if (above !== undefined && s.distance !== undefined && s.distance > above) return { kind: 'notFlower' };
  const threshold = settings?.speciesThreshold ?? fallbackThreshold;
  return { kind: s.top1 >= threshold ? 'species' : 'notSure' };
}

export interface TopLabelMap {
  a: number;
  b: number;
}

/** Index of the largest value (the first of equals). */
function argmax(r: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < r.length; c++) if (r[c]! > r[best]!) best = c;
  return best;
}

const logit = (p: number) => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
};

/** The best species' probability mapped by the top-label calibration, the others scaled to fill the rest. */
export function applyTopLabel(probs: ArrayLike<number>, m: TopLabelMap): Float32Array {
  const out = Float32Array.from(probs);
  const best = argmax(out);
  const p = out[best]!;
  const g = 1 / (1 + Math.exp(-(m.a * logit(p) + m.b)));
  const rest = 1 - p;
  for (let c = 0; c < out.length; c++)
    if (c !== best) out[c] = rest > 1e-9 ? (out[c]! * (1 - g)) / rest : (1 - g) / Math.max(1, out.length - 1);
  out[best] = g;
  return out;
}

/**
 * Platt scaling of the top-1: the a > 0 and b that best predict whether the best
 * species is right from the logit of its probability (Newton's method; a weak
 * prior keeps it finite when valid has few mistakes).
 */
export function fitTopLabel(rows: ArrayLike<number>[], targets: number[]): TopLabelMap {
  const best = rows.map(argmax);
  const xs = rows.map((r, i) => logit(r[best[i]!]!));
  const ys = best.map((b, i) => (b === targets[i] ? 1 : 0));
  let a = 1,
    b = 0;
  const prior = 1e-3;
  for (let it = 0; it < 50; it++) {
    let ga = prior * (a - 1),
      gb = prior * b,
      haa = prior,
      hab = 0,
      hbb = prior;
    xs.forEach((x, i) => {
      const p = 1 / (1 + Math.exp(-(a * x + b)));
      const w = p * (1 - p);
      ga += (p - ys[i]!) * x;
      gb += p - ys[i]!;
      haa += w * x * x;
      hab += w * x;
      hbb += w;
    });
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det,
      db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-9) break;
  }
  return { a: Math.max(a, 1e-3), b };
}

/** The calibration fitted on labelled rows: the temperature always, and top-label scaling when asked for (used instead). */
export function fitScaling(
  rows: ArrayLike<number>[],
  targets: number[],
  topLabel: boolean,
): Pick<AnswerSettings, 'temperature' | 'topLabel'> {
  return { temperature: fitTemperature(rows, targets), ...(topLabel && { topLabel: fitTopLabel(rows, targets) }) };
}

/** A photo's probabilities as members see them: top-label calibrated when fitted, else temperature-scaled. */
export function calibrateProbs(probs: Float32Array, s: Pick<AnswerSettings, 'temperature' | 'topLabel'> | undefined): Float32Array {
  if (s?.topLabel) return applyTopLabel(probs, s.topLabel);
  const t = s?.temperature;
  return t && t !== 1 ? applyTemperature(probs, t) : probs;
}

/** Temperature scaling on probabilities (exact for a softmax head: log p = logits + const). */
export function applyTemperature(probs: ArrayLike<number>, temperature: number): Float32Array {
  if (temperature === 1) return Float32Array.from(probs);
  let max = -Infinity;
  const z = Array.from(probs, (p) => Math.log(Math.max(p, 1e-30)) / temperature);
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  const e = z.map((v) => {
    const x = Math.exp(v - max);
    sum += x;
    return x;
  });
  return Float32Array.from(e, (x) => x / sum);
}

function nll(rows: ArrayLike<number>[], targets: number[], t: number): number {
  let s = 0;
  rows.forEach((r, i) => (s -= Math.log(Math.max(applyTemperature(r, t)[targets[i]!]!, 1e-12))));
  return s / Math.max(1, rows.length);
}

/** The temperature that minimises the negative log-likelihood (golden-section search on log T). */
export function fitTemperature(rows: ArrayLike<number>[], targets: number[]): number {
  let a = Math.log(0.05),
    b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a),
    d = a + g * (b - a);
  let fc = nll(rows, targets, Math.exp(c)),
    fd = nll(rows, targets, Math.exp(d));
  for (let i = 0; i < 40; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = nll(rows, targets, Math.exp(c));
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = nll(rows, targets, Math.exp(d));
    }
  }
  return Math.exp((a + b) / 2);
}

/** Expected calibration error of the top-1 confidence, in equal-width bins. */
export function expectedCalibrationError(rows: ArrayLike<number>[], targets: number[], bins = 15): number {
  const conf = new Array<number>(bins).fill(0),
    acc = new Array<number>(bins).fill(0),
    n = new Array<number>(bins).fill(0);
  rows.forEach((r, i) => {
    const best = argmax(r);
    const b = Math.min(bins - 1, Math.floor(r[best]! * bins));
    conf[b]! += r[best]!;
    acc[b]! += best === targets[i] ? 1 : 0;
    n[b]!++;
  });
  let e = 0;
  for (let b = 0; b < bins; b++) if (n[b]) e += Math.abs(acc[b]! - conf[b]!) / rows.length;
  return e;
}

/** A refit of the probability calibration: the new settings and the calibration error on the rows before and after. */
export interface Recalibration {
  settings: AnswerSettings;
  photos: number;
  /** With the calibration carried over from the settings given. */
  eceCarried: number;
  eceAfter: number;
}

/**
 * Settings' probability calibration refitted for a new head on its labelled
 * rows, the way calibrate fits it (top-label when the settings have it, else
 * the temperature); the thresholds and everything else kept. A retrained head
 * is not as sure as the old one on the same photos, so carried over, the
 * numbers members see (and the species threshold reads) would drift.
 */
export function refitCalibration(s: AnswerSettings, rows: Float32Array[], targets: number[], note: string): Recalibration {
  const scaling = fitScaling(rows, targets, !!s.topLabel);
  const ece = (m: Pick<AnswerSettings, 'temperature' | 'topLabel'>) =>
    expectedCalibrationError(
      rows.map((r) => calibrateProbs(r, m)),
      targets,
    );
  const eceAfter = ece(scaling);
  return {
    settings: { ...s, ...scaling, fitted: { ...s.fitted, recalibratedOn: note, eceAfter } },
    photos: rows.length,
    eceCarried: ece(s),
    eceAfter,
  };
}

/** Where each backbone's features start in the concatenated vector. */
export function featureOffsets(sizes: number[]): number[] {
  let at = 0;
  return sizes.map((s) => (at += s) - s);
}

/** Each backbone's part scaled to unit length, the whole to unit length (so backbones weigh the same). */
export function normaliseFeatures(f: Float32Array, sizes: number[]): Float32Array {
  const out = new Float32Array(f.length);
  const offsets = featureOffsets(sizes);
  sizes.forEach((n, b) => {
    const at = offsets[b]!;
    let s = 0;
    for (let k = at; k < at + n; k++) s += f[k]! * f[k]!;
    const scale = 1 / ((Math.sqrt(s) || 1) * Math.sqrt(sizes.length));
    for (let k = at; k < at + n; k++) out[k] = f[k]! * scale;
  });
  return out;
}

const dot = (x: Float32Array, y: Float32Array, at = 0) => {
  let d = 0;
  for (let k = 0; k < x.length; k++) d += x[k]! * y[at + k]!;
  return d;
};

function toUnit(v: Float32Array): Float32Array {
  const n = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / n);
}

/**
 * Up to `k` unit-length prototypes per species (spherical k-means, seeded with
 * evenly spaced photos, so deterministic), rows species by species. One per
 * species is the species' mean. Several let a species that looks different
 * under different views (a bed, a close-up, a filter) be near each of them,
 * so a badly taken flower photo stays nearer the species than other things do.
 */
export function speciesPrototypes(
  features: Float32Array[],
  labelIndex: number[],
  labels: number,
  sizes: number[],
  k = 1,
  iterations = 8,
): Float32Array {
  const dim = sizes.reduce((a, b) => a + b, 0);
  const bySpecies = Array.from({ length: labels }, () => [] as Float32Array[]);
  features.forEach((f, i) => bySpecies[labelIndex[i] ?? -1]?.push(normaliseFeatures(f, sizes)));
  const rows: Float32Array[] = [];
  for (const members of bySpecies) {
    const n = Math.min(k, members.length);
    const seeds = new Set(Array.from({ length: n }, (_, c) => Math.floor((c * members.length) / n)));
    let centres = members.filter((_, i) => seeds.has(i));
    const nearest = (m: Float32Array) => {
      let best = 0,
        bestDot = -Infinity;
      centres.forEach((c, i) => {
        const d = dot(m, c);
        if (d > bestDot) [best, bestDot] = [i, d];
      });
      return best;
    };
    for (let it = 0; it < (n > 1 ? iterations : 1); it++) {
      const sums = centres.map(() => new Float32Array(dim));
      for (const m of members) {
        const sum = sums[nearest(m)];
        m.forEach((v, d) => sum && (sum[d] = (sum[d] ?? 0) + v));
      }
      centres = sums.map((sum, c) => (dot(sum, sum) > 0 ? toUnit(sum) : (centres[c] ?? sum)));
    }
    rows.push(...centres);
  }
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

/** Cosine similarity of a photo's features to the nearest species prototype (rows of unit vectors). */
export function nearestSimilarity(features: Float32Array, prototypes: Float32Array, sizes: number[]): number {
  const n = normaliseFeatures(features, sizes);
  const dim = n.length;
  let best = -1;
  for (let at = 0; at + dim <= prototypes.length; at += dim) best = Math.max(best, dot(n, prototypes, at));
  return best;
}

/** ImageNet mass on the flower classes, averaged over backbones with a head and classes; undefined when none. */
export function flowerLikeness(
  features: Float32Array,
  heads: (ImagenetHead | undefined)[],
  offsets: number[],
  classes: number[][] | undefined,
): number | undefined {
  if (!classes) return undefined;
  let sum = 0,
    n = 0;
  heads.forEach((h, i) => {
    const set = classes[i];
    if (!h || !set?.length) return;
    const p = imagenetProbs(h, features, offsets[i]);
    sum += set.reduce((s, c) => s + (p[c] ?? 0), 0);
    n++;
  });
  return n ? sum / n : undefined;
}

/**
 * The ImageNet classes the training photos put their mass on: by mean
 * probability, most first, until `coverage` of the photos' total mass is
 * covered (at most `max` classes). Data-driven: no list of class names.
 */
export function pickFlowerClasses(probRows: Float32Array[], coverage = 0.9, max = 100): number[] {
  if (probRows.length === 0) return [];
  const mean = new Float64Array(probRows[0]!.length);
  for (const r of probRows) for (let c = 0; c < r.length; c++) mean[c]! += r[c]! / probRows.length;
  const order = Array.from(mean.keys()).sort((a, b) => mean[b]! - mean[a]!);
  const out: number[] = [];
  let covered = 0;
  for (const c of order) {
    if (covered >= coverage || out.length >= max) break;
    out.push(c);
    covered += mean[c]!;
  }
  return out.sort((a, b) => a - b);
}

/** The q-quantile (0..1) of a list of numbers (nearest rank). */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * s.length)))]!;
}
