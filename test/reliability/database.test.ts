// Issue 14: the database under stress. A lock held by another connection, a database
// path the bot cannot use, and the database file deleted while the bot runs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startHarness, type Harness } from '../helpers/botHarness.ts';
import { eventually, startAppProcess, within } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness({}, { app: { pendingRetryMs: 200 } });
});
after(async () => {
  await h?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rowsLike = (prefix: string) =>
  (h.app.store.db.prepare('SELECT count(*) AS n FROM predictions WHERE source_id LIKE ?').get(`${prefix}%`) as { n: number }).n;

describe('database locked by another connection', () => {
  test('writes never stall the event loop (no synchronous lock wait); the rows land after the lock is released', async () => {
    const locker = new Database(path.join(h.tmp, 'bloom.sqlite'));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    try {
      locker.exec('BEGIN EXCLUSIVE');
      delay.enable();
      // Several users' results logged while the lock is held, and background retries meanwhile.
      for (let i = 0; i < 6; i++) {
        h.app.store.safeInsertPrediction({ source: 'slash', sourceId: `locked-${i}`, userId: `u${i}` });
        await sleep(60);
      }
      await sleep(500);
      delay.disable();
      const worstMs = delay.max / 1e6;
      assert.ok(worstMs < 250, `the event loop stalled for ${worstMs.toFixed(0)} ms`);
      assert.equal(rowsLike('locked-'), 0, 'nothing written while locked');
      assert.equal(h.app.store.pendingCount, 6, 'every row kept for retry');
      locker.exec('COMMIT');
      await eventually(() => rowsLike('locked-') === 6, 5000, 'the queued rows to land after release');
      assert.equal(h.app.store.pendingCount, 0);
    } finally {
      delay.disable();
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
    }
  });
});

describe('a database path the bot cannot use', () => {
  test('under /proc: start-up fails at once with one clear line (no endless mkdir)', async () => {
    const p = startAppProcess({
      DISCORD_TOKEN: 'not-used', BLOOM_CHECKPOINT_DIR: h.checkpointDir, BLOOM_BACKBONE_CACHE: path.join(h.tmp, 'cache'),
      BLOOM_WORKERS: '0', BLOOM_DB_PATH: '/proc/self/bloom-data/bloom.sqlite',
    });
    const { code } = await within(p.exited, 60_000, 'the process to give up on a /proc database path', () => p.child.kill('SIGKILL'));
    assert.equal(code, 1);
    const lines = p.stderr().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `one line: ${p.stderr()}`);
    assert.match(lines[0]!, /^StartupError: Could not open the database at \/proc\/self\/bloom-data\/bloom\.sqlite: .*under \/proc, a kernel file system/);
  });
});
