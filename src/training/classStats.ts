// What a retrain needs to remember of the data set without its features: per
// class, the mean training feature, and one per-dimension within-class variance
// pooled over every class, both in the head's standardised space (with the
// standardisation itself). A few hundred KB beside a checkpoint (the class
// means as float16); /retrain replays samples drawn from them instead of
// reading the 7,370 data set photos again (src/training/incremental.ts).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '../classifier/tf.ts';
import { fromHalf, toHalf } from './halfRows.ts';

export const CLASS_STATS_FILE = 'class-stats.bin';
const HEADER_FILE = 'class-stats.json';
const FORMAT = 'bloom-class-stats/1';

export interface ClassStats {
  /** Rows of `means`, in this order (a model's labels, or a subset of them). */
  labels: string[];
  /** Training rows (photo views) behind each class mean. */
  counts: number[];
  dim: number;
  /** The head's feature standardisation: standardised = (raw - normMean) / normStd. */
  normMean: Float32Array;
  normStd: Float32Array;
  /** Class means, standardised, labels × dim. */
  means: Float32Array;
  /** Within-class variance per dimension, pooled over the classes, standardised. */
  pooledVar: Float32Array;
  /** What the statistics were computed on, for people reading the header. */
  source: string;
  /**
   * The main directions of the within-class spread (rank × dim, unit rows) and
   * the variance along each: features vary together (pooled CNN activations
   * are correlated), which a per-dimension variance alone misses.
   */
  directions?: Float32Array;
  directionVar?: Float32Array;
}

/** Directions of within-class spread kept beside a checkpoint (16 × 1,792 float16 = 57 KB). */
export const SPREAD_RANK = 16;

/**
 * The top `rank` principal directions of rows already centred on their class
 * mean (n × dim, standardised), by subspace iteration on their scatter matrix.
 */
export function principalDirections(centred: Float32Array, n: number, dim: number, rank = SPREAD_RANK, iterations = 12) {
  return tf.tidy(() => {
    const x = tf.tensor2d(centred, [n, dim]);
    const scatter = tf.div<tf.Tensor2D>(tf.matMul(x, x, true, false), Math.max(1, n - 1));
    let q = tf.linalg.qr(tf.randomNormal([dim, rank], 0, 1, 'float32', 7))[0] as tf.Tensor2D;
    for (let i = 0; i < iterations; i++) q = tf.linalg.qr(tf.matMul(scatter, q))[0] as tf.Tensor2D;
    const variances = tf.sum(tf.mul(q, tf.matMul(scatter, q)), 0);
    return { directions: tf.transpose(q).dataSync() as Float32Array, directionVar: variances.dataSync() as Float32Array };
  });
}

/** Adds the spread directions to statistics from (raw) rows of known labels: up to `max` of them, centred on their class means. */
export function withSpread(s: ClassStats, rows: { label: string; row: ArrayLike<number> }[], max = 2500): ClassStats {
  const idx = new Map(s.labels.map((l, i) => [l, i]));
  const usable = rows.filter((r) => idx.has(r.label));
  const step = Math.max(1, usable.length / max);
  const picked: typeof usable = [];
  for (let at = 0; Math.floor(at) < usable.length && picked.length < max; at += step) picked.push(usable[Math.floor(at)]!);
  if (picked.length < 2) return s;
  const d = s.dim;
  const flat = new Float32Array(picked.length * d);
  picked.forEach((r, i) => {
    const k = idx.get(r.label)! * d;
    for (let j = 0; j < d; j++) flat[i * d + j] = (r.row[j]! - s.normMean[j]!) / s.normStd[j]! - s.means[k + j]!;
  });
  return { ...s, ...principalDirections(flat, picked.length, d, Math.min(SPREAD_RANK, picked.length - 1, d)) };
}

/** Replayed samples (standardised): a class mean plus spread along the main directions and per dimension. */
export function replaySampler(s: ClassStats) {
  const d = s.dim;
  const rank = s.directionVar?.length ?? 0;
  // The per-dimension variance not explained by the directions.
  const rest = Float32Array.from(s.pooledVar);
  for (let r = 0; r < rank; r++) for (let j = 0; j < d; j++) rest[j]! -= s.directionVar![r]! * s.directions![r * d + j]! ** 2;
  const restSd = Float32Array.from(rest, (v, j) => Math.sqrt(Math.max(v, 0.05 * s.pooledVar[j]!)));
  const dirSd = Float32Array.from(s.directionVar ?? [], (v) => Math.sqrt(Math.max(0, v)));
  /** Adds `scale` × a draw of the within-class spread to out[at…]. */
  const spread = (out: Float32Array, at: number, normal: () => number, scale = 1): void => {
    for (let j = 0; j < d; j++) out[at + j]! += scale * restSd[j]! * normal();
    for (let r = 0; r < rank; r++) {
      const a = scale * dirSd[r]! * normal();
      for (let j = 0; j < d; j++) out[at + j]! += a * s.directions![r * d + j]!;
    }
  };
  return {
    spread,
    /** One sample of class row k: its mean plus the spread. */
    sample(k: number, out: Float32Array, at: number, normal: () => number): void {
      out.set(s.means.subarray(k * d, (k + 1) * d), at);
      spread(out, at, normal);
    },
  };
}

/** Sums per class as rows go by: cheap enough to keep while training reads its rows. */
export class ClassStatsBuilder {
  private readonly sums = new Map<string, Float64Array>();
  private readonly n = new Map<string, number>();
  private readonly sumSq: Float64Array;

  constructor(readonly dim: number) {
    this.sumSq = new Float64Array(dim);
  }

  add(label: string, row: ArrayLike<number>): void {
    let s = this.sums.get(label);
    if (!s) this.sums.set(label, (s = new Float64Array(this.dim)));
    for (let d = 0; d < this.dim; d++) {
      const v = row[d]!;
      s[d]! += v;
      this.sumSq[d]! += v * v;
    }
    this.n.set(label, (this.n.get(label) ?? 0) + 1);
  }

  /** The statistics in the standardised space of `norm` (the head's; by default the rows' own). */
  build(labels: string[], source: string, norm?: { mean: Float32Array; std: Float32Array }): ClassStats {
    const kept = labels.filter((l) => this.n.has(l));
    const total = kept.reduce((t, l) => t + this.n.get(l)!, 0);
    const rawMeans = kept.map((l) => Float64Array.from(this.sums.get(l)!, (s) => s / this.n.get(l)!));
    let normMean = norm?.mean,
      normStd = norm?.std;
    if (!normMean || !normStd) {
      const m = new Float32Array(this.dim);
      kept.forEach((l) => this.sums.get(l)!.forEach((s, d) => (m[d]! += s / total)));
      normMean = m;
      normStd = Float32Array.from(this.sumSq, (s, d) => Math.sqrt(Math.max(0, s / total - m[d]! ** 2)) + 1e-3);
    }
    // Σ over rows of (x − μ_class)² = Σ x² − Σ_class n·μ², per dimension.
    const within = Float64Array.from(this.sumSq);
    kept.forEach((l, k) => rawMeans[k]!.forEach((mu, d) => (within[d]! -= this.n.get(l)! * mu * mu)));
    const pooledVar = Float32Array.from(within, (w, d) => Math.max(0, w / Math.max(1, total - kept.length)) / normStd[d]! ** 2);
    const means = new Float32Array(kept.length * this.dim);
    rawMeans.forEach((mu, k) => mu.forEach((v, d) => (means[k * this.dim + d] = (v - normMean[d]!) / normStd[d]!)));
    return {
      labels: kept,
      counts: kept.map((l) => this.n.get(l)!),
      dim: this.dim,
      normMean,
      normStd,
      means,
      pooledVar,
      source,
    };
  }
}

/** Writes class-stats.json (header) and class-stats.bin (standardisation and variance float32, means float16) into a checkpoint folder. */
export function saveClassStats(dir: string, s: ClassStats): void {
  const d = s.dim;
  const rank = s.directionVar?.length ?? 0;
  const buf = Buffer.alloc(3 * d * 4 + s.means.length * 2 + rank * d * 2 + rank * 4);
  const f32 = new Float32Array(buf.buffer, buf.byteOffset, 3 * d);
  f32.set(s.normMean, 0);
  f32.set(s.normStd, d);
  f32.set(s.pooledVar, 2 * d);
  const half = new Uint16Array(buf.buffer, buf.byteOffset + 3 * d * 4, s.means.length);
  s.means.forEach((v, i) => (half[i] = toHalf(v)));
  if (rank) {
    const at = 3 * d * 4 + s.means.length * 2;
    const dirs = new Uint16Array(buf.buffer, buf.byteOffset + at, rank * d);
    s.directions!.forEach((v, i) => (dirs[i] = toHalf(v)));
    buf.set(new Uint8Array(s.directionVar!.buffer, s.directionVar!.byteOffset, rank * 4), at + rank * d * 2);
  }
  fs.writeFileSync(path.join(dir, CLASS_STATS_FILE), buf);
  fs.writeFileSync(
    path.join(dir, HEADER_FILE),
    JSON.stringify({ format: FORMAT, dim: d, rank, labels: s.labels, counts: s.counts, source: s.source }, null, 1),
  );
}

/** The statistics saved beside a checkpoint, or undefined when it has none (older checkpoints) or they do not fit `dim`. */
export function loadClassStats(dir: string, dim: number): ClassStats | undefined {
  const header = path.join(dir, HEADER_FILE),
    file = path.join(dir, CLASS_STATS_FILE);
  if (!fs.existsSync(header) || !fs.existsSync(file)) return undefined;
  try {
    const h = JSON.parse(fs.readFileSync(header, 'utf8')) as {
      format: string;
      dim: number;
      rank?: number;
      labels: string[];
      counts: number[];
      source: string;
    };
    const rank = h.rank ?? 0;
    if (h.format !== FORMAT || h.dim !== dim) return undefined;
    const raw = fs.readFileSync(file);
    const buf = new Uint8Array(raw).buffer; // aligned copy
    const meansEnd = 3 * dim * 4 + h.labels.length * dim * 2;
    if (buf.byteLength !== meansEnd + rank * dim * 2 + rank * 4) return undefined;
    const f32 = new Float32Array(buf, 0, 3 * dim);
    const half = new Uint16Array(buf, 3 * dim * 4, h.labels.length * dim);
    return {
      labels: h.labels,
      counts: h.counts,
      dim,
      normMean: f32.slice(0, dim),
      normStd: f32.slice(dim, 2 * dim),
      pooledVar: f32.slice(2 * dim),
      means: Float32Array.from(half, fromHalf),
      source: h.source,
      ...(rank && {
        directions: Float32Array.from(new Uint16Array(buf, meansEnd, rank * dim), fromHalf),
        directionVar: new Float32Array(buf.slice(meansEnd + rank * dim * 2)),
      }),
    };
  } catch {
    return undefined;
  }
}

/** Copies the statistics of one checkpoint folder into another (an incremental retrain keeps its base's). */
export function copyClassStats(from: string, to: string): boolean {
  const files = [CLASS_STATS_FILE, HEADER_FILE].map((f) => [path.join(from, f), path.join(to, f)] as const);
  if (!files.every(([src]) => fs.existsSync(src))) return false;
  for (const [src, dest] of files) fs.copyFileSync(src, dest);
  return true;
}

export const CLASS_STATS_FILES = [CLASS_STATS_FILE, HEADER_FILE];
