// The bot answers from the crops its model was calibrated on (issue 12): a
// shape at the edge of a wide photo, which the centre crop cuts away, is
// answered with its species by a model whose answer crop is the whole photo.
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { after, before, test } from 'node:test';
import type { AnswerSettings } from '../src/classifier/answers.ts';
import { rng } from '../src/classifier/augment.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import type { AnswerViews } from '../src/classifier/crops.ts';
import { shapeJpeg, SHAPE_NAMES } from '../src/dev/fixtures/shapes.ts';
import type { SyntheticModel } from '../src/dev/syntheticModel.ts';
import { saveAnswerSettings } from '../src/training/calibrate.ts';
import { startHarness, type Harness } from './helpers/botHarness.ts';

let h: Harness;
let photo: { bytes: Buffer; label: string };
const VIEWS: AnswerViews = { crops: ['whole'], combine: 'mean' };

/** A shape photo pasted at the left end of a wide plain frame: the centre crop sees a sliver of it. */
async function atTheEdge(label: string, seed: number, background: string): Promise<Buffer> {
  const shape = await shapeJpeg(label, rng(seed));
  return sharp({ create: { width: 240, height: 96, channels: 3, background } })
    .composite([{ input: shape, left: 0, top: 0 }])
    .jpeg({ quality: 92 })
    .toBuffer();
}

/** Picks an edge photo the centre crop gets wrong and the whole photo gets right. */
async function chooseSettings(m: SyntheticModel): Promise<void> {
  const dir = resolveCheckpointDir(m.checkpointDir);
  const clf = await Classifier.load({ checkpoint: dir, cacheDir: path.dirname(m.checkpointDir) });
  const best1 = async (bytes: Buffer, views: AnswerViews) => {
    clf.useAnswerViews(views);
    return (await clf.classify(bytes)).top[0]!;
  };
  let found: { bytes: Buffer; label: string; p: number } | undefined;
  for (const background of ['#202020', '#c8c8b4', '#7f7f7f'])
    for (const label of Object.keys(SHAPE_NAMES))
      for (let seed = 1; seed <= 3; seed++) {
        const bytes = await atTheEdge(label, seed, background);
        const centre = await best1(bytes, { crops: ['centre'], combine: 'mean' });
        const whole = await best1(bytes, VIEWS);
        if (centre.label !== label && whole.label === label && whole.probability > (found?.p ?? 0))
          found = { bytes, label, p: whole.probability };
      }
  await clf.dispose();
  assert.ok(found, 'an edge photo the centre crop gets wrong and the whole photo right');
  const settings: AnswerSettings = { temperature: 1, speciesThreshold: found.p / 2, views: VIEWS };
  saveAnswerSettings(dir, settings);
  photo = found;
}

before(async () => {
  h = await startHarness({}, { prepare: chooseSettings });
});
after(async () => {
  await h?.stop();
});

test('a shape the centre crop cuts away is answered with its species from the whole photo', async () => {
  const { flowers } = h.emu.channels;
  const posted = await h.emu.postMessage({
    channelId: flowers.id,
    attachments: [h.emu.addAttachment('edge.jpg', photo.bytes, 'image/jpeg')],
  });
  const reply = await h.emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 15_000);
  const e = reply.message.embeds[0]!;
  const name = SHAPE_NAMES[photo.label]!.replace(/\b\w/g, (c) => c.toUpperCase());
  assert.equal(e.title, `🌸 ${name}`);
});
