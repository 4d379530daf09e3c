// Worker-thread entry for a retrain: its own TF.js instance, so the bot's
// thread keeps answering while features are extracted and the head trained.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendName } from '../classifier/backend.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import { makeEmbedder } from '../classifier/makeEmbedder.ts';
import type { TrainParams } from '../classifier/checkpoint.ts';
import { FeatureCache } from './featureCache.ts';
import type { ApprovedInput } from './contributions.ts';
import { learn, type LearnEvent, type LearnResult } from './learn.ts';
import { train, type TrainEvent, type TrainResult } from './trainer.ts';
import { calibrateCheckpoint, type CalibrateJob } from './calibrate.ts';
import type { Dataset } from './dataset.ts';

export interface RetrainJob {
  dataDir: string;
  saveDir: string;
  featureCacheDir: string;
  loc: Omit<BackboneLocations, 'fetchFile'>;
  /** Defaults for a run; a retrain repeats the live model's recipe over these. */
  params: TrainParams;
  maxPerClass?: number;
  backend?: BackendName;
  /** Extraction workers inside this worker (0/1 = extract here: see embedderKind). */
  workers?: number;
  /** With it, the live head learns the approved contributions incrementally (src/training/learn.ts) instead of a full retrain. */
  learn?: LearnJob;
  /** A full retrain of a model that answers in three kinds: the new head is calibrated the same way before it is judged. */
  calibrate?: CalibrateJob;
}

export interface LearnJob {
  liveDir: string;
  contribDir: string;
  approved: ApprovedInput[];
  communityNames: Record<string, string>;
  minPhotos: number;
  epochs?: number;
}

/** What a learning run reports back (the checkpoint itself is on disk). */
export type Learned = Pick<LearnResult, 'before' | 'after' | 'changes' | 'plan' | 'statsSource' | 'recalibration'>;

export type WorkerMessage =
  | {
      type: 'event';
      event: Exclude<TrainEvent, { phase: 'scan' }> | { phase: 'scan'; classes: number; train: number; valid: number; problems: string[] };
    }
  | {
      type: 'done';
      dir: string;
      version: string;
      validAccuracy: number;
      validTop5: number;
      skipped: number;
      extracted: number;
      cached: number;
      seconds: number;
      learned?: Learned;
    }
  | { type: 'learn-event'; event: LearnEvent }
  | { type: 'calibrate-event'; label: string; done: number; total: number }
  | { type: 'error'; message: string };

if (!parentPort) throw new Error('training/worker.ts runs only as a worker thread (the retrain service starts it)');
const port = parentPort;

async function run(job: RetrainJob): Promise<void> {
  const post = (m: WorkerMessage) => port.postMessage(m);
  await initBackend({ prefer: job.backend, wasmThreads: 1 });
  if (job.learn) return runLearn(job, job.learn, post);
  // Presets' shapes are known without loading them: start extraction only if the cache misses.
  const embedder = await makeEmbedder({ arch: job.params.arch, loc: job.loc, workers: job.workers ?? 0, backend: job.backend, lazy: true });
  let r: TrainResult;
  let dataset: Dataset | undefined;
  try {
    r = await train({
      ...job.params,
      dataDir: job.dataDir,
      saveDir: job.saveDir,
      maxPerClass: job.maxPerClass,
      embedder,
      cache: new FeatureCache(job.featureCacheDir),
      onEvent: (e) => {
        if (e.phase === 'scan') dataset = e.dataset;
        post({
          type: 'event',
          event:
            e.phase === 'scan'
              ? {
                  phase: 'scan',
                  classes: e.dataset.labels.length,
                  train: e.dataset.splits.train?.length ?? 0,
                  valid: e.dataset.splits.valid?.length ?? 0,
                  problems: e.dataset.problems,
                }
              : e,
        });
      },
    });
    if (job.calibrate) {
      try {
        // The same embedder and data set scan as training (its backbones are loaded already, if at all).
        await calibrateCheckpoint(r.dir, {
          ...job.calibrate,
          embedder,
          keepEmbedder: true,
          loc: job.loc,
          train: dataset?.splits.train ?? [],
          valid: dataset?.splits.valid ?? [],
          cache: new FeatureCache(job.featureCacheDir),
          onProgress: (label, done, total) => post({ type: 'calibrate-event', label, done, total }),
        });
      } catch (err) {
        // Uncalibrated, it would never tell other things from flowers: it never goes live.
        fs.rmSync(r.dir, { recursive: true, force: true });
        throw new Error(`the new model's answers could not be calibrated (${(err as Error).message})`);
      }
    }
  } finally {
    await embedder.close();
  }
  post({
    type: 'done',
    dir: r.dir,
    version: r.meta.version,
    validAccuracy: r.meta.validAccuracy,
    validTop5: r.meta.validTop5,
    skipped: r.skipped.length,
    extracted: r.extracted,
    cached: r.cached,
    seconds: r.meta.trainSeconds,
  });
}

async function runLearn(job: RetrainJob, l: LearnJob, post: (m: WorkerMessage) => void): Promise<void> {
  const embedder = await makeEmbedder({ arch: job.params.arch, loc: job.loc, workers: job.workers ?? 0, backend: job.backend, lazy: true });
  try {
    const r = await learn({
      liveDir: l.liveDir,
      dataDir: job.dataDir,
      saveDir: job.saveDir,
      contribDir: l.contribDir,
      approved: l.approved,
      communityNames: l.communityNames,
      minPhotos: l.minPhotos,
      epochs: l.epochs,
      embedder,
      cache: new FeatureCache(job.featureCacheDir),
      onEvent: (event) => post({ type: 'learn-event', event }),
    });
    post({
      type: 'done',
      dir: r.dir,
      version: r.version,
      validAccuracy: r.after.validAccuracy,
      validTop5: r.after.validTop5,
      skipped: 0,
      extracted: r.extracted,
      cached: r.cached,
      seconds: r.seconds,
      learned: {
        before: r.before,
        after: r.after,
        changes: r.changes,
        plan: r.plan,
        statsSource: r.statsSource,
        recalibration: r.recalibration,
      },
    });
  } finally {
    await embedder.close();
  }
}

run(workerData as RetrainJob).catch((err: unknown) =>
  port.postMessage({ type: 'error', message: (err as Error)?.message ?? String(err) } satisfies WorkerMessage),
);
