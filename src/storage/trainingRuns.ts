import { randomUUID } from 'node:crypto';
import type { Db } from './db.ts';

export type RunStatus = 'running' | 'succeeded' | 'rejected' | 'failed';
/** 'rejected': training finished but the new head was not better, so it was not promoted. */
export type FinishedStatus = Exclude<RunStatus, 'running'>;

export interface StartRunInput {
  requestedBy?: string | null;
  guildId?: string | null;
  params?: Record<string, unknown>;
  previousVersion?: string | null;
  startedAt?: string;
}

export interface FinishRunInput {
  status: FinishedStatus;
  metrics?: Record<string, unknown> | null;
  validAccuracy?: number | null;
  modelVersion?: string | null;
  error?: string | null;
  finishedAt?: string;
}

export interface TrainingRun {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  requestedBy: string | null;
  guildId: string | null;
  params: Record<string, unknown>;
  status: RunStatus;
  metrics: Record<string, unknown> | null;
  validAccuracy: number | null;
  modelVersion: string | null;
  previousVersion: string | null;
  error: string | null;
}

/** Identifies this process's runs, so another store in the same process is not mistaken for a dead one. */
const PROCESS_OWNER = randomUUID();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

type StoredRun = Omit<TrainingRun, 'params' | 'metrics'> & { params: string; metrics: string | null };
const fromStored = (r: StoredRun): TrainingRun => ({
  ...r,
  params: JSON.parse(r.params) as Record<string, unknown>,
  metrics: r.metrics === null ? null : (JSON.parse(r.metrics) as Record<string, unknown>),
});

const SELECT = `
  SELECT id, started_at AS startedAt, finished_at AS finishedAt, requested_by AS requestedBy,
         guild_id AS guildId, params, status, metrics, valid_accuracy AS validAccuracy,
         model_version AS modelVersion, previous_version AS previousVersion, error
  FROM training_runs`;

export function trainingRunQueries(db: Db) {
  const insert = db.prepare(`
    INSERT INTO training_runs (started_at, requested_by, guild_id, params, previous_version, pid, owner)
    VALUES (@startedAt, @requestedBy, @guildId, @params, @previousVersion, @pid, @owner)`);
  const finish = db.prepare(`
    UPDATE training_runs
    SET status = @status, finished_at = @finishedAt, metrics = @metrics,
        valid_accuracy = @validAccuracy, model_version = @modelVersion, error = @error
    WHERE id = @id AND status = 'running'`);
  const latest = db.prepare<[number], StoredRun>(`${SELECT} ORDER BY id DESC LIMIT ?`);
  const byId = db.prepare<[number], StoredRun>(`${SELECT} WHERE id = ?`);
  const active = db.prepare<[], StoredRun>(`${SELECT} WHERE status = 'running' ORDER BY id DESC LIMIT 1`);
  const running = db.prepare<[], { id: number; pid: number | null; owner: string | null }>(
    `SELECT id, pid, owner FROM training_runs WHERE status = 'running'`,
  );
  const interrupt = db.prepare<[string, number]>(`
    UPDATE training_runs SET status = 'failed', error = 'interrupted', finished_at = ?
    WHERE id = ? AND status = 'running'`);

  return {
    start: (input: StartRunInput = {}): number =>
      Number(
        insert.run({
          startedAt: input.startedAt ?? new Date().toISOString(),
          requestedBy: input.requestedBy ?? null,
          guildId: input.guildId ?? null,
          params: JSON.stringify(input.params ?? {}),
          previousVersion: input.previousVersion ?? null,
          pid: process.pid,
          owner: PROCESS_OWNER,
        }).lastInsertRowid,
      ),

    /** Records the outcome; false if the run is unknown or already finished (e.g. marked interrupted). */
    finish: (id: number, result: FinishRunInput): boolean =>
      finish.run({
        id,
        status: result.status,
        finishedAt: result.finishedAt ?? new Date().toISOString(),
        metrics: result.metrics == null ? null : JSON.stringify(result.metrics),
        validAccuracy: result.validAccuracy ?? null,
        modelVersion: result.modelVersion ?? null,
        error: result.error ?? null,
      }).changes > 0,

    latest: (limit: number): TrainingRun[] => latest.all(Math.max(0, Math.trunc(limit))).map(fromStored),
    get: (id: number): TrainingRun | undefined => {
      const row = byId.get(id);
      return row && fromStored(row);
    },
    active: (): TrainingRun | undefined => {
      const row = active.get();
      return row && fromStored(row);
    },

    /**
     * Marks runs left 'running' by a process that no longer exists as failed
     * ('interrupted'). A run owned by a live process (say the CLI trainer while
     * the bot restarts) is left alone. Returns the ids marked.
     */
    recoverInterrupted: (): number[] => {
      const now = new Date().toISOString();
      const stale = running.all().filter((r) => r.pid === null || (r.pid === process.pid ? r.owner !== PROCESS_OWNER : !pidAlive(r.pid)));
      db.transaction(() => stale.forEach((r) => interrupt.run(now, r.id)))();
      return stale.map((r) => r.id);
    },
  };
}
