// The three kinds of answer through the Discord emulator: a species, "not sure"
// with the prompt to tell the name, and "that doesn't look like a flower".
// The synthetic model gets answer settings (as npm run calibrate writes them)
// chosen so that each kind is reached by one of the photos below.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { after, before, test } from 'node:test';
import { pickFlowerClasses, type AnswerSettings } from '../src/classifier/answers.ts';
import { rng } from '../src/classifier/augment.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { imagenetProbs, loadImagenetHeads } from '../src/classifier/imagenetHead.ts';
import { decodeShortSide } from '../src/classifier/images.ts';
import { QUALITY_SIDE } from '../src/classifier/quality.ts';
import type { SyntheticModel } from '../src/dev/syntheticModel.ts';
import { saveAnswerSettings } from '../src/training/calibrate.ts';
import { retrainOutcome, startHarness, type Harness } from './helpers/botHarness.ts';

let h: Harness;
const chosen: Record<'species' | 'notSure' | 'notFlower', Buffer> = {} as never;

/** Photos that are not shapes: flat colours, stripes, noise. */
async function otherPhotos(): Promise<Buffer[]> {
  const r = rng(11);
  const out: Buffer[] = [];
  for (const [red, g, b] of [
    [20, 20, 20],
    [240, 240, 240],
    [200, 120, 40],
    [60, 140, 200],
  ])
    out.push(
      await sharp({ create: { width: 96, height: 96, channels: 3, background: { r: red!, g: g!, b: b! } } })
        .jpeg()
        .toBuffer(),
    );
  for (let k = 0; k < 4; k++) {
    const px = Buffer.alloc(96 * 96 * 3);
    for (let i = 0; i < px.length; i++) px[i] = k < 2 ? Math.floor(r() * 256) : ((Math.floor(i / 3) % 96) >> (k + 1)) % 2 ? 230 : 30;
    out.push(
      await sharp(px, { raw: { width: 96, height: 96, channels: 3 } })
        .jpeg()
        .toBuffer(),
    );
  }
  return out;
}

/** Settings that split the photos into the three kinds, written into the checkpoint as calibrate would. */
async function chooseSettings(m: SyntheticModel): Promise<void> {
  const dir = resolveCheckpointDir(m.checkpointDir);
  const clf = await Classifier.load({ checkpoint: dir, cacheDir: path.dirname(m.checkpointDir) });
  const heads = await loadImagenetHeads([m.backbone], clf.meta.backbones, { cacheDir: path.dirname(m.checkpointDir) });
  const signals = async (bytes: Buffer) => {
    const views = await clf.views(bytes, { decoded: await decodeShortSide(bytes, QUALITY_SIDE) });
    const f = (await clf.embedder.embed(views))[0]!;
    return { bytes, f, top1: Math.max(...clf.probsOfFeatures([f])[0]!) };
  };
  const read = (split: string) =>
    ['1', '2', '3'].flatMap((l) =>
      fs.readdirSync(path.join(m.dataDir, split, l)).map((n) => fs.readFileSync(path.join(m.dataDir, split, l, n))),
    );
  const train = await Promise.all(read('train').map(signals));
  const flowerClasses = [
    pickFlowerClasses(
      train.map((s) => imagenetProbs(heads[0]!, s.f)),
      0.5,
    ),
  ];
  const likeness = (f: Float32Array) => flowerClasses[0]!.reduce((a, c) => a + imagenetProbs(heads[0]!, f)[c]!, 0);
  const flowers = (await Promise.all(read('valid').map(signals))).map((s) => ({ ...s, like: likeness(s.f) }));
  const others = (await Promise.all((await otherPhotos()).map(signals))).map((s) => ({ ...s, like: likeness(s.f) }));
  await clf.dispose();
  // The least flower-like other photo is "not a flower"; every shape stays above the line.
  const notFlower = others.sort((a, b) => a.like - b.like)[0]!;
  const floor = Math.min(...flowers.map((s) => s.like));
  assert.ok(notFlower.like < floor, `a photo less flower-like than every shape (${notFlower.like} vs ${floor})`);
  const notFlowerBelow = (notFlower.like + floor) / 2;
  const ranked = flowers.sort((a, b) => a.top1 - b.top1);
  const [unsure, sure] = [ranked[0]!, ranked[ranked.length - 1]!];
  assert.ok(sure.top1 - unsure.top1 > 0.02, `shapes of different confidence (${unsure.top1}, ${sure.top1})`);
  const settings: AnswerSettings = { temperature: 1, flowerClasses, speciesThreshold: (unsure.top1 + ranked[1]!.top1) / 2, notFlowerBelow };
  saveAnswerSettings(dir, settings);
  Object.assign(chosen, { species: sure.bytes, notSure: unsure.bytes, notFlower: notFlower.bytes });
}

before(async () => {
  h = await startHarness({}, { prepare: chooseSettings });
});
after(async () => {
  await h?.stop();
});

async function ask(name: string, bytes: Buffer) {
  const { flowers } = h.emu.channels;
  const posted = await h.emu.postMessage({ channelId: flowers.id, attachments: [h.emu.addAttachment(name, bytes, 'image/jpeg')] });
  return h.emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 15_000);
}

test('a confident shape is answered with its species', async () => {
  const reply = await ask('sure.jpg', chosen.species);
  const e = reply.message.embeds[0]!;
  assert.match(e.title!, /^🌸 (Red Disc|Green Square|Blue Triangle)$/);
  assert.equal(
    e.fields!.some((f) => f.name === 'Know what it is?'),
    false,
  );
});

test('a shape the model cannot place is "not sure", with the candidates and a prompt to tell its name', async () => {
  const reply = await ask('unsure.jpg', chosen.notSure);
  const e = reply.message.embeds[0]!;
  assert.equal(e.title, 'Not sure which flower this is');
  assert.match(e.fields!.find((f) => f.name === 'Top candidates')!.value, /█/);
  assert.match(e.fields!.find((f) => f.name === 'Know what it is?')!.value, /tell me/);
});

test('something else is "that doesn\'t look like a flower", without a species name', async () => {
  const reply = await ask('other.jpg', chosen.notFlower);
  const e = reply.message.embeds[0]!;
  assert.equal(e.title, "That doesn't look like a flower");
  assert.doesNotMatch(JSON.stringify(reply.message.embeds), /Red Disc|Green Square|Blue Triangle/i);
  assert.deepEqual(reply.files, []);
});

test("after /retrain full:true the new model still answers in three kinds: its answers are calibrated like the live model's before it goes live", async () => {
  const live = h.app.models.current!;
  const liveAnswers = live.meta.answers!;
  const { id } = await h.emu.invokeCommand({ name: 'retrain', user: h.emu.users.admin, options: { full: true } });
  const final = await retrainOutcome(h, id);
  assert.match(final.body.embeds[0].title, /New model is live/);
  const edits = h.emu.interactionResponses(id).filter((r) => r.kind === 'editOriginal');
  assert.ok(
    edits.some((e) => /calibrate/.test(e.body.embeds[0].description) && /Calibrating the answers/.test(e.body.embeds[0].description)),
    'the calibration shows in the progress',
  );
  const now = h.app.models.current!;
  assert.notEqual(now.version, live.version);
  const a = now.meta.answers;
  assert.ok(a, 'the new checkpoint has answer settings');
  assert.equal(a.speciesThreshold, liveAnswers.speciesThreshold, 'the species threshold (a calibrated probability) carries over');
  assert.equal(a.topLabel, undefined, 'the live model was temperature-scaled: so is the new one');
  assert.match(String(a.fitted?.temperatureOn), /^valid \(\d+ photos/);
  assert.ok(a.notFlowerBelow !== undefined && a.notFlowerDistanceAbove !== undefined, '"not a flower" thresholds fitted for the new head');
  assert.ok(fs.existsSync(path.join(now.dir, a.centroids!)), 'species prototypes beside it');
  // And the bot answers with them: something else is still not a flower, a clear shape still a species.
  const other = await ask('other-after.jpg', chosen.notFlower);
  assert.equal(other.message.embeds[0]!.title, "That doesn't look like a flower");
  const sure = await ask('sure-after.jpg', chosen.species);
  assert.match(sure.message.embeds[0]!.title!, /^🌸 (Red Disc|Green Square|Blue Triangle)$/);
});
