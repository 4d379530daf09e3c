// The real discord.js client against the local Discord emulator: no network, no ../shared.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { EmbedderPool } from '../src/classifier/embedderPool.ts';
import { after, afterEach, before, describe, test } from 'node:test';
import { badImages } from './fixtures/badImages.ts';
import { photo, assertNoUnknownRoutes, retrainOutcome, startHarness, type Harness } from './helpers/botHarness.ts';
import { postPhoto, replyTo } from './reliability/helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});
// Every test checks its own traffic: no request it caused hit a route the emulator does not know.
afterEach(() => assertNoUnknownRoutes(h));

const rows = (sql: string) => h.app.store.db.prepare(sql).all() as Record<string, unknown>[];

describe('watched channels', () => {
  test('a photo in a watched channel gets one reply with the embed, chart and typical photo', async () => {
    const { flowers } = h.emu.channels;
    const att = h.emu.addAttachment('triangle.jpg', photo(h, '3'), 'image/jpeg');
    const posted = await h.emu.postMessage({ channelId: flowers.id, attachments: [att] });
    const reply = await h.emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 15_000);
    const embed = reply.message.embeds[0]!;
    assert.match(embed.title!, /Blue Triangle/);
    assert.match(embed.fields!.find((f) => f.name === 'Top candidates')!.value, /█/);
    assert.match(embed.footer!.text, /^model \d{8}-\d{6}-[0-9a-f]{6} · wasm · \d+ ms$/);
    assert.deepEqual(reply.files.map((f) => f.filename).sort(), ['probabilities.png', 'typical.jpg']);
    // The test photos are 96 px: still answered, with a note asking for a larger photo.
    assert.match(embed.fields!.find((f) => f.name === '📷 Photo quality')!.value, /small \(96×96 px\)/);
    assert.equal(
      reply.files
        .find((f) => f.filename === 'probabilities.png')!
        .bytes.subarray(1, 4)
        .toString(),
      'PNG',
    );
    assert.equal(h.emu.messagesIn(flowers.id).filter((m) => m.message.message_reference?.message_id === posted.id).length, 1);
    const row = rows(`SELECT * FROM predictions WHERE source_id = '${posted.id}'`);
    assert.equal(row.length, 1);
    assert.equal(row[0]!.top1_label, '3');
    assert.equal(row[0]!.source, 'message');
    assert.equal(row[0]!.error_code, null);
    assert.match(String(row[0]!.quality_note), /small/);
  });

  test('photos elsewhere and non-image attachments are ignored', async () => {
    const { flowers, general } = h.emu.channels;
    const before = h.emu.messagesIn(general.id).length;
    await h.emu.postMessage({ channelId: general.id, attachments: [h.emu.addAttachment('disc.jpg', photo(h, '1'), 'image/jpeg')] });
    const text = await h.emu.postMessage({
      channelId: flowers.id,
      attachments: [h.emu.addAttachment('notes.txt', Buffer.from('hello'), 'text/plain')],
    });
    // A later photo in the watched channel is answered; events are handled in order, so the two above were seen first.
    const marker = await h.emu.postMessage({
      channelId: flowers.id,
      attachments: [h.emu.addAttachment('sq.jpg', photo(h, '2'), 'image/jpeg')],
    });
    await h.emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === marker.id, 15_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.emu.messagesIn(general.id).length, before);
    assert.equal(h.emu.messagesIn(flowers.id).filter((m) => m.message.message_reference?.message_id === text.id).length, 0);
  });
});

describe('/identify', () => {
  test('happy path: deferred, then the result', async () => {
    const att = h.emu.addAttachment('disc.jpg', photo(h, '1', 1), 'image/jpeg');
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: att } });
    const edit = await h.emu.waitForInteractionResponse(id, 'editOriginal', 15_000);
    const all = h.emu.interactionResponses(id);
    assert.equal(all[0]!.kind, 'callback');
    assert.equal(all[0]!.callbackType, 5);
    assert.equal(all[0]!.flags & 64, 0, 'the answer is public');
    assert.match(edit.body.embeds[0].title, /Red Disc/);
    assert.ok(edit.files.some((f) => f.filename === 'typical.jpg'));
    assert.equal(rows(`SELECT source FROM predictions WHERE source_id = '${id}'`)[0]!.source, 'slash');
  });

  test('a corrupt image gets an ephemeral explanation', async () => {
    const att = h.emu.addAttachment('broken.jpg', (await badImages()).truncatedJpeg, 'image/jpeg');
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: att } });
    const follow = await h.emu.waitForInteractionResponse(id, 'followup', 15_000);
    assert.equal(follow.flags & 64, 64);
    assert.match(JSON.stringify(follow.body), /damaged or cut off/);
    assert.ok(
      h.emu.interactionResponses(id).some((r) => r.kind === 'deleteOriginal'),
      'the public placeholder is removed',
    );
    assert.equal(rows(`SELECT error_code FROM predictions WHERE source_id = '${id}'`)[0]!.error_code, 'CORRUPT');
  });

  test('a non-image attachment is refused before any download', async () => {
    const att = h.emu.addAttachment('notes.txt', Buffer.from('hello'), 'text/plain');
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: att } });
    const r = await h.emu.waitForInteractionResponse(id, 'callback', 5000);
    assert.equal(r.flags & 64, 64);
    assert.match(r.body.data.content, /isn't a photo/);
  });
});

/** The edit that carries a /retrain's outcome (after its progress edits). */
/** Moves each label's folder to the next label (1→2, 2→3, 3→1): every photo in `dir` is mislabelled. */
function rotateLabels(dir: string, labels: string[]): void {
  fs.renameSync(path.join(dir, labels.at(-1)!), path.join(dir, 'rotating'));
  for (let i = labels.length - 1; i > 0; i--) fs.renameSync(path.join(dir, labels[i - 1]!), path.join(dir, labels[i]!));
  fs.renameSync(path.join(dir, 'rotating'), path.join(dir, labels[0]!));
}

describe('/retrain', () => {
  test('refused for a non-admin', async () => {
    const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.member });
    const r = await h.emu.waitForInteractionResponse(id, 'callback', 5000);
    assert.equal(r.flags & 64, 64);
    assert.match(r.body.data.content, /Only server admins/);
    assert.equal(h.app.retrain.running, false);
  });

  test('an admin retrain reports progress, keeps answering photos, refuses a second run, and swaps the model', async () => {
    const before = h.app.models.version;
    const pool = () => h.app.models.current!.embedder as EmbedderPool;
    const workers = pool().size;
    const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin });
    await h.emu.waitForInteractionResponse(id, 'callback', 5000);
    assert.equal(h.app.retrain.running, true);
    // A second /retrain while one runs is refused.
    const second = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin });
    const refused = await h.emu.waitForInteractionResponse(second.id, 'callback', 5000);
    assert.equal(refused.flags & 64, 64);
    assert.match(refused.body.data.content, /already running/);
    // A photo posted during training is answered while the run is still going.
    const att = h.emu.addAttachment('sq.jpg', photo(h, '2', 2), 'image/jpeg');
    const posted = await h.emu.postMessage({ channelId: h.emu.channels.flowers.id, attachments: [att] });
    await h.emu.waitForMessage(h.emu.channels.flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 15_000);
    assert.equal(h.app.retrain.running, true, 'answered during training');
    assert.equal(pool().size, Math.min(workers, 1), 'one embedding worker while training: the others lend their memory');
    // Progress edits, then the outcome.
    const final = await retrainOutcome(h, id);
    const edits = h.emu.interactionResponses(id).filter((r) => r.kind === 'editOriginal');
    assert.ok(
      edits.some((e) => /Retraining/.test(e.body.embeds[0].title) && /%/.test(e.body.embeds[0].description)),
      'progress shown',
    );
    assert.match(final.body.embeds[0].title, /New model is live/);
    assert.notEqual(h.app.models.version, before);
    assert.equal(pool().size, workers, 'the pool is back to full size');
    const run = rows('SELECT * FROM training_runs ORDER BY id DESC LIMIT 1')[0]!;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.model_version, h.app.models.version);
    assert.equal(run.previous_version, before);
    // The new model answers.
    const again = await postPhoto(h, { name: 'd.jpg', bytes: photo(h, '1', 3), contentType: 'image/jpeg' });
    const reply = await replyTo(h, h.emu.channels.flowers.id, again.id);
    assert.ok(reply.message.embeds[0]!.footer!.text.includes(h.app.models.version!));
  });
});

describe('/retrain with a worse candidate', () => {
  test('is rejected: the old model keeps serving, the run row says rejected, the reply says why', async () => {
    const before = h.app.models.version!;
    const liveAccuracy = h.app.models.current!.meta.validAccuracy;
    assert.ok(liveAccuracy > 0.5, `the live model is good on the validation photos (${liveAccuracy})`);
    // Mislabelled validation photos: whatever the candidate learns, it scores near 0 on them.
    const valid = path.join(h.dataDir, 'valid');
    rotateLabels(valid, ['1', '2', '3']);
    let final;
    try {
      // full: a retrain that learns contributions judges both models on the same (here mislabelled) photos.
      const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { full: true } });
      final = await retrainOutcome(h, id);
    } finally {
      // Back in place (2→1, 3→2, 1→3) for the tests after this one.
      rotateLabels(valid, ['3', '2', '1']);
    }
    const embed = final.body.embeds[0];
    assert.match(embed.title, /Kept the current model/);
    assert.match(
      embed.description,
      new RegExp(
        `^The new model scored \\d+\\.\\d% on the validation photos, below the current ${(liveAccuracy * 100).toFixed(1)}%, so I kept the current model\\.$`,
      ),
    );
    assert.equal(h.app.models.version, before, 'the old model is still live');
    assert.equal(h.app.retrain.running, false);
    const run = rows('SELECT * FROM training_runs ORDER BY id DESC LIMIT 1')[0]!;
    assert.equal(run.status, 'rejected');
    assert.equal(run.previous_version, before);
    assert.ok(Number(run.valid_accuracy) < liveAccuracy);
    assert.equal(run.error, embed.description);
    assert.ok(typeof run.model_version === 'string' && run.model_version !== before);
    assert.equal(fs.existsSync(path.join(h.checkpointDir, run.model_version)), false, "the rejected candidate's checkpoint is removed");
    assert.equal(fs.readFileSync(path.join(h.checkpointDir, 'CURRENT'), 'utf8').trim(), before);
    // The old model answers.
    const posted = await postPhoto(h, { name: 't.jpg', bytes: photo(h, '3', 4), contentType: 'image/jpeg' });
    const reply = await replyTo(h, h.emu.channels.flowers.id, posted.id);
    assert.ok(reply.message.embeds[0]!.footer!.text.includes(before));
  });
});

test('register-commands puts every slash command in the guild, with admin defaults on the admin ones', async () => {
  const { registerCommands } = await import('../src/bot/registerCommands.ts');
  const r = await registerCommands({ token: h.emu.token, apiUrl: h.emu.apiBase, guildId: h.emu.guild.id });
  const { COMMANDS } = await import('../commands/index.ts');
  assert.equal(r.count, COMMANDS.length);
  const cmds = h.emu.registeredCommands(h.emu.guild.id);
  assert.deepEqual(cmds.map((c) => c.name).sort(), COMMANDS.map((c) => c.data.name).sort());
  for (const name of ['identify', 'retrain', 'settings', 'stats', 'review', 'forget', 'species', 'model'])
    assert.ok(
      cmds.some((c) => c.name === name),
      `/${name}`,
    );
  assert.equal(cmds.find((c) => c.name === 'review')!.default_member_permissions, '32');
  assert.equal(cmds.find((c) => c.name === 'forget')!.default_member_permissions ?? null, null);
  assert.equal(cmds.find((c) => c.name === 'retrain')!.default_member_permissions, '8');
  assert.equal(cmds.find((c) => c.name === 'identify')!.default_member_permissions ?? null, null);
  // Members use /species and /model list; their admin subcommands are checked in the handler.
  assert.equal(cmds.find((c) => c.name === 'species')!.default_member_permissions ?? null, null);
  assert.equal(cmds.find((c) => c.name === 'model')!.default_member_permissions ?? null, null);
});
