import { statSync } from 'node:fs';
import { migrate, openConnection, type Db } from './db.ts';
import { feedbackQueries, type FeedbackQueries } from './feedback.ts';
import { learningQueries, type LearningQueries } from './learning.ts';
import { MIGRATIONS } from './migrations.ts';
import { reviewQueries, type ReviewQueries } from './review.ts';
import { PendingWrites, type WriteErrorHandler, type WriteFailure } from './pending.ts';
import { predictionQueries, toParams, type Prediction, type PredictionParams, type PredictionRow } from './predictions.ts';
import { settingsQueries } from './settings.ts';
import { statsQueries, type PredictionStats, type StatsFilter } from './stats.ts';
import { trainingRunQueries, type FinishRunInput, type StartRunInput, type TrainingRun } from './trainingRuns.ts';

export interface OpenDatabaseOptions {
  /** Lock wait before a write fails with SQLITE_BUSY; 1000 ms by default (it blocks the event loop). */
  busyTimeoutMs?: number;
  /**
   * Lock wait once open (after migrations), when it should differ from busyTimeoutMs.
   * The bot uses 0: a write on the request path never waits for a lock (better-sqlite3
   * would block the event loop); a failed prediction row is kept and retried in the background.
   */
  writeBusyTimeoutMs?: number;
  /** Told about every failed safe write; defaults to a one-line warning on stderr. */
  onWriteError?: WriteErrorHandler;
  /** Failed prediction writes kept for retry; beyond this the oldest are dropped (and reported). */
  maxPending?: number;
  /** Mark runs left 'running' by a dead process as failed; true by default. */
  recoverInterruptedRuns?: boolean;
  /** Schema steps; tests substitute their own. */
  migrations?: readonly string[];
  /**
   * Told when the database file was deleted or replaced while open and the store
   * reopened it at its path (checked before every prediction write and by checkFile());
   * `error` is set when reopening failed (the old connection is kept, and retried later).
   * Defaults to a warning on stderr.
   */
  onReopen?: (event: { file: string; reason: string; error?: unknown }) => void;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const warnOnStderr: WriteErrorHandler = (f: WriteFailure) => {
  const reason = messageOf(f.error);
  console.warn(
    `[storage] ${f.op} failed: ${reason} (${f.retryable ? 'will retry' : 'not retryable'}; pending ${f.pending}, dropped ${f.dropped})`,
  );
};

const warnReopenOnStderr = (e: { file: string; reason: string; error?: unknown }) =>
  console.warn(
    `[storage] database file ${e.file} ${e.reason}; ${e.error ? `could not reopen it: ${messageOf(e.error)}` : 'reopened it at its path'}`,
  );

type FileId = { dev: number; ino: number };
const fileId = (file: string): FileId | undefined => {
  const st = statSync(file, { throwIfNoEntry: false });
  return st && { dev: st.dev, ino: st.ino };
};

/** The bot's database: one connection, statements prepared once, writes that can wait out a lock. */
export class Store {
  /** Runs this open marked as interrupted (crash recovery). */
  readonly recoveredRunIds: readonly number[];

  #db: Db;
  #predictions: ReturnType<typeof predictionQueries>;
  #runs: ReturnType<typeof trainingRunQueries>;
  #settings: ReturnType<typeof settingsQueries>;
  #stats: ReturnType<typeof statsQueries>;
  #feedback: FeedbackQueries;
  #learning: LearningQueries;
  #review: ReviewQueries;
  readonly #pending: PendingWrites<PredictionParams>;
  readonly #opts: OpenDatabaseOptions;
  /** The database file and its identity when opened (undefined for :memory: or a store made from a bare connection). */
  readonly #file: string | undefined;
  #fileId: FileId | undefined;
  #closed = false;

  constructor(db: Db, opts: OpenDatabaseOptions = {}, file?: string) {
    this.#db = db;
    this.#opts = opts;
    this.#file = file && file !== ':memory:' ? file : undefined;
    this.#fileId = this.#file ? fileId(this.#file) : undefined;
    this.#predictions = predictionQueries(db);
    this.#runs = trainingRunQueries(db);
    this.#settings = settingsQueries(db);
    this.#stats = statsQueries(db);
    this.#feedback = feedbackQueries(db);
    this.#learning = learningQueries(db);
    this.#review = reviewQueries(db, this.#learning);
    this.#pending = new PendingWrites(
      'insertPrediction',
      (params) => this.#predictions.insert(params),
      opts.onWriteError ?? warnOnStderr,
      opts.maxPending ?? 500,
    );
    this.recoveredRunIds = opts.recoverInterruptedRuns === false ? [] : this.#runs.recoverInterrupted();
  }

  /** The raw connection, for maintenance and tests; prefer the methods. */
  get db(): Db {
    return this.#db;
  }

  /**
   * Reopens the database when its file was deleted or replaced since it was opened
   * (writes would otherwise go into an unlinked file and be lost without a word).
   * Returns true when it reopened. Never throws; both outcomes go to onReopen.
   */
  checkFile(): boolean {
    if (!this.#file || !this.#fileId || this.#closed) return false;
    const now = fileId(this.#file);
    if (now && now.dev === this.#fileId.dev && now.ino === this.#fileId.ino) return false;
    const reason = now ? 'was replaced by another file while open' : 'was deleted while open';
    const report = this.#opts.onReopen ?? warnReopenOnStderr;
    let db: Db;
    try {
      db = openStoreConnection(this.#file, this.#opts);
    } catch (error) {
      try {
        report({ file: this.#file, reason, error });
      } catch {
        /* reporting must not throw */
      }
      return false;
    }
    const old = this.#db;
    this.#db = db;
    this.#fileId = fileId(this.#file);
    this.#predictions = predictionQueries(db);
    this.#runs = trainingRunQueries(db);
    this.#settings = settingsQueries(db);
    this.#stats = statsQueries(db);
    this.#feedback = feedbackQueries(db);
    this.#learning = learningQueries(db);
    this.#review = reviewQueries(db, this.#learning);
    try {
      old.close();
    } catch {
      // the old file is gone anyway
    }
    try {
      report({ file: this.#file, reason });
    } catch {
      /* reporting must not throw */
    }
    return true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // --- predictions

  /** Inserts and returns the id; throws on failure. For user-facing paths use safeInsertPrediction. */
  insertPrediction(row: PredictionRow): number {
    return this.#predictions.insert(toParams(row));
  }

  /**
   * Never throws. Writes any backlog, then the row; returns its id, or null when
   * it failed. A transient failure (lock, read-only, disk full) keeps the row for
   * the next write, flushPending() or close(); every failure goes to onWriteError.
   */
  safeInsertPrediction(row: PredictionRow): number | null {
    let params: PredictionParams;
    try {
      params = toParams(row);
    } catch (error) {
      this.#pending.report({ op: 'insertPrediction', error, retryable: false, pending: this.pendingCount, dropped: 1 });
      return null;
    }
    this.checkFile();
    return this.#pending.submit(params);
  }

  /** Retries queued writes; true when none are left. */
  flushPending(): boolean {
    return this.#pending.flush();
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  getPrediction(id: number): Prediction | undefined {
    return this.#predictions.get(id);
  }

  /** Newest first, optionally for one guild. */
  recentPredictions(n: number, opts: { guildId?: string } = {}): Prediction[] {
    return this.#predictions.recent(n, opts.guildId);
  }

  predictionStats(filter: StatsFilter = {}): PredictionStats {
    return this.#stats.predictionStats(filter);
  }

  // --- feedback: votes and contributions (src/storage/feedback.ts)

  get feedback(): FeedbackQueries {
    return this.#feedback;
  }

  // --- species taught by the community, approved photos (src/storage/learning.ts)

  get learning(): LearningQueries {
    return this.#learning;
  }

  // --- review of contributions, the agreement rule, forgetting a member (src/storage/review.ts)

  get review(): ReviewQueries {
    return this.#review;
  }

  // --- training runs

  startRun(input: StartRunInput = {}): number {
    return this.#runs.start(input);
  }

  /** False if the run is unknown or no longer running. */
  finishRun(id: number, result: FinishRunInput): boolean {
    return this.#runs.finish(id, result);
  }

  /** Newest first. */
  latestRuns(n: number): TrainingRun[] {
    return this.#runs.latest(n);
  }

  getRun(id: number): TrainingRun | undefined {
    return this.#runs.get(id);
  }

  /** The run in progress, if any (to refuse a second concurrent /retrain). */
  activeRun(): TrainingRun | undefined {
    return this.#runs.active();
  }

  // --- settings

  addWatchedChannel(guildId: string, channelId: string): boolean {
    return this.#settings.addWatchedChannel(guildId, channelId);
  }
  removeWatchedChannel(guildId: string, channelId: string): boolean {
    return this.#settings.removeWatchedChannel(guildId, channelId);
  }
  listWatchedChannels(guildId: string): string[] {
    return this.#settings.listWatchedChannels(guildId);
  }
  isWatched(guildId: string, channelId: string): boolean {
    return this.#settings.isWatched(guildId, channelId);
  }
  getGuildSetting(guildId: string, key: string): unknown {
    return this.#settings.getGuildSetting(guildId, key);
  }
  guildSettings(guildId: string): Record<string, unknown> {
    return this.#settings.guildSettings(guildId);
  }
  setGuildSetting(guildId: string, key: string, value: unknown): void {
    this.#settings.setGuildSetting(guildId, key, value);
  }
  deleteGuildSetting(guildId: string, key: string): boolean {
    return this.#settings.deleteGuildSetting(guildId, key);
  }

  // --- lifecycle

  /** Flushes queued writes (reporting any that still fail as dropped), then closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#pending.flush()) {
      const lost = this.#pending.discard().length;
      this.#pending.report({
        op: 'insertPrediction',
        error: new Error(`closing with ${lost} unwritten prediction(s)`),
        retryable: false,
        pending: 0,
        dropped: lost,
      });
    }
    try {
      this.#db.pragma('optimize'); // cheap, and keeps query plans good for long-lived databases
    } catch {
      // best effort (e.g. read-only at close)
    }
    this.#db.close();
  }
}

/** Opens, migrates and sets the write lock wait: a connection ready for a Store. */
function openStoreConnection(path: string, opts: OpenDatabaseOptions): Db {
  const db = openConnection(path, opts);
  try {
    migrate(db, opts.migrations ?? MIGRATIONS);
    if (opts.writeBusyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.writeBusyTimeoutMs))}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Opens (creating folders), sets pragmas, migrates and recovers interrupted runs. */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): Store {
  const db = openStoreConnection(path, opts);
  try {
    return new Store(db, opts, path);
  } catch (err) {
    db.close();
    throw err;
  }
}
