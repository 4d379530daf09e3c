// Which signal tells photos of species the model knows from species it has
// never seen (issue 12)? `npm run evaluate -- --unknown DIR --open-set` scores
// each candidate on the split's photos against the unknown ones: how well it
// ranks them (AUROC) and how many known photos it still answers when it lets
// at most a fifth of the unknown ones through. The bot's rule uses the
// calibrated top-1; the others are here so the comparison can be re-run.
import type { Classifier } from '../classifier/classifier.ts';
import * as tf from '../classifier/tf.ts';
import { featureOffsets } from '../classifier/answers.ts';
import { CENTRE_ONLY, extractFeatures } from './features.ts';
import { loadClassStats, type ClassStats } from './classStats.ts';
import type { Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { photoFeatures } from './photoFeatures.ts';

/** A photo as the signals see it: its calibrated probabilities and its features (one row per answer crop). */
export interface OpenSetPhoto {
  probs: Float32Array;
  features: Float32Array[];
  /** For a known photo: whether its top-1 is its species. */
  right?: boolean;
}

/** Higher means "more like a species the model knows". */
export type OpenSetSignal = (p: OpenSetPhoto) => number;

export interface OpenSetScore {
  signal: string;
  /** Chance that a random known photo scores above a random unknown one (ties count half). */
  auroc: number;
  /** Share of the known photos at or above the threshold that lets `unknownShare` of the unknown ones through. */
  known: number;
  /** Share of the known photos answered at that threshold and right (when the known photos say whether they are). */
  knownRight?: number;
  unknownShare: number;
}

export function auroc(known: number[], unknown: number[]): number {
  if (!known.length || !unknown.length) return NaN;
  const u = [...unknown].sort((a, b) => a - b);
  // Count of unknown strictly below x, and equal to x, by binary search.
  const below = (x: number, strict: boolean) => {
    let lo = 0,
      hi = u.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (strict ? u[m]! < x : u[m]! <= x) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
  let wins = 0;
  for (const k of known) {
    const lt = below(k, true);
    wins += lt + (below(k, false) - lt) / 2;
  }
  return wins / (known.length * unknown.length);
}

/** The lowest bar that answers at most `share` of the unknown photos: scores strictly above it pass. */
function barAt(unknown: number[], share: number): number {
  const u = [...unknown].sort((a, b) => b - a);
  const allowed = Math.floor(share * u.length);
  return allowed < u.length ? u[allowed]! : -Infinity;
}

/** The known share kept by the lowest threshold that answers at most `share` of the unknown photos. */
export function knownShareAt(known: number[], unknown: number[], share: number): number {
  if (!known.length) return NaN;
  const bar = barAt(unknown, share);
  return known.filter((k) => k > bar).length / known.length;
}

const top2 = (p: Float32Array) => {
  let a = 0,
    b = 0;
  for (const v of p)
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  return [a, b] as const;
};

/**
 * Distance of standardised features to the nearest class mean, in the class
 * statistics a checkpoint keeps for /retrain: along each main direction of the
 * within-class spread by its variance, and what those directions leave per
 * dimension by the variance left over (a Mahalanobis distance with a
 * low-rank-plus-diagonal covariance, shared by the classes).
 */
export function classDistance(s: ClassStats): (features: Float32Array) => { nearest: number; background: number } {
  const d = s.dim,
    k = s.labels.length,
    rank = s.directionVar?.length ?? 0;
  const U = s.directions ?? new Float32Array(0);
  const rest = Float32Array.from(s.pooledVar);
  for (let r = 0; r < rank; r++) for (let j = 0; j < d; j++) rest[j]! -= s.directionVar![r]! * U[r * d + j]! ** 2;
  // Floor at a twentieth of the dimension's variance, as the replay sampler does.
  const w = Float32Array.from(rest, (v, j) => 1 / Math.max(v, 0.05 * s.pooledVar[j]!, 1e-6));
  const proj = (x: Float32Array, at = 0, weight?: Float32Array) =>
    Float64Array.from({ length: rank }, (_, r) => {
      let t = 0;
      for (let j = 0; j < d; j++) t += U[r * d + j]! * x[at + j]! * (weight ? weight[j]! : 1);
      return t;
    });
  // Per class, what the distance needs of its mean: μWμ, Uμ and UWμ.
  const mWm = Float64Array.from({ length: k }, (_, c) => {
    let t = 0;
    for (let j = 0; j < d; j++) t += s.means[c * d + j]! ** 2 * w[j]!;
    return t;
  });
  const uM = Array.from({ length: k }, (_, c) => proj(s.means, c * d));
  const uwM = Array.from({ length: k }, (_, c) => proj(s.means, c * d, w));
  // U W Uᵀ (rank × rank).
  const G = Array.from({ length: rank }, (_, a) => proj(U, a * d, w));
  return (features) => {
    const z = Float32Array.from(features, (v, j) => (v - s.normMean[j]!) / s.normStd[j]!);
    let zWz = 0,
      zz = 0;
    for (let j = 0; j < d; j++) {
      zWz += z[j]! ** 2 * w[j]!;
      zz += z[j]! ** 2;
    }
    const uZ = proj(z),
      uwZ = proj(z, 0, w);
    let nearest = Infinity;
    for (let c = 0; c < k; c++) {
      let zWm = 0;
      for (let j = 0; j < d; j++) zWm += z[j]! * w[j]! * s.means[c * d + j]!;
      // r = z − μ; a = U r; dist = rᵀWr − 2 aᵀ(UWr) + aᵀ(UWUᵀ)a + Σ a²/λ.
      let dist = zWz - 2 * zWm + mWm[c]!;
      for (let a = 0; a < rank; a++) {
        const ra = uZ[a]! - uM[c]![a]!;
        dist += -2 * ra * (uwZ[a]! - uwM[c]![a]!) + ra ** 2 / Math.max(s.directionVar![a]!, 1e-6);
        for (let b = 0; b < rank; b++) dist += ra * G[a]![b]! * (uZ[b]! - uM[c]![b]!);
      }
      nearest = Math.min(nearest, dist);
    }
    // The background: all the training features as one Gaussian (standardised, so unit variance).
    return { nearest, background: zz };
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The candidate signals: the head's own (top-1, margin, entropy), then those of whatever else is given (heads per backbone, prototypes, the species' spread, class statistics). */
export function openSetSignals(
  o: {
    stats?: ClassStats;
    similarity?: (f: Float32Array) => number;
    distance?: (f: Float32Array) => number;
    backboneHeads?: (f: Float32Array) => number[];
  } = {},
): Record<string, OpenSetSignal> {
  const { stats, similarity, distance, backboneHeads } = o;
  const out: Record<string, OpenSetSignal> = {
    'calibrated top-1 (the bot)': (p) => top2(p.probs)[0],
    'top-1 − top-2 margin': (p) => {
      const [a, b] = top2(p.probs);
      return a - b;
    },
    'negative entropy': (p) => p.probs.reduce((t, v) => t + (v > 0 ? v * Math.log(v) : 0), 0),
  };
  if (backboneHeads)
    out['top-1 × heads trained apart, one per backbone'] = (p) =>
      top2(p.probs)[0] * mean(p.features.map((f) => backboneHeads(f).reduce((a, v) => a * v, 1)));
  if (similarity) out['similarity to the nearest prototype'] = (p) => mean(p.features.map(similarity));
  if (distance) out['distance to the species (the "not a flower" rule)'] = (p) => -mean(p.features.map(distance));
  if (stats) {
    const dist = classDistance(stats);
    out['Mahalanobis (class statistics)'] = (p) => -mean(p.features.map((f) => dist(f).nearest));
    out['relative Mahalanobis'] = (p) =>
      -mean(
        p.features.map((f) => {
          const x = dist(f);
          return x.nearest - x.background;
        }),
      );
  }
  return out;
}

/**
 * One linear softmax head per backbone, each trained apart on that backbone's
 * (standardised) features alone: Adam 0.003, input dropout 0.5, batch 256.
 * Heads that see different features agree on the species they were trained on
 * far more often than on a species none of them knows. Returns, for a photo's
 * features, each head's largest probability.
 */
export function trainBackboneHeads(
  rows: Float32Array[],
  labelIndex: number[],
  classes: number,
  sizes: number[],
  epochs = 30,
): (features: Float32Array) => number[] {
  // One fixed shuffled order, so each batch mixes the species (the rows come species by species).
  const order = rows.map((_, i) => i);
  let seed = 12345;
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 16807) % 2147483647;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const offsets = featureOffsets(sizes);
  const heads = sizes.map((n, bb) => {
    const at = offsets[bb]!;
    const mu = new Float32Array(n),
      sd = new Float32Array(n);
    for (const r of rows) for (let j = 0; j < n; j++) mu[j]! += r[at + j]! / rows.length;
    for (const r of rows) for (let j = 0; j < n; j++) sd[j]! += (r[at + j]! - mu[j]!) ** 2 / rows.length;
    sd.forEach((v, j) => (sd[j] = Math.sqrt(v) + 1e-3));
    const slice = (fs: Float32Array[]) => {
      const out = new Float32Array(fs.length * n);
      fs.forEach((f, i) => {
        for (let j = 0; j < n; j++) out[i * n + j] = (f[at + j]! - mu[j]!) / sd[j]!;
      });
      return tf.tensor2d(out, [fs.length, n]);
    };
    const x = slice(order.map((i) => rows[i]!));
    const y = tf.oneHot(
      tf.tensor1d(
        order.map((i) => labelIndex[i]!),
        'int32',
      ),
      classes,
    );
    // A plain loop rather than buildHead + fit: it seeds each step's dropout mask, so the heads (and the figures) repeat.
    const w = tf.variable(tf.zeros([n, classes])),
      b = tf.variable(tf.zeros([classes]));
    const opt = tf.train.adam(0.003);
    for (let e = 0; e < epochs; e++)
      for (let at0 = 0; at0 < rows.length; at0 += 256) {
        const m = Math.min(256, rows.length - at0);
        opt.minimize(() => {
          const xb = tf.dropout(tf.slice(x, [at0, 0], [m, n]), 0.5, undefined, e * 7919 + at0);
          return tf.losses.softmaxCrossEntropy(tf.slice(y, [at0, 0], [m, classes]), tf.add(tf.matMul(xb, w), b));
        });
      }
    tf.dispose([x, y]);
    opt.dispose();
    return (f: Float32Array) => tf.tidy(() => (tf.max(tf.softmax(tf.add(tf.matMul(slice([f]), w), b)), 1).dataSync() as Float32Array)[0]!);
  });
  return (f) => heads.map((h) => h(f));
}

/** Every signal scored on known against unknown photos. */
export function compareOpenSet(
  signals: Record<string, OpenSetSignal>,
  known: OpenSetPhoto[],
  unknown: OpenSetPhoto[],
  unknownShare = 0.2,
): OpenSetScore[] {
  return Object.entries(signals).map(([signal, f]) => {
    const k = known.map(f),
      u = unknown.map(f);
    // One bar for both shares (knownShareAt would sort the unknown scores again).
    const bar = barAt(u, unknownShare);
    const knownRight = known.every((p) => p.right !== undefined)
      ? k.filter((x, i) => x > bar && known[i]!.right).length / k.length
      : undefined;
    return {
      signal,
      auroc: auroc(k, u),
      known: k.length ? k.filter((x) => x > bar).length / k.length : NaN,
      ...(knownRight !== undefined && { knownRight }),
      unknownShare,
    };
  });
}

/** The comparison for a checkpoint: its answer crops' features of both sets (cached), its calibration, prototypes and class statistics. */
export async function compareOnPhotos(
  clf: Classifier,
  known: Sample[],
  unknown: Sample[],
  cache?: FeatureCache,
  onProgress?: (label: string, done: number, total: number) => void,
  /** Training photos of the model's species: with an ensemble, heads trained apart on each backbone (centre crops) join the comparison. */
  train?: Sample[],
): Promise<OpenSetScore[]> {
  const photos = async (samples: Sample[], label: string): Promise<OpenSetPhoto[]> =>
    (await photoFeatures(clf, samples, cache, clf.answerViews, (d, n) => onProgress?.(label, d, n))).photos.map((p) => {
      const probs = clf.calibrate(clf.photoProbs(clf.probsOfFeatures(p.features)));
      const top = probs.indexOf(Math.max(...probs));
      return { probs, features: p.features, right: clf.meta.labels[top] === p.sample.label };
    });
  const sizes = clf.meta.backbones.map((b) => b.featureSize);
  const dim = sizes.reduce((t, n) => t + n, 0);
  let backboneHeads: ((f: Float32Array) => number[]) | undefined;
  const ownTrain = train?.filter((s) => clf.meta.labels.includes(s.label)) ?? [];
  if (sizes.length > 1 && ownTrain.length) {
    const r = await extractFeatures(ownTrain, {
      embedder: clf.embedder,
      cache,
      plan: CENTRE_ONLY,
      onProgress: (d, n) => onProgress?.('Open set (training photos)', d, n),
    });
    backboneHeads = trainBackboneHeads(
      r.items.map((it) => Float32Array.from(it.views[0]!)),
      r.items.map((it) => clf.meta.labels.indexOf(it.sample.label)),
      clf.meta.labels.length,
      sizes,
    );
  }
  const signals = openSetSignals({
    stats: loadClassStats(clf.dir, dim),
    ...(backboneHeads && { backboneHeads }),
    ...(clf.hasPrototypes && { similarity: (f: Float32Array) => clf.similarity(f) ?? 0 }),
    ...(clf.meta.answers?.spread && clf.hasPrototypes && { distance: (f: Float32Array) => clf.distance(f) ?? 0 }),
  });
  return compareOpenSet(signals, await photos(known, 'Open set (split)'), await photos(unknown, 'Open set (unknown species)'));
}
