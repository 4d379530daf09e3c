// Issue 14: the database under stress. A lock held by another connection, a database
// path the bot cannot use, and the database file deleted while the bot runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startHarness, type Harness } from '../helpers/botHarness.ts';
import { photo } from '../helpers/botHarness.ts';
import { eventually, logEntries, postPhoto, replyTo, startAppProcess, textOf, within } from './helpers.ts';

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
      DISCORD_TOKEN: 'not-used',
      BLOOM_CHECKPOINT_DIR: h.checkpointDir,
      BLOOM_BACKBONE_CACHE: path.join(h.tmp, 'cache'),
      BLOOM_WORKERS: '0',
      BLOOM_DB_PATH: '/proc/self/bloom-data/bloom.sqlite',
    });
    const { code } = await within(p.exited, 60_000, 'the process to give up on a /proc database path', () => p.child.kill('SIGKILL'));
    assert.equal(code, 1);
    const lines = p.stderr().split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `one line: ${p.stderr()}`);
    assert.match(
      lines[0]!,
      /^StartupError: Could not open the database at \/proc\/self\/bloom-data\/bloom\.sqlite: .*under \/proc, a kernel file system/,
    );
  });
});

describe('the database file deleted while the bot runs', () => {
  test('is noticed on the next write: the bot reopens a database at its path, logs it loudly, and no row is lost', async () => {
    const file = path.join(h.tmp, 'bloom.sqlite');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
    const posted = [];
    for (let i = 0; i < 3; i++) {
      const msg = await postPhoto(h, { name: `d${i}.jpg`, bytes: photo(h, '1', i), contentType: 'image/jpeg' });
      assert.match(textOf(await replyTo(h, h.emu.channels.flowers.id, msg.id, 20_000)), /Red Disc|Not sure/);
      posted.push(msg.id);
    }
    assert.ok(fs.existsSync(file), 'a database file is back at its path');
    // Read through a separate connection: the rows are in the file at the path, not in the unlinked one.
    const db = new Database(file, { readonly: true });
    try {
      for (const id of posted)
        assert.ok(db.prepare('SELECT 1 FROM predictions WHERE source_id = ?').get(id), `row for ${id} in the file at the path`);
    } finally {
      db.close();
    }
    const warning = logEntries(h).find((e) => /database file was deleted while open; reopened/.test(String(e.msg)));
    assert.ok(warning, 'logged');
    assert.equal(warning.level, 50, 'at error level');
  });
});
