// Feedback buttons on an answer outlive the bot process and the model that gave it:
// after a restart (a new process; state in SQLite and the custom_id) and after a
// /model rollback to a version with another label set. A vote on an old answer counts
// (the photo's truth does not change); a candidate of the old menu is taken by its
// species name, and refused when the live model no longer knows that species.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { APIUser } from 'discord.js';
import { startEmulator, type Emulator, type StoredMessage } from '../src/dev/emulator/index.ts';
import { FeedbackService } from '../src/services/feedbackService.ts';
import { openDatabase } from '../src/storage/index.ts';
import { assertNoUnknownRoutes, photo, type Harness } from './helpers/botHarness.ts';
import { startWithTwoVersions } from './helpers/modelVersions.ts';
import { botProcessEnv, eventually, finalResponse, startAppProcess, within } from './reliability/helpers.ts';

type Row = { components: { custom_id: string; options?: { label: string; value: string }[] }[] };
const customIds = (m: StoredMessage) =>
  ((m.message.components ?? []) as unknown as Row[]).flatMap((r) => r.components.map((c) => c.custom_id));
const menuOptions = (m: StoredMessage) => ((m.message.components ?? []) as unknown as Row[])[0]!.components[0]!.options!;

/** Posts a photo in #flowers and returns the answer, its prediction id and top-1 label. */
async function answer(emu: Emulator, label: '1' | '2' | '3', i: number, h: Harness) {
  const channelId = emu.channels.flowers.id;
  const posted = await emu.postMessage({
    channelId,
    attachments: [emu.addAttachment(`s${label}-${i}.jpg`, photo(h, label, i), 'image/jpeg', { channelId })],
  });
  const reply = await emu.waitForMessage(channelId, (m) => m.message.message_reference?.message_id === posted.id, 30_000);
  const predictionId = Number(/^fb:right:(\d+)$/.exec(customIds(reply)[0]!)![1]);
  return { reply, predictionId };
}

/** ❌ Wrong → the private "What is it?" menu. */
async function openMenu(emu: Emulator, reply: StoredMessage, predictionId: number, user: APIUser): Promise<StoredMessage> {
  const c = await emu.clickComponent({ message: reply.message.id, customId: `fb:wrong:${predictionId}`, user });
  const r = await emu.waitForInteractionResponse(c.id, 'callback', 10_000);
  return emu.world.messages.get(r.message!.id)!;
}

/** Picks `value` from a menu; returns what the member is told. */
async function pick(emu: Emulator, menu: StoredMessage, value: string, user: APIUser): Promise<string> {
  const c = await emu.clickComponent({ message: menu.message.id, customId: customIds(menu)[0]!, user, values: [value] });
  const r = await eventually(
    () => emu.interactionResponses(c.id).find((x) => x.kind === 'editOriginal' || (x.kind === 'callback' && x.callbackType === 4)),
    15_000,
    'an answer to the pick',
  );
  return (r.kind === 'callback' ? r.body.data.content : r.body.content) as string;
}

let h: Harness;
let v1: string;
let v2: string;
before(async () => {
  ({ h, v1, v2 } = await startWithTwoVersions());
});
after(async () => {
  await h?.stop();
});

describe('the label a candidate of an older answer stands for now', () => {
  test('the same label under the same name; else the live label of that name (or a species members teach); else none', () => {
    const store = openDatabase(':memory:');
    store.learning.ensureSpecies('Lenten Rose', null); // c1
    let live: Record<string, string> = { '1': 'red disc', '5': 'green square' };
    const fb = new FeedbackService(store, () => live, { contribDir: '/nonexistent', dailyCap: 0 });
    assert.equal(fb.currentLabel('1', 'red disc'), '1');
    assert.equal(fb.currentLabel('2', 'Green Square'), '5', 'mapped by name');
    assert.equal(fb.currentLabel('3', 'blue triangle'), undefined, 'gone');
    assert.equal(fb.currentLabel('c1', 'Lenten Rose'), 'c1', 'a species members are teaching');
    live = { '1': 'sunflower', '2': 'red disc' };
    assert.equal(fb.currentLabel('1', 'red disc'), '2', 'a label reused for another species is followed by name');
    store.close();
  });
});

describe('stale feedback buttons', () => {
  test('after the bot process restarts, the old answer and its open menu still work (state in SQLite, photo fetched again)', async () => {
    const emu = await startEmulator();
    const dbPath = path.join(h.tmp, 'restart.sqlite');
    const env = {
      ...botProcessEnv(h, emu, dbPath),
      BLOOM_WATCH_CHANNELS: emu.channels.flowers.id,
      BLOOM_CDN_HOSTS: '127.0.0.1',
      BLOOM_TEST_ALLOW_ORIGINS: new URL(emu.apiBase).origin,
    };
    const stop = async (p: ReturnType<typeof startAppProcess>) => {
      p.child.kill('SIGTERM');
      await within(p.exited, 30_000, 'the bot process to exit', () => p.child.kill('SIGKILL'));
    };
    let p = startAppProcess(env);
    try {
      await p.online();
      const { reply, predictionId } = await answer(emu, '2', 1, h);
      const bob = emu.users.member;
      const menu = await openMenu(emu, reply, predictionId, bob);
      await stop(p);

      p = startAppProcess(env);
      await p.online();
      const other = menuOptions(menu).find((o) => o.value.startsWith('label:'))!;
      assert.match(
        await pick(emu, menu, other.value, bob),
        new RegExp(`Noted that it's \\*\\*${other.label}\\*\\*\\.\\nI kept this photo`),
      );
      const ann = emu.addUser('ann');
      const right = await emu.clickComponent({ message: reply.message.id, customId: `fb:right:${predictionId}`, user: ann });
      assert.match((await emu.waitForInteractionResponse(right.id, 'editOriginal', 15_000)).body.content, /Thanks! Noted that it's right/);
      await eventually(
        () => /✅ 1 member says it's right/.test(emu.world.messages.get(reply.message.id)!.message.content),
        15_000,
        'the tally',
      );
      await stop(p);
      const db = new Database(dbPath, { readonly: true });
      try {
        const votes = db.prepare('SELECT user_id, label FROM votes WHERE prediction_id = ? ORDER BY id').all(predictionId);
        assert.deepEqual(
          votes.map((v) => ({ ...(v as object) })),
          [
            { user_id: bob.id, label: other.value.slice('label:'.length) },
            { user_id: ann.id, label: '2' },
          ],
        );
        const kept = db.prepare('SELECT path FROM contributions WHERE prediction_id = ?').all(predictionId) as { path: string }[];
        assert.equal(kept.length, 2);
        assert.ok(kept.every((c) => fs.existsSync(path.join(path.dirname(dbPath), 'contributions', c.path))));
      } finally {
        db.close();
      }
      assert.deepEqual(
        emu.unknownRequests.map((r) => `${r.method} ${r.path}`),
        [],
      );
    } finally {
      if (p.child.exitCode === null) await stop(p).catch(() => undefined);
      await emu.close();
    }
  });

  test('after /model rollback to a version without a species: its candidate is refused, one it knows by name is mapped, votes still count', async () => {
    const { reply, predictionId } = await answer(h.emu, '1', 0, h);
    const p = h.app.store.getPrediction(predictionId)!;
    assert.equal(p.top1Label, '1', 'the synthetic model knows its red discs');
    const bob = h.emu.users.member;
    const carol = h.emu.addUser('carol');
    const dave = h.emu.addUser('dave');
    const bobsMenu = await openMenu(h.emu, reply, predictionId, bob);
    const carolsMenu = await openMenu(h.emu, reply, predictionId, carol);
    assert.deepEqual(
      menuOptions(bobsMenu)
        .map((o) => o.value)
        .filter((v) => v.startsWith('label:'))
        .sort(),
      ['label:2', 'label:3'],
    );

    const rollback = await h.emu.invokeCommand({
      name: 'model',
      subcommand: 'rollback',
      options: { version: v2 },
      user: h.emu.users.admin,
    });
    assert.match((await finalResponse(h, rollback.id, 30_000)).body.content, /^Rolled back/);
    assert.equal(h.app.models.version, v2);
    try {
      // Blue triangle: the live model does not know it any more.
      const refused = await pick(h.emu, bobsMenu, 'label:3', bob);
      assert.match(refused, /My model has changed since this answer and no longer knows \*\*Blue Triangle\*\*/);
      assert.match(refused, /choose "Another species… \(type its name\)"/);
      assert.equal(
        (h.app.store.db.prepare('SELECT count(*) AS n FROM votes WHERE prediction_id = ?').get(predictionId) as { n: number }).n,
        0,
      );

      // Green square: the live model calls it '5'; the vote is recorded under the live label.
      assert.match(await pick(h.emu, carolsMenu, 'label:2', carol), /Noted that it's \*\*Green Square\*\*/);
      // ✅ on the old answer still counts: the photo is what it is, whichever model looks at it.
      const right = await h.emu.clickComponent({ message: reply.message.id, customId: `fb:right:${predictionId}`, user: dave });
      assert.match((await h.emu.waitForInteractionResponse(right.id, 'editOriginal', 15_000)).body.content, /Noted that it's right/);
      const votes = h.app.store.db.prepare('SELECT user_id, label FROM votes WHERE prediction_id = ? ORDER BY id').all(predictionId);
      assert.deepEqual(
        votes.map((v) => ({ ...(v as object) })),
        [
          { user_id: carol.id, label: '5' },
          { user_id: dave.id, label: '1' },
        ],
      );
      await eventually(
        () => /❌ 1 member says: Green Square/.test(h.emu.world.messages.get(reply.message.id)!.message.content),
        15_000,
        'the tally',
      );

      // A menu opened now offers only what the live model knows.
      const fresh = await openMenu(h.emu, reply, predictionId, h.emu.addUser('erin'));
      assert.deepEqual(
        menuOptions(fresh).map((o) => o.value),
        ['label:2', 'other', 'not_flower'],
      );
      assertNoUnknownRoutes(h);
    } finally {
      await h.app.bot.ctx.versions.rollback(v1);
    }
  });
});
