import { mkdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

export interface ConnectionOptions {
  /**
   * How long a write waits for another connection's lock. better-sqlite3 is
   * synchronous, so this blocks the event loop: keep it short for the bot.
   */
  busyTimeoutMs?: number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 1000;

/** Kernel file systems: no place for a database (and mkdir -p under /proc never returns). */
const SPECIAL_ROOTS = ['/proc', '/sys'];

/**
 * Checks where the database's folder would be created, before creating anything:
 * the nearest existing ancestor must be a folder, and not on a kernel file system.
 * Throws a one-line error otherwise.
 */
export function checkDatabasePath(file: string): void {
  const dir = path.dirname(path.resolve(file));
  let existing = dir;
  for (;;) {
    const st = statSync(existing, { throwIfNoEntry: false });
    if (st) {
      if (!st.isDirectory()) throw new Error(`${existing} is not a folder, so the database folder ${dir} cannot be created there`);
      break;
    }
    const parent = path.dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const real = realpathSync(existing);
  const root = SPECIAL_ROOTS.find((r) => real === r || real.startsWith(`${r}/`) || dir === r || dir.startsWith(`${r}/`));
  if (root) throw new Error(`${dir} is under ${root}, a kernel file system; choose a normal folder for BLOOM_DB_PATH`);
}

/** Opens (creating the parent folder) and applies the connection pragmas. */
export function openConnection(file: string, opts: ConnectionOptions = {}): Db {
  if (file !== ':memory:' && file !== '') {
    checkDatabasePath(file);
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }
  const db = new Database(file);
  try {
    // busy_timeout first, so switching to WAL waits out a briefly locked file.
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable in WAL mode except for the last commits before a power cut.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Brings the schema up to `steps.length`, one transaction per step, so a failing
 * step leaves the database at the last good version. IMMEDIATE transactions and
 * the re-check make two processes starting together safe.
 */
export function migrate(db: Db, steps: readonly string[]): number {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const start = version();
  if (start > steps.length) {
    throw new Error(`database schema is version ${start} but this code knows only up to ${steps.length}; refusing to use a newer database`);
  }
  for (let v = start; v < steps.length; v++) {
    db.transaction(() => {
      if (version() !== v) return; // someone else applied it meanwhile
      db.exec(steps[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return version();
}
