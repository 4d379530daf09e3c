// Real-photo views (issue 12): scenes made from tidy photos for training and
// the check set, and the crops the bot answers from.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { rng } from '../src/classifier/augment.ts';
import type { BackboneSpec } from '../src/classifier/backbones.ts';
import { combineCrops, cropInputs, parseAnswerViews } from '../src/classifier/crops.ts';
import type { Embedder } from '../src/classifier/embedder.ts';
import { prepareImage, type RGBImage } from '../src/classifier/images.ts';
import { renderScene, SCENE_KINDS, type SceneKind } from '../src/classifier/scenes.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { cropPlan, extractFeatures, parseAugmentation } from '../src/training/features.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-scenes-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const solid = (r: number, g: number, b: number, w = 64, h = 64): RGBImage => {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i += 3) [data[i], data[i + 1], data[i + 2]] = [r, g, b];
  return { data, width: w, height: h };
};

/** Share of pixels within `tol` of a colour. */
function share(px: Uint8Array | Buffer, [r, g, b]: number[], tol = 40): number {
  let n = 0;
  for (let i = 0; i < px.length; i += 3) if (Math.abs(px[i]! - r!) + Math.abs(px[i + 1]! - g!) + Math.abs(px[i + 2]! - b!) < tol) n++;
  return n / (px.length / 3);
}

describe('scenes', () => {
  const photo = solid(220, 40, 60);
  const companion = solid(250, 220, 30);
  const inputs = () => {
    const asked = { n: 0 };
    return { asked, input: { photo, sameSpecies: async () => (asked.n++, companion) } };
  };

  test('every kind gives a size×size picture, the same under the same seed', async () => {
    for (const kind of SCENE_KINDS) {
      const a = await renderScene(kind, rng(5), inputs().input, 96);
      const b = await renderScene(kind, rng(5), inputs().input, 96);
      assert.equal(a.width, 96);
      assert.equal(a.height, 96);
      assert.equal(a.data.length, 96 * 96 * 3, kind);
      assert.ok(a.data.equals(b.data), `${kind} is deterministic`);
    }
  });

  test('a bed shows several blooms of the species: the photo and its companions', async () => {
    const { asked, input } = inputs();
    const img = await renderScene('bed', rng(3), input, 96);
    assert.ok(asked.n > 0, 'companions were drawn');
    assert.ok(share(img.data, [220, 40, 60]) > 0.05, 'the photo is in the bed');
    assert.ok(share(img.data, [250, 220, 30]) > 0.05, 'so is a companion');
  });

  test('a far shot puts the bloom small on a blurred background', async () => {
    // A photo with a white square bloom in the middle of a green ground.
    const bloomy = solid(30, 140, 40, 100, 100);
    for (let y = 30; y < 70; y++) for (let x = 30; x < 70; x++) bloomy.data.fill(250, (y * 100 + x) * 3, (y * 100 + x) * 3 + 3);
    const whiteIn = async (img: RGBImage) => share(img.data, [250, 250, 250], 30);
    const plain = await prepareImage(
      await sharp(bloomy.data, { raw: { width: 100, height: 100, channels: 3 } })
        .png()
        .toBuffer(),
      {
        size: 96,
      },
    );
    const far = await renderScene('far', rng(9), { photo: bloomy, sameSpecies: async () => bloomy }, 96);
    assert.ok((await whiteIn(far)) < share(plain, [250, 250, 250], 30) / 2, 'the bloom covers far less of the frame');
    assert.ok((await whiteIn(far)) > 0.005, 'but it is there');
  });

  test('a macro is a crop of 10–30 % of the photo: a detail fills the frame', async () => {
    // Left half red, right half blue: a small crop is mostly one colour.
    const split = solid(200, 0, 0, 100, 100);
    for (let y = 0; y < 100; y++) for (let x = 50; x < 100; x++) split.data.set([0, 0, 200], (y * 100 + x) * 3);
    let oneColour = 0;
    for (let s = 0; s < 10; s++) {
      const img = await renderScene('macro', rng(s), { photo: split, sameSpecies: async () => split }, 64);
      if (Math.max(share(img.data, [200, 0, 0], 60), share(img.data, [0, 0, 200], 60)) > 0.6) oneColour++;
    }
    assert.ok(oneColour >= 5, `${oneColour}/10 close-ups dominated by one side`);
  });

  test('the other kinds change the photo: a hand or stems, a filter, light', async () => {
    const kinds: SceneKind[] = ['hand', 'filter', 'light'];
    for (const kind of kinds) {
      let changed = 0;
      for (let s = 0; s < 6; s++) {
        const img = await renderScene(kind, rng(100 + s), { photo, sameSpecies: async () => photo }, 64);
        if (share(img.data, [220, 40, 60], 30) < 0.9) changed++;
      }
      assert.ok(changed >= 4, `${kind}: ${changed}/6 views differ from the plain photo`);
    }
  });
});

describe('training views of level "scene"', () => {
  test('are a training level, cached like the others, and draw companions of the same species only', async () => {
    assert.deepEqual(parseAugmentation('robust:1,scene:2', 3), [
      { level: 'robust', views: 1 },
      { level: 'scene', views: 2 },
    ]);
    // Two species: all-red photos and all-blue photos.
    const dir = path.join(tmp, 'species');
    fs.mkdirSync(dir, { recursive: true });
    const samples = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const file = path.join(dir, `${i}.png`);
        const red = i < 3;
        await sharp({ create: { width: 48, height: 40, channels: 3, background: red ? '#dd2020' : '#2020dd' } })
          .png()
          .toFile(file);
        return { path: file, label: red ? 'red' : 'blue' };
      }),
    );
    const seen: Uint8Array[] = [];
    const embedder: Embedder = {
      specs: [{ id: 'fake', featureSize: 2 } as BackboneSpec],
      inputSize: 32,
      async embed(images) {
        seen.push(...images);
        return images.map((img) => Float32Array.from([img[0]!, img[2]!]));
      },
      close: async () => undefined,
    };
    const cache = new FeatureCache(path.join(tmp, 'cache'));
    const plan = { centre: false, seed: 1, aug: [{ level: 'scene' as const, views: 4 }] };
    const r = await extractFeatures(samples, { embedder, cache, plan });
    assert.equal(r.extracted, 24);
    for (const [i, it] of r.items.entries()) {
      for (const [v, img] of seen.filter((_, k) => k % 6 === i).entries()) {
        const red = it.sample.label === 'red';
        // Backgrounds, filters and light may shift colours; the other species' colour never appears.
        assert.ok(share(img, red ? [32, 32, 221] : [221, 32, 32], 60) === 0, `photo ${i} view ${v} holds no other species`);
      }
    }
    const again = await extractFeatures(samples, { embedder, cache, plan });
    assert.equal(again.extracted, 0, 'a second run reads them from the cache');
    assert.equal(again.cached, 24);
  });
});

describe('answer crops', () => {
  /** A wide photo: red left edge, blue right edge, white centre with a small black dot. */
  async function wide(): Promise<Buffer> {
    const w = 300,
      h = 150;
    const data = Buffer.alloc(w * h * 3, 255);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const at = (y * w + x) * 3;
        if (x < 40) data.set([220, 0, 0], at);
        else if (x >= w - 40) data.set([0, 0, 220], at);
        else if (Math.abs(x - w / 2) < 12 && Math.abs(y - h / 2) < 12) data.set([0, 0, 0], at);
      }
    return sharp(data, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toBuffer();
  }

  test('centre is the training crop; whole keeps both edges; zoom enlarges the middle', async () => {
    const bytes = await wide();
    const [centre, whole, zoom] = await cropInputs(bytes, ['centre', 'whole', 'zoom'], 64);
    assert.deepEqual(centre, await prepareImage(bytes, { size: 64 }), 'the centre crop has the training pixels');
    assert.equal(share(centre, [220, 0, 0], 60), 0, 'the centre crop misses the edges');
    assert.ok(share(whole!, [220, 0, 0], 60) > 0.02 && share(whole!, [0, 0, 220], 60) > 0.02, 'the whole photo has both edges');
    assert.ok(share(zoom!, [0, 0, 0], 60) > 2 * share(centre, [0, 0, 0], 60), 'the zoom shows the dot larger');
    assert.equal(whole!.length, 64 * 64 * 3);
  });

  test('combining: mean of the rows, or the row the model is surest of', () => {
    const rows = [Float32Array.from([0.5, 0.3, 0.2]), Float32Array.from([0.1, 0.85, 0.05])];
    assert.deepEqual(
      Array.from(combineCrops(rows, 'mean')).map((x) => +x.toFixed(3)),
      [0.3, 0.575, 0.125],
    );
    assert.deepEqual(combineCrops(rows, 'max'), rows[1]);
  });

  test('--crops and --combine are checked', () => {
    assert.deepEqual(parseAnswerViews('centre,whole', 'max'), { crops: ['centre', 'whole'], combine: 'max' });
    assert.throws(() => parseAnswerViews('centre,edge', 'mean'), /unknown crop "edge"/);
    assert.throws(() => parseAnswerViews('whole,centre', 'mean'), /centre crop comes first/);
    assert.throws(() => parseAnswerViews('centre,centre', 'mean'), /named twice/);
    assert.throws(() => parseAnswerViews('centre', 'median'), /mean or max/);
  });

  test("a crop plan extracts the bot's crops, in order, cached apart from the centre view", async () => {
    const file = path.join(tmp, 'wide.png');
    fs.writeFileSync(file, await wide());
    const embedder: Embedder = {
      specs: [{ id: 'fake', featureSize: 3 } as BackboneSpec],
      inputSize: 64,
      async embed(images) {
        return images.map((img) =>
          Float32Array.from([share(img, [220, 0, 0], 60), share(img, [0, 0, 220], 60), share(img, [0, 0, 0], 60)]),
        );
      },
      close: async () => undefined,
    };
    const r = await extractFeatures([{ path: file, label: 'x' }], {
      embedder,
      cache: new FeatureCache(path.join(tmp, 'crops')),
      plan: cropPlan(['centre', 'whole', 'zoom']),
    });
    const [centre, whole, zoom] = r.items[0]!.views;
    assert.equal(centre![0], 0);
    assert.ok(whole![0]! > 0.02);
    assert.ok(zoom![2]! > centre![2]!);
    assert.throws(() => cropPlan(['whole', 'centre']), /centre crop comes first/);

    // The 'whole' training view is that same crop, so the head learns what the bot will show it.
    const seen: Uint8Array[] = [];
    const recorder: Embedder = { ...embedder, embed: async (images) => (seen.push(...images), embedder.embed(images)) };
    await extractFeatures([{ path: file, label: 'x' }], {
      embedder: recorder,
      plan: { centre: false, seed: 1, aug: [{ level: 'whole', views: 1 }] },
    });
    assert.deepEqual(seen[0], (await cropInputs(fs.readFileSync(file), ['whole'], 64))[0]);
    assert.deepEqual(parseAugmentation('phone:3,whole:1', 4), [
      { level: 'phone', views: 3 },
      { level: 'whole', views: 1 },
    ]);
    assert.throws(() => parseAugmentation('whole:2', 2), /one view/);
  });
});
