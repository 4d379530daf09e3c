import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { initBackend } from '../src/classifier/backend.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { applyTemperature } from '../src/classifier/answers.ts';
import { saveAnswerSettings } from '../src/training/calibrate.ts';
import { loadCheckpoint } from '../src/classifier/checkpoint.ts';
import * as tf from '../src/classifier/tf.ts';
import { loadBackbone, loadFeatureExtractor } from '../src/classifier/featureExtractor.ts';
import { LocalEmbedder } from '../src/classifier/embedder.ts';
import { decodeShortSide, decodeUpright, ImageError, MAX_DECODED_PIXELS, prepareImage, probeImage } from '../src/classifier/images.ts';
import { topK } from '../src/classifier/ranking.ts';
import { downloadFile } from '../src/net/index.ts';
import { scanDataset } from '../src/training/dataset.ts';
import { evaluate } from '../src/training/evaluate.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { train } from '../src/training/trainer.ts';
import { badImages, heicHeader, oddImages, orientationPair, thinImages } from './fixtures/badImages.ts';
import { writeShapesDataset } from '../src/dev/fixtures/shapes.ts';
import { TINY_INPUT, writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-clf-'));
const backboneDir = path.join(tmp, 'tiny');
const shapesDir = path.join(tmp, 'shapes');
let server: http.Server;
let baseUrl = '';
const served: string[] = [];

before(async () => {
  await initBackend({ prefer: 'wasm' });
  await writeTinyBackbone(backboneDir);
  await writeShapesDataset(shapesDir);
  server = http.createServer((req, res) => {
    served.push(req.url!);
    const file = path.join(backboneDir, path.basename(req.url!));
    if (!fs.existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.statSync(file).size }).end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const fetchFile = async (url: string, dest: string) => void (await downloadFile(url, dest));

describe('backbone loader', () => {
  test('loads the same model from a folder and from an HTTP URL, cut at the feature layer', async () => {
    const local = await loadBackbone(backboneDir, { cacheDir: path.join(tmp, 'cache') });
    await loadBackbone(`${baseUrl}/model.json`, { cacheDir: path.join(tmp, 'cache'), fetchFile });
    assert.ok(served.includes('/model.json') && served.includes('/weights.bin'));
    assert.equal(local.spec.inputSize, TINY_INPUT);
    assert.equal(local.spec.featureLayer, 'conv2');
    assert.equal(local.spec.featureSize, 24);
    const img = await prepareImage(await (await import('../src/dev/fixtures/shapes.ts')).shapeJpeg('1', () => 0.5), { size: TINY_INPUT });
    const fa = (await new LocalEmbedder(await loadFeatureExtractor(backboneDir, { cacheDir: tmp })).embed([img]))[0]!;
    const fb = (
      await new LocalEmbedder(await loadFeatureExtractor(`${baseUrl}/model.json`, { cacheDir: path.join(tmp, 'cache'), fetchFile })).embed([
        img,
      ])
    )[0]!;
    assert.equal(fa.length, 24);
    assert.deepEqual(Array.from(fa), Array.from(fb));
  });

  test('a URL that is not cached and cannot be downloaded fails with a clear message', async () => {
    await assert.rejects(
      loadBackbone(`${baseUrl}/missing.json`, { cacheDir: path.join(tmp, 'cache2'), fetchFile }),
      /Could not download backbone/,
    );
    await assert.rejects(loadBackbone('http://127.0.0.1:9/model.json', { cacheDir: path.join(tmp, 'cache3') }), /downloads are disabled/);
    await assert.rejects(loadBackbone('no_such_preset', { cacheDir: tmp }), /Unknown backbone "no_such_preset"/);
  });
});

describe('images', () => {
  test('every bad input gives its typed error', async () => {
    const bad = await badImages();
    const expect: Record<keyof typeof bad, string> = {
      empty: 'EMPTY',
      text: 'NOT_AN_IMAGE',
      truncatedJpeg: 'CORRUPT',
      svg: 'UNSUPPORTED',
      bomb: 'TOO_MANY_PIXELS',
    };
    for (const [kind, code] of Object.entries(expect)) {
      await assert.rejects(prepareImage(bad[kind as keyof typeof bad], { size: 32 }), (err: unknown) => {
        assert.ok(err instanceof ImageError, `${kind}: ${String(err)}`);
        assert.equal(err.code, code, kind);
        assert.ok(err.message.length > 20 && !/vips|sharp/i.test(err.message), `${kind}: human message`);
        return true;
      });
    }
  });

  test('HEIC photos (the iPhone default) are named, with how to send a JPEG instead', async () => {
    const heics = [
      heicHeader(),
      heicHeader('heix', ['mif1', 'heix']),
      heicHeader('mif1', ['mif1', 'heic']),
      heicHeader('msf1', ['msf1', 'hevc']),
      heicHeader('hevc', ['hevc']),
    ];
    for (const [i, buf] of heics.entries()) {
      for (const run of [() => probeImage(buf), () => prepareImage(buf, { size: 32 }), () => decodeShortSide(buf, 256)]) {
        await assert.rejects(run(), (err: unknown) => {
          assert.ok(err instanceof ImageError && err.code === 'HEIC', `${i}: ${String(err)}`);
          assert.match(err.message, /HEIC.*iPhone.*JPEG/);
          return true;
        });
      }
    }
    // AVIF shares the container (and often the mif1 brand) but is not HEIC.
    await assert.rejects(
      probeImage(heicHeader('mif1', ['mif1', 'avif'])),
      (err: unknown) => err instanceof ImageError && err.code !== 'HEIC',
    );
  });

  test('extreme aspect ratios are refused, and no decode makes more than MAX_DECODED_PIXELS', async () => {
    for (const [kind, buf] of Object.entries(await thinImages())) {
      for (const run of [
        () => probeImage(buf),
        () => decodeShortSide(buf, 256),
        () => decodeUpright(buf),
        () => prepareImage(buf, { size: 32 }),
      ]) {
        await assert.rejects(run(), (err: unknown) => {
          assert.ok(err instanceof ImageError && err.code === 'TOO_THIN', `${kind}: ${String(err)}`);
          assert.match(err.message, /extremely thin \(\d+×\d+ px\).*normal photo/);
          return true;
        });
      }
    }
    // 20:1 is still a photo (a panorama), decoded within the budget.
    const strip = await sharp({ create: { width: 1, height: 20, channels: 3, background: '#c83c3c' } })
      .png()
      .toBuffer();
    const d = await decodeShortSide(strip, 256);
    assert.deepEqual([d.width, d.height], [256, 5120]);
    // A large photo decoded without a size limit is shrunk (whole) to the budget.
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#3c8c3c' } })
      .jpeg()
      .toBuffer();
    const u = await decodeUpright(big);
    assert.ok(u.width * u.height <= MAX_DECODED_PIXELS && u.width * u.height > 0.95 * MAX_DECODED_PIXELS, `${u.width}×${u.height}`);
    assert.ok(Math.abs(u.width / u.height - 1.5) < 0.01);
  });

  test('odd but valid photos decode to RGB inputs', async () => {
    for (const [kind, buf] of Object.entries(await oddImages())) {
      const px = await prepareImage(buf, { size: 32 });
      assert.equal(px.length, 32 * 32 * 3, kind);
    }
  });

  test('the first frame of an animated GIF is used', async () => {
    const { animatedGif } = await oddImages();
    const px = await prepareImage(animatedGif, { size: 16 });
    assert.ok(px[0]! > 200 && px[2]! < 50, 'first frame is red');
  });

  test('EXIF orientation is honoured: a sideways-stored photo decodes upright', async () => {
    const { upright, sideways } = await orientationPair();
    const info = await probeImage(sideways);
    assert.deepEqual([info.width, info.height], [60, 80]);
    const a = await prepareImage(upright, { size: 32 });
    const b = await prepareImage(sideways, { size: 32 });
    const topRow = (px: Uint8Array) => [px[0]!, px[2]!];
    assert.ok(topRow(a)[0]! > 200 && topRow(b)[0]! > 200, 'top is red in both');
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    assert.ok(diff / a.length < 8, `mean abs diff ${diff / a.length}`);
  });
});

describe('ranking', () => {
  test('top-k is sorted and names come from the map', () => {
    const top = topK([0.1, 0.6, 0.3], ['a', 'b', 'c'], { b: 'Bee' }, 2);
    assert.deepEqual(top, [
      { label: 'b', name: 'Bee', probability: 0.6 },
      { label: 'c', name: 'c', probability: 0.3 },
    ]);
  });
});

describe('dataset', () => {
  test('problems are reported, not fatal', async () => {
    const root = path.join(tmp, 'messy');
    fs.cpSync(shapesDir, root, { recursive: true });
    fs.mkdirSync(path.join(root, 'train', '4'));
    fs.writeFileSync(path.join(root, 'train', '1', 'notes.txt'), 'x');
    fs.writeFileSync(path.join(root, 'cat_to_name.json'), JSON.stringify({ 1: 'red disc', 2: 'green square' }));
    const ds = scanDataset(root);
    assert.deepEqual(ds.labels, ['1', '2', '3']);
    assert.ok(ds.problems.some((p) => p.includes('train/4: empty class folder')));
    assert.ok(ds.problems.some((p) => p.includes('notes.txt: not an image')));
    assert.ok(ds.problems.some((p) => p.includes('label 3 has no name')));
    assert.throws(() => scanDataset(path.join(tmp, 'nowhere')), /does not exist/);
  });
});

describe('training', () => {
  test('trains to ≥ 0.9 valid accuracy, caches features, round-trips the checkpoint', async () => {
    const saveDir = path.join(tmp, 'ckpt');
    const cache = new FeatureCache(path.join(tmp, 'features'));
    const embedder = new LocalEmbedder(await loadFeatureExtractor(backboneDir, { cacheDir: tmp }));
    // A corrupt file in train/ is skipped and reported, not fatal (in a copy: the shared data set stays clean).
    const dataDir = path.join(tmp, 'shapes-with-broken');
    fs.cpSync(shapesDir, dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'train', '2', 'broken.jpg'), (await badImages()).truncatedJpeg);
    const params = {
      arch: backboneDir,
      hiddenUnits: [32],
      dropout: 0.1,
      learningRate: 0.01,
      epochs: 30,
      batchSize: 16,
      augViews: 1,
      augLevel: 'robust',
      seed: 1,
    };
    const epochs: number[] = [];
    const r = await train({
      ...params,
      dataDir,
      saveDir,
      embedder,
      cache,
      onEvent: (e) => e.phase === 'train' && epochs.push(e.metrics.epoch),
    });
    assert.equal(epochs.length, 30);
    assert.ok(r.meta.validAccuracy >= 0.9, `valid accuracy ${r.meta.validAccuracy}`);
    assert.equal(r.meta.validAccuracy, Math.max(...r.meta.epochs.map((e) => e.validAccuracy)), 'best epoch kept');
    assert.deepEqual(
      r.skipped.map((s) => path.basename(s.path)),
      ['broken.jpg'],
    );
    assert.ok(r.extracted > 0);
    assert.ok(fs.existsSync(path.join(r.dir, 'model.json')) && fs.existsSync(path.join(r.dir, 'meta.json')));
    assert.deepEqual(
      fs.readdirSync(saveDir).filter((f) => f.startsWith('.tmp')),
      [],
      'no temp folder left',
    );
    assert.equal(r.meta.typicalImages['1']?.startsWith('train/1/'), true);

    // A retrain finds every view in the cache.
    const again = await train({ ...params, epochs: 1, dataDir, saveDir, embedder, cache });
    assert.equal(again.extracted, 0);
    assert.ok(again.cached > 0);

    // Load from disk twice: identical predictions; evaluate reports the training figure.
    const a = await Classifier.load({ checkpoint: r.dir, cacheDir: tmp });
    const b = await Classifier.load({ checkpoint: r.dir, cacheDir: tmp });
    const photo = fs.readFileSync(path.join(dataDir, 'valid', '3', 'img_0.jpg'));
    const pa = await a.classify(photo, { topK: 3 });
    const pb = await b.classify(photo, { topK: 3 });
    assert.deepEqual(pa.top, pb.top);
    assert.equal(pa.top[0]!.name, 'blue triangle');
    assert.ok(Math.abs(pa.probabilities.reduce((s, p) => s + p, 0) - 1) < 1e-4);
    assert.ok(pa.top[0]!.probability >= pa.top[1]!.probability);
    const report = await evaluate({ classifier: a, samples: scanDataset(dataDir).splits.valid!, cache, timed: 2 });
    assert.equal(report.clean.top1, r.meta.validAccuracy);
    const tta = await a.classify(photo, { tta: true });
    assert.equal(tta.top[0]!.label, '3');
    // With answer settings, classify shows the calibrated probabilities and the answer the bot would give.
    saveAnswerSettings(r.dir, { temperature: 2, speciesThreshold: 0.999 });
    const c = await Classifier.load({ checkpoint: r.dir, cacheDir: tmp });
    const pc = await c.classify(photo, { topK: 3 });
    const softer = applyTemperature(pa.probabilities, 2);
    pc.probabilities.forEach((p, i) => assert.ok(Math.abs(p - softer[i]!) < 1e-5, `class ${i}: ${p} vs ${softer[i]}`));
    assert.ok(pc.top[0]!.probability < pa.top[0]!.probability);
    assert.equal(pa.answer, 'species', 'no settings: the fallback threshold');
    assert.equal(pc.answer, 'notSure', 'below the fitted threshold');
    await c.dispose();
    await a.dispose();
    await b.dispose();
    await embedder.close();
  });

  /** A linear head on the tiny backbone without dropout (so a run repeats), 30 epochs. */
  const linearHead = () => ({
    arch: backboneDir,
    hiddenUnits: [],
    dropout: 0,
    learningRate: 0.01,
    epochs: 30,
    batchSize: 16,
    augViews: 0,
    augLevel: 'basic',
    seed: 1,
  });

  test('--loss logitnorm trains the logits and saves the same softmax head; the checkpoint keeps the loss', async () => {
    const embedder = new LocalEmbedder(await loadFeatureExtractor(backboneDir, { cacheDir: tmp }));
    const r = await train({
      ...linearHead(),
      loss: 'logitnorm',
      logitTemperature: 0.1,
      dataDir: shapesDir,
      saveDir: path.join(tmp, 'ckpt-logitnorm'),
      embedder,
    });
    await embedder.close();
    assert.ok(r.meta.validAccuracy >= 0.9, `valid accuracy ${r.meta.validAccuracy}`);
    assert.equal(r.meta.params.loss, 'logitnorm');
    assert.equal(r.meta.params.logitTemperature, 0.1);
    const { head } = await loadCheckpoint(r.dir);
    const dense = head.layers.at(-1)!.getConfig();
    assert.equal(dense.activation, 'softmax', 'saved as a softmax head like any other');
    const p = tf.tidy(
      () => (head.predict(tf.randomNormal([4, head.inputs[0]!.shape[1]!], 0, 1, 'float32', 2)) as tf.Tensor).arraySync() as number[][],
    );
    for (const row of p) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    head.dispose();
  });

  test('--outlier-mix: the head is less sure of a mix of two shapes, still right on the shapes themselves', async () => {
    const embedder = new LocalEmbedder(await loadFeatureExtractor(backboneDir, { cacheDir: tmp }));
    const params = linearHead();
    const plain = await train({ ...params, dataDir: shapesDir, saveDir: path.join(tmp, 'ckpt-plain'), embedder });
    const mixed = await train({ ...params, outlierMix: 1, dataDir: shapesDir, saveDir: path.join(tmp, 'ckpt-mixed'), embedder });
    assert.equal(mixed.meta.params.outlierMix, 1);
    assert.equal(plain.meta.params.outlierMix, undefined);
    assert.ok(mixed.meta.validAccuracy >= 0.9, `valid accuracy ${mixed.meta.validAccuracy}`);
    assert.ok(
      mixed.meta.epochs.every((e) => e.trainAccuracy >= 0 && e.trainAccuracy <= 1),
      'train accuracy counts the species rows only',
    );
    assert.ok(mixed.meta.epochs.at(-1)!.trainAccuracy >= 0.9, `train accuracy ${mixed.meta.epochs.at(-1)!.trainAccuracy}`);
    // Features of one valid photo of each of two shapes, and their half-and-half mix.
    const labels = scanDataset(shapesDir).labels;
    const photo = (label: string) => {
      const dir = path.join(shapesDir, 'valid', label);
      return prepareImage(fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]!)), { size: TINY_INPUT });
    };
    const [a, b] = await embedder.embed([await photo(labels[0]!), await photo(labels[1]!)]);
    await embedder.close();
    const half = a!.map((v, i) => (v + b![i]!) / 2);
    const top1 = async (dir: string) => {
      const { head } = await loadCheckpoint(dir);
      const p = tf.tidy(() => (head.predict(tf.tensor2d(half, [1, half.length])) as tf.Tensor).dataSync());
      head.dispose();
      return Math.max(...p);
    };
    const [sure, unsure] = [await top1(plain.dir), await top1(mixed.dir)];
    assert.ok(unsure < sure, `top-1 on the mix: ${unsure} with outlier mixing, ${sure} without`);
  });

  test('a checkpoint whose backbone does not match is refused', async () => {
    // Its own quick checkpoint (one epoch), not the previous test's.
    const own = new LocalEmbedder(await loadFeatureExtractor(backboneDir, { cacheDir: tmp }));
    const saveDir = path.join(tmp, 'ckpt-mismatch');
    const trained = await train({
      arch: backboneDir,
      hiddenUnits: [],
      dropout: 0,
      learningRate: 0.01,
      epochs: 1,
      batchSize: 16,
      augViews: 0,
      augLevel: 'basic',
      seed: 1,
      dataDir: shapesDir,
      saveDir,
      embedder: own,
    });
    await own.close();
    const other = await writeTinyBackbone(path.join(tmp, 'other'), 99);
    fs.writeFileSync(path.join(other, 'bloom-backbone.json'), JSON.stringify({ inputSize: TINY_INPUT, featureLayer: 'conv1' }));
    const embedder = new LocalEmbedder(await loadFeatureExtractor(other, { cacheDir: tmp }));
    await assert.rejects(Classifier.load({ checkpoint: trained.dir, cacheDir: tmp, embedder }), /was trained on/);
    await embedder.close();
  });
});
