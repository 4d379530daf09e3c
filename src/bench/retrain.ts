// /retrain wall time through the real path: createApp → RetrainService → the
// training worker (its own embedding pool) → accept-if-not-worse → model swap.
// The live model is a copy of the default checkpoint in a temp folder, so the
// project's checkpoints are never touched; Discord is not involved (its share
// of a /retrain is a few message edits).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../app.ts';
import type { BackendName } from '../classifier/backend.ts';
import { readMeta, resolveCheckpointDir, setCurrent } from '../classifier/checkpoint.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import type { RetrainOutcome, RetrainProgress } from '../services/retrainService.ts';
import { scanDataset, type Sample } from '../training/dataset.ts';
import { now } from './stats.ts';

export type RetrainKind = 'cold' | 'warm' | 'warm-project-cache';

export interface RetrainOptions {
  kind: RetrainKind;
  /** Root (with CURRENT) or folder of the live model; copied, never written. */
  checkpointDir: string;
  dataDir: string;
  featureCacheDir: string;
  backboneDir: string;
  backboneCache: string;
  workers: number;
  backend?: BackendName;
  /** Images per class (valid gets a quarter); undefined = the whole set. */
  maxPerClass?: number;
  log: (msg: string) => void;
}

export interface RetrainRun {
  kind: RetrainKind;
  featureCache: string;
  maxPerClass: number | null;
  workers: number;
  /** start() → outcome: worker start, scan, hash + cache lookup (+ extraction when cold), head training, save, accept check and swap. */
  seconds: number;
  phases: {
    /** Until the dataset scan: worker thread, backend and embedding pool start. */
    startS: number;
    /** Scan → last feature batch: read + hash every image, cache lookups, extraction of misses. */
    featuresS: number;
    /** Last feature batch → checkpoint saved: head training (all epochs) and save; the sum of the three below. */
    headS: number;
    /** Of headS: standardising the features and building tensors (until the first epoch starts, estimated). */
    headPrepS: number;
    /** Of headS: all epochs of head.fit (with their valid evaluation). */
    epochsS: number;
    /** Of headS: folding the standardisation, final accuracy, typical photos and saving. */
    headSaveS: number;
    /** Saved → outcome: accept check, loading and swapping in the new model. */
    finishS: number;
  };
  status: RetrainOutcome['status'];
  message: string;
  /** Photos the run used (the trainer's cap: maxPerClass per class, a quarter of it for valid). */
  trainImages: number;
  validImages: number;
  validAccuracy: number | null;
  previousAccuracy: number | null;
  /** Feature vectors appended to the cache during the run (0 = fully warm), from the growth of its files. */
  featuresExtracted: number;
}

/** Sizes of the cache's .bin files, keyed by backbone folder/view file. */
function cacheSizes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!fs.existsSync(dir)) return out;
  for (const b of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!b.isDirectory()) continue;
    for (const f of fs.readdirSync(path.join(dir, b.name)))
      if (f.endsWith('.bin')) out.set(`${b.name}/${f}`, fs.statSync(path.join(dir, b.name, f)).size);
  }
  return out;
}

function capped(samples: Sample[], cap?: number): number {
  if (!cap) return samples.length;
  const per = new Map<string, number>();
  for (const s of samples) per.set(s.label, (per.get(s.label) ?? 0) + 1);
  return [...per.values()].reduce((n, c) => n + Math.min(c, cap), 0);
}

export async function measureRetrain(o: RetrainOptions): Promise<RetrainRun> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bench-retrain-'));
  let stop: (() => Promise<void>) | undefined;
  try {
    const liveDir = resolveCheckpointDir(o.checkpointDir);
    const meta = readMeta(liveDir);
    const root = path.join(tmp, 'checkpoints');
    fs.cpSync(liveDir, path.join(root, meta.version), { recursive: true });
    setCurrent(root, meta.version);
    const config = loadConfig({
      BLOOM_DB_PATH: path.join(tmp, 'bench.sqlite'),
      BLOOM_CHECKPOINT_DIR: root,
      BLOOM_DATA_DIR: o.dataDir,
      BLOOM_FEATURE_CACHE: o.featureCacheDir,
      BLOOM_BACKBONE_DIR: o.backboneDir,
      BLOOM_BACKBONE_CACHE: o.backboneCache,
      BLOOM_WORKERS: String(o.workers),
      ...(o.backend && { BLOOM_BACKEND: o.backend }),
      BLOOM_LOG_LEVEL: 'warn',
    });
    const log = createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const app = await createApp({ config, log, retrainMaxPerClass: o.maxPerClass });
    stop = () => app.stop();

    // Feature-vector size per cache folder, to turn file growth into a count.
    const dims = new Map(meta.backbones.map((b) => [b.id.replace(/[^a-zA-Z0-9._-]/g, '_'), b.featureSize]));
    const before = cacheSizes(o.featureCacheDir);
    const marks: Partial<Record<RetrainProgress['phase'] | 'lastExtract' | 'lastEpoch', number>> = {};
    let epochs = 0;
    let lastPct = -1;
    const t0 = now();
    // full: the whole data set, as this benchmark has always measured (a /retrain that learns contributions skips it).
    const outcome = await app.retrain.start(
      { userId: 'bench' },
      (p) => {
        const t = now();
        marks[p.phase] ??= t;
        if (p.phase === 'extract') marks.lastExtract = t;
        if (p.phase === 'train') {
          marks.lastEpoch = t;
          epochs = p.epochs ?? epochs;
        }
        if (p.percent >= lastPct + 10 || p.phase === 'save') {
          lastPct = p.percent;
          o.log(`  ${p.percent}% ${p.detail}`);
        }
      },
      {},
      { full: true },
    );
    const end = now();
    const after = cacheSizes(o.featureCacheDir);
    let extracted = 0;
    for (const [k, size] of after) {
      const dim = dims.get(k.split('/')[0]!);
      if (dim) extracted += (size - (before.get(k) ?? 0)) / (32 + 4 * dim);
    }
    const scan = marks.scan ?? t0,
      feats = marks.lastExtract ?? scan,
      saved = marks.save ?? end;
    // Epoch events come at the end of each epoch: the first one also carries the data preparation.
    const first = marks.train ?? saved,
      last = marks.lastEpoch ?? saved;
    const perEpoch = epochs > 1 ? (last - first) / (epochs - 1) : first - feats;
    const epochsStart = Math.max(feats, first - perEpoch);
    const ds = scanDataset(o.dataDir);
    return {
      kind: o.kind,
      featureCache: o.featureCacheDir,
      maxPerClass: o.maxPerClass ?? null,
      workers: o.workers,
      seconds: (end - t0) / 1000,
      phases: {
        startS: (scan - t0) / 1000,
        featuresS: (feats - scan) / 1000,
        headS: (saved - feats) / 1000,
        headPrepS: (epochsStart - feats) / 1000,
        epochsS: (last - epochsStart) / 1000,
        headSaveS: (saved - last) / 1000,
        finishS: (end - saved) / 1000,
      },
      status: outcome.status,
      message: outcome.message,
      trainImages: capped(ds.splits.train ?? [], o.maxPerClass),
      validImages: capped(ds.splits.valid ?? [], o.maxPerClass && Math.ceil(o.maxPerClass / 4)),
      validAccuracy: outcome.validAccuracy ?? null,
      previousAccuracy: outcome.previousAccuracy ?? null,
      featuresExtracted: Math.round(extracted),
    };
  } finally {
    await stop?.().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
