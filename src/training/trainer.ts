// Transfer learning: frozen backbone features (cached) → a new head trained
// with Adam; the epoch with the best valid accuracy is kept and saved.
import * as tf from '../classifier/tf.ts';
import path from 'node:path';
import { backendInfo } from '../classifier/backend.ts';
import { newVersion, saveCheckpoint, type CheckpointMeta, type EpochMetrics, type TrainParams } from '../classifier/checkpoint.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { rng } from '../classifier/augment.ts';
import { buildHead, foldStandardisation } from '../classifier/head.ts';
import { scanDataset, type Dataset, type Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { CENTRE_ONLY, extractFeatures, parseAugmentation, type ExtractedSample, type ViewPlan } from './features.ts';
import { HalfRows } from './halfRows.ts';
import { ClassStatsBuilder, saveClassStats, withSpread } from './classStats.ts';
import { judge } from './gate.ts';
import { DEFAULT_LOGIT_TEMPERATURE, lossOnLogits } from './headLoss.ts';
import { speciesAccuracy, trainingBatch } from './outlierMix.ts';

export type TrainEvent =
  | { phase: 'scan'; dataset: Dataset }
  | { phase: 'extract'; split: 'train' | 'valid'; done: number; total: number }
  | { phase: 'train'; epoch: number; epochs: number; metrics: EpochMetrics; best: boolean }
  | { phase: 'save'; dir: string };

export interface TrainOptions extends TrainParams {
  dataDir: string;
  saveDir: string;
  embedder: Embedder;
  cache?: FeatureCache;
  /** Cap images per class (quick demos); undefined = all. */
  maxPerClass?: number;
  /** Data set labels to leave out entirely (a model that has never seen them, e.g. to try teaching one back). */
  excludeLabels?: string[];
  onEvent?: (e: TrainEvent) => void;
}

export interface TrainResult {
  dir: string;
  meta: CheckpointMeta;
  skipped: { path: string; reason: string }[];
  problems: string[];
  extracted: number;
  cached: number;
}

function capPerClass<T extends { label: string }>(xs: T[], n?: number): T[] {
  if (!n) return xs;
  const seen = new Map<string, number>();
  return xs.filter((x) => {
    const k = (seen.get(x.label) ?? 0) + 1;
    seen.set(x.label, k);
    return k <= n;
  });
}

/** Fisher–Yates in place, with the run's seeded generator. */
function shuffle<T>(a: T[], r: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}

/** Rows → one tensor, optionally standardised on the way (one copy, not three: the train set is large). */
function stack(rows: Float32Array[], dim: number, norm?: { mean: Float32Array; std: Float32Array }): tf.Tensor2D {
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((r, k) => {
    if (!norm) return flat.set(r, k * dim);
    for (let i = 0, o = k * dim; i < dim; i++) flat[o + i] = (r[i]! - norm.mean[i]!) / norm.std[i]!;
  });
  return tf.tensor2d(flat, [rows.length, dim]);
}

/** Top-1 and top-5 accuracy of a head on feature rows. */
export function accuracy(head: tf.LayersModel, x: tf.Tensor2D, y: number[]): { top1: number; top5: number } {
  const probs = tf.tidy(() => head.predict(x) as tf.Tensor2D);
  const k = Math.min(5, probs.shape[1]);
  const { indices } = tf.topk(probs, k);
  const idx = indices.arraySync();
  probs.dispose();
  indices.dispose();
  let t1 = 0,
    t5 = 0;
  idx.forEach((row, i) => {
    if (row[0] === y[i]) t1++;
    if (row.includes(y[i]!)) t5++;
  });
  return { top1: t1 / y.length, top5: t5 / y.length };
}

/** For each label, the image whose centre feature is closest to the class mean. */
function typicalImages(items: ExtractedSample[], root: string): Record<string, string> {
  const byLabel = new Map<string, ExtractedSample[]>();
  for (const it of items) byLabel.set(it.sample.label, [...(byLabel.get(it.sample.label) ?? []), it]);
  const out: Record<string, string> = {};
  for (const [label, xs] of byLabel) {
    const d = xs[0]!.views[0]!.length;
    const mean = new Float32Array(d);
    for (const x of xs) x.views[0]!.forEach((v, i) => (mean[i]! += v / xs.length));
    let best = xs[0]!,
      bestD = Infinity;
    for (const x of xs) {
      let s = 0;
      x.views[0]!.forEach((v, i) => (s += (v - mean[i]!) ** 2));
      if (s < bestD) [best, bestD] = [x, s];
    }
    out[label] = path.relative(root, best.sample.path);
  }
  return out;
}

/** The centre view, then every augmented view on its own (see trainRows). */
function trainViewPlans(opts: TrainOptions): ViewPlan[] {
  return [
    { centre: true, seed: opts.seed, aug: [] },
    ...parseAugmentation(opts.augLevel, opts.augViews).flatMap((set) =>
      Array.from({ length: set.views }, (_, i) => ({ centre: false, seed: opts.seed, aug: [{ level: set.level, views: 1, from: i }] })),
    ),
  ];
}

/**
 * Every training photo's views as float16 rows (row j × views + v), with the
 * sums the standardisation needs. One view at a time: each is packed before
 * the next is read, so only one view is ever held as float32 (an ensemble's
 * in one reused buffer), and each photo is hashed once.
 */
async function trainRows(samples: Sample[], plans: ViewPlan[], dim: number, root: string, opts: TrainOptions) {
  const perImage = plans.length;
  const skipped = new Map<string, { path: string; reason: string }>();
  let extracted = 0,
    cached = 0;
  let items: ExtractedSample[] = [];
  let rows = new HalfRows(0, dim);
  let typical: Record<string, string> = {};
  const sum = new Float64Array(dim),
    sumSq = new Float64Array(dim);
  const classStats = new ClassStatsBuilder(dim);
  const rowBuffer = opts.embedder.specs.length > 1 ? new Float32Array(samples.length * dim) : undefined;
  const hashes = new Map<string, string>();
  for (const [v, plan] of plans.entries()) {
    const n = samples.length;
    const r = await extractFeatures(samples, {
      embedder: opts.embedder,
      cache: opts.cache,
      plan,
      rowBuffer,
      hashes,
      onProgress: (done) => opts.onEvent?.({ phase: 'extract', split: 'train', done: v * n + done, total: perImage * n }),
    });
    extracted += r.extracted;
    cached += r.cached;
    for (const sk of r.skipped) skipped.set(sk.path, sk);
    if (v === 0) {
      items = r.items;
      if (items.length === 0) break;
      typical = typicalImages(items, root);
      rows = new HalfRows(items.length * perImage, dim);
    }
    // A photo unreadable in this view alone keeps its centre row in its place.
    const byPath = new Map(r.items.map((it) => [it.sample.path, it.views[0]!]));
    items.forEach((it, j) => {
      const row = byPath.get(it.sample.path) ?? rows.get(j * perImage);
      rows.set(j * perImage + v, row);
      classStats.add(it.sample.label, row);
      for (let d = 0; d < dim; d++) {
        sum[d]! += row[d]!;
        sumSq[d]! += row[d]! * row[d]!;
      }
    });
    opts.cache?.forget();
  }
  // Only the float16 rows are used from here (the typical photos are chosen).
  items.forEach((it) => (it.views = []));
  return { items, rows, sum, sumSq, typical, classStats, skipped: [...skipped.values()], extracted, cached };
}

/** Feature standardisation: per-dimension mean and standard deviation of the training rows. */
interface Standardisation {
  mean: Float32Array;
  std: Float32Array;
}

/** Everything the head trains on: training rows (a photo's views side by side) and the valid photos' centre rows. */
interface HeadData {
  rows: HalfRows;
  /** Label index of each training row. */
  trainY: number[];
  photos: number;
  /** Rows per training photo (its centre view and augmented views). */
  perImage: number;
  valid: Float32Array[];
  validY: number[];
  dim: number;
  classes: number;
  norm: Standardisation;
}

/** The data set without some labels (as if their folders were not there). */
function withoutLabels(ds: Dataset, exclude: string[] = []): Dataset {
  if (exclude.length === 0) return ds;
  const out = new Set(exclude);
  const missing = exclude.filter((l) => !ds.labels.includes(l));
  if (missing.length)
    throw new Error(`--exclude-labels: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not a label of ${ds.root}`);
  const keep = (xs?: Sample[]) => xs?.filter((s) => !out.has(s.label));
  return {
    ...ds,
    labels: ds.labels.filter((l) => !out.has(l)),
    // Its name goes too: a member naming it then proposes a new species, as for any species the model never saw.
    names: Object.fromEntries(Object.entries(ds.names).filter(([l]) => !out.has(l))),
    splits: { train: keep(ds.splits.train), valid: keep(ds.splits.valid), test: keep(ds.splits.test) },
  };
}

/** The training and valid photos, each class capped at maxPerClass (valid at a quarter of it). */
function selectSamples(ds: Dataset, maxPerClass?: number): { train: Sample[]; valid: Sample[] } {
  return {
    train: capPerClass(ds.splits.train ?? [], maxPerClass),
    valid: capPerClass(ds.splits.valid ?? [], maxPerClass && Math.ceil(maxPerClass / 4)),
  };
}

function standardisation(sum: Float64Array, sumSq: Float64Array, count: number): Standardisation {
  const mean = Float32Array.from(sum, (s) => s / count);
  const std = Float32Array.from(sumSq, (s, d) => Math.sqrt(Math.max(0, s / count - mean[d]! ** 2)) + 1e-3);
  return { mean, std };
}

/**
 * The rows of one epoch in a seeded random order: every row, or with
 * viewsPerEpoch (`k`) that many random views of every photo.
 */
function epochOrder(d: HeadData, k: number, pick: () => number): number[] {
  const order = k
    ? Array.from({ length: d.photos }, (_, i) => Array.from({ length: k }, () => i * d.perImage + Math.floor(pick() * d.perImage))).flat()
    : Array.from({ length: d.photos * d.perImage }, (_, i) => i);
  shuffle(order, pick);
  return order;
}

/**
 * One pass over `order`, batch by batch, each built from the cached vectors:
 * the training set never sits in TF memory (one batch does), and no per-batch
 * gather runs (on wasm it cost more than the head's maths). Mean loss and accuracy.
 */
async function trainEpoch(
  head: tf.LayersModel,
  d: HeadData,
  order: number[],
  batchSize: number,
  mix?: { share: number; rand: () => number },
): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0,
    accSum = 0;
  for (let at = 0; at < order.length; at += batchSize) {
    const part = order.slice(at, at + batchSize);
    const flat = new Float32Array(part.length * d.dim);
    part.forEach((i, r) => d.rows.readInto(i, flat, r * d.dim, d.norm));
    const { x, y } = trainingBatch(
      flat,
      part.map((i) => d.trainY[i]!),
      d.dim,
      d.classes,
      mix,
    );
    const [loss, acc] = (await head.trainOnBatch(x, y)) as number[];
    tf.dispose([x, y]);
    lossSum += loss! * part.length;
    accSum += acc! * part.length;
  }
  return { loss: lossSum / order.length, accuracy: accSum / order.length };
}

/** Ties go to the lower valid loss: same accuracy, better calibrated. */
function isBetter(m: EpochMetrics, best: { acc: number; loss: number } | undefined): boolean {
  return !best || m.validAccuracy > best.acc || (m.validAccuracy === best.acc && m.validLoss < best.loss);
}

/**
 * Trains a new head on standardised rows; returns it with the weights of the
 * epoch with the best valid accuracy (standardisation not yet folded in).
 */
async function fitHead(opts: TrainOptions, d: HeadData): Promise<{ head: tf.LayersModel; epochs: EpochMetrics[]; bestEpoch: number }> {
  const k = opts.viewsPerEpoch && opts.viewsPerEpoch < d.perImage ? opts.viewsPerEpoch : 0;
  const xValid = stack(d.valid, d.dim, d.norm);
  const yValid = tf.cast(tf.oneHot(tf.tensor1d(d.validY, 'int32'), d.classes), 'float32');

  const shape = { inputDim: d.dim, classes: d.classes, hidden: opts.hiddenUnits, dropout: opts.dropout, seed: opts.seed };
  // Cross-entropy trains the softmax head as it is saved; another loss trains its logits (then copied into one).
  const onLogits = (opts.loss ?? 'crossentropy') !== 'crossentropy';
  const head = buildHead({ ...shape, output: onLogits ? 'logits' : 'softmax' });
  head.compile({
    optimizer: tf.train.adam(opts.learningRate),
    loss: onLogits ? lossOnLogits(opts) : 'categoricalCrossentropy',
    metrics: opts.outlierMix ? [speciesAccuracy] : ['acc'],
  });
  const epochs: EpochMetrics[] = [];
  let best: { epoch: number; acc: number; loss: number; weights: tf.Tensor[] } | undefined;
  const pick = rng(opts.seed + 1);
  // Cosine decay of the learning rate: late epochs settle instead of jumping
  // between minima, so the kept epoch is steadier on photos unlike the
  // validation set (perturbed top-1: 0.861–0.879 over six runs, 0.845–0.873 at a constant rate).
  const optimizer = head.optimizer as unknown as { learningRate: number };
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    optimizer.learningRate = opts.learningRate * 0.5 * (1 + Math.cos((Math.PI * epoch) / opts.epochs));
    const fit = await trainEpoch(
      head,
      d,
      epochOrder(d, k, pick),
      opts.batchSize,
      opts.outlierMix ? { share: opts.outlierMix, rand: pick } : undefined,
    );
    const [vLoss, vAcc] = tf.tidy(() => (head.evaluate(xValid, yValid, { batchSize: 512 }) as tf.Scalar[]).map((t) => t.dataSync()[0]!));
    const m: EpochMetrics = { epoch: epoch + 1, trainLoss: fit.loss, trainAccuracy: fit.accuracy, validLoss: vLoss!, validAccuracy: vAcc! };
    epochs.push(m);
    const better = isBetter(m, best);
    if (better) {
      best?.weights.forEach((w) => w.dispose());
      best = { epoch: m.epoch, acc: m.validAccuracy, loss: m.validLoss, weights: head.getWeights().map((w) => w.clone()) };
    }
    opts.onEvent?.({ phase: 'train', epoch: m.epoch, epochs: opts.epochs, metrics: m, best: better });
  }
  if (!best) throw new Error(`training ran no epochs (epochs must be ≥ 1, got ${opts.epochs})`);
  const saved = onLogits ? buildHead(shape) : head;
  saved.setWeights(best.weights);
  if (saved !== head) head.dispose();
  best.weights.forEach((w) => w.dispose());
  xValid.dispose();
  yValid.dispose();
  return { head: saved, epochs, bestEpoch: best.epoch };
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t0 = Date.now();
  const ds = withoutLabels(scanDataset(opts.dataDir), opts.excludeLabels);
  opts.onEvent?.({ phase: 'scan', dataset: ds });
  const samples = selectSamples(ds, opts.maxPerClass);
  const plans = trainViewPlans(opts);
  const perImage = plans.length;
  const dim = opts.embedder.specs.reduce((n, s) => n + s.featureSize, 0);
  const { items, rows, sum, sumSq, typical, classStats, ...got } = await trainRows(samples.train, plans, dim, ds.root, opts);
  const va = await extractFeatures(samples.valid, {
    embedder: opts.embedder,
    cache: opts.cache,
    plan: CENTRE_ONLY,
    onProgress: (done, total) => opts.onEvent?.({ phase: 'extract', split: 'valid', done, total }),
  });
  if (items.length === 0 || va.items.length === 0) throw new Error('No readable training or validation images');
  opts.cache?.forget();

  const labelIndex = new Map(ds.labels.map((l, i) => [l, i]));
  const valid = va.items.map((it) => it.views[0]!);
  const validY = va.items.map((it) => labelIndex.get(it.sample.label)!);
  // Standardise features with train statistics; folded into the head afterwards.
  const norm = standardisation(sum, sumSq, items.length * perImage);
  const { head, epochs, bestEpoch } = await fitHead(opts, {
    rows,
    photos: items.length,
    perImage,
    valid,
    validY,
    dim,
    classes: ds.labels.length,
    norm,
    trainY: items.flatMap((it) => Array.from({ length: perImage }, () => labelIndex.get(it.sample.label)!)),
  });
  foldStandardisation(head, norm.mean, norm.std);

  // Final figures from the folded head on raw features: exactly what evaluate will see.
  const xRaw = stack(valid, dim);
  const acc = accuracy(head, xRaw, validY);
  // Per species on the valid photos (meta.evaluation, what /species shows).
  const probs = tf.tidy(() => head.predict(xRaw) as tf.Tensor2D);
  const probRows = probs.arraySync();
  probs.dispose();
  xRaw.dispose();
  const evaluation = judge(
    probRows,
    validY.map((y) => ds.labels[y]!),
    ds.labels,
    validY.map(() => true),
    `valid ${valid.length}`,
  ).summary;

  const meta: CheckpointMeta = {
    format: 'bloom-checkpoint/1',
    version: newVersion(),
    createdAt: new Date().toISOString(),
    backbones: opts.embedder.specs,
    labels: ds.labels,
    names: ds.names,
    params: {
      arch: opts.arch,
      hiddenUnits: opts.hiddenUnits,
      dropout: opts.dropout,
      learningRate: opts.learningRate,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      augViews: opts.augViews,
      augLevel: opts.augLevel,
      seed: opts.seed,
      viewsPerEpoch: opts.viewsPerEpoch,
      ...(opts.loss &&
        opts.loss !== 'crossentropy' && { loss: opts.loss, logitTemperature: opts.logitTemperature ?? DEFAULT_LOGIT_TEMPERATURE }),
      ...(opts.outlierMix && { outlierMix: opts.outlierMix }),
    },
    epochs,
    bestEpoch,
    validAccuracy: acc.top1,
    validTop5: acc.top5,
    trainImages: items.length,
    validImages: va.items.length,
    backend: backendInfo()?.name ?? tf.getBackend(),
    trainSeconds: (Date.now() - t0) / 1000,
    dataRoot: path.resolve(ds.root),
    typicalImages: typical,
    evaluation,
    trainCounts: Object.fromEntries(
      ds.labels.map((l) => [l, { dataset: items.filter((it) => it.sample.label === l).length, community: 0 }]),
    ),
  };
  const dir = await saveCheckpoint(opts.saveDir, head, meta);
  head.dispose();
  // What /retrain replays of these classes (src/training/incremental.ts), in the head's standardised space.
  const stats = classStats.build(ds.labels, `train: ${items.length} photos × ${perImage} views`, norm);
  const every = Math.max(1, Math.floor(rows.count / 2500));
  const spreadRows = Array.from({ length: Math.floor(rows.count / every) }, (_, k) => ({
    label: items[Math.floor((k * every) / perImage)]!.sample.label,
    row: rows.get(k * every),
  }));
  saveClassStats(dir, withSpread(stats, spreadRows));
  opts.onEvent?.({ phase: 'save', dir });
  return {
    dir,
    meta,
    skipped: [...got.skipped, ...va.skipped],
    problems: ds.problems,
    extracted: got.extracted + va.extracted,
    cached: got.cached + va.cached,
  };
}
