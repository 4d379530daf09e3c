// /retrain with members' contributions: the live head learns the approved
// photos (and the species that have enough of them) incrementally, the data
// set's classes replayed from the statistics kept beside the checkpoint, then
// the live model and the candidate are judged on the same photos. Backbone
// work is the contributions' centre views and the valid split's (cached after
// the first run), so a retrain costs minutes on a fresh install, not hours.
import { readCentroids, writeCentroids } from '../classifier/centroids.ts';
import * as tf from '../classifier/tf.ts';
import fs from 'node:fs';
import path from 'node:path';
import { refitCalibration, speciesPrototypes, type Recalibration } from '../classifier/answers.ts';
import { loadCheckpoint, newVersion, saveCheckpoint, type CheckpointMeta } from '../classifier/checkpoint.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { TYPICAL_DIR, writeThumbnails } from '../classifier/thumbnails.ts';
import { backendInfo } from '../classifier/backend.ts';
import { ClassStatsBuilder, copyClassStats, loadClassStats, saveClassStats, withSpread, type ClassStats } from './classStats.ts';
import { planContributions, type ApprovedInput, type ContributionPlan, type PlannedPhoto } from './contributions.ts';
import { scanDataset, type Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { CENTRE_ONLY, extractFeatures } from './features.ts';
import { judge, speciesChanges, type Judged, type SpeciesChange } from './gate.ts';
import { updateHead } from './incremental.ts';

/** Fewer evaluation photos than this keep the live model's calibration: too few mistakes to fit it on. */
export const MIN_RECALIBRATION_PHOTOS = 200;

/** Photos per class read for the statistics when the live checkpoint has none (made before they were kept). */
export const FALLBACK_STATS_PER_CLASS = 10;

export interface LearnOptions {
  /** The live checkpoint folder. */
  liveDir: string;
  dataDir: string;
  saveDir: string;
  contribDir: string;
  approved: ApprovedInput[];
  /** Names of community species (label → name). */
  communityNames: Record<string, string>;
  minPhotos: number;
  embedder: Embedder;
  cache?: FeatureCache;
  epochs?: number;
  /** See IncrementalOptions.anchor and photoNoise. */
  anchor?: number;
  photoNoise?: number;
  /** Only when the live checkpoint has no statistics: photos per class to compute them from. */
  statsPerClass?: number;
  seed?: number;
  /** Evaluation photos needed to refit the answers' calibration (default MIN_RECALIBRATION_PHOTOS). */
  minRecalibrationPhotos?: number;
  onEvent?: (e: LearnEvent) => void;
}

export type LearnEvent =
  | { phase: 'plan'; train: number; heldOut: number; added: number; waiting: number; valid: number }
  | { phase: 'extract'; what: 'statistics' | 'contributions' | 'valid'; done: number; total: number }
  | { phase: 'train'; epoch: number; epochs: number; loss: number }
  | { phase: 'save'; dir: string };

export interface LearnResult {
  dir: string;
  version: string;
  meta: CheckpointMeta;
  before: Judged;
  after: Judged;
  changes: SpeciesChange[];
  plan: Pick<ContributionPlan, 'added' | 'waiting'> & { train: number; heldOut: number };
  /** Where the replayed statistics came from. */
  statsSource: string;
  /** The answers' calibration refitted for the new head (absent: carried over as it was). */
  recalibration?: Pick<Recalibration, 'photos' | 'eceCarried' | 'eceAfter'>;
  extracted: number;
  cached: number;
  seconds: number;
}

function capPerClass(xs: Sample[], n: number): Sample[] {
  const seen = new Map<string, number>();
  return xs.filter((x) => {
    const k = (seen.get(x.label) ?? 0) + 1;
    seen.set(x.label, k);
    return k <= n;
  });
}

/** The photo of each label closest to its mean (its typical photo). */
function closestToMean(items: { features: Float32Array; photo: PlannedPhoto }[]): Record<string, string> {
  const out: Record<string, string> = {};
  const labels = new Set(items.map((i) => i.photo.label));
  for (const label of labels) {
    const xs = items.filter((i) => i.photo.label === label);
    const mean = new Float32Array(xs[0]!.features.length);
    for (const x of xs) x.features.forEach((v, d) => (mean[d]! += v / xs.length));
    let best = xs[0]!,
      bestD = Infinity;
    for (const x of xs) {
      let s = 0;
      x.features.forEach((v, d) => (s += (v - mean[d]!) ** 2));
      if (s < bestD) [best, bestD] = [x, s];
    }
    out[label] = best.photo.path;
  }
  return out;
}

function probsOf(head: tf.LayersModel, rows: Float32Array[], dim: number): Float32Array[] {
  if (rows.length === 0) return [];
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => flat.set(r, i * dim));
  const p = tf.tidy(() => head.predict(tf.tensor2d(flat, [rows.length, dim])) as tf.Tensor2D);
  const data = p.dataSync() as Float32Array;
  p.dispose();
  const n = p.shape[1];
  return rows.map((_, i) => data.slice(i * n, (i + 1) * n));
}

export async function learn(o: LearnOptions): Promise<LearnResult> {
  const t0 = Date.now();
  const live = await loadCheckpoint(o.liveDir);
  const meta = live.meta;
  const dim = meta.backbones.reduce((n, b) => n + b.featureSize, 0);
  try {
    const ds = scanDataset(o.dataDir);
    const plan = planContributions({
      approved: o.approved,
      contribDir: o.contribDir,
      liveLabels: meta.labels,
      liveNames: meta.names,
      names: { ...ds.names, ...o.communityNames },
      minPhotos: o.minPhotos,
    });
    const known = new Set(plan.labels);
    const validSamples = (ds.splits.valid ?? []).filter((s) => known.has(s.label));
    o.onEvent?.({
      phase: 'plan',
      train: plan.train.length,
      heldOut: plan.heldOut.length,
      added: plan.added.length,
      waiting: plan.waiting.length,
      valid: validSamples.length,
    });
    let extracted = 0,
      cached = 0;
    const centre = async (samples: Sample[], what: 'statistics' | 'contributions' | 'valid') => {
      const r = await extractFeatures(samples, {
        embedder: o.embedder,
        cache: o.cache,
        plan: CENTRE_ONLY,
        onProgress: (done, total) => o.onEvent?.({ phase: 'extract', what, done, total }),
      });
      extracted += r.extracted;
      cached += r.cached;
      return r.items.map((it) => ({ sample: it.sample, features: Float32Array.from(it.views[0]!) }));
    };

    // The data set's classes, as the statistics kept beside the live checkpoint (or, for an older one, from a few photos per class).
    let stats: ClassStats | undefined = loadClassStats(live.dir, dim);
    let statsSaved = !!stats;
    if (!stats) {
      const per = o.statsPerClass ?? FALLBACK_STATS_PER_CLASS;
      const rows = await centre(
        capPerClass(
          (ds.splits.train ?? []).filter((s) => meta.labels.includes(s.label)),
          per,
        ),
        'statistics',
      );
      const b = new ClassStatsBuilder(dim);
      for (const r of rows) b.add(r.sample.label, r.features);
      stats = withSpread(
        b.build(meta.labels, `train: centre views of up to ${per} photos per class (${rows.length} photos)`),
        rows.map((r) => ({ label: r.sample.label, row: r.features })),
      );
      statsSaved = false;
    }

    const photos = [...plan.train, ...plan.heldOut];
    const contrib = await centre(
      photos.map((p) => ({ path: p.path, label: p.label })),
      'contributions',
    );
    const photoOf = new Map(photos.map((p) => [p.path, p]));
    const taught = contrib.filter((c) => plan.train.some((p) => p.path === c.sample.path));
    const heldOut = contrib.filter((c) => plan.heldOut.some((p) => p.path === c.sample.path));
    // A species whose photos could not all be read may no longer have any to learn from.
    const addedLabels = plan.added.map((a) => a.label).filter((l) => taught.some((t) => t.sample.label === l));
    const valid = await centre(validSamples, 'valid');

    const r = await updateHead({
      head: live.head,
      labels: meta.labels,
      hidden: meta.params.hiddenUnits,
      dropout: meta.params.dropout,
      stats,
      photos: taught.map((t) => ({ features: t.features, label: t.sample.label })),
      newLabels: addedLabels,
      epochs: o.epochs,
      // Old rows move only when members taught them something (photos of species the model knows).
      anchor: o.anchor ?? (taught.some((t) => meta.labels.includes(t.sample.label)) ? 1 : Infinity),
      photoNoise: o.photoNoise,
      seed: o.seed ?? meta.params.seed,
      loss: meta.params,
      outlierMix: meta.params.outlierMix,
      onEpoch: (epoch, epochs, loss) => o.onEvent?.({ phase: 'train', epoch, epochs, loss }),
    });

    // The same photos for both: valid photos of the species either knows, and the held-out contributions.
    const evalRows = [...valid, ...heldOut.filter((h) => r.labels.includes(h.sample.label))];
    const truth = evalRows.map((e) => e.sample.label);
    const isValid = evalRows.map((_, i) => i < valid.length);
    const setName = `valid ${valid.length} + held-out contributions ${evalRows.length - valid.length}`;
    const before = judge(
      probsOf(
        live.head,
        evalRows.map((e) => e.features),
        dim,
      ),
      truth,
      meta.labels,
      isValid,
      setName,
      new Set(meta.labels),
    );
    const afterProbs = probsOf(
      r.head,
      evalRows.map((e) => e.features),
      dim,
    );
    const after = judge(afterProbs, truth, r.labels, isValid, setName, new Set(meta.labels));

    const names = { ...meta.names, ...plan.names };
    const trainCounts: NonNullable<CheckpointMeta['trainCounts']> = {};
    const inDataset = (l: string) => (meta.labels.includes(l) ? (ds.splits.train ?? []).filter((s) => s.label === l).length : 0);
    for (const l of r.labels)
      trainCounts[l] = {
        dataset: meta.trainCounts?.[l]?.dataset ?? inDataset(l),
        community: taught.filter((t) => t.sample.label === l).length,
      };
    const version = newVersion();
    const out: CheckpointMeta = {
      ...meta,
      version,
      createdAt: new Date().toISOString(),
      labels: r.labels,
      names,
      epochs: [],
      bestEpoch: 0,
      validAccuracy: after.validAccuracy,
      validTop5: after.validTop5,
      trainImages: meta.trainImages + taught.length,
      validImages: valid.length,
      backend: backendInfo()?.name ?? tf.getBackend(),
      trainSeconds: (Date.now() - t0) / 1000,
      evaluation: after.summary,
      trainCounts,
    };
    delete out.shipped;
    // The answers' calibration refitted for the new head on the same photos (they are centre views: only for a model that answers from the centre).
    let recalibration: Recalibration | undefined;
    const centreOnly = (meta.answers?.views?.crops ?? ['centre']).every((c) => c === 'centre');
    if (meta.answers && centreOnly && evalRows.length >= (o.minRecalibrationPhotos ?? MIN_RECALIBRATION_PHOTOS)) {
      recalibration = refitCalibration(
        meta.answers,
        afterProbs,
        truth.map((l) => r.labels.indexOf(l)),
        `${setName} (centre views), by /retrain's update`,
      );
      out.answers = recalibration.settings;
    }
    // A new species' prototypes join the live ones, or its photos would look unlike every species ("not a flower").
    let centroids: Float32Array | undefined;
    const cFile = meta.answers?.centroids && path.join(live.dir, path.basename(meta.answers.centroids));
    if (cFile && fs.existsSync(cFile)) {
      const old = readCentroids(cFile);
      const extra = speciesPrototypes(
        taught.filter((t) => addedLabels.includes(t.sample.label)).map((t) => t.features),
        taught.filter((t) => addedLabels.includes(t.sample.label)).map((t) => addedLabels.indexOf(t.sample.label)),
        addedLabels.length,
        meta.backbones.map((b) => b.featureSize),
        meta.answers?.prototypes,
      );
      centroids = new Float32Array(old.length + extra.length);
      centroids.set(old);
      centroids.set(extra, old.length);
    }
    const dir = await saveCheckpoint(o.saveDir, r.head, out);
    r.head.dispose();
    if (centroids && meta.answers?.centroids) writeCentroids(path.join(dir, path.basename(meta.answers.centroids)), centroids);
    if (statsSaved) copyClassStats(live.dir, dir);
    else saveClassStats(dir, stats);
    // Thumbnails: the live model's, and each new species' most typical contributed photo.
    const liveThumbs = path.join(live.dir, TYPICAL_DIR);
    if (fs.existsSync(liveThumbs)) fs.cpSync(liveThumbs, path.join(dir, TYPICAL_DIR), { recursive: true });
    const typical = closestToMean(
      taught.filter((t) => addedLabels.includes(t.sample.label)).map((t) => ({ features: t.features, photo: photoOf.get(t.sample.path)! })),
    );
    await writeThumbnails(dir, typical, ['/']);
    o.onEvent?.({ phase: 'save', dir });
    return {
      dir,
      version,
      meta: out,
      before,
      after,
      changes: speciesChanges(before.summary, after.summary),
      plan: {
        added: plan.added.filter((a) => addedLabels.includes(a.label)),
        waiting: plan.waiting,
        train: taught.length,
        heldOut: heldOut.length,
      },
      statsSource: stats.source,
      ...(recalibration && {
        recalibration: { photos: recalibration.photos, eceCarried: recalibration.eceCarried, eceAfter: recalibration.eceAfter },
      }),
      extracted,
      cached,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    live.head.dispose();
  }
}
