import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, openDatabase, type PredictionRow, type Store, type WriteFailure } from '../src/storage/index.ts';

let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bloom-storage-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));
const freshPath = () => path.join(dir, `db${++n}`, 'nested', 'bloom.sqlite');

const row = (over: Partial<PredictionRow> = {}): PredictionRow => ({
  source: 'message',
  sourceId: 'm1',
  guildId: 'g1',
  channelId: 'c1',
  userId: 'u1',
  imageSha256: 'ab'.repeat(32),
  imageBytes: 1234,
  width: 640,
  height: 480,
  topK: [
    { label: '73', name: 'water lily', probability: 0.8 },
    { label: '88', name: 'cyclamen', probability: 0.15 },
  ],
  modelVersion: 'v1',
  backend: 'cpu',
  latencyMs: 120,
  ...over,
});

function withFailures() {
  const failures: WriteFailure[] = [];
  return { failures, onWriteError: (f: WriteFailure) => void failures.push(f) };
}

const count = (store: Store) => store.db.prepare('SELECT count(*) FROM predictions').pluck().get() as number;

describe('opening', () => {
  test('creates the folder, sets pragmas and migrates to the latest version', () => {
    const file = freshPath();
    const store = openDatabase(file, { busyTimeoutMs: 250 });
    assert.ok(existsSync(file));
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(store.db.pragma('synchronous', { simple: true }), 1); // NORMAL
    assert.equal(store.db.pragma('busy_timeout', { simple: true }), 250);
    assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    store.close();
    const again = openDatabase(file); // already migrated: no step re-runs (they would fail on CREATE TABLE)
    assert.equal(again.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    again.close();
  });

  test(':memory: works', () => {
    const store = openDatabase(':memory:');
    assert.equal(store.insertPrediction(row()), 1);
    store.close();
  });

  test('a failing migration step rolls back alone; a newer database is refused', () => {
    const file = freshPath();
    const steps = ['CREATE TABLE a (x)', 'CREATE TABLE b (x); CREATE TABLE nope ('];
    assert.throws(() => openDatabase(file, { migrations: steps }), /syntax error|incomplete input/);
    const raw = new Database(file);
    assert.equal(raw.pragma('user_version', { simple: true }), 1);
    assert.deepEqual(raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all(), ['a']);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => openDatabase(file, { migrations: steps }), /version 99.*newer/);
  });

  test('close is idempotent', () => {
    const store = openDatabase(freshPath());
    store.close();
    store.close();
    assert.equal(store.closed, true);
  });
});

describe('predictions', () => {
  test('round-trips a row, deriving the top-1 from the highest probability', () => {
    const store = openDatabase(':memory:');
    const id = store.insertPrediction(
      row({
        topK: [
          { label: '1', name: 'pink primrose', probability: 0.1 },
          { label: '73', name: 'water lily', probability: 0.7 },
        ],
        qualityNote: 'small image',
      }),
    );
    const p = store.getPrediction(id)!;
    assert.equal(p.top1Label, '73');
    assert.equal(p.top1Name, 'water lily');
    assert.equal(p.top1Probability, 0.7);
    assert.equal(p.topK.length, 2);
    assert.equal(p.qualityNote, 'small image');
    assert.equal(p.errorCode, null);
    assert.ok(!Number.isNaN(Date.parse(p.createdAt)));

    const failed = store.getPrediction(store.insertPrediction({ source: 'slash', errorCode: 'too_large', errorMessage: 'file is 30 MB' }))!;
    assert.deepEqual(failed.topK, []);
    assert.equal(failed.top1Label, null);
    assert.equal(failed.guildId, null);
    store.close();
  });

  test('insertPrediction throws on a bad row (CHECK constraint)', () => {
    const store = openDatabase(':memory:');
    assert.throws(() => store.insertPrediction(row({ source: 'carrier-pigeon' as never })), /CHECK constraint/);
    store.close();
  });

  test('recentPredictions is newest first by creation time, optionally per guild', () => {
    const store = openDatabase(':memory:');
    store.insertPrediction(row({ createdAt: '2024-01-02T00:00:00.000Z', sourceId: 'b' }));
    store.insertPrediction(row({ createdAt: '2024-01-01T00:00:00.000Z', sourceId: 'a' })); // written late
    store.insertPrediction(row({ createdAt: '2024-01-03T00:00:00.000Z', sourceId: 'c', guildId: 'g2' }));
    assert.deepEqual(
      store.recentPredictions(10).map((p) => p.sourceId),
      ['c', 'b', 'a'],
    );
    assert.deepEqual(
      store.recentPredictions(2).map((p) => p.sourceId),
      ['c', 'b'],
    );
    assert.deepEqual(
      store.recentPredictions(10, { guildId: 'g1' }).map((p) => p.sourceId),
      ['b', 'a'],
    );
    store.close();
  });
});

describe('training runs', () => {
  test('start, finish, latest, active', () => {
    const store = openDatabase(':memory:');
    const a = store.startRun({ requestedBy: 'u1', guildId: 'g1', params: { epochs: 5 }, previousVersion: 'v1' });
    assert.equal(store.activeRun()?.id, a);
    assert.equal(store.getRun(a)?.status, 'running');
    assert.equal(store.finishRun(a, { status: 'succeeded', metrics: { loss: 0.2 }, validAccuracy: 0.91, modelVersion: 'v2' }), true);
    assert.equal(store.finishRun(a, { status: 'failed', error: 'late' }), false, 'a finished run stays finished');
    assert.equal(store.finishRun(999, { status: 'failed' }), false);
    const b = store.startRun();
    store.finishRun(b, { status: 'rejected', validAccuracy: 0.5 });
    assert.equal(store.activeRun(), undefined);

    const [latest, first] = store.latestRuns(5);
    assert.equal(latest?.id, b);
    assert.equal(latest?.status, 'rejected');
    assert.deepEqual(first?.params, { epochs: 5 });
    assert.deepEqual(first?.metrics, { loss: 0.2 });
    assert.equal(first?.validAccuracy, 0.91);
    assert.equal(first?.modelVersion, 'v2');
    assert.equal(first?.previousVersion, 'v1');
    assert.ok(first?.finishedAt);
    assert.equal(store.latestRuns(1).length, 1);
    store.close();
  });

  test('on open, runs left running by a dead process are marked failed/interrupted; live ones are kept', () => {
    const file = freshPath();
    const first = openDatabase(file);
    const deadPid = spawnSync('true').pid; // has exited by now
    const crashed = first.startRun({ params: { epochs: 3 } });
    const otherLive = first.startRun();
    const sameProcessEarlierLife = first.startRun();
    const setOwner = first.db.prepare('UPDATE training_runs SET pid = ?, owner = ? WHERE id = ?');
    setOwner.run(deadPid, 'x', crashed);
    setOwner.run(process.ppid, 'x', otherLive); // e.g. the CLI trainer, still going
    setOwner.run(process.pid, 'previous-boot', sameProcessEarlierLife); // pid reused after a restart
    first.close();

    const second = openDatabase(file);
    assert.deepEqual([...second.recoveredRunIds].sort(), [crashed, sameProcessEarlierLife].sort());
    const run = second.getRun(crashed)!;
    assert.equal(run.status, 'failed');
    assert.equal(run.error, 'interrupted');
    assert.ok(run.finishedAt);
    assert.equal(second.getRun(otherLive)?.status, 'running');
    second.close();
  });

  test("a second store in the same process does not interrupt the first one's run", () => {
    const file = freshPath();
    const first = openDatabase(file);
    const id = first.startRun();
    const second = openDatabase(file);
    assert.deepEqual(second.recoveredRunIds, []);
    assert.equal(first.finishRun(id, { status: 'succeeded' }), true);
    second.close();
    first.close();
  });
});

describe('settings', () => {
  test('watched channels', () => {
    const store = openDatabase(':memory:');
    assert.equal(store.addWatchedChannel('g1', 'c2'), true);
    assert.equal(store.addWatchedChannel('g1', 'c1'), true);
    assert.equal(store.addWatchedChannel('g1', 'c1'), false, 'adding twice is harmless');
    store.addWatchedChannel('g2', 'c9');
    assert.deepEqual(store.listWatchedChannels('g1'), ['c1', 'c2']);
    assert.equal(store.isWatched('g1', 'c1'), true);
    assert.equal(store.isWatched('g2', 'c1'), false);
    assert.equal(store.removeWatchedChannel('g1', 'c1'), true);
    assert.equal(store.removeWatchedChannel('g1', 'c1'), false);
    assert.deepEqual(store.listWatchedChannels('g1'), ['c2']);
    assert.deepEqual(store.listWatchedChannels('nobody'), []);
    store.close();
  });

  test('per-guild key/value', () => {
    const store = openDatabase(':memory:');
    assert.equal(store.getGuildSetting('g1', 'confidenceThreshold'), undefined);
    store.setGuildSetting('g1', 'confidenceThreshold', 0.5);
    store.setGuildSetting('g1', 'confidenceThreshold', 0.6);
    store.setGuildSetting('g1', 'replyStyle', { compact: true });
    store.setGuildSetting('g2', 'confidenceThreshold', 0.1);
    assert.equal(store.getGuildSetting('g1', 'confidenceThreshold'), 0.6);
    assert.deepEqual(store.guildSettings('g1'), { confidenceThreshold: 0.6, replyStyle: { compact: true } });
    assert.equal(store.deleteGuildSetting('g1', 'replyStyle'), true);
    assert.equal(store.deleteGuildSetting('g1', 'replyStyle'), false);
    assert.throws(() => store.setGuildSetting('g1', 'x', undefined), TypeError);
    store.close();
  });
});

describe('stats', () => {
  test('counts, errors, latency mean/p95, top species; filtered by guild and time', () => {
    const store = openDatabase(':memory:');
    const lily = [{ label: '73', name: 'water lily', probability: 0.9 }];
    const rose = [{ label: '74', name: 'rose', probability: 0.6 }];
    // 20 successes in g1 on Jan 1 with latencies 10..200; 15 lilies, 5 roses.
    for (let i = 1; i <= 20; i++) {
      store.insertPrediction(
        row({ createdAt: '2024-01-01T12:00:00.000Z', latencyMs: i * 10, topK: i <= 15 ? lily : rose, userId: `u${i % 3}` }),
      );
    }
    store.insertPrediction(row({ createdAt: '2024-01-01T12:00:00.000Z', topK: [], errorCode: 'timeout', latencyMs: 9999 }));
    store.insertPrediction(row({ createdAt: '2024-01-05T00:00:00.000Z', topK: [], errorCode: 'timeout' }));
    store.insertPrediction(row({ createdAt: '2024-01-05T00:00:00.000Z', topK: [], errorCode: 'not_image' }));
    store.insertPrediction(row({ createdAt: '2024-01-05T00:00:00.000Z', guildId: 'g2', topK: rose, latencyMs: 50 }));

    const all = store.predictionStats();
    assert.equal(all.total, 24);
    assert.equal(all.errors, 3);
    assert.equal(all.succeeded, 21);
    assert.deepEqual(all.errorsByCode, [
      { code: 'timeout', count: 2 },
      { code: 'not_image', count: 1 },
    ]);
    assert.equal(all.uniqueUsers, 3);
    assert.deepEqual(
      all.topSpecies.map((s) => [s.label, s.name, s.count]),
      [
        ['73', 'water lily', 15],
        ['74', 'rose', 6],
      ],
    );

    const g1 = store.predictionStats({ guildId: 'g1' });
    assert.equal(g1.total, 23);
    assert.equal(g1.latencyMs.mean, 105); // errors excluded, so the 9999 ms timeout doesn't count
    assert.equal(g1.latencyMs.p95, 190); // nearest rank: 19th of 20
    assert.equal(g1.topSpecies[0]?.meanProbability, 0.9);

    const recent = store.predictionStats({ sinceIso: '2024-01-03' });
    assert.equal(recent.total, 3);
    assert.equal(recent.errors, 2);
    assert.deepEqual(recent.latencyMs, { mean: 50, p95: 50 });
    assert.equal(store.predictionStats({ guildId: 'g2', sinceIso: '2024-01-03T00:00:00Z' }).total, 1);
    assert.equal(store.predictionStats({ topN: 1 }).topSpecies.length, 1);
    assert.throws(() => store.predictionStats({ sinceIso: 'yesterday-ish' }), RangeError);
    store.close();
  });

  test('empty database', () => {
    const store = openDatabase(':memory:');
    assert.deepEqual(store.predictionStats(), {
      total: 0,
      succeeded: 0,
      errors: 0,
      errorsByCode: [],
      uniqueUsers: 0,
      latencyMs: { mean: null, p95: null },
      topSpecies: [],
    });
    store.close();
  });
});

describe('resilient writes', () => {
  test('read-only database: reported, not thrown; the row lands after recovery', () => {
    const { failures, onWriteError } = withFailures();
    const store = openDatabase(freshPath(), { onWriteError });
    store.db.pragma('query_only = 1');
    assert.equal(store.safeInsertPrediction(row({ sourceId: 'ro' })), null);
    assert.equal(failures.length, 1);
    assert.equal((failures[0]?.error as { code?: string }).code, 'SQLITE_READONLY');
    assert.equal(failures[0]?.retryable, true);
    assert.equal(store.pendingCount, 1);

    store.db.pragma('query_only = 0');
    assert.equal(store.flushPending(), true);
    assert.equal(store.pendingCount, 0);
    assert.deepEqual(
      store.recentPredictions(5).map((p) => p.sourceId),
      ['ro'],
    );
    store.close();
  });

  test('locked database: reported after busy_timeout; retried on the next write, in order, without loss', () => {
    const { failures, onWriteError } = withFailures();
    const file = freshPath();
    const store = openDatabase(file, { busyTimeoutMs: 20, onWriteError });
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');

    const started = Date.now();
    assert.equal(store.safeInsertPrediction(row({ sourceId: 'first', createdAt: '2024-01-01T00:00:01.000Z' })), null);
    assert.ok(Date.now() - started < 1000, 'gave up after the short busy timeout');
    assert.equal(store.safeInsertPrediction(row({ sourceId: 'second', createdAt: '2024-01-01T00:00:02.000Z' })), null);
    assert.deepEqual(
      failures.map((f) => [(f.error as { code?: string }).code, f.retryable, f.pending]),
      [
        ['SQLITE_BUSY', true, 1],
        ['SQLITE_BUSY', true, 2],
      ],
    );
    assert.equal(store.flushPending(), false, 'still locked');

    other.exec('COMMIT');
    other.close();
    const id = store.safeInsertPrediction(row({ sourceId: 'third', createdAt: '2024-01-01T00:00:03.000Z' }));
    assert.equal(typeof id, 'number');
    assert.equal(store.pendingCount, 0);
    // Queued rows were written first and kept their original timestamps.
    const rows = store.db.prepare('SELECT source_id, created_at FROM predictions ORDER BY id').raw().all();
    assert.deepEqual(rows, [
      ['first', '2024-01-01T00:00:01.000Z'],
      ['second', '2024-01-01T00:00:02.000Z'],
      ['third', '2024-01-01T00:00:03.000Z'],
    ]);
    store.close();
  });

  test('close() flushes the queue once the lock is gone', () => {
    const { onWriteError } = withFailures();
    const file = freshPath();
    const store = openDatabase(file, { busyTimeoutMs: 10, onWriteError });
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    store.safeInsertPrediction(row());
    other.exec('ROLLBACK');
    other.close();
    store.close();
    const reopened = openDatabase(file);
    assert.equal(count(reopened), 1);
    reopened.close();
  });

  test('close() while still locked reports the rows it had to give up', () => {
    const { failures, onWriteError } = withFailures();
    const file = freshPath();
    const store = openDatabase(file, { busyTimeoutMs: 10, onWriteError });
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    store.safeInsertPrediction(row());
    store.safeInsertPrediction(row());
    store.close();
    other.exec('ROLLBACK');
    other.close();
    assert.deepEqual(failures.at(-1)?.dropped, 2);
    assert.equal(failures.at(-1)?.retryable, false);
  });

  test('disk full: reported, then written once space is back', () => {
    const { failures, onWriteError } = withFailures();
    const store = openDatabase(freshPath(), { onWriteError });
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages}`);
    assert.equal(store.safeInsertPrediction(row({ errorMessage: 'x'.repeat(64 * 1024) })), null);
    assert.equal((failures[0]?.error as { code?: string }).code, 'SQLITE_FULL');
    store.db.pragma('max_page_count = 1073741823');
    assert.equal(store.flushPending(), true);
    assert.equal(count(store), 1);
    store.close();
  });

  test('the queue is bounded: the oldest rows are dropped and reported', () => {
    const { failures, onWriteError } = withFailures();
    const store = openDatabase(freshPath(), { onWriteError, maxPending: 2 });
    store.db.pragma('query_only = 1');
    for (const id of ['a', 'b', 'c']) store.safeInsertPrediction(row({ sourceId: id }));
    assert.equal(store.pendingCount, 2);
    assert.deepEqual(
      failures.map((f) => f.dropped),
      [0, 0, 1],
    );
    store.db.pragma('query_only = 0');
    store.flushPending();
    assert.deepEqual(
      store
        .recentPredictions(5)
        .map((p) => p.sourceId)
        .sort(),
      ['b', 'c'],
    );
    store.close();
  });

  test('a row that can never be written is reported and dropped, not queued', () => {
    const { failures, onWriteError } = withFailures();
    const store = openDatabase(':memory:', { onWriteError });
    assert.equal(store.safeInsertPrediction(row({ source: 'bogus' as never })), null);
    assert.equal(store.pendingCount, 0);
    assert.equal(failures[0]?.retryable, false);
    assert.equal(failures[0]?.dropped, 1);
    assert.equal(typeof store.safeInsertPrediction(row()), 'number', 'later writes are unaffected');
    store.close();
  });

  test('a throwing reporter, or a closed store, still does not throw into the caller', () => {
    const store = openDatabase(':memory:', {
      onWriteError: () => {
        throw new Error('reporter broke');
      },
    });
    store.db.pragma('query_only = 1');
    assert.equal(store.safeInsertPrediction(row()), null);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(store.safeInsertPrediction(row({ topK: [circular as never] })), null); // can't even serialise
    assert.doesNotThrow(() => store.close()); // gives up the queued row and reports that, too
    const { failures, onWriteError } = withFailures();
    const closed = openDatabase(':memory:', { onWriteError });
    closed.close();
    assert.equal(closed.safeInsertPrediction(row()), null);
    assert.equal(failures[0]?.retryable, false);
  });
});
