import { migrate, openConnection, type Db } from './db.ts';
import { MIGRATIONS } from './migrations.ts';
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
}

const warnOnStderr: WriteErrorHandler = (f: WriteFailure) => {
  const reason = f.error instanceof Error ? f.error.message : String(f.error);
  console.warn(
    `[storage] ${f.op} failed: ${reason} (${f.retryable ? 'will retry' : 'not retryable'}; pending ${f.pending}, dropped ${f.dropped})`,
  );
};

/** The bot's database: one connection, statements prepared once, writes that can wait out a lock. */
export class Store {
  /** The raw connection, for maintenance and tests; prefer the methods. */
  readonly db: Db;
  /** Runs this open marked as interrupted (crash recovery). */
  readonly recoveredRunIds: readonly number[];

  readonly #predictions: ReturnType<typeof predictionQueries>;
  readonly #runs: ReturnType<typeof trainingRunQueries>;
  readonly #settings: ReturnType<typeof settingsQueries>;
  readonly #stats: ReturnType<typeof statsQueries>;
  readonly #pending: PendingWrites<PredictionParams>;
  #closed = false;

  constructor(db: Db, opts: OpenDatabaseOptions = {}) {
    this.db = db;
    this.#predictions = predictionQueries(db);
    this.#runs = trainingRunQueries(db);
    this.#settings = settingsQueries(db);
    this.#stats = statsQueries(db);
    this.#pending = new PendingWrites(
      'insertPrediction',
      this.#predictions.insert,
      opts.onWriteError ?? warnOnStderr,
      opts.maxPending ?? 500,
    );
    this.recoveredRunIds = opts.recoverInterruptedRuns === false ? [] : this.#runs.recoverInterrupted();
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
      this.db.pragma('optimize'); // cheap, and keeps query plans good for long-lived databases
    } catch {
      // best effort (e.g. read-only at close)
    }
    this.db.close();
  }
}

/** Opens (creating folders), sets pragmas, migrates and recovers interrupted runs. */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): Store {
  const db = openConnection(path, opts);
  try {
    migrate(db, opts.migrations ?? MIGRATIONS);
    if (opts.writeBusyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.writeBusyTimeoutMs))}`);
    return new Store(db, opts);
  } catch (err) {
    db.close();
    throw err;
  }
}
