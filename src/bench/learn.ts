// /retrain that learns members' contributions (issue 13): 100 approved photos —
// a species the live model does not know, topped up with training photos of
// species it knows — learnt by the training worker exactly as the bot's
// /retrain runs it (src/training/worker.ts → learn(), its own embedding pool),
// cold on an empty feature cache, then warm on the same cache. The live model
// is only read; the new checkpoint goes to a temp folder.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { BackendName } from '../classifier/backend.ts';
import { readMeta, resolveCheckpointDir } from '../classifier/checkpoint.ts';
import type { ApprovedInput, SpeciesCount } from '../training/contributions.ts';
import { scanDataset } from '../training/dataset.ts';
import { DEFAULT_TRAIN_PARAMS } from '../training/defaults.ts';
import { passesGate, type Judged } from '../training/gate.ts';
import type { LearnEvent } from '../training/learn.ts';
import type { RetrainJob, WorkerMessage } from '../training/worker.ts';
import { startTrainingWorker } from '../training/startWorker.ts';
import { pick } from './sources.ts';
import { now } from './stats.ts';

/** Issue 13's targets for a /retrain adding 100 contributed photos. */
export const LEARN_TARGETS = { coldS: 600, warmS: 120 } as const;

/** The label a fresh install gives its first community species (species.label = 'c' || id). */
export const NEW_SPECIES_LABEL = 'c1';

const IMAGE = /\.(jpe?g|png|webp)$/i;

export interface Contributions {
  contribDir: string;
  /** As store.learning.approvedPhotos() gives them: one per photo hash, path relative to contribDir. */
  approved: ApprovedInput[];
  communityNames: Record<string, string>;
  newSpecies: { dir: string; name: string; label: string; photos: number };
  /** Training photos of species the live model knows. */
  known: { photos: number; species: number };
}

/** Kept as FeedbackService.keep does: metadata dropped, at most 1024 px, JPEG, under its own hash. */
async function keep(contribDir: string, file: string): Promise<{ sha256: string; path: string }> {
  const jpeg = await sharp(fs.readFileSync(file), { failOn: 'none' })
    .rotate()
    .resize(1024, 1024, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 88 })
    .toBuffer();
  const sha256 = crypto.createHash('sha256').update(jpeg).digest('hex');
  const rel = path.join(sha256.slice(0, 2), `${sha256}.jpg`);
  fs.mkdirSync(path.join(contribDir, sha256.slice(0, 2)), { recursive: true });
  fs.writeFileSync(path.join(contribDir, rel), jpeg);
  return { sha256, path: rel };
}

/**
 * `count` approved contributions in a fresh contributions folder: every photo of
 * photosDir (up to count) as the new species, the rest training photos of known
 * species spread over the data set's train split.
 */
export async function buildContributions(o: {
  contribDir: string;
  photosDir: string;
  name: string;
  count: number;
  dataDir: string;
  liveLabels: string[];
}): Promise<Contributions> {
  if (!fs.existsSync(o.photosDir)) throw new Error(`--learn-photos: no folder ${o.photosDir}`);
  const own = fs
    .readdirSync(o.photosDir)
    .filter((f) => IMAGE.test(f))
    .sort()
    .slice(0, o.count)
    .map((f) => path.join(o.photosDir, f));
  if (own.length === 0) throw new Error(`--learn-photos: no photos (.jpg, .png, .webp) in ${o.photosDir}`);
  const known = new Set(o.liveLabels);
  const train = (scanDataset(o.dataDir).splits.train ?? []).filter((s) => known.has(s.label)).sort((a, b) => a.path.localeCompare(b.path));
  const topUp = o.count > own.length && train.length ? pick(train, Math.min(o.count - own.length, train.length)) : [];

  fs.mkdirSync(o.contribDir, { recursive: true });
  const bySha = new Map<string, ApprovedInput>();
  for (const f of own) {
    const k = await keep(o.contribDir, f);
    bySha.set(k.sha256, { ...k, label: NEW_SPECIES_LABEL });
  }
  for (const s of topUp) {
    const k = await keep(o.contribDir, s.path);
    if (!bySha.has(k.sha256)) bySha.set(k.sha256, { ...k, label: s.label });
  }
  const approved = [...bySha.values()].sort((a, b) => a.sha256.localeCompare(b.sha256));
  const knownPhotos = approved.filter((a) => a.label !== NEW_SPECIES_LABEL);
  return {
    contribDir: o.contribDir,
    approved,
    communityNames: { [NEW_SPECIES_LABEL]: o.name },
    newSpecies: { dir: o.photosDir, name: o.name, label: NEW_SPECIES_LABEL, photos: approved.length - knownPhotos.length },
    known: { photos: knownPhotos.length, species: new Set(knownPhotos.map((a) => a.label)).size },
  };
}

export type LearnKind = 'cold' | 'warm';

export interface LearnMeasureOptions {
  kind: LearnKind;
  /** Root (with CURRENT) or folder of the live model; only read. */
  checkpointDir: string;
  dataDir: string;
  featureCacheDir: string;
  saveDir: string;
  backboneDir: string;
  backboneCache: string;
  workers: number;
  backend?: BackendName;
  minPhotos: number;
  contributions: Contributions;
  log: (msg: string) => void;
}

const scores = (j: Judged) => ({ accuracy: j.accuracy, validAccuracy: j.validAccuracy, knownAccuracy: j.knownAccuracy });

export interface LearnRun {
  kind: LearnKind;
  workers: number;
  /** Worker start → checkpoint saved: what an admin waits for, less the model swap. */
  seconds: number;
  /** learn()'s own time (without the worker thread's start). */
  learnSeconds: number;
  phases: {
    /** Worker thread, backend, live checkpoint load and plan. */
    startS: number;
    /** Class statistics from training photos (0 when the live checkpoint keeps them). */
    statisticsS: number;
    contributionsS: number;
    validS: number;
    /** Head update, both models judged, checkpoint saved. */
    trainS: number;
  };
  /** Photos whose features were extracted (backbone run) and found in the cache. */
  extracted: number;
  cached: number;
  /** The live model and the candidate on the same photos (valid split + held-out contributions). */
  evaluationSet: string;
  before: { accuracy: number; validAccuracy: number; knownAccuracy: number };
  after: { accuracy: number; validAccuracy: number; knownAccuracy: number };
  /** Whether /retrain would put the candidate live. */
  passesGate: boolean;
  added: SpeciesCount[];
  waiting: (SpeciesCount & { needed: number })[];
  learnt: number;
  heldOut: number;
  statsSource: string;
}

/** One learning /retrain in the training worker, as RetrainService starts it. */
export async function measureLearn(o: LearnMeasureOptions): Promise<LearnRun> {
  const liveDir = resolveCheckpointDir(o.checkpointDir);
  const meta = readMeta(liveDir);
  const c = o.contributions;
  const job: RetrainJob = {
    dataDir: o.dataDir,
    saveDir: o.saveDir,
    featureCacheDir: o.featureCacheDir,
    loc: { backboneDir: o.backboneDir, cacheDir: o.backboneCache },
    params: { ...DEFAULT_TRAIN_PARAMS, ...meta.params },
    backend: o.backend,
    workers: o.workers,
    learn: { liveDir, contribDir: c.contribDir, approved: c.approved, communityNames: c.communityNames, minPhotos: o.minPhotos },
  };
  // When each phase ended (its last event): phases run in order, one with no photos sends none.
  const ends: Partial<Record<'plan' | 'statistics' | 'contributions' | 'valid', number>> = {};
  let lastPct = -1;
  const onEvent = (e: LearnEvent) => {
    if (e.phase === 'plan' || e.phase === 'extract') ends[e.phase === 'plan' ? 'plan' : e.what] = now();
    if (e.phase === 'extract') {
      const pct = Math.floor((100 * e.done) / Math.max(1, e.total));
      if (pct >= lastPct + 20 || e.done === e.total) {
        lastPct = e.done === e.total ? -1 : pct;
        o.log(`  ${e.what}: ${e.done}/${e.total}`);
      }
    } else if (e.phase === 'plan')
      o.log(`  ${e.train} photos to learn, ${e.heldOut} held out, ${e.added} new species, ${e.valid} validation photos`);
    else if (e.phase === 'train' && e.epoch === e.epochs) o.log(`  trained ${e.epochs} passes`);
  };
  const t0 = now();
  const done = await new Promise<Extract<WorkerMessage, { type: 'done' }>>((resolve, reject) => {
    // The same thread and limits as /retrain.
    const worker = startTrainingWorker(job);
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      void worker.terminate().finally(f);
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') settle(() => resolve(m));
      else if (m.type === 'error') settle(() => reject(new Error(`learning /retrain failed: ${m.message}`)));
      else if (m.type === 'learn-event') onEvent(m.event);
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) => settle(() => reject(new Error(`training worker exited with code ${code}`))));
  });
  const end = now();
  const l = done.learned;
  if (!l) throw new Error('the training worker ran a full retrain instead of learning the contributions');
  let prev = t0;
  const span = (k: keyof typeof ends) => {
    const s = ((ends[k] ?? prev) - prev) / 1000;
    prev = ends[k] ?? prev;
    return s;
  };
  const phases = { startS: span('plan'), statisticsS: span('statistics'), contributionsS: span('contributions'), validS: span('valid') };
  return {
    kind: o.kind,
    workers: o.workers,
    seconds: (end - t0) / 1000,
    learnSeconds: done.seconds,
    phases: { ...phases, trainS: (end - prev) / 1000 },
    extracted: done.extracted,
    cached: done.cached,
    evaluationSet: l.after.summary.set,
    before: scores(l.before),
    after: scores(l.after),
    passesGate: passesGate(l.before, l.after, l.plan.added.length),
    added: l.plan.added,
    waiting: l.plan.waiting,
    learnt: l.plan.train,
    heldOut: l.plan.heldOut,
    statsSource: l.statsSource,
  };
}
