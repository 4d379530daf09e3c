// An incremental head update: the live head, warm-started, learns from new
// photos (members' approved contributions) without the data set's features.
// The classes it already knows are replayed from their stored statistics
// (src/training/classStats.ts): each batch draws as many samples of every
// class, old ones as mean + pooled spread × noise, taught ones from their
// photos' features (with a little of the same noise). Only the last layer
// trains: new species get new rows, started from their photos' mean, and the
// old rows are held close to where they were (an L2 anchor), so a retrain that
// learns a new species moves the old ones little.
import * as tf from '../classifier/tf.ts';
import { rng } from '../classifier/augment.ts';
import { buildHead } from '../classifier/head.ts';
import { replaySampler, type ClassStats } from './classStats.ts';
import { lossOnLogits, type HeadLoss } from './headLoss.ts';
import { trainingBatch } from './outlierMix.ts';

export interface TaughtPhoto {
  /** Raw backbone features (what the saved head takes). */
  features: Float32Array;
  label: string;
}

export interface IncrementalOptions {
  /** The live head (standardisation folded in: it takes raw features). */
  head: tf.LayersModel;
  /** The live head's labels, in output order. */
  labels: string[];
  hidden: number[];
  dropout: number;
  stats: ClassStats;
  photos: TaughtPhoto[];
  /** Labels to add after the live ones (each needs photos). */
  newLabels: string[];
  /** Passes (default 30) of `stepsPerEpoch` batches. */
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Weight of the pull of old rows back to their starting values (0 = free, Infinity = frozen). */
  anchor?: number;
  /** Rows mixed from two species per row, trained toward no species, as the full training did (outlierMix.ts). */
  outlierMix?: number;
  /** Spread of the noise added to taught photos, in pooled standard deviations. */
  photoNoise?: number;
  seed?: number;
  /** The loss the head was trained with (its checkpoint's params): the update keeps to it. */
  loss?: HeadLoss;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export interface IncrementalResult {
  head: tf.Sequential;
  labels: string[];
  losses: number[];
}

/** Standard normal draws from a seeded uniform generator (Box–Muller). */
function gaussian(r: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = Math.max(r(), 1e-12),
      v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    spare = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  };
}

const denseLayers = (m: tf.LayersModel) => m.layers.filter((l) => l.getClassName() === 'Dense');

export async function updateHead(o: IncrementalOptions): Promise<IncrementalResult> {
  const dim = o.stats.dim;
  const labels = [...o.labels, ...o.newLabels];
  const C = labels.length;
  const index = new Map(labels.map((l, i) => [l, i]));
  const dense = denseLayers(o.head);
  const last = dense.at(-1)!;
  const linear = dense.length === 1;
  const { normMean: m, normStd: s } = o.stats;

  // Rows in the standardised space; the layers before the last are frozen and applied as they are.
  const statsRow = new Map(o.stats.labels.map((l, i) => [l, i]));
  const byLabel = new Map<string, Float32Array[]>();
  for (const p of o.photos) {
    if (!index.has(p.label)) continue;
    const z = Float32Array.from(p.features, (v, d) => (v - m[d]!) / s[d]!);
    byLabel.set(p.label, [...(byLabel.get(p.label) ?? []), z]);
  }
  for (const l of o.newLabels) if (!byLabel.get(l)?.length) throw new Error(`new label ${l} has no photos`);
  const classes = labels.filter((l) => statsRow.has(l) || byLabel.has(l));

  const [k0, b0] = last.getWeights() as [tf.Tensor2D, tf.Tensor1D];
  const hiddenIn = k0.shape[0];
  const hiddenLayers = dense.slice(0, -1);
  /** Standardised rows → the last layer's input. */
  const penultimate = (zStd: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      if (linear) return zStd;
      let x: tf.Tensor2D = tf.add(tf.mul(zStd, tf.tensor1d(s)), tf.tensor1d(m));
      for (const l of hiddenLayers) x = l.apply(x) as tf.Tensor2D;
      return x;
    });

  // The last layer in the space it trains in: a linear head is unfolded (exact for any standardisation).
  const [kStart, bStart] = tf.tidy(() => {
    if (!linear) return [k0.clone(), b0.clone()];
    const k = tf.mul<tf.Tensor2D>(k0, tf.reshape(tf.tensor1d(s), [-1, 1]));
    const b = tf.add<tf.Tensor1D>(b0, tf.reshape(tf.matMul(tf.reshape(tf.tensor1d(m), [1, -1]), k0), [-1]));
    return [k, b];
  });

  // New rows start from their photos' mean, seen from the old classes' average (ReLU
  // activations are all positive: uncentred, a new row would score every photo high),
  // as long as an average old row; their bias from the old ones'.
  const init = tf.tidy(() => {
    const oldNorm = tf.mean(tf.norm(kStart, 'euclidean', 0));
    const oldCentre = tf.mean(penultimate(tf.tensor2d(o.stats.means, [o.stats.labels.length, dim])), 0);
    const cols = o.newLabels.map((l) => {
      const zs = byLabel.get(l)!;
      const mean = new Float32Array(dim);
      for (const z of zs) z.forEach((v, d) => (mean[d]! += v / zs.length));
      const h = tf.sub(tf.reshape(penultimate(tf.tensor2d(mean, [1, dim])), [-1]), oldCentre);
      return tf.mul(tf.div(h, tf.add(tf.norm(h), 1e-6)), oldNorm);
    });
    return {
      k: cols.length ? tf.stack(cols, 1) : tf.zeros([hiddenIn, 0]),
      b: tf.fill([o.newLabels.length], tf.mean(bStart).dataSync()[0]!),
    };
  });
  const kOld0 = kStart,
    bOld0 = bStart;
  const kOld = tf.variable(kStart.clone()),
    bOld = tf.variable(bStart.clone());
  const kNew = tf.variable(init.k as tf.Tensor2D),
    bNew = tf.variable(init.b as tf.Tensor1D);
  init.k.dispose();
  init.b.dispose();

  const anchor = o.anchor ?? 1;
  const frozen = anchor === Infinity;
  const optimizer = tf.train.adam(o.learningRate ?? 0.01);
  const pick = rng(o.seed ?? 1);
  const headLoss = lossOnLogits(o.loss);
  const normal = gaussian(rng((o.seed ?? 1) + 7));
  const batchSize = o.batchSize ?? 256;
  const epochs = o.epochs ?? 30;
  const stepsPerEpoch = Math.max(4, Math.ceil((classes.length * 8) / batchSize));
  const photoNoise = o.photoNoise ?? 0.5;
  const replay = replaySampler(o.stats);
  const losses: number[] = [];

  /** One balanced batch: a class drawn uniformly per row, then a replayed or a taught sample of it. */
  const batch = (): { x: Float32Array; y: Int32Array } => {
    const x = new Float32Array(batchSize * dim);
    const y = new Int32Array(batchSize);
    for (let r = 0; r < batchSize; r++) {
      const label = classes[Math.floor(pick() * classes.length)]!;
      const photos = byLabel.get(label);
      const row = statsRow.get(label);
      const usePhoto = photos && (row === undefined || pick() < 0.5);
      const at = r * dim;
      if (usePhoto) {
        const z = photos[Math.floor(pick() * photos.length)]!;
        x.set(z, at);
        replay.spread(x, at, normal, photoNoise);
      } else {
        replay.sample(row!, x, at, normal);
      }
      y[r] = index.get(label)!;
    }
    return { x, y };
  };

  const trainable = frozen ? [kNew, bNew] : [kOld, bOld, kNew, bNew];
  for (let epoch = 0; epoch < epochs; epoch++) {
    let sum = 0;
    for (let step = 0; step < stepsPerEpoch; step++) {
      const { x, y } = batch();
      const b = trainingBatch(x, y, dim, C, o.outlierMix ? { share: o.outlierMix, rand: pick } : undefined);
      const loss = optimizer.minimize(
        () => {
          const h = penultimate(b.x);
          const logits = tf.add(tf.matMul(h, tf.concat([kOld, kNew], 1)), tf.concat([bOld, bNew]));
          const ce = headLoss(b.y, logits);
          if (frozen || anchor === 0) return ce;
          const pull = tf.add(tf.sum(tf.square(tf.sub(kOld, kOld0))), tf.sum(tf.square(tf.sub(bOld, bOld0))));
          return tf.add<tf.Scalar>(ce, tf.mul(pull, anchor));
        },
        true,
        trainable,
      );
      sum += loss!.dataSync()[0]!;
      tf.dispose([loss!, b.x, b.y]);
    }
    losses.push(sum / stepsPerEpoch);
    o.onEpoch?.(epoch + 1, epochs, losses.at(-1)!);
    await new Promise((r) => setImmediate(r));
  }

  // The new head: the same layers, one more output per new label; the last layer folded back for a linear head.
  const head = buildHead({ inputDim: dim, classes: C, hidden: o.hidden, dropout: o.dropout });
  const weights = tf.tidy(() => {
    const k = tf.concat([kOld, kNew], 1) as tf.Tensor2D;
    const b = tf.concat([bOld, bNew]) as tf.Tensor1D;
    if (!linear) return [...hiddenLayers.flatMap((l) => l.getWeights().map((w) => w.clone())), k, b];
    const kf = tf.div<tf.Tensor2D>(k, tf.reshape(tf.tensor1d(s), [-1, 1]));
    const bf = tf.sub(b, tf.reshape(tf.matMul(tf.reshape(tf.tensor1d(m), [1, -1]), kf), [-1]));
    return [kf, bf];
  });
  head.setWeights(weights);
  tf.dispose([...weights, kOld, bOld, kNew, bNew, kOld0, bOld0]);
  optimizer.dispose();
  return { head, labels, losses };
}
