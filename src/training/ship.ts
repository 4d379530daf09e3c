// Exports a trained checkpoint as the shipped default model (models/default):
// the head with float16 weights (standardisation already folded in), meta.json
// without machine-local paths, typical/<label>.jpg thumbnails, and demo.json
// (photos the demo posts, chosen from how the model answers the valid split).
import { PACKED_CENTROIDS_FILE, readCentroids, writeCentroids } from '../classifier/centroids.ts';
import * as tf from '../classifier/tf.ts';
import fs from 'node:fs';
import path from 'node:path';
import type { AnswerKind } from '../classifier/answers.ts';
import { findPreset } from '../classifier/backbones.ts';
import { readMeta, resolveCheckpointDir, type CheckpointMeta, type ShippedInfo } from '../classifier/checkpoint.ts';
import { Classifier } from '../classifier/classifier.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { LazyEmbedder } from '../classifier/embedder.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import { readModelJson } from '../classifier/modelFiles.ts';
import { writeThumbnails } from '../classifier/thumbnails.ts';
import { scanDataset } from './dataset.ts';
import { FeatureCache } from './featureCache.ts';
import { photoFeatures } from './photoFeatures.ts';
import { toHalf } from './halfRows.ts';
import { CLASS_STATS_FILES, copyClassStats } from './classStats.ts';

/** The whole shipped folder must stay under this (issue 11). */
export const SHIPPED_BUDGET_BYTES = 2 * 1024 * 1024;

export interface DemoPick {
  kind: 'confident-right' | 'unsure' | 'wrong';
  /** Relative to the dataset root. */
  photo: string;
  label: string;
  top1Label: string;
  top1Probability: number;
}

export interface DemoPlan {
  threshold: number;
  picks: DemoPick[];
  valid: ShippedInfo['valid'];
}

export interface ShipOptions {
  checkpoint: string;
  outDir: string;
  /** Dataset roots to find the typical and valid photos in (the checkpoint's own dataRoot is tried last). */
  dataRoots: string[];
  /** The bot's confidence threshold: below it a reply is "not sure". */
  threshold: number;
  command: string;
  /** Where cached valid features are read from; nothing is written there. */
  featureCacheDir?: string;
  /** Starts the backbones, only if a valid photo is not in the cache. */
  startEmbedder: (arch: string) => Promise<Embedder>;
  /** Where the backbones' ImageNet heads are found (checkpoints whose answer settings have flower classes). */
  backbones?: BackboneLocations;
  onProgress?: (done: number, total: number) => void;
}

/** A cache whose file is only read (the training run's cache is not ours to change); new features stay in memory. */
class ReadOnlyCache extends FeatureCache {
  private readonly fresh = new Map<string, Float32Array>();
  override get(backboneId: string, view: string, sha256: string, dim: number): Float32Array | undefined {
    return this.fresh.get(`${backboneId}/${view}/${sha256}`) ?? super.get(backboneId, view, sha256, dim);
  }
  override put(backboneId: string, view: string, _dim: number, entries: { sha256: string; vector: Float32Array }[]): void {
    for (const e of entries) this.fresh.set(`${backboneId}/${view}/${e.sha256}`, e.vector);
  }
}

/** model.json + weights.bin with float16 weights, from a float32 checkpoint folder. */
function writeHalfHead(src: string, dest: string): void {
  const json = readModelJson(src);
  const parts: Buffer[] = [];
  const weights: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) parts.push(fs.readFileSync(path.join(src, p)));
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization) throw new Error(`weight ${w.name} is not plain float32`);
      weights.push({ ...w, quantization: { dtype: 'float16' } });
    }
  }
  const all = Buffer.concat(parts);
  const f32 = new Float32Array(all.buffer, all.byteOffset, all.byteLength / 4);
  const half = Uint16Array.from(f32, toHalf);
  fs.writeFileSync(path.join(dest, 'weights.bin'), Buffer.from(half.buffer));
  fs.writeFileSync(path.join(dest, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ paths: ['weights.bin'], weights }] }));
}

function folderBytes(dir: string): number {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .reduce((n, e) => n + (e.isDirectory() ? folderBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size), 0);
}

interface ValidRow {
  photo: string;
  label: string;
  top1: string;
  /** Top-1 probability (calibrated when the checkpoint has answer settings). */
  p: number;
  right: boolean;
  top5: boolean;
  /** The bot's answer, when the checkpoint has answer settings. */
  kind?: AnswerKind;
}

/** The pick nearest the median probability of a group: a usual case of its kind, not the best one. */
function median<T extends { p: number }>(xs: T[]): T | undefined {
  const s = [...xs].sort((a, b) => a.p - b.p);
  return s[Math.floor(s.length / 2)];
}

export async function shipModel(
  o: ShipOptions,
): Promise<{ dir: string; meta: CheckpointMeta & { shipped: ShippedInfo }; demo: DemoPlan; bytes: number }> {
  const src = resolveCheckpointDir(o.checkpoint);
  const meta = readMeta(src);
  const roots = [...o.dataRoots, meta.dataRoot].filter((r) => r && fs.existsSync(path.join(r, 'valid')));
  if (roots.length === 0)
    throw new Error(
      `No dataset with a valid/ folder at ${[...o.dataRoots, meta.dataRoot].join(' or ')}: it is needed for the thumbnails and the figures`,
    );
  const root = roots[0]!;

  fs.mkdirSync(path.dirname(path.resolve(o.outDir)), { recursive: true });
  const tmp = fs.mkdtempSync(`${path.resolve(o.outDir)}.tmp-`);
  try {
    writeHalfHead(src, tmp);
    // The species prototypes of the answer settings (npm run calibrate) travel with the head, in 8 bits.
    const centroids = meta.answers?.centroids && path.join(src, path.basename(meta.answers.centroids));
    const answerSettings =
      centroids && fs.existsSync(centroids)
        ? (writeCentroids(path.join(tmp, PACKED_CENTROIDS_FILE), readCentroids(centroids)),
          { ...meta.answers!, centroids: PACKED_CENTROIDS_FILE })
        : meta.answers;
    const missing = await writeThumbnails(tmp, meta.typicalImages, roots);
    if (missing.length) throw new Error(`typical photos not found for labels ${missing.join(', ')}`);
    const out: CheckpointMeta = {
      ...meta,
      answers: answerSettings,
      // Presets are found by id (a local folder of the training machine means nothing elsewhere); a custom backbone keeps its source.
      backbones: meta.backbones.map(({ source, ...spec }) => (findPreset(spec.id) ? spec : { ...spec, source })),
      dataRoot: '',
    };
    fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(out, null, 2));

    // Figures of the stored folder itself (float16 head, answer settings), on the valid photos as the bot sees them.
    const samples = scanDataset(root).splits.valid ?? [];
    const specs = meta.backbones;
    const embedder = new LazyEmbedder(specs, specs[0]!.inputSize, () => o.startEmbedder(specs.map((b) => b.id).join('+')));
    const cache = new ReadOnlyCache(o.featureCacheDir ?? path.join(tmp, 'no-cache'));
    const clf = await Classifier.load({ checkpoint: tmp, cacheDir: tmp, ...o.backbones, embedder, ownsEmbedder: false });
    let rows: ValidRow[], answers: ShippedInfo['valid']['answers'];
    try {
      // Without the ImageNet heads no photo would be "not a flower": figures that are not the bot's.
      if (meta.answers?.flowerClasses && !clf.imagenet.some(Boolean))
        throw new Error(
          `the answer settings need the backbones' ImageNet heads, and none was found (${specs.map((b) => b.id).join(', ')})`,
        );
      // The bot's answer for each photo from its answer crops, counted the way npm run evaluate counts them.
      const ex = await photoFeatures(clf, samples, cache, clf.answerViews, o.onProgress);
      const kinds = !!meta.answers;
      rows = ex.photos.map(({ sample, features }) => {
        const head = clf.probsOfFeatures(features);
        const s = clf.signals(features, head);
        // Without answer settings the figures are the head's own probabilities (no temperature).
        const row = kinds ? s.probs : clf.photoProbs(head);
        const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
        const want = meta.labels.indexOf(sample.label);
        const right = order[0] === want;
        return {
          photo: path.relative(root, sample.path),
          label: sample.label,
          top1: meta.labels[order[0]!]!,
          p: row[order[0]!]!,
          right,
          top5: order.slice(0, 5).includes(want),
          kind: kinds ? clf.answer(s, o.threshold).kind : undefined,
        };
      });
      if (kinds) {
        const share = (f: (r: ValidRow) => boolean) => rows.filter(f).length / Math.max(1, rows.length);
        answers = {
          speciesThreshold: meta.answers?.speciesThreshold ?? o.threshold,
          speciesRight: share((r) => r.kind === 'species' && r.right),
          speciesWrong: share((r) => r.kind === 'species' && !r.right),
          notSure: share((r) => r.kind === 'notSure'),
          notFlower: share((r) => r.kind === 'notFlower'),
        };
      }
    } finally {
      await clf.dispose();
      await embedder.close();
    }
    const frac = (k: number) => k / rows.length;
    const sure = rows.filter((r) => r.p >= o.threshold);
    const valid: ShippedInfo['valid'] = {
      images: rows.length,
      top1: frac(rows.filter((r) => r.right).length),
      top5: frac(rows.filter((r) => r.top5).length),
      threshold: o.threshold,
      confidentRight: frac(sure.filter((r) => r.right).length),
      confidentWrong: frac(sure.filter((r) => !r.right).length),
      unsure: frac(rows.length - sure.length),
      ...(answers && { answers }),
    };
    const pick = (kind: DemoPick['kind'], xs: typeof rows): DemoPick[] => {
      const r = median(xs);
      return r ? [{ kind, photo: r.photo, label: r.label, top1Label: r.top1, top1Probability: r.p }] : [];
    };
    // With answer settings the kinds are the bot's answers; without, the plain threshold decides.
    const answered = (r: ValidRow) => (answers ? r.kind === 'species' : r.p >= o.threshold);
    const unsure = (r: ValidRow) => (answers ? r.kind === 'notSure' : r.p < o.threshold);
    const wrongSure = rows.filter((r) => answered(r) && !r.right);
    const demo: DemoPlan = {
      threshold: answers?.speciesThreshold ?? o.threshold,
      picks: [
        ...pick(
          'confident-right',
          rows.filter((r) => answered(r) && r.right),
        ),
        ...pick('unsure', rows.filter(unsure)),
        ...pick('wrong', wrongSure.length ? wrongSure : rows.filter((r) => !r.right)),
      ],
      valid,
    };
    const shipped: ShippedInfo = {
      fromVersion: meta.version,
      exportedAt: new Date().toISOString(),
      weights: 'float16',
      command: o.command,
      valid,
    };
    const final: CheckpointMeta & { shipped: ShippedInfo } = {
      ...out,
      validAccuracy: valid.top1,
      validTop5: valid.top5,
      validImages: rows.length,
      shipped,
    };
    fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(final, null, 2));
    fs.writeFileSync(path.join(tmp, 'demo.json'), JSON.stringify(demo, null, 2));
    // The class statistics /retrain replays (src/training/classStats.ts) travel too, unless they would break the budget.
    let bytes = folderBytes(tmp);
    if (copyClassStats(src, tmp) && folderBytes(tmp) > SHIPPED_BUDGET_BYTES)
      for (const f of CLASS_STATS_FILES) fs.rmSync(path.join(tmp, f), { force: true });
    bytes = folderBytes(tmp);
    if (bytes > SHIPPED_BUDGET_BYTES)
      throw new Error(`the shipped model would take ${bytes} bytes, over the ${SHIPPED_BUDGET_BYTES}-byte budget`);
    const dest = path.resolve(o.outDir);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(tmp, dest);
    fs.chmodSync(dest, 0o755); // mkdtemp's folders are private
    return { dir: dest, meta: final, demo, bytes };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
