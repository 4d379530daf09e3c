// /species end to end: the real discord.js client against the emulator, on the
// synthetic model (red disc, green square, blue triangle) whose checkpoint records
// training counts and per-species evaluation, as a learning-loop retrain writes them.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { StoredMessage } from '../src/dev/emulator/index.ts';
import { assertNoUnknownRoutes, startHarness, type Harness } from './helpers/botHarness.ts';
import { editLiveMeta } from './helpers/modelVersions.ts';
import { finalResponse } from './reliability/helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness(
    { BLOOM_NEW_SPECIES_MIN_PHOTOS: '4' },
    {
      prepare: (m) =>
        editLiveMeta(m, (meta) => {
          meta.trainCounts = { '1': { dataset: 16, community: 2 }, '2': { dataset: 16, community: 0 }, '3': { dataset: 16, community: 0 } };
          meta.evaluation = {
            set: 'valid 18',
            images: 18,
            perLabel: {
              '1': { images: 6, correct: 5, confusedWith: [{ label: '3', count: 1 }] },
              '2': { images: 6, correct: 6, confusedWith: [] },
              '3': { images: 6, correct: 6, confusedWith: [] },
            },
          };
        }),
      registerCommands: true,
    },
  );
});
after(async () => {
  await h?.stop();
});
afterEach(() => assertNoUnknownRoutes(h));

/** Approves `n` photos of `label`, as an admin's review would (the review itself is another command's). */
function approve(label: string, n: number) {
  const db = h.app.store.db;
  for (let i = 0; i < n; i++) {
    const pid = db
      .prepare(`INSERT INTO predictions (created_at, source, top_k) VALUES ('2026-01-01T00:00:00.000Z', 'message', '[]')`)
      .run().lastInsertRowid;
    db.prepare(
      `INSERT INTO contributions (sha256, path, bytes, prediction_id, label, status, created_by, created_at, final_label, reviewed_at)
       VALUES (?, 'x.jpg', 1, ?, ?, 'approved', 'u', '2026-01-02T00:00:00.000Z', ?, '2026-01-03T00:00:00.000Z')`,
    ).run(`${label}-${i}-${Math.random()}`, pid, label, label);
  }
}

async function species(sub: 'show' | 'list' | 'add', options: Record<string, string> = {}, user = h.emu.users.member) {
  const { id } = await h.emu.invokeCommand({ name: 'species', subcommand: sub, options, user });
  return finalResponse(h, id);
}

const pageOf = (m: StoredMessage | { embeds?: { footer?: { text: string } }[] }) => {
  const embeds = 'message' in m ? m.message.embeds : m.embeds;
  return /page (\d+) of (\d+)/
    .exec(embeds?.[0]?.footer?.text ?? '')
    ?.slice(1)
    .map(Number);
};

describe('/species', () => {
  test('suggestions while typing a name: forgiving, from the model and from species members are teaching', async () => {
    h.app.store.learning.ensureSpecies('Square Bellflower', h.emu.users.admin.id);
    const type = async (typed: string) =>
      (await h.emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'name', typed, user: h.emu.users.member })).choices;
    assert.deepEqual(await type('squ'), [
      { name: 'Green Square', value: 'green square' },
      { name: 'Square Bellflower (collecting photos)', value: 'Square Bellflower' },
    ]);
    assert.deepEqual(
      (await type('TRIANG')).map((c) => c.value),
      ['blue triangle'],
    );
    assert.deepEqual(
      (await type('blue triangel')).map((c) => c.value),
      ['blue triangle'],
      'a typo',
    );
    const all = await type('');
    assert.deepEqual(
      all.map((c) => c.value),
      ['blue triangle', 'green square', 'red disc', 'Square Bellflower'],
    );
  });

  test('an autocomplete for an option the bot has no suggestions for is answered with none (not left spinning)', async () => {
    const r = await h.emu.autocomplete({ name: 'identify', focused: 'url', typed: 'http', forge: true });
    assert.deepEqual(r.choices, []);
    assert.equal(h.emu.interactionStatus(r.id), 'answered');
  });

  test('one species: photos trained on, accuracy and confusions, its typical photo', async () => {
    const r = await species('show', { name: 'RED  disk' });
    assert.equal(r.flags & 64, 64, 'private');
    const e = r.body.data.embeds[0];
    assert.equal(e.title, '🌸 Red Disc');
    const fields = Object.fromEntries((e.fields as { name: string; value: string }[]).map((f) => [f.name, f.value]));
    assert.equal(fields['Photos trained on'], '16 from the data set · 2 from members');
    assert.equal(fields['On the evaluation photos'], '5 of 6 right (83.3 %)');
    assert.equal(fields['Most often confused with'], 'Blue Triangle (1×)');
    assert.equal(fields['A typical one'], 'Red Disc from the training set (thumbnail)');
    assert.deepEqual(
      r.files.map((f) => f.filename),
      ['typical.jpg'],
    );
    assert.ok(r.files[0]!.size > 100);
    assert.match(r.message!.embeds[0]!.thumbnail!.url, /typical\.jpg/);

    const unknown = await species('show', { name: 'Sunflower' });
    assert.match(unknown.body.data.content, /I don't know a species called "Sunflower"/);
  });

  test('a species members are teaching: "collecting photos: k of N approved"', async () => {
    h.app.store.learning.ensureSpecies('Lenten Rose', h.emu.users.admin.id);
    approve(h.app.store.learning.speciesByName('Lenten Rose')!.label, 3);
    const r = await species('show', { name: 'lenten rose' });
    const e = r.body.data.embeds[0];
    assert.equal(e.title, '🌱 Lenten Rose');
    assert.match(e.description, /Collecting photos: 3 of 4 approved\*\* \(BLOOM_NEW_SPECIES_MIN_PHOTOS\)/);
    assert.deepEqual(r.files, [], 'no typical photo before the model knows it');
  });

  test('the list: 25 per page, ◀ ▶ through the pages, candidates with their counts', async () => {
    for (let i = 0; i < 30; i++) h.app.store.learning.ensureSpecies(`Candidate ${String(i).padStart(2, '0')}`, null);
    const r = await species('list');
    const first = h.emu.world.messages.get(r.message!.id)!;
    assert.equal(first.message.flags! & 64, 64);
    assert.deepEqual(pageOf(first), [1, 2]);
    const lines = first.message.embeds[0]!.description!.split('\n');
    assert.equal(lines.length, 25);
    assert.deepEqual(lines.slice(0, 3), ['Blue Triangle', 'Green Square', 'Red Disc']);
    assert.equal(lines[3], '🌱 Lenten Rose — collecting photos: 3 of 4 approved', 'most photos first');
    const buttons = (m: StoredMessage) =>
      (m.message.components![0] as unknown as { components: { custom_id: string; disabled?: boolean }[] }).components;
    assert.deepEqual(
      buttons(first).map((b) => b.disabled),
      [true, false],
    );

    const next = await h.emu.clickComponent({ message: first.message.id, customId: buttons(first)[1]!.custom_id });
    assert.equal((await h.emu.waitForInteractionResponse(next.id, 'callback')).callbackType, 7, 'the page is replaced in place');
    const second = h.emu.world.messages.get(first.message.id)!;
    assert.deepEqual(pageOf(second), [2, 2]);
    assert.match(
      second.message.embeds[0]!.description!,
      /🌱 Candidate 29 — collecting photos: 0 of 4 approved\n🌱 Square Bellflower — collecting photos: 0 of 4 approved$/,
    );
    assert.deepEqual(
      buttons(second).map((b) => b.disabled),
      [false, true],
    );
    await assert.rejects(h.emu.clickComponent({ message: first.message.id, customId: buttons(second)[1]!.custom_id }), /disabled/);
    const back = await h.emu.clickComponent({ message: first.message.id, customId: buttons(second)[0]!.custom_id });
    await h.emu.waitForInteractionResponse(back.id, 'callback');
    assert.deepEqual(pageOf(h.emu.world.messages.get(first.message.id)!), [1, 2]);

    // Without a name, /species show is the list too.
    assert.deepEqual(pageOf((await species('show')).body.data), [1, 2]);
  });

  test('/species add: admins add a species (members can then name photos of it); members and known names are refused', async () => {
    const member = await species('add', { name: 'Blue Poppy' });
    assert.equal(member.flags & 64, 64);
    assert.match(member.body.data.content, /Only server admins can add a species/);
    assert.equal(h.app.store.learning.speciesByName('Blue Poppy'), undefined);

    const ok = await species('add', { name: 'Blue  Poppy' }, h.emu.users.admin);
    assert.match(ok.body.data.content, /^Added \*\*Blue Poppy\*\*\. Members can now name photos of it/);
    assert.match(ok.body.data.content, /once 4 of them are approved/);
    assert.equal(h.app.store.learning.speciesByName('blue poppy')?.createdBy, h.emu.users.admin.id);

    for (const name of ['BLUE POPPY', 'Green square', 'réd disc']) {
      const again = await species('add', { name }, h.emu.users.admin);
      assert.match(again.body.data.content, /I already know \*\*.+\*\*.*nothing to add/, name);
    }
    assert.equal(h.app.store.learning.communitySpecies().filter((s) => /poppy/i.test(s.name)).length, 1);
    const suggested = await h.emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'name', typed: 'popp' });
    assert.deepEqual(
      suggested.choices.map((c) => c.value),
      ['Blue Poppy'],
    );
  });
});
