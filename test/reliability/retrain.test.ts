// Issue 14 points 8 and 7: /retrain does not trust its options, has a cooldown, and
// SIGTERM during a long run interrupts it at once and says so.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHarness, type Harness } from '../helpers/botHarness.ts';
import Database from 'better-sqlite3';
import { startEmulator } from '../../src/dev/emulator/index.ts';
import { bodyText, eventually, finalResponse, botProcessEnv, startAppProcess, within } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ BLOOM_RETRAIN_COOLDOWN_MIN: '10' }, { registerCommands: true });
});
after(async () => {
  await h?.stop();
});

const runs = () => (h.app.store.db.prepare('SELECT count(*) AS n FROM training_runs').get() as { n: number }).n;
/** The final embed of a /retrain that ran (its last edit). */
const outcomeOf = (id: string) =>
  eventually(
    () => h.emu.interactionResponses(id).find((r) => r.kind === 'editOriginal' && !/Retraining…/.test(r.body.embeds?.[0]?.title ?? '')),
    60_000,
    'the retrain outcome',
  );

describe('/retrain options', () => {
  test('Discord (the emulator) refuses epochs outside 1..200; a forged epochs=-5 gets a clear message and starts nothing', async () => {
    await assert.rejects(
      h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { epochs: -5 } }),
      /must be between 1 and 200.*Discord would refuse/,
    );
    const before = runs();
    for (const [epochs, shown] of [
      [-5, '-5'],
      [0, '0'],
      [100000, '100000'],
      [2.5, '2.5'],
      [{ type: 3, value: 'lots' }, '"lots"'],
    ] as const) {
      const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { epochs }, forge: true });
      const r = await finalResponse(h, id);
      assert.equal(r.flags & 64, 64, 'ephemeral');
      assert.ok(bodyText(r).includes(`epochs must be a whole number from 1 to 200 (got ${shown.replaceAll('"', '\\"')})`), bodyText(r));
    }
    assert.equal(h.app.retrain.running, false);
    assert.equal(runs(), before, 'no run was started');
  });
});

describe('/retrain cooldown', () => {
  test('after a run, the next is refused for BLOOM_RETRAIN_COOLDOWN_MIN; only an owner can force one', async () => {
    const first = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { epochs: 2 } });
    assert.match((await outcomeOf(first.id)).body.embeds[0].title, /New model is live|Kept the current model/);
    const before = runs();

    const again = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { epochs: 2 } });
    assert.match(bodyText(await finalResponse(h, again.id)), /retrained recently.*next \/retrain is possible in 10 min/);
    const forcedByAdmin = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { epochs: 2, force: true } });
    assert.match(bodyText(await finalResponse(h, forcedByAdmin.id)), /Only the bot owners .* can force a retrain/);
    assert.equal(runs(), before, 'neither started a run');

    const owner = h.emu.addUser('owner');
    h.app.bot.ctx.config.ownerIds.push(owner.id); // as if listed in BLOOM_OWNER_IDS
    const ownerPlain = await h.emu.invokeCommand({ name: 'retrain', user: owner, options: { epochs: 2 } });
    assert.match(bodyText(await finalResponse(h, ownerPlain.id)), /possible in 10 min \(as an owner you can use force:true\)/);
    const forced = await h.emu.invokeCommand({ name: 'retrain', user: owner, options: { epochs: 2, force: true } });
    assert.match((await outcomeOf(forced.id)).body.embeds[0].title, /New model is live|Kept the current model/);
    assert.equal(runs(), before + 1, 'the forced run ran');
  });
});

describe('SIGTERM during a long /retrain', () => {
  test('the training worker is stopped at once, the run is marked interrupted and the admin is told; the process exits well before the 30 s shutdown timeout', async () => {
    const emu = await startEmulator();
    const dbPath = path.join(h.tmp, 'sigterm-retrain.sqlite');
    const p = startAppProcess({
      ...botProcessEnv(h, emu, dbPath),
      BLOOM_FEATURE_CACHE: path.join(h.tmp, 'cold-features'), // a cold cache: the run has everything to extract
      BLOOM_TEST_ALLOW_ORIGINS: new URL(emu.apiBase).origin,
    });
    try {
      await p.online();
      // full: the whole data set from a cold cache (a retrain learning contributions is over in seconds).
      const { id } = await emu.invokeCommand({ name: 'retrain', user: emu.users.admin, options: { epochs: 200, full: true } });
      const edits = () => emu.interactionResponses(id).filter((r) => r.kind === 'editOriginal');
      // Well into the run: the worker is reading photos or training.
      await eventually(
        () => edits().some((r) => /Reading|Epoch/.test(r.body.embeds?.[0]?.description ?? '')),
        60_000,
        'the retrain to be under way',
      );
      const t0 = Date.now();
      p.child.kill('SIGTERM');
      const { code, signal } = await within(p.exited, 20_000, 'the process to exit', () => p.child.kill('SIGKILL'));
      const tookMs = Date.now() - t0;
      assert.equal(signal, null, 'exited by itself');
      assert.equal(code, 0);
      assert.ok(tookMs < 15_000, `exited ${tookMs} ms after SIGTERM`);
      assert.doesNotMatch(p.stderr(), /shutdown timeout/);
      const last = edits().at(-1)!.body.embeds[0];
      assert.match(last.title, /interrupted/i);
      assert.equal(
        last.description,
        'Retraining was interrupted because the bot is shutting down; nothing changed — run /retrain again later.',
      );
      const db = new Database(dbPath, { readonly: true });
      try {
        const run = db.prepare('SELECT status, error, finished_at FROM training_runs ORDER BY id DESC LIMIT 1').get() as {
          status: string;
          error: string;
          finished_at: string | null;
        };
        assert.equal(run.status, 'failed');
        assert.match(run.error, /interrupted/);
        assert.ok(run.finished_at, 'finished, not left "running"');
      } finally {
        db.close();
      }
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await emu.close();
    }
  });
});
