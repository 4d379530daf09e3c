// Feedback on answers, end to end: the real discord.js client clicks the emulator's
// buttons, picks from its select menus and submits its modals.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { APIUser } from 'discord.js';
import sharp from 'sharp';
import type { StoredMessage } from '../src/dev/emulator/index.ts';
import { photo, assertNoUnknownRoutes, startHarness, type Harness } from './helpers/botHarness.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});
afterEach(() => assertNoUnknownRoutes(h));

const rows = (sql: string, ...params: unknown[]) => h.app.store.db.prepare(sql).all(...params) as Record<string, unknown>[];
const contribDir = () => path.join(h.tmp, 'contributions');

async function until<T>(probe: () => T | undefined | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Posts a photo in #flowers (with EXIF, like a phone's) and returns the bot's answer and its prediction id. */
async function answered(label: '1' | '2' | '3', i: number): Promise<{ reply: StoredMessage; predictionId: number }> {
  const withExif = await sharp(photo(h, label, i))
    .withExif({ IFD0: { Artist: 'Bob Gardener', ImageDescription: 'my garden at 51.5N 0.1W' } })
    .jpeg()
    .toBuffer();
  const posted = await h.emu.postMessage({
    channelId: h.emu.channels.flowers.id,
    attachments: [h.emu.addAttachment(`f${label}-${i}.jpg`, withExif, 'image/jpeg')],
  });
  const reply = await h.emu.waitForMessage(h.emu.channels.flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 15_000);
  const ids = buttons(reply);
  const predictionId = Number(/^fb:right:(\d+)$/.exec(ids[0]!)![1]);
  return { reply, predictionId };
}

const buttons = (m: StoredMessage) =>
  ((m.message.components ?? []) as unknown as { components?: { custom_id: string }[] }[])
    .flatMap((r) => r.components ?? [])
    .map((c) => c.custom_id);
const content = (id: string) => h.emu.world.messages.get(id)!.message.content;
const waitTally = (id: string, re: RegExp) => until(() => re.test(content(id)) && content(id), `tally ${re} (have "${content(id)}")`);

async function click(message: string, customId: string, user: APIUser, values?: string[]) {
  return h.emu.clickComponent({ message, customId, user, values });
}

/** Wrong → the private menu; returns the menu message. */
async function openMenu(reply: StoredMessage, predictionId: number, user: APIUser): Promise<StoredMessage> {
  const c = await click(reply.message.id, `fb:wrong:${predictionId}`, user);
  const r = await h.emu.waitForInteractionResponse(c.id, 'callback');
  assert.equal(r.callbackType, 4);
  assert.equal(r.flags & 64, 64, 'the menu is private');
  return h.emu.world.messages.get(r.message!.id)!;
}

describe('feedback buttons', () => {
  test('an answer carries ✅ Right and ❌ Wrong; a failure carries none', async () => {
    const { reply, predictionId } = await answered('3', 0);
    assert.deepEqual(buttons(reply), [`fb:right:${predictionId}`, `fb:wrong:${predictionId}`]);
    assert.equal(rows('SELECT count(*) AS n FROM contributions')[0]!.n, 0, 'no photo is kept without feedback');
    const posted = await h.emu.postMessage({
      channelId: h.emu.channels.flowers.id,
      attachments: [h.emu.addAttachment('bad.jpg', Buffer.from('not a photo at all'), 'image/jpeg')],
    });
    const failure = await h.emu.waitForMessage(
      h.emu.channels.flowers.id,
      (m) => m.message.message_reference?.message_id === posted.id,
      15_000,
    );
    assert.deepEqual(buttons(failure), []);
  });

  test('a vote, the same vote again (counted once), then a changed vote', async () => {
    const { reply, predictionId } = await answered('3', 1);
    const bob = h.emu.users.member;
    const first = await click(reply.message.id, `fb:right:${predictionId}`, bob);
    const confirm = await h.emu.waitForInteractionResponse(first.id, 'editOriginal', 10_000);
    assert.equal(confirm.flags & 64, 64, 'the confirmation is private');
    assert.match(confirm.body.content, /Thanks! Noted that it's right\.\nI kept this photo/);
    await waitTally(reply.message.id, /^🗳️ ✅ 1 member says it's right$/);

    // The photo is kept once, re-encoded: no EXIF, content-addressed.
    const [c] = rows('SELECT * FROM contributions WHERE prediction_id = ?', predictionId);
    assert.equal(c!.created_by, bob.id);
    assert.equal(c!.label, '3');
    assert.equal(c!.status, 'pending');
    const sha = String(c!.sha256);
    assert.equal(c!.path, path.join(sha.slice(0, 2), `${sha}.jpg`));
    const file = path.join(contribDir(), String(c!.path));
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.exif, undefined, 'EXIF is stripped');
    assert.doesNotMatch(fs.readFileSync(file).toString('latin1'), /Bob Gardener|51\.5N/);

    // Same vote again: answered, not counted twice.
    const again = await click(reply.message.id, `fb:right:${predictionId}`, bob);
    assert.match(
      (await h.emu.waitForInteractionResponse(again.id, 'editOriginal', 10_000)).body.content,
      /You already said it's right — your vote counts once/,
    );
    assert.equal(rows('SELECT count(*) AS n FROM votes WHERE prediction_id = ?', predictionId)[0]!.n, 1);
    assert.equal(rows('SELECT count(*) AS n FROM contributions WHERE prediction_id = ?', predictionId)[0]!.n, 1);

    // Changed vote: Wrong → pick another candidate; the menu turns into the confirmation.
    const menu = await openMenu(reply, predictionId, bob);
    const select = buttons(menu)[0]!;
    assert.equal(select, `fb:pick:${predictionId}:${reply.message.id}`);
    const options = (menu.message.components![0] as { components: { options: { label: string; value: string }[] }[] }).components[0]!
      .options;
    // The other candidates (most likely first), then "another species…" and "not a flower".
    assert.deepEqual(
      options
        .slice(0, -2)
        .map((o) => o.value)
        .sort(),
      ['label:1', 'label:2'],
    );
    assert.deepEqual(
      options.slice(-2).map((o) => o.value),
      ['other', 'not_flower'],
    );
    assert.ok(options.some((o) => o.label === 'Not a flower') && options.some((o) => /Another species/.test(o.label)));
    const other = options.find((o) => o.value.startsWith('label:'))!;
    const pick = await click(menu.message.id, select, bob, [other.value]);
    assert.equal((await h.emu.waitForInteractionResponse(pick.id, 'callback')).callbackType, 6);
    const changed = await h.emu.waitForInteractionResponse(pick.id, 'editOriginal', 10_000);
    assert.match(changed.body.content, new RegExp(`^Changed your vote: it's \\*\\*${other.label}\\*\\*\\. Thanks!$`));
    assert.deepEqual(h.emu.world.messages.get(menu.message.id)!.message.components, [], 'the menu is gone');
    await waitTally(reply.message.id, new RegExp(`^🗳️ ❌ 1 member says: ${other.label}$`));
    assert.equal(rows('SELECT count(*) AS n FROM votes WHERE prediction_id = ?', predictionId)[0]!.n, 1, 'one vote per member per photo');
    assert.equal(
      rows('SELECT label FROM contributions WHERE prediction_id = ?', predictionId)[0]!.label,
      other.value.slice(6),
      'the kept photo follows the vote',
    );
  });

  test('corrections by name through the modal: a new species, a misspelt known one, and "not a flower", tallied together', async () => {
    const { reply, predictionId } = await answered('1', 2);
    const carol = h.emu.addUser('carol');
    const dave = h.emu.addUser('dave');
    const erin = h.emu.addUser('erin');
    const frank = h.emu.addUser('frank');

    const byName = async (user: APIUser, typed: string) => {
      const menu = await openMenu(reply, predictionId, user);
      const open = await click(menu.message.id, buttons(menu)[0]!, user, ['other']);
      const modal = await h.emu.waitForInteractionResponse(open.id, 'callback');
      assert.equal(modal.callbackType, 9);
      assert.equal(modal.body.data.custom_id, `fb:name:${predictionId}:${reply.message.id}`);
      const sent = await h.emu.submitModal({ interactionId: open.id, fields: { species: typed } });
      return (await h.emu.waitForInteractionResponse(sent.id, 'editOriginal', 10_000)).body.content as string;
    };
    assert.match(await byName(carol, '  lenten   ROSE '), /Noted that it's \*\*lenten ROSE \(new to me\)\*\*/);
    assert.match(await byName(dave, 'Lenten Rose'), /Noted that it's \*\*Lenten Rose \(new to me\)\*\*/);
    // Forgiving: case, spacing, diacritics and a typo still find a known species.
    assert.match(await byName(erin, 'GREEN-sqaure'), /Noted that it's \*\*Green Square\*\*/);
    const menu = await openMenu(reply, predictionId, frank);
    const nf = await click(menu.message.id, buttons(menu)[0]!, frank, ['not_flower']);
    assert.match(
      (await h.emu.waitForInteractionResponse(nf.id, 'editOriginal', 10_000)).body.content,
      /Noted that it's \*\*not a flower\*\*/,
    );

    await waitTally(
      reply.message.id,
      /^🗳️ ❌ 2 members say: lenten ROSE \(new to me\) · ❌ 1 member says: Green Square · ❌ 1 member says: not a flower$/,
    );
    const votes = rows('SELECT user_id, label, new_name, not_flower FROM votes WHERE prediction_id = ? ORDER BY id', predictionId);
    assert.deepEqual(
      votes.map((v) => [v.label, v.new_name, v.not_flower]),
      [
        [null, 'lenten ROSE', 0],
        [null, 'Lenten Rose', 0],
        ['2', null, 0],
        [null, null, 1],
      ],
    );
    assert.equal(rows('SELECT count(*) AS n FROM contributions WHERE prediction_id = ?', predictionId)[0]!.n, 4);
    assert.equal(
      rows('SELECT count(DISTINCT sha256) AS n FROM contributions WHERE prediction_id = ?', predictionId)[0]!.n,
      1,
      'one file for one photo',
    );
  });

  test('a made-up or stale custom_id is still answered (no "interaction failed")', async () => {
    const { reply } = await answered('2', 3);
    for (const [customId, said] of [
      ['fb:right:999999', /can't find that answer/],
      ['something:else', /doesn't do anything/],
    ] as const) {
      const c = await h.emu.clickComponent({ message: reply.message.id, customId, forge: true });
      const r = await h.emu.waitForInteractionResponse(c.id, 'callback', 3000);
      assert.equal(r.flags & 64, 64);
      assert.match(r.body.data.content, said);
      assert.equal(h.emu.interactionStatus(c.id), 'answered');
    }
    await assert.rejects(h.emu.clickComponent({ message: reply.message.id, customId: 'fb:right:1' }), /has no component/);
  });

  test('an /identify answer takes feedback too', async () => {
    const att = h.emu.addAttachment('disc.jpg', photo(h, '1', 4), 'image/jpeg');
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: att } });
    const edit = await h.emu.waitForInteractionResponse(id, 'editOriginal', 15_000);
    const answer = h.emu.world.messages.get(edit.message!.id)!;
    const [right] = buttons(answer);
    const c = await click(answer.message.id, right!, h.emu.users.admin);
    await h.emu.waitForInteractionResponse(c.id, 'editOriginal', 10_000);
    await waitTally(answer.message.id, /^🗳️ ✅ 1 member says it's right$/);
  });

  test('buttons keep working after a restart (state in SQLite; the photo is fetched again)', async () => {
    const { reply, predictionId } = await answered('2', 5);
    await h.restartApp();
    assert.equal(h.app.bot.ctx.feedback.photos.size, 0, 'nothing in memory after the restart');
    const gina = h.emu.addUser('gina');
    const c = await click(reply.message.id, `fb:right:${predictionId}`, gina);
    assert.match((await h.emu.waitForInteractionResponse(c.id, 'editOriginal', 10_000)).body.content, /I kept this photo/);
    await waitTally(reply.message.id, /^🗳️ ✅ 1 member says it's right$/);
    const [row] = rows(
      'SELECT c.sha256, c.path FROM contributions c WHERE c.prediction_id = ? AND c.created_by = ?',
      predictionId,
      gina.id,
    );
    assert.ok(row && fs.existsSync(path.join(contribDir(), String(row.path))));
  });

  test('/stats counts the contributions', async () => {
    const { id } = await h.emu.invokeCommand({ name: 'stats', user: h.emu.users.admin });
    const r = await h.emu.waitForInteractionResponse(id, 'callback', 5000);
    const field = r.body.data.embeds[0].fields.find((f: { name: string }) => f.name === 'Feedback');
    const n = Number(rows('SELECT count(*) AS n FROM contributions')[0]!.n);
    assert.match(field.value, new RegExp(`· ${n} contributions \\(${n} pending review`));
  });
});
