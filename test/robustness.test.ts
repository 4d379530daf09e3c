// Issue 4's hermetic checks: augmentation, ensembles, TTA, the quality hint.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { after, before, describe, test } from 'node:test';
import {
  applyTransform,
  IDENTITY,
  innerRect,
  rng,
  samplePerturbation,
  sampleTransform,
  type Transform,
} from '../src/classifier/augment.ts';
import { initBackend } from '../src/classifier/backend.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { LocalEmbedder, type Embedder } from '../src/classifier/embedder.ts';
import { loadFeatureExtractor } from '../src/classifier/featureExtractor.ts';
import { centreCrop, decodeShortSide, decodeUpright, outerSide, prepareImage } from '../src/classifier/images.ts';
import { assessQuality, laplacianVariance, QUALITY_SIDE, qualityOf } from '../src/classifier/quality.ts';
import { scanDataset } from '../src/training/dataset.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { extractFeatures, parseAugmentation } from '../src/training/features.ts';
import { train } from '../src/training/trainer.ts';
import { shapeJpeg, writeShapesDataset } from '../src/dev/fixtures/shapes.ts';
import { writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-robust-'));
let data = '',
  a = '',
  b = '';
before(async () => {
  await initBackend({ prefer: 'wasm' });
  data = await writeShapesDataset(path.join(tmp, 'shapes'), { train: 12, valid: 6 });
  a = await writeTinyBackbone(path.join(tmp, 'a'), 1);
  b = await writeTinyBackbone(path.join(tmp, 'b'), 2);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const diff = (x: Uint8Array, y: Uint8Array) => x.reduce((s, v, i) => s + Math.abs(v - y[i]!), 0) / x.length;

describe('augmentation', () => {
  test('is deterministic under a seed and different across seeds', () => {
    for (const level of ['basic', 'robust', 'phone'] as const) {
      assert.deepEqual(sampleTransform(rng(42), level), sampleTransform(rng(42), level), level);
      assert.notDeepEqual(sampleTransform(rng(42), level), sampleTransform(rng(43), level), level);
    }
    assert.deepEqual(samplePerturbation(rng(7)), samplePerturbation(rng(7)));
  });

  test('each kind of transform changes the image, and the same transform gives the same pixels', async () => {
    const img = await decodeUpright(await shapeJpeg('1', rng(1), 160));
    const base = await applyTransform(img, IDENTITY, 64);
    const kinds: Partial<Transform>[] = [
      { area: 0.5, cx: 0, cy: 0 },
      { rotateDeg: 15 },
      { flip: true },
      { brightness: 0.6 },
      { contrast: 1.3 },
      { saturation: 0.5 },
      { blurSigma: 2 },
      { downscaleTo: 40 },
      { jpegQuality: 10 },
      { noiseSigma: 8 },
    ];
    for (const k of kinds) {
      const t = { ...IDENTITY, ...k };
      const out = await applyTransform(img, t, 64);
      assert.ok(diff(out, base) > 0.5, `${JSON.stringify(k)} changes the image`);
      assert.deepEqual(await applyTransform(img, t, 64), out, `${JSON.stringify(k)} is deterministic`);
    }
  });

  test("'phone' draws its conditions together more often than 'robust'", () => {
    const share = (level: 'robust' | 'phone', hit: (t: Transform) => boolean) => {
      const r = rng(5);
      let n = 0;
      for (let i = 0; i < 400; i++) if (hit(sampleTransform(r, level))) n++;
      return n / 400;
    };
    const harsh = (t: Transform) => t.blurSigma > 0 && t.downscaleTo > 0 && t.jpegQuality > 0;
    assert.ok(share('phone', harsh) > 2 * share('robust', harsh));
    assert.ok(share('phone', (t) => !!t.noiseSigma) > 0.2 && share('robust', (t) => !!t.noiseSigma) === 0);
  });

  test('an augmentation spec is one level or a mix with counts, and typos are refused', () => {
    assert.deepEqual(parseAugmentation('robust', 6), [{ level: 'robust', views: 6 }]);
    assert.deepEqual(parseAugmentation('robust:2, phone:3', 99), [
      { level: 'robust', views: 2 },
      { level: 'phone', views: 3 },
    ]);
    assert.deepEqual(parseAugmentation('phone', 0), []);
    assert.deepEqual(parseAugmentation('robust:2,phone:3', 0), [], '--aug-views 0 means centre views only');
    assert.throws(() => parseAugmentation('robsut:2', 0), /unknown augmentation level "robsut"/);
    assert.throws(() => parseAugmentation('phone:two', 0), /whole number/);
  });

  test('rotation crops inside the rotated image (no fill corners)', () => {
    const r = innerRect(400, 300, (20 * Math.PI) / 180);
    assert.ok(r.w > 200 && r.w < 400 && r.h > 150 && r.h < 300);
    assert.deepEqual(innerRect(400, 300, 0), { w: 400, h: 300 });
  });
});

describe('feature cache and ensembles', () => {
  test('an ensemble reads its rows back from the cache, and re-extracts only a backbone that misses', async () => {
    const fx = new LocalEmbedder(await loadFeatureExtractor(`${a}+${b}`, { cacheDir: tmp }));
    const calls: number[][] = [];
    const counting: Embedder = {
      specs: fx.specs,
      inputSize: fx.inputSize,
      embed: (x, w) => {
        calls.push(w ?? [0, 1]);
        return fx.embed(x, w);
      },
      close: () => fx.close(),
    };
    const dir = path.join(tmp, 'fc-ens');
    const samples = scanDataset(data).splits.train!.slice(0, 5);
    const plan = { centre: true, seed: 4, aug: [{ level: 'phone' as const, views: 1 }] };
    const first = await extractFeatures(samples, { embedder: counting, cache: new FeatureCache(dir), plan });
    const warm = await extractFeatures(samples, { embedder: counting, cache: new FeatureCache(dir), plan });
    assert.equal(warm.extracted, 0);
    assert.equal(warm.cached, 10);
    assert.deepEqual(
      warm.items.map((i) => i.views.map((v) => Array.from(v))),
      first.items.map((i) => i.views.map((v) => Array.from(v))),
    );
    // Drop the second backbone's files: only that backbone runs again, for each view.
    fs.rmSync(path.join(dir, fx.specs[1]!.id.replace(/[^a-zA-Z0-9._-]/g, '_')), { recursive: true });
    calls.length = 0;
    const partial = await extractFeatures(samples, { embedder: counting, cache: new FeatureCache(dir), plan });
    assert.deepEqual(calls, [[1], [1]], 'the centre and the phone view, second backbone only');
    assert.deepEqual(
      partial.items.map((i) => i.views.map((v) => Array.from(v).map((x) => x.toFixed(4)))),
      first.items.map((i) => i.views.map((v) => Array.from(v).map((x) => x.toFixed(4)))),
    );
    await fx.close();
  });

  test('augmented views are cached: a second pass extracts nothing', async () => {
    const fx = new LocalEmbedder(await loadFeatureExtractor(a, { cacheDir: tmp }));
    let calls = 0;
    const counting: Embedder = {
      specs: fx.specs,
      inputSize: fx.inputSize,
      embed: (x, w) => {
        calls += x.length;
        return fx.embed(x, w);
      },
      close: () => fx.close(),
    };
    const cache = new FeatureCache(path.join(tmp, 'fc'));
    const samples = scanDataset(data).splits.train!.slice(0, 6);
    const plan = {
      centre: true,
      seed: 3,
      aug: [
        { level: 'robust' as const, views: 1 },
        { level: 'phone' as const, views: 1 },
      ],
    };
    const first = await extractFeatures(samples, { embedder: counting, cache, plan });
    assert.equal(calls, 18);
    const second = await extractFeatures(samples, { embedder: counting, cache: new FeatureCache(path.join(tmp, 'fc')), plan });
    assert.equal(calls, 18, 'no extraction on a warm cache (read back from disk)');
    assert.equal(second.cached, 18);
    assert.deepEqual(
      second.items.map((i) => Array.from(i.views[1]!)),
      first.items.map((i) => Array.from(i.views[1]!)),
    );
    // The views differ from each other.
    assert.notDeepEqual(Array.from(first.items[0]!.views[0]!), Array.from(first.items[0]!.views[1]!));
    await counting.close();
  });

  test('an ensemble checkpoint records both backbones and round-trips', async () => {
    const arch = `${a}+${b}`;
    const embedder = new LocalEmbedder(await loadFeatureExtractor(arch, { cacheDir: tmp }));
    assert.equal(embedder.specs.length, 2);
    const r = await train({
      arch,
      hiddenUnits: [],
      dropout: 0,
      learningRate: 0.02,
      epochs: 20,
      batchSize: 16,
      augViews: 1,
      augLevel: 'robust',
      seed: 1,
      dataDir: data,
      saveDir: path.join(tmp, 'ens'),
      embedder,
      cache: new FeatureCache(path.join(tmp, 'fc')),
    });
    await embedder.close();
    assert.equal(r.meta.backbones.length, 2);
    assert.equal(r.meta.params.arch, arch);
    const clf = await Classifier.load({ checkpoint: r.dir, cacheDir: tmp });
    const photo = fs.readFileSync(path.join(data, 'valid', '3', 'img_1.jpg'));
    const one = await clf.classify(photo);
    const two = await clf.classify(photo);
    assert.deepEqual(one.top, two.top);
    const tta = await clf.classify(photo, { tta: true });
    assert.ok(Math.abs(tta.probabilities.reduce((s, p) => s + p, 0) - 1) < 1e-4);
    assert.notDeepEqual(Array.from(tta.probabilities), Array.from(one.probabilities), 'TTA averages other views');
    await clf.dispose();
  });
});

describe('views per epoch', () => {
  test('sampling one cached view per photo each epoch still trains, and is recorded', async () => {
    const embedder = new LocalEmbedder(await loadFeatureExtractor(a, { cacheDir: tmp }));
    const r = await train({
      arch: a,
      hiddenUnits: [],
      dropout: 0,
      learningRate: 0.02,
      epochs: 25,
      batchSize: 16,
      augViews: 3,
      augLevel: 'robust',
      seed: 2,
      viewsPerEpoch: 1,
      dataDir: data,
      saveDir: path.join(tmp, 'vpe'),
      embedder,
      cache: new FeatureCache(path.join(tmp, 'fc')),
    });
    await embedder.close();
    assert.equal(r.meta.params.viewsPerEpoch, 1);
    assert.equal(r.meta.epochs.length, 25);
    // Chance is 1/3; the same head on all views gets about 0.83 here.
    assert.ok(r.meta.validAccuracy >= 0.7, String(r.meta.validAccuracy));
  });
});

describe('photo-quality hint', () => {
  test('small and blurry photos get a note; a sharp large one does not', async () => {
    const noisy = await sharp(Buffer.from(Array.from({ length: 400 * 400 * 3 }, (_, i) => ((i * 2654435761) >>> 24) & 255)), {
      raw: { width: 400, height: 400, channels: 3 },
    })
      .jpeg()
      .toBuffer();
    const ok = await assessQuality(noisy, { minSide: 224 });
    assert.deepEqual(ok.notes, []);
    const small = await assessQuality(await sharp(noisy).resize(120, 90).jpeg().toBuffer(), { minSide: 224 });
    assert.ok(small.small && small.notes.some((n) => n.includes('120×90')));
    const blurry = await assessQuality(await sharp(noisy).blur(4).jpeg().toBuffer(), { minSide: 224 });
    assert.ok(blurry.blurry && blurry.notes.some((n) => /blurry/.test(n)), String(blurry.sharpness));
    assert.ok(ok.sharpness > blurry.sharpness);
  });

  test('one decode serves both: the same centre view as prepareImage and the same quality report', async () => {
    // Odd margins on both axes, where rounding the crop offset matters.
    for (const [w, h] of [
      [325, 256],
      [256, 331],
      [300, 411],
    ] as const) {
      const photo = await sharp(await shapeJpeg('3', rng(w), 96))
        .resize(w, h, { fit: 'fill' })
        .blur(0.6)
        .jpeg()
        .toBuffer();
      const decoded = await decodeShortSide(photo, outerSide(64));
      assert.deepEqual(centreCrop(decoded, 64), await prepareImage(photo, { size: 64 }), `${w}×${h}`);
      const at256 = await decodeShortSide(photo, QUALITY_SIDE);
      assert.deepEqual(qualityOf(at256, { width: w, height: h }, { minSide: 224 }), await assessQuality(photo, { minSide: 224 }));
    }
  });

  test('the Laplacian variance is zero on a flat image and positive on an edge', () => {
    assert.equal(laplacianVariance(new Uint8Array(25).fill(7), 5, 5), 0);
    const edge = new Uint8Array(25).map((_, i) => (i % 5 < 2 ? 0 : 255));
    assert.ok(laplacianVariance(edge, 5, 5) > 0);
  });
});
