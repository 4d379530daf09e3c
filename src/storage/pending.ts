import Database from 'better-sqlite3';

export interface WriteFailure {
  /** Which write failed, e.g. 'insertPrediction'. */
  op: string;
  error: unknown;
  /** True when the item was kept for a later attempt; false when it was dropped as unwritable. */
  retryable: boolean;
  /** Items waiting after this failure. */
  pending: number;
  /** Items discarded by this failure (bad row, queue overflow, or given up on close). */
  dropped: number;
}

export type WriteErrorHandler = (failure: WriteFailure) => void;

// Conditions that go away on their own: a lock, a read-only or full disk, I/O hiccups.
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PROTOCOL|NOMEM)/;

export function isTransientError(err: unknown): boolean {
  return err instanceof Database.SqliteError && TRANSIENT.test(err.code);
}

/**
 * A small FIFO in front of a write that must never throw into the caller. Items
 * that fail for a transient reason wait here and are retried, oldest first, before
 * the next write and on flush; other failures are reported and dropped so one bad
 * item cannot block the queue forever.
 */
export class PendingWrites<T> {
  readonly #queue: T[] = [];
  readonly #write: (item: T) => number;
  readonly #report: WriteErrorHandler;
  readonly #op: string;
  readonly #max: number;

  constructor(op: string, write: (item: T) => number, report: WriteErrorHandler, max: number) {
    this.#op = op;
    this.#write = write;
    this.#report = report;
    this.#max = Math.max(1, max);
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Writes the item (after any backlog) and returns its id, or null if it failed. Never throws. */
  submit(item: T): number | null {
    const blocked = this.#drain();
    if (blocked !== undefined) {
      this.#keep(item, blocked);
      return null;
    }
    try {
      return this.#write(item);
    } catch (error) {
      if (isTransientError(error)) this.#keep(item, error);
      else this.report({ op: this.#op, error, retryable: false, pending: this.size, dropped: 1 });
      return null;
    }
  }

  /** Retries the backlog; true when nothing is left waiting. Never throws. */
  flush(): boolean {
    const blocked = this.#drain();
    if (blocked === undefined) return true;
    this.report({ op: this.#op, error: blocked, retryable: true, pending: this.size, dropped: 0 });
    return false;
  }

  /** Reports through the handler, swallowing its errors: reporting must never throw either. */
  report(failure: WriteFailure): void {
    try {
      this.#report(failure);
    } catch {
      // A broken reporter must not turn a handled write failure into a thrown one.
    }
  }

  /** Empties the queue, returning what was in it (used when giving up on close). */
  discard(): T[] {
    return this.#queue.splice(0);
  }

  /** Writes queued items in order; returns the transient error that stopped it, if any. */
  #drain(): unknown {
    while (this.#queue.length > 0) {
      try {
        this.#write(this.#queue[0]!);
        this.#queue.shift();
      } catch (error) {
        if (isTransientError(error)) return error;
        this.#queue.shift();
        this.report({ op: this.#op, error, retryable: false, pending: this.size, dropped: 1 });
      }
    }
    return undefined;
  }

  #keep(item: T, error: unknown): void {
    this.#queue.push(item);
    // Bounded, so a database that stays broken can't grow memory without limit.
    const dropped = this.#queue.length > this.#max ? this.#queue.splice(0, this.#queue.length - this.#max).length : 0;
    this.report({ op: this.#op, error, retryable: true, pending: this.size, dropped });
  }
}
