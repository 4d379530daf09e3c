// /retrain: one run at a time, in a worker thread. With a live model, its head
// learns the approved contributions incrementally (src/training/learn.ts); the
// new model goes live only if it does not score lower than the live one on the
// same photos (valid split + held-out contributions). A failed or worse run
// leaves the old model in place; after a new one goes live, only the newest
// BLOOM_KEEP_VERSIONS versions stay in the checkpoints folder.
import fs from 'node:fs';
import { UserFacingError } from '../errors.ts';
import type { TrainParams } from '../classifier/checkpoint.ts';
import { setCurrent } from '../classifier/checkpoint.ts';
import type { Store } from '../storage/index.ts';
import type { SpeciesCount } from '../training/contributions.ts';
import { GATE_TOLERANCE, passesGate, type SpeciesChange } from '../training/gate.ts';
import type { LearnEvent } from '../training/learn.ts';
import { pruneVersions } from '../training/prune.ts';
import { recalibrationOf } from '../training/calibrate.ts';
import type { Learned, RetrainJob, WorkerMessage } from '../training/worker.ts';
import { startTrainingWorker } from '../training/startWorker.ts';
import type { ModelManager } from './modelManager.ts';

export interface RetrainProgress {
  phase: 'starting' | 'scan' | 'extract' | 'train' | 'save' | 'calibrate';
  /** 0..100 over the whole run. */
  percent: number;
  detail: string;
  epoch?: number;
  epochs?: number;
  validAccuracy?: number;
}

export interface RetrainOutcome {
  /** 'interrupted': the bot shut down mid-run (stored as a failed run with error 'interrupted'). */
  status: 'succeeded' | 'rejected' | 'failed' | 'interrupted';
  runId: number | null;
  version?: string;
  validAccuracy?: number;
  previousVersion?: string;
  previousAccuracy?: number;
  message: string;
  seconds: number;
  /** What a run that learnt from contributions found (absent for a full retrain). */
  report?: RetrainReport;
}

/** The live model and the candidate on the same photos, and what changed. */
export interface RetrainReport {
  /** The evaluation set, e.g. "valid 818 + held-out contributions 12". */
  set: string;
  images: number;
  before: number;
  after: number;
  /** On the photos of the species the live model knew. */
  knownBefore: number;
  knownAfter: number;
  /** Per species whose correct answers changed (worst drop first), with its name. */
  changes: (SpeciesChange & { name: string })[];
  added: SpeciesCount[];
  waiting: (SpeciesCount & { needed: number })[];
  learnt: number;
  heldOut: number;
}

/** Where and how to train: the worker's job; `saveDir` is the checkpoints root. */
export type RetrainSettings = RetrainJob & {
  /** Learning from approved contributions (BLOOM_CONTRIB_DIR, BLOOM_NEW_SPECIES_MIN_PHOTOS, BLOOM_KEEP_VERSIONS); without it, a full retrain. */
  learning?: { contribDir: string; minPhotos: number; keepVersions: number };
};

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Progress of a learning run: statistics 2-25 %, contributions 25-45 %, valid photos 45-85 %, training 85-99 %. */
function learnProgress(e: LearnEvent): RetrainProgress {
  if (e.phase === 'plan')
    return {
      phase: 'scan',
      percent: 2,
      detail: `${e.train + e.heldOut} approved photos (${e.heldOut} kept aside to judge the model), ${e.added} new species; ${e.valid} validation photos`,
    };
  if (e.phase === 'extract') {
    const [from, span, what] = {
      statistics: [2, 23, 'a few training photos per species (this model has no stored statistics)'],
      contributions: [25, 20, 'approved photos'],
      valid: [45, 40, 'validation photos'],
    }[e.what] as [number, number, string];
    return {
      phase: 'extract',
      percent: Math.round(from + (span * e.done) / Math.max(1, e.total)),
      detail: `Reading ${what} (${e.done}/${e.total})`,
    };
  }
  if (e.phase === 'train')
    return {
      phase: 'train',
      percent: 85 + Math.round((14 * e.epoch) / e.epochs),
      detail: `Learning: pass ${e.epoch}/${e.epochs}`,
      epoch: e.epoch,
      epochs: e.epochs,
    };
  return { phase: 'save', percent: 100, detail: 'Saving the checkpoint' };
}

function reportOf(l: Learned, names: Record<string, string>): RetrainReport {
  return {
    set: l.after.summary.set,
    images: l.after.summary.images,
    before: l.before.accuracy,
    after: l.after.accuracy,
    knownBefore: l.before.knownAccuracy,
    knownAfter: l.after.knownAccuracy,
    changes: l.changes.map((c) => ({ ...c, name: names[c.label] ?? c.label })),
    added: l.plan.added,
    waiting: l.plan.waiting,
    learnt: l.plan.train,
    heldOut: l.plan.heldOut,
  };
}

export class RetrainBusyError extends UserFacingError<'RETRAIN_BUSY'> {
  constructor() {
    super('RETRAIN_BUSY', 'A retrain is already running. I will post here when it finishes; please wait for it.');
    this.name = 'RetrainBusyError';
  }
}

/** What the admin reads when shutdown cuts a run short. */
export const INTERRUPTED_MESSAGE =
  'Retraining was interrupted because the bot is shutting down; nothing changed — run /retrain again later.';
const INTERRUPTED_ERROR = 'interrupted: the bot shut down';

class RetrainInterrupted extends Error {
  constructor() {
    super(INTERRUPTED_ERROR);
  }
}

export class RetrainService {
  private active: Promise<RetrainOutcome> | undefined;
  /** The run in progress: its row, and how to stop its worker (set while the worker runs). */
  private current: { runId: number | null; stopWorker?: () => void } | undefined;
  private shuttingDown = false;
  /** When the last run that trained a model (succeeded or rejected) ended, in this process. */
  private lastTrainedAt: number | undefined;

  constructor(
    private readonly models: ModelManager,
    private readonly store: Store | undefined,
    private readonly s: RetrainSettings,
    private readonly hooks: {
      /** Frees memory for the training worker; returns how to take it back (called when the run ends). */
      lendMemory?: () => Promise<() => Promise<void>>;
    } = {},
  ) {}

  get running(): boolean {
    return !!this.active;
  }

  /**
   * Milliseconds until the cooldown after the last run that trained a model (succeeded or
   * rejected) is over; 0 when a retrain may start. Counted from that run's end, also across restarts.
   */
  cooldownRemainingMs(cooldownMs: number, now = Date.now()): number {
    let last = this.lastTrainedAt;
    if (last === undefined) {
      try {
        const run = this.store?.latestRuns(50).find((r) => (r.status === 'succeeded' || r.status === 'rejected') && r.finishedAt);
        if (run) last = Date.parse(run.finishedAt!);
      } catch {
        // no history readable: no cooldown rather than no retrain
      }
    }
    return last === undefined || Number.isNaN(last) ? 0 : Math.max(0, last + cooldownMs - now);
  }

  /**
   * Shutdown: stops a running retrain at once. Its worker is terminated, its row marked
   * interrupted right away, and its outcome says so; new retrains are refused from now on.
   */
  interrupt(): void {
    this.shuttingDown = true;
    const cur = this.current;
    if (!cur?.stopWorker) return;
    if (cur.runId !== null) {
      try {
        this.store?.finishRun(cur.runId, { status: 'failed', error: INTERRUPTED_ERROR });
      } catch {
        /* the store reports its own failures; the startup recovery marks it otherwise */
      }
    }
    cur.stopWorker();
  }

  /** Waits for a running retrain (shutdown). */
  async drain(): Promise<void> {
    await this.active?.catch(() => undefined);
  }

  start(
    who: { userId: string; guildId?: string | null },
    onProgress: (p: RetrainProgress) => void,
    overrides: Partial<TrainParams> = {},
    /** full: retrain the whole head on the data set folders instead of learning the contributions. */
    opts: { full?: boolean } = {},
  ): Promise<RetrainOutcome> {
    if (this.active) throw new RetrainBusyError();
    if (this.shuttingDown) throw new RetrainBusyError();
    this.active = this.lendingMemory(() => this.run(who, onProgress, overrides, opts.full === true)).finally(() => {
      this.active = undefined;
      this.current = undefined;
    });
    return this.active;
  }

  private async lendingMemory<T>(fn: () => Promise<T>): Promise<T> {
    const giveBack = await this.hooks.lendMemory?.().catch(() => undefined);
    try {
      return await fn();
    } finally {
      // Shutting down: the pool is about to close, growing it back would only delay that.
      if (!this.shuttingDown) await giveBack?.().catch(() => undefined);
    }
  }

  private async run(
    who: { userId: string; guildId?: string | null },
    onProgress: (p: RetrainProgress) => void,
    overrides: Partial<TrainParams>,
    full: boolean,
  ): Promise<RetrainOutcome> {
    const t0 = Date.now();
    const live = this.models.current;
    // A retrain repeats the live model's recipe unless the admin overrides a part of it.
    const params: TrainParams = { ...this.s.params, ...(live?.meta.params ?? {}), ...overrides };
    const runId =
      this.store?.startRun({
        requestedBy: who.userId,
        guildId: who.guildId ?? null,
        params: { ...params },
        previousVersion: live?.version ?? null,
      }) ?? null;
    this.current = { runId };
    const finish = (o: Omit<RetrainOutcome, 'runId' | 'seconds'>): RetrainOutcome => {
      const out = { ...o, runId, seconds: (Date.now() - t0) / 1000 };
      if (o.status === 'succeeded' || o.status === 'rejected') this.lastTrainedAt = Date.now();
      if (runId !== null) {
        try {
          if (o.status === 'interrupted') this.store!.finishRun(runId, { status: 'failed', error: INTERRUPTED_ERROR });
          else
            this.store!.finishRun(runId, {
              status: o.status,
              validAccuracy: o.validAccuracy,
              modelVersion: o.version,
              metrics: {
                validAccuracy: o.validAccuracy,
                previousAccuracy: o.previousAccuracy,
                seconds: out.seconds,
                ...(o.report && {
                  evaluationSet: o.report.set,
                  before: o.report.before,
                  after: o.report.after,
                  added: o.report.added,
                  waiting: o.report.waiting.length,
                }),
              },
              error: o.status === 'succeeded' ? undefined : o.message,
            });
        } catch {
          /* the outcome still reaches the admin; the store reports its own failures */
        }
      }
      return out;
    };
    if (this.shuttingDown) return finish({ status: 'interrupted', message: INTERRUPTED_MESSAGE, previousVersion: live?.version });
    onProgress({ phase: 'starting', percent: 0, detail: 'Starting a training worker…' });
    let done: Extract<WorkerMessage, { type: 'done' }>;
    try {
      const learn = full ? undefined : this.learnJob(overrides);
      // A full retrain makes a head without answer settings: it gets the live model's, refitted.
      const calibrate = !learn && live?.meta.answers ? recalibrationOf(live.meta.answers) : undefined;
      done = await this.runWorker({ ...this.s, params, learn, calibrate }, onProgress);
    } catch (err) {
      if (err instanceof RetrainInterrupted)
        return finish({ status: 'interrupted', message: INTERRUPTED_MESSAGE, previousVersion: live?.version });
      return finish({
        status: 'failed',
        message: `Training failed: ${(err as Error).message}. The current model stays in place.`,
        previousVersion: live?.version,
      });
    }
    // A learning run judged both models on the same photos; a full retrain compares valid accuracies.
    const learned = done.learned;
    const report =
      learned &&
      reportOf(learned, {
        ...(live?.meta.names ?? {}),
        ...Object.fromEntries([...learned.plan.added, ...learned.plan.waiting].map((a) => [a.label, a.name])),
      });
    const prevAcc = learned ? learned.before.accuracy : live?.meta.validAccuracy;
    const newAcc = learned ? learned.after.accuracy : done.validAccuracy;
    const onWhat = learned ? `the evaluation photos (${learned.after.summary.set})` : 'the validation photos';
    const worse = learned
      ? !passesGate(learned.before, learned.after, learned.plan.added.length)
      : prevAcc !== undefined && newAcc < prevAcc;
    if (live && prevAcc !== undefined && worse) {
      fs.rmSync(done.dir, { recursive: true, force: true });
      return finish({
        status: 'rejected',
        version: done.version,
        validAccuracy: done.validAccuracy,
        previousVersion: live.version,
        previousAccuracy: live.meta.validAccuracy,
        report,
        message:
          learned && learned.plan.added.length
            ? `The new model learnt ${learned.plan.added.length === 1 ? 'a new species' : `${learned.plan.added.length} new species`} but scored ${pct(learned.after.knownAccuracy)} on the species the current model knows, more than ${(GATE_TOLERANCE * 100).toFixed(1)} points below its ${pct(learned.before.knownAccuracy)} on the same photos, so I kept the current model.`
            : learned
              ? `The new model scored ${pct(newAcc)} on ${onWhat}, below the current model's ${pct(prevAcc)} on the same photos, so I kept the current model.`
              : `The new model scored ${pct(newAcc)} on the validation photos, below the current ${pct(prevAcc)}, so I kept the current model.`,
      });
    }
    try {
      await this.models.load(done.dir);
      setCurrent(this.s.saveDir, done.version);
      if (this.s.learning) pruneVersions(this.s.saveDir, this.s.learning.keepVersions, [done.version]);
    } catch (err) {
      return finish({
        status: 'failed',
        message: `The new model could not be loaded (${(err as Error).message}); the current model stays in place.`,
        previousVersion: live?.version,
      });
    }
    return finish({
      status: 'succeeded',
      version: done.version,
      validAccuracy: done.validAccuracy,
      previousVersion: live?.version,
      previousAccuracy: live?.meta.validAccuracy,
      report,
      message: `New model ${done.version} is live: ${pct(newAcc)} top-1 on ${onWhat}${prevAcc !== undefined ? ` (the previous model: ${pct(prevAcc)})` : ''}.`,
    });
  }

  /** The approved contributions for a learning run, when there is a live model and a store to read them from. */
  private learnJob(overrides: Partial<TrainParams>): RetrainJob['learn'] {
    const live = this.models.current;
    if (!live || !this.store || !this.s.learning) return undefined;
    const { learning } = this.store;
    return {
      liveDir: live.dir,
      contribDir: this.s.learning.contribDir,
      approved: learning.approvedPhotos().map(({ sha256, path, label }) => ({ sha256, path, label })),
      communityNames: Object.fromEntries(learning.communitySpecies().map((c) => [c.label, c.name])),
      minPhotos: this.s.learning.minPhotos,
      epochs: overrides.epochs,
    };
  }

  private runWorker(job: RetrainJob, onProgress: (p: RetrainProgress) => void): Promise<Extract<WorkerMessage, { type: 'done' }>> {
    return new Promise((resolve, reject) => {
      const worker = startTrainingWorker(job);
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        // Settle once the thread is gone, so its memory is free before the pool grows back.
        if (this.current) this.current.stopWorker = undefined;
        void worker.terminate().finally(f);
      };
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'done') settle(() => resolve(m));
        else if (m.type === 'error') settle(() => reject(new Error(m.message)));
        else if (m.type === 'learn-event') onProgress(learnProgress(m.event));
        else if (m.type === 'calibrate-event')
          onProgress({ phase: 'calibrate', percent: 99, detail: `Calibrating the answers: ${m.label} (${m.done}/${m.total})` });
        else {
          const e = m.event;
          // Extraction is most of the time: 0-80 %, training 80-100 % (80-95 % when calibration follows).
          if (e.phase === 'scan')
            onProgress({ phase: 'scan', percent: 1, detail: `${e.classes} classes, ${e.train} training and ${e.valid} validation photos` });
          else if (e.phase === 'extract')
            onProgress({
              phase: 'extract',
              percent: Math.round((e.split === 'train' ? 70 : 10) * (e.done / e.total) + (e.split === 'train' ? 0 : 70)),
              detail: `Reading ${e.split} photos (views ${e.done}/${e.total})`,
            });
          else if (e.phase === 'train')
            onProgress({
              phase: 'train',
              percent: 80 + Math.round(((job.calibrate ? 15 : 20) * e.epoch) / e.epochs),
              detail: `Epoch ${e.epoch}/${e.epochs}`,
              epoch: e.epoch,
              epochs: e.epochs,
              validAccuracy: e.metrics.validAccuracy,
            });
          else onProgress({ phase: 'save', percent: job.calibrate ? 96 : 100, detail: 'Saving the checkpoint' });
        }
      });
      if (this.current) this.current.stopWorker = () => settle(() => reject(new RetrainInterrupted()));
      worker.on('error', (err) => settle(() => reject(err)));
      worker.on('exit', (code) => settle(() => reject(new Error(`training worker exited with code ${code}`))));
    });
  }
}
