// The learning loop end to end: approved contributions of a species the model
// has never seen make /retrain add it, the report says so, and a later photo
// of it is answered with its name. (Approval is /review's: here the rows are
// written as it would write them.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { rng } from '../src/classifier/augment.ts';
import { readMeta, resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { ringJpeg } from '../src/dev/fixtures/shapes.ts';
import { assertNoUnknownRoutes, startHarness, type Harness } from './helpers/botHarness.ts';
import { eventually, postPhoto, replyTo } from './reliability/helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ BLOOM_NEW_SPECIES_MIN_PHOTOS: '8' }, { registerCommands: true });
});
after(async () => {
  await h?.stop();
});

/** Stores photos as approved contributions of a new community species, as /review approves them. */
async function approveNewSpecies(name: string, photos: Buffer[]): Promise<string> {
  const { store } = h.app;
  const config = h.app.bot.ctx.config;
  const { species } = store.learning.ensureSpecies(name, h.emu.users.admin.id);
  const now = new Date().toISOString();
  const addPrediction = store.db.prepare(`INSERT INTO predictions (created_at, source, top_k) VALUES (?, 'message', '[]')`);
  const addContribution = store.db.prepare(`
    INSERT INTO contributions (sha256, path, bytes, prediction_id, new_name, created_by, created_at, status, final_label, reviewed_by, reviewed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, 'approved', ?, ?, ?)`);
  for (const bytes of photos) {
    const sha = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    const rel = path.join(sha.slice(0, 2), `${sha}.jpg`);
    fs.mkdirSync(path.join(config.contribDir, sha.slice(0, 2)), { recursive: true });
    fs.writeFileSync(path.join(config.contribDir, rel), bytes);
    const pid = Number(addPrediction.run(now).lastInsertRowid);
    addContribution.run(sha, rel, bytes.length, pid, name, h.emu.users.member.id, now, species.label, h.emu.users.admin.id, now);
  }
  return species.label;
}

test('approved photos of a new species: /retrain adds it, reports it with its count, and a later photo of it is answered with its name', async () => {
  const r = rng(42);
  const photos = await Promise.all(Array.from({ length: 16 }, () => ringJpeg(r)));
  const label = await approveNewSpecies('Golden ring', photos.slice(0, 12));
  // A second proposed species with too few photos still waits.
  const r2 = rng(7);
  await approveNewSpecies('Blue moon', await Promise.all(Array.from({ length: 3 }, () => ringJpeg(r2, 80))));

  const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin });
  const outcome = await eventually(
    () => h.emu.interactionResponses(id).find((x) => x.kind === 'editOriginal' && !/Retraining…/.test(x.body.embeds?.[0]?.title ?? '')),
    180_000,
    'the retrain outcome',
  );
  const embed = outcome.body.embeds[0];
  assert.equal(embed.title, '🌸 New model is live', JSON.stringify(embed));
  const field = (name: RegExp) => embed.fields?.find((f: { name: string }) => name.test(f.name))?.value as string | undefined;
  assert.match(field(/Accuracy on the same photos/) ?? '', /→ \*\*[\d.]+%\*\* on \d+ photos \(valid \d+ \+ held-out contributions \d+\)/);
  assert.equal(field(/Species added/), '**Golden ring** — 12 approved photos');
  assert.equal(field(/Still need photos/), 'Blue moon: 3 of 8 approved photos');

  const live = readMeta(resolveCheckpointDir(h.checkpointDir));
  assert.equal(h.app.models.version, live.version);
  assert.ok(live.labels.includes(label));
  assert.equal(live.names[label], 'Golden ring');
  assert.ok(live.evaluation && live.evaluation.perLabel['1']!.images > 0, 'meta.evaluation per species');
  assert.equal(live.trainCounts![label]!.dataset, 0);
  assert.ok(live.trainCounts![label]!.community >= 8 && live.trainCounts![label]!.community <= 12);
  assert.equal(live.trainCounts!['1']!.community, 0);

  // Photos of it the model never trained on are answered with its name.
  let named = 0;
  for (const [i, bytes] of photos.slice(12).entries()) {
    const msg = await postPhoto(h, { name: `ring-${i}.jpg`, bytes, contentType: 'image/jpeg' });
    const reply = await replyTo(h, h.emu.channels.flowers.id, msg.id, 60_000);
    // The answer's title is the best guess (names are shown title-cased).
    if (/Golden Ring/i.test(reply.message.embeds?.[0]?.title ?? '')) named++;
  }
  assert.ok(named >= 3, `${named} of 4 new photos answered with the new species as the best guess`);
  assertNoUnknownRoutes(h);
});
