// Issue 6, part 4: faults around the bot. Gateway drops, REST rate limits, a locked
// database, corrupt checkpoints, a failing /retrain, and SIGTERM during a burst.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { createApp, StartupError } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startEmulator } from '../../src/dev/emulator/index.ts';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import {
  eventually,
  logEntries,
  postPhoto,
  repliesTo,
  replyTo,
  botProcessEnv,
  startAppProcess,
  startServer,
  textOf,
  within,
} from './helpers.ts';

let h: Harness;
/** A bot process started on a checkpoint with truncated weights (runs alongside the first tests). */
let truncatedStart: Promise<{ code: number | null; stdout: string; stderr: string }>;
before(async () => {
  h = await startHarness({}, { app: { pendingRetryMs: 200 } });
  truncatedStart = startOnTruncatedCheckpoint();
  truncatedStart.catch(() => undefined); // awaited by its test
});
after(async () => {
  await h?.stop();
});

async function startOnTruncatedCheckpoint() {
  const dir = path.join(h.tmp, 'truncated');
  fs.cpSync(h.checkpointDir, dir, { recursive: true });
  fs.truncateSync(path.join(dir, fs.readFileSync(path.join(dir, 'CURRENT'), 'utf8').trim(), 'weights.bin'), 100);
  const emu = await startEmulator();
  try {
    const p = startAppProcess({
      DISCORD_TOKEN: emu.token,
      DISCORD_API_URL: emu.apiBase,
      BLOOM_CHECKPOINT_DIR: dir,
      BLOOM_DB_PATH: path.join(h.tmp, 'truncated.sqlite'),
      BLOOM_BACKBONE_CACHE: path.join(h.tmp, 'cache'),
      BLOOM_WORKERS: '1', // a worker pool is started before the checkpoint turns out to be damaged
    });
    // A worker thread left behind would keep the process alive: it must exit by itself.
    const { code } = await within(p.exited, 30_000, 'the process to exit after a failed start', () => p.child.kill('SIGKILL'));
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    await emu.close();
  }
}

const flowers = () => h.emu.channels.flowers.id;
const isResult = (t: string) => /🌸|Not sure/.test(t);
const rowFor = (sourceId: string) =>
  h.app.store.db.prepare('SELECT * FROM predictions WHERE source_id = ?').get(sourceId) as Record<string, unknown> | undefined;

describe('Discord faults', () => {
  test('the gateway drops mid-session: the bot resumes and answers a photo posted meanwhile', async () => {
    const resumed = h.emu.waitForGateway(['resume', 'identify'], 15_000);
    await h.emu.dropGateway();
    const msg = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg' });
    assert.equal((await resumed).kind, 'resume', 'resumed, not re-identified');
    const reply = await replyTo(h, flowers(), msg.id, 20_000);
    assert.match(textOf(reply), /Red Disc/);
    assert.equal(repliesTo(h, flowers(), msg.id).length, 1);
  });

  test('a 429 and a 502 on the reply: discord.js retries and the reply still arrives, once', async () => {
    for (const status of [429, 502]) {
      const from = h.emu.requests.length;
      h.emu.failNext(/^POST \/channels\/\d+\/messages$/, status, 0.1);
      const msg = await postPhoto(h, { name: 'sq.jpg', bytes: photo(h, '2'), contentType: 'image/jpeg' });
      const reply = await replyTo(h, flowers(), msg.id, 20_000);
      assert.match(textOf(reply), /Green Square/, `after a ${status}`);
      const posts = h.emu.requests.slice(from).filter((r) => r.method === 'POST' && /^\/channels\/\d+\/messages$/.test(r.path));
      assert.equal(posts[0]!.injected, status, `the first attempt got the injected ${status}`);
      assert.equal(posts.filter((r) => r.status === 200).length, 1, 'one successful post');
      assert.equal(repliesTo(h, flowers(), msg.id).length, 1);
    }
  });

  test('a reply Discord refuses for good (403) is logged, and the bot carries on', async () => {
    h.emu.failNext(/^POST \/channels\/\d+\/messages$/, 403);
    const lost = await postPhoto(h, { name: 'a.jpg', bytes: photo(h, '3'), contentType: 'image/jpeg' });
    await eventually(
      () => logEntries(h).some((e) => e.msg === 'could not send reply' && e.messageId === lost.id),
      20_000,
      'the failed reply to be logged',
    );
    const next = await postPhoto(h, { name: 'b.jpg', bytes: photo(h, '3', 1), contentType: 'image/jpeg' });
    assert.match(textOf(await replyTo(h, flowers(), next.id, 20_000)), /Blue Triangle/);
    assert.ok(rowFor(lost.id), 'the prediction was still logged');
  });

  test('a member deletes their photo before the reply: Discord refuses the reply (400 50035), the bot logs it and carries on', async () => {
    const from = h.emu.requests.length;
    const gone = await postPhoto(h, { name: 'gone.jpg', bytes: photo(h, '1', 1), contentType: 'image/jpeg' });
    h.emu.deleteMessage(flowers(), gone.id); // the bot is still downloading and classifying it
    await eventually(
      () => logEntries(h).some((e) => e.msg === 'could not send reply' && e.messageId === gone.id),
      20_000,
      'the refused reply to be logged',
    );
    const refused = h.emu.requests.slice(from).find((r) => r.method === 'POST' && r.body?.message_reference?.message_id === gone.id);
    assert.ok(refused, 'the bot tried to reply');
    assert.equal(refused.status, 400);
    assert.equal(refused.response.code, 50035);
    assert.ok(refused.response.errors.message_reference, 'the error names message_reference');
    assert.equal(
      h.emu.messagesIn(flowers(), { includeDeleted: true }).filter((m) => m.message.message_reference?.message_id === gone.id).length,
      0,
      'no reply was posted',
    );
    assert.deepEqual(
      logEntries(h).filter((e) => e.msg === 'identify failed' || e.msg === 'message handler failed'),
      [],
    );
    const next = await postPhoto(h, { name: 'next.jpg', bytes: photo(h, '2', 1), contentType: 'image/jpeg' });
    assert.match(textOf(await replyTo(h, flowers(), next.id, 20_000)), /Green Square/);
  });
});

describe('database locked', () => {
  test('the user still gets the answer, the error is logged, and the row lands once the lock is gone', async () => {
    const locker = new Database(path.join(h.tmp, 'bloom.sqlite'));
    try {
      locker.exec('BEGIN EXCLUSIVE');
      const msg = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1', 4), contentType: 'image/jpeg' });
      const reply = await replyTo(h, flowers(), msg.id, 20_000);
      assert.ok(isResult(textOf(reply)), `answered while the database was locked: ${textOf(reply)}`);
      const failure = logEntries(h).find((e) => e.msg === 'database write failed; row kept for retry');
      assert.ok(failure, 'the failed write was logged');
      assert.equal(failure.level, 50);
      assert.match(JSON.stringify(failure.err), /SQLITE_BUSY|locked/);
      // Background retries don't land it (nor block) while the lock is held…
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rowFor(msg.id), undefined);
      assert.ok(h.app.store.pendingCount >= 1, 'kept for retry');
      // …and do as soon as it is released, with no new photo needed.
      locker.exec('COMMIT');
      const row = await eventually(() => rowFor(msg.id), 5000, 'the queued row to land');
      assert.equal(row.top1_label, '1');
      assert.equal(h.app.store.pendingCount, 0);
      assert.ok(logEntries(h).some((e) => e.msg === 'queued prediction rows written'));
    } finally {
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
    }
  });
});

describe('start-up failures', () => {
  const copyCheckpoint = (name: string) => {
    const dir = path.join(h.tmp, name);
    fs.cpSync(h.checkpointDir, dir, { recursive: true });
    return { dir, version: path.join(dir, fs.readFileSync(path.join(dir, 'CURRENT'), 'utf8').trim()) };
  };
  const configFor = (checkpointDir: string) =>
    loadConfig({
      BLOOM_DB_PATH: path.join(h.tmp, 'never.sqlite'),
      BLOOM_CHECKPOINT_DIR: checkpointDir,
      BLOOM_BACKBONE_CACHE: path.join(h.tmp, 'cache'),
      BLOOM_BACKEND: 'wasm',
      BLOOM_WORKERS: '0',
    });

  test('garbled meta.json or a missing checkpoint: createApp rejects with a clear StartupError', async () => {
    const { dir, version } = copyCheckpoint('garbled');
    fs.writeFileSync(path.join(version, 'meta.json'), '{"format": "bloom-chec');
    const log = createLogger({ level: 'silent' });
    await assert.rejects(
      createApp({ config: configFor(dir), log }),
      (e: unknown) => e instanceof StartupError && /Could not load the model from .*garbled.*unreadable meta\.json/s.test(e.message),
    );
    await assert.rejects(
      createApp({ config: configFor(path.join(h.tmp, 'nowhere')), log }),
      (e: unknown) => e instanceof StartupError && /No checkpoint at .*nowhere/.test(e.message),
    );
    assert.equal(fs.existsSync(path.join(h.tmp, 'never.sqlite')), false, 'no database was created');
  });

  test('a database path that cannot be opened is a StartupError too', async () => {
    const config = { ...configFor(h.checkpointDir), dbPath: h.tmp }; // a folder, not a file
    await assert.rejects(
      createApp({ config, log: createLogger({ level: 'silent' }) }),
      (e: unknown) => e instanceof StartupError && /Could not open the database at /.test(e.message),
    );
  });

  test('truncated weights.bin: the process reports a StartupError and exits on its own (no worker left running)', async () => {
    const { code, stdout, stderr } = await truncatedStart;
    assert.equal(code, 1);
    assert.match(stderr, /StartupError: Could not load the model from .*truncated.*damaged/);
    assert.equal(stdout, '', 'never came online');
  });
});

describe('/retrain that fails', () => {
  test('keeps the old model and reports the failure', async () => {
    const before = h.app.models.version;
    const away = `${h.dataDir}.away`;
    fs.renameSync(h.dataDir, away);
    try {
      const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin });
      const final = await eventually(
        () => h.emu.interactionResponses(id).find((r) => r.kind === 'editOriginal' && !/Retraining/.test(r.body.embeds?.[0]?.title ?? '')),
        30_000,
        'the retrain outcome',
      );
      const embed = final.body.embeds[0];
      assert.match(embed.title, /Retrain failed/);
      assert.match(embed.description, /current model stays in place/);
      assert.equal(h.app.models.version, before, 'the live model did not change');
      const run = h.app.store.db.prepare('SELECT status, error, model_version FROM training_runs ORDER BY id DESC LIMIT 1').get() as Record<
        string,
        unknown
      >;
      assert.equal(run.status, 'failed');
      assert.ok(run.error);
      assert.equal(fs.readFileSync(path.join(h.checkpointDir, 'CURRENT'), 'utf8').trim(), before, 'CURRENT still names the old model');
      assert.equal(h.app.retrain.running, false);
    } finally {
      fs.renameSync(away, h.dataDir);
    }
    // The old model still answers.
    const msg = await postPhoto(h, { name: 'sq.jpg', bytes: photo(h, '2', 3), contentType: 'image/jpeg' });
    const reply = await replyTo(h, flowers(), msg.id, 20_000);
    assert.match(textOf(reply), /Green Square/);
    assert.ok(textOf(reply).includes(before!));
  });
});

describe('SIGTERM during a burst', () => {
  test('in-flight photos are answered and logged before the process exits; new ones are told to resend', async () => {
    const emu = await startEmulator();
    // Attachments held back until the test lets them go, so SIGTERM lands while every photo is mid-download.
    const bytes = new Map<string, Buffer>();
    const held: (() => void)[] = [];
    const slow = await startServer((req, res) => {
      const body = bytes.get(req.url!);
      held.push(() =>
        body
          ? res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(body.length) }).end(body)
          : res.writeHead(404).end(),
      );
    });
    const releaseDownloads = () => held.splice(0).forEach((send) => send());
    const dbPath = path.join(h.tmp, 'sigterm.sqlite');
    const p = startAppProcess({
      ...botProcessEnv(h, emu, dbPath),
      BLOOM_FEATURE_CACHE: path.join(h.tmp, 'features'),
      BLOOM_WATCH_CHANNELS: emu.channels.flowers.id,
      BLOOM_CDN_HOSTS: '127.0.0.1',
      BLOOM_USER_COOLDOWN_S: '0',
      BLOOM_GUILD_COOLDOWN_S: '0',
      BLOOM_USER_IN_FLIGHT: '100',
      BLOOM_TEST_ALLOW_ORIGINS: `${new URL(emu.apiBase).origin},${slow.origin}`,
    });
    try {
      await p.online();
      const channel = emu.channels.flowers.id;
      const users = [emu.addUser('t1'), emu.addUser('t2'), emu.addUser('t3')];
      const posted: { id: string }[] = [];
      for (let i = 0; i < 12; i++) {
        const data = photo(h, (['1', '2', '3'] as const)[i % 3]!, i % 6);
        bytes.set(`/p${i}.jpg`, data);
        const att = { ...emu.addAttachment(`p${i}.jpg`, data, 'image/jpeg', { channelId: channel }), url: `${slow.origin}/p${i}.jpg` };
        posted.push(await emu.postMessage({ channelId: channel, author: users[i % 3], attachments: [att] }));
      }
      await eventually(() => slow.requests.length === posted.length, 20_000, 'every photo to be downloading');
      const replies = (id: string) => emu.messagesIn(channel).filter((m) => m.message.message_reference?.message_id === id);
      assert.equal(posted.filter((m) => replies(m.id).length > 0).length, 0, 'nothing answered yet');

      p.child.kill('SIGTERM');
      await eventually(() => p.stderr().includes('shutting down'), 10_000, 'the process to start draining');
      // While it drains (the downloads are still held), a new photo is politely refused…
      const late = await emu.postMessage({
        channelId: channel,
        author: users[0],
        attachments: [emu.addAttachment('late.jpg', photo(h, '1'), 'image/jpeg', { channelId: channel })],
      });
      await emu.waitForMessage(channel, (m) => m.message.message_reference?.message_id === late.id, 10_000);
      // …and the photos in flight are finished once their downloads complete.
      releaseDownloads();
      const { code, signal } = await within(p.exited, 40_000, 'the process to drain and exit', () => p.child.kill('SIGKILL'));
      assert.equal(signal, null, 'exited by itself (nothing left running)');
      assert.equal(code, 0);
      assert.match(p.stdout(), /stopped/);
      assert.doesNotMatch(p.stderr(), /shutdown timeout/);

      assert.equal(replies(late.id).length, 1, 'a photo sent while draining gets one reply');
      assert.match(textOf(replies(late.id)[0]!), /I am restarting — please send that again/);
      const db = new Database(dbPath, { readonly: true });
      try {
        for (const m of posted) {
          const r = replies(m.id);
          assert.equal(r.length, 1, `message ${m.id}: exactly one reply`);
          assert.ok(isResult(textOf(r[0]!)), `message ${m.id}: ${textOf(r[0]!)}`);
          const row = db.prepare('SELECT error_code FROM predictions WHERE source_id = ?').get(m.id) as
            { error_code: string | null } | undefined;
          assert.ok(row, `message ${m.id}: its prediction row was written`);
          assert.equal(row.error_code, null);
        }
      } finally {
        db.close();
      }
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      releaseDownloads();
      await slow.close();
      await emu.close();
    }
  });
});
