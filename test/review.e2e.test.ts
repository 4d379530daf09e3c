// /review and approval by agreement, end to end: members post photos and vote with the
// real discord.js client against the emulator; an admin pages through the queue and
// presses Approve, Reject and Relabel (a modal); refusals and stale buttons are answered.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { APIEmbed, APIUser } from 'discord.js';
import type { InteractionResponse, StoredMessage } from '../src/dev/emulator/index.ts';
import { assertNoUnknownRoutes, startHarness, type Harness } from './helpers/botHarness.ts';
import { answered, buttons, saysRight, saysWrongName, saysWrongPick } from './helpers/feedbackActions.ts';

let h: Harness;
before(async () => {
  h = await startHarness({}, { registerCommands: true });
});
after(async () => {
  await h?.stop();
});
afterEach(() => assertNoUnknownRoutes(h));

const rows = (sql: string, ...params: unknown[]) => h.app.store.db.prepare(sql).all(...params) as Record<string, unknown>[];
const contributionsOf = (predictionId: number) =>
  rows('SELECT status, final_label, reviewed_by, reviewed_at FROM contributions WHERE prediction_id = ? ORDER BY id', predictionId);
const message = (id: string): StoredMessage => h.emu.world.messages.get(id)!;
const embedOf = (id: string): APIEmbed | undefined => message(id).message.embeds[0];
/** The photo a review message shows: the prediction id in its Approve button. */
const showing = (id: string) => Number(/^rv:approve:(\d+):/.exec(buttons(message(id))[0] ?? '')?.[1]);
const buttonOf = (id: string, re: RegExp) => buttons(message(id)).find((c) => re.test(c))!;
const disabled = (id: string, customId: string) =>
  (message(id).message.components as unknown as { components: { custom_id: string; disabled?: boolean }[] }[])
    .flatMap((r) => r.components)
    .find((c) => c.custom_id === customId)?.disabled === true;

/** An admin runs /review: the private message with the first photo. */
async function openReview(user: APIUser = h.emu.users.admin): Promise<{ id: string; response: InteractionResponse }> {
  const { id } = await h.emu.invokeCommand({ name: 'review', user });
  const response = await h.emu.waitForInteractionResponse(id, 'editOriginal', 15_000);
  assert.equal(response.flags & 64, 64, 'the review is private to the admin');
  return { id: response.message!.id, response };
}

/** Presses a button of the review message; the message is edited to the next photo. */
async function press(messageId: string, customId: string, user: APIUser = h.emu.users.admin): Promise<InteractionResponse> {
  const c = await h.emu.clickComponent({ message: messageId, customId, user });
  return h.emu.waitForInteractionResponse(c.id, 'editOriginal', 15_000);
}

/** Presses a button that must be answered with a private reply (refused or stale); returns its text. */
async function pressRefused(messageId: string, customId: string, user: APIUser, forge = false): Promise<string> {
  const c = await h.emu.clickComponent({ message: messageId, customId, user, forge });
  const r = await h.emu.waitForInteractionResponse(c.id, 'callback', 5000);
  assert.equal(r.callbackType, 4);
  assert.equal(r.flags & 64, 64, 'private');
  return String(r.body.data.content);
}

/** Relabel → the modal → a typed name. */
async function relabel(messageId: string, typed: string): Promise<InteractionResponse> {
  const open = await h.emu.clickComponent({ message: messageId, customId: buttonOf(messageId, /^rv:relabel:/), user: h.emu.users.admin });
  const modal = await h.emu.waitForInteractionResponse(open.id, 'callback', 5000);
  assert.equal(modal.callbackType, 9, 'a form opens');
  const sent = await h.emu.submitModal({ interactionId: open.id, fields: { species: typed } });
  return h.emu.waitForInteractionResponse(sent.id, 'editOriginal', 15_000);
}

describe('/review', () => {
  test('a member invoking /review is refused; an admin with an empty queue is told so', async () => {
    const { id } = await h.emu.invokeCommand({ name: 'review', user: h.emu.users.member });
    const r = await h.emu.waitForInteractionResponse(id, 'callback', 5000);
    assert.equal(r.flags & 64, 64);
    assert.equal(r.body.data.content, 'Only server admins can review photos.');
    assert.equal(h.emu.registeredCommands(h.emu.guild.id).find((c) => c.name === 'review')!.default_member_permissions, '32');
    const empty = await openReview();
    assert.match(message(empty.id).message.content, /Nothing left to review/);
  });

  test('members name a species I do not know; the admin sees the photo and approves: species c1 is created', async () => {
    const poster = h.emu.addUser('poster');
    const carol = h.emu.addUser('carol');
    const dave = h.emu.addUser('dave');
    const { reply, predictionId } = await answered(h, '1', 0, poster);
    assert.match(await saysWrongName(h, reply, predictionId, carol, 'Hellebore niger'), /Noted/);
    assert.match(await saysWrongName(h, reply, predictionId, dave, 'hellebore  NIGER'), /Noted/);

    const { id, response } = await openReview();
    const e = embedOf(id)!;
    assert.equal(showing(id), predictionId);
    assert.match(e.description!, /\*\*Proposed:\*\* Hellebore niger \(a new species\) — 2 of the 2 members who kept it/);
    assert.match(e.description!, /\*\*Votes:\*\* ❌ 2 members say: hellebore niger \(new to me\)/i);
    assert.match(e.description!, new RegExp(`\\*\\*Posted\\*\\* by <@${poster.id}> <t:\\d+:R> in <#${h.emu.channels.flowers.id}>`));
    assert.equal(e.footer!.text, 'Page 1 of 1');
    assert.deepEqual((response.body.allowed_mentions as { parse: unknown[] }).parse, [], 'mentions do not ping');
    // The photo itself, as kept: the stored file is what the admin sees.
    const [kept] = rows('SELECT path FROM contributions WHERE prediction_id = ?', predictionId);
    assert.equal(response.files.length, 1);
    assert.deepEqual(response.files[0]!.bytes, fs.readFileSync(path.join(h.tmp, 'contributions', String(kept!.path))));
    assert.equal(message(id).message.attachments[0]!.filename, `review-${predictionId}.jpg`);
    assert.match(e.image!.url, new RegExp(`review-${predictionId}\\.jpg`));

    const done = await press(id, buttonOf(id, /^rv:approve:/));
    assert.match(done.body.content, /^✅ Approved as \*\*Hellebore niger\*\* — a new species, `c1` \(2 contributions\)/);
    assert.match(done.body.content, /Nothing left to review/);
    assert.deepEqual([message(id).message.embeds, message(id).message.components, message(id).message.attachments], [[], [], []]);
    const decided = contributionsOf(predictionId);
    assert.deepEqual(
      decided.map((c) => [c.status, c.final_label, c.reviewed_by]),
      Array(2).fill(['approved', 'c1', h.emu.users.admin.id]),
    );
    assert.ok(decided.every((c) => typeof c.reviewed_at === 'string'));
    assert.deepEqual(rows('SELECT label, name, created_by FROM species'), [
      { label: 'c1', name: 'Hellebore niger', created_by: h.emu.users.admin.id },
    ]);
  });

  test('paging through three photos, Reject, and Relabel through the form ("not a flower", a misspelt species)', async () => {
    const bob = h.emu.users.member;
    const ids: number[] = [];
    for (const [label, i] of [
      ['1', 1],
      ['2', 1],
      ['3', 1],
    ] as const) {
      const { reply, predictionId } = await answered(h, label, i);
      await saysRight(h, reply, predictionId, bob);
      ids.push(predictionId);
    }
    const { id } = await openReview();
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[0], 'Page 1 of 3']);
    assert.ok(disabled(id, buttonOf(id, /^rv:page:.*:prev$/)), '◀ is disabled on the first page');
    await press(id, buttonOf(id, /^rv:page:.*:next$/));
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[1], 'Page 2 of 3']);
    await press(id, buttonOf(id, /^rv:page:.*:prev$/));
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[0], 'Page 1 of 3']);
    await press(id, buttonOf(id, /^rv:page:.*:next$/));
    await press(id, buttonOf(id, /^rv:page:.*:next$/));
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[2], 'Page 3 of 3']);
    assert.ok(disabled(id, buttonOf(id, /^rv:page:.*:next$/)), '▶ is disabled on the last page');
    assert.equal(message(id).message.attachments[0]!.filename, `review-${ids[2]}.jpg`, 'the photo follows the page');

    // Reject the third: the view moves on to the photo now last.
    const rejected = await press(id, buttonOf(id, /^rv:reject:/));
    assert.match(rejected.body.content, /^🗑️ Rejected/);
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[1], 'Page 2 of 2']);
    assert.deepEqual(
      contributionsOf(ids[2]!).map((c) => [c.status, c.final_label, c.reviewed_by]),
      [['rejected', null, h.emu.users.admin.id]],
    );

    // Relabel the second as "not a flower": approved without a label.
    const notFlower = await relabel(id, 'Not a flower');
    assert.match(notFlower.body.content, /^✅ Approved as \*\*not a flower\*\*/);
    assert.deepEqual([showing(id), embedOf(id)!.footer!.text], [ids[0], 'Page 1 of 1']);
    assert.deepEqual(
      contributionsOf(ids[1]!).map((c) => [c.status, c.final_label]),
      [['approved', null]],
    );

    // Relabel the first with a typo of a species the model knows.
    const typo = await relabel(id, 'blue triangel');
    assert.match(typo.body.content, /^✅ Approved as \*\*Blue Triangle\*\*/);
    assert.match(typo.body.content, /Nothing left to review/);
    assert.deepEqual(
      contributionsOf(ids[0]!).map((c) => [c.status, c.final_label]),
      [['approved', '3']],
    );
  });

  test("a member pressing an admin's review button is refused; after a restart the buttons work; a stale one says who decided", async () => {
    const { reply, predictionId } = await answered(h, '2', 2);
    await saysRight(h, reply, predictionId, h.emu.users.member);
    const first = await openReview();
    const second = await openReview();
    const approve = buttonOf(first.id, /^rv:approve:/);

    // A shared or forged button: Discord delivers it, the bot refuses it.
    for (const b of [approve, buttonOf(first.id, /^rv:reject:/), buttonOf(first.id, /^rv:relabel:/)])
      assert.equal(await pressRefused(first.id, b, h.emu.users.member, true), 'Only server admins can review photos.');
    assert.deepEqual(
      contributionsOf(predictionId).map((c) => c.status),
      ['pending'],
    );

    await h.restartApp();
    const done = await press(second.id, buttonOf(second.id, /^rv:approve:/));
    assert.match(done.body.content, /^✅ Approved as \*\*Green Square\*\*/);
    const before = contributionsOf(predictionId);
    assert.deepEqual(
      before.map((c) => [c.status, c.final_label]),
      [['approved', '2']],
    );

    const components = structuredClone(message(first.id).message.components);
    for (const b of [approve, buttonOf(first.id, /^rv:reject:/), buttonOf(first.id, /^rv:relabel:/)]) {
      const said = await pressRefused(first.id, b, h.emu.users.admin);
      assert.match(
        said,
        new RegExp(
          `^This photo was already approved by <@${h.emu.users.admin.id}> as \\*\\*Green Square\\*\\* <t:\\d+:R>\\. Nothing changed\\.$`,
        ),
      );
    }
    assert.deepEqual(contributionsOf(predictionId), before, 'nothing changed');
    assert.deepEqual(message(first.id).message.components, components, 'the stale message is left as it was');

    // A made-up custom_id is answered too.
    assert.match(await pressRefused(first.id, 'rv:approve:999999:0', h.emu.users.admin, true), /can't find that photo/);
  });
});

describe('approval by agreement', () => {
  test('/settings learning auto-approve 2: two members agreeing approve a photo; one disagreeing leaves it for review', async () => {
    const { admin } = h.emu.users;
    const show = async () => {
      const { id } = await h.emu.invokeCommand({ name: 'settings', user: admin, subcommandGroup: 'learning', subcommand: 'show' });
      return String((await h.emu.waitForInteractionResponse(id, 'callback', 5000)).body.data.content);
    };
    assert.match(await show(), /Auto-approve: \*\*off\*\*/);
    const set = await h.emu.invokeCommand({
      name: 'settings',
      user: admin,
      subcommandGroup: 'learning',
      subcommand: 'auto-approve',
      options: { members: 2 },
    });
    assert.match(
      String((await h.emu.waitForInteractionResponse(set.id, 'callback', 5000)).body.data.content),
      /once \*\*2\*\* members gave the same answer/,
    );
    // Out of range: Discord refuses it; a forged one is refused by the bot.
    await assert.rejects(
      h.emu.invokeCommand({
        name: 'settings',
        user: admin,
        subcommandGroup: 'learning',
        subcommand: 'auto-approve',
        options: { members: 51 },
      }),
      /between 0 and 50/,
    );
    const forged = await h.emu.invokeCommand({
      name: 'settings',
      user: admin,
      subcommandGroup: 'learning',
      subcommand: 'auto-approve',
      options: { members: 51 },
      forge: true,
    });
    assert.match(String((await h.emu.waitForInteractionResponse(forged.id, 'callback', 5000)).body.data.content), /Nothing was changed/);
    assert.match(await show(), /\*\*2\*\* members/);

    const [erin, frank, gina] = [h.emu.addUser('erin'), h.emu.addUser('frank'), h.emu.addUser('gina')];
    const agreed = await answered(h, '3', 3);
    await saysWrongName(h, agreed.reply, agreed.predictionId, erin, 'Snowdrop');
    assert.deepEqual(
      contributionsOf(agreed.predictionId).map((c) => c.status),
      ['pending'],
      'one member is not enough',
    );
    await saysWrongName(h, agreed.reply, agreed.predictionId, frank, 'snowdrop');
    const snowdrop = rows(`SELECT label FROM species WHERE name = 'Snowdrop'`)[0]!.label;
    assert.deepEqual(
      contributionsOf(agreed.predictionId).map((c) => [c.status, c.final_label, c.reviewed_by]),
      Array(2).fill(['approved', snowdrop, 'auto']),
    );

    const split = await answered(h, '1', 3);
    await saysRight(h, split.reply, split.predictionId, erin);
    await saysWrongPick(h, split.reply, split.predictionId, frank, 'not_flower');
    await saysRight(h, split.reply, split.predictionId, gina);
    assert.deepEqual(
      contributionsOf(split.predictionId).map((c) => c.status),
      ['pending', 'pending', 'pending'],
      'frank disagrees: it waits for an admin',
    );
    assert.match(await show(), /Waiting for \/review: 1 photo\./);
    const { id } = await openReview();
    assert.equal(showing(id), split.predictionId);
  });
});
