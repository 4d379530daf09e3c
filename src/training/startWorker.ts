// The training thread, as /retrain and the learning benchmark start it.
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../util/tsWorker.ts';
import type { RetrainJob } from './worker.ts';

/**
 * Starts src/training/worker.ts on a job. A small young generation: the worker's
 * short-lived garbage (hashes, maps, batch arrays) is collected often instead of
 * piling up (bot during a retrain 791–843 → 739–749 MB, same speed).
 */
export function startTrainingWorker(job: RetrainJob): Worker {
  return startTsWorker(new URL('./worker.ts', import.meta.url), { workerData: job, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
}
