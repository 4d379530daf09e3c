// The three kinds of answer: the backbone's own ImageNet head read from its
// files, temperature scaling, flower classes and the decision itself.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '../src/classifier/tf.ts';
import {
  applyTemperature,
  applyTopLabel,
  calibrateProbs,
  decideAnswer,
  expectedCalibrationError,
  featureOffsets,
  fitTemperature,
  fitTopLabel,
  flowerLikeness,
  nearestSimilarity,
  normaliseFeatures,
  pickFlowerClasses,
  quantile,
  speciesPrototypes,
} from '../src/classifier/answers.ts';
import { initBackend } from '../src/classifier/backend.ts';
import { normalizePixels } from '../src/classifier/backbones.ts';
import { loadFeatureExtractor } from '../src/classifier/featureExtractor.ts';
import { imagenetProbs, loadImagenetHeads, readImagenetHead } from '../src/classifier/imagenetHead.ts';
import { prepareImage } from '../src/classifier/images.ts';
import { folderLoader } from '../src/classifier/modelFiles.ts';
import { TINY_INPUT, writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';
import { writeShapesDataset } from '../src/dev/fixtures/shapes.ts';
import { listImages, scanDataset } from '../src/training/dataset.ts';
import { thresholdAnswering } from '../src/training/calibrate.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-answers-'));
let backbone = '';
let data = '';
before(async () => {
  await initBackend({ prefer: 'wasm' });
  backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
  data = await writeShapesDataset(path.join(tmp, 'shapes'), { train: 2, valid: 2 });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ImageNet head from the model files', () => {
  test('on the pooled features it gives what the whole model gives', async () => {
    const fx = await loadFeatureExtractor(backbone, { cacheDir: tmp });
    const head = readImagenetHead(backbone, fx.featureSize)!;
    assert.equal(head.layer, 'logits');
    assert.equal(head.classes, 10);
    const full = await tf.loadLayersModel(folderLoader(backbone));
    for (const label of ['1', '2', '3']) {
      const img = await prepareImage(fs.readFileSync(path.join(data, 'valid', label, 'img_0.jpg')), { size: TINY_INPUT });
      const want = tf.tidy(
        () =>
          (
            full.predict(tf.tensor4d(normalizePixels(img, fx.specs[0]!.normalization), [1, TINY_INPUT, TINY_INPUT, 3])) as tf.Tensor
          ).dataSync() as Float32Array,
      );
      const got = imagenetProbs(head, fx.extract([img])[0]!);
      for (let c = 0; c < 10; c++) assert.ok(Math.abs(got[c]! - want[c]!) < 1e-5, `class ${c}: ${got[c]} vs ${want[c]}`);
    }
    full.dispose();
    fx.dispose();
  });

  test('an offset picks one backbone out of concatenated features; no head, no probabilities', async () => {
    const head = readImagenetHead(backbone, 24)!;
    const f = Float32Array.from({ length: 24 }, (_, i) => (i % 5) / 5);
    const joined = new Float32Array(30);
    joined.set(f, 6);
    assert.deepEqual(imagenetProbs(head, joined, 6), imagenetProbs(head, f));
    assert.equal(readImagenetHead(backbone, 99), undefined, 'no layer takes 99 inputs');
    assert.deepEqual(
      await loadImagenetHeads(
        [path.join(tmp, 'nowhere')],
        [{ id: 'x', inputSize: 32, featureLayer: '', featureSize: 24, normalization: { kind: 'scale', divisor: 1, offset: 0 } }],
        { cacheDir: tmp },
      ),
      [undefined],
    );
  });
});

describe('decideAnswer', () => {
  test('without fitted settings: a species or "not sure" under the configured threshold, never "not a flower"', () => {
    assert.equal(decideAnswer({ top1: 0.9 }, undefined, 0.35).kind, 'species');
    assert.equal(decideAnswer({ top1: 0.2 }, undefined, 0.35).kind, 'notSure');
    assert.equal(decideAnswer({ top1: 0.2, flowerLikeness: 0 }, undefined, 0.35).kind, 'notSure');
    assert.equal(decideAnswer({ top1: 0.2, flowerLikeness: 0 }, { temperature: 1.5 }, 0.35).kind, 'notSure');
  });

  test('with them: the fitted species threshold, and "not a flower" only below the flower-likeness threshold', () => {
    const s = { temperature: 1.2, flowerClasses: [[1, 2]], speciesThreshold: 0.6, notFlowerBelow: 0.05 };
    assert.equal(decideAnswer({ top1: 0.7, flowerLikeness: 0.5 }, s, 0.35).kind, 'species');
    assert.equal(decideAnswer({ top1: 0.5, flowerLikeness: 0.5 }, s, 0.35).kind, 'notSure');
    assert.equal(decideAnswer({ top1: 0.99, flowerLikeness: 0.01 }, s, 0.35).kind, 'notFlower');
    assert.equal(decideAnswer({ top1: 0.99 }, s, 0.35).kind, 'species', 'no likeness (no ImageNet head): never "not a flower"');
    const far = { ...s, notFlowerDistanceAbove: 100 };
    assert.equal(decideAnswer({ top1: 0.99, flowerLikeness: 0.5, distance: 150 }, far, 0.35).kind, 'notFlower', 'far from every species');
    assert.equal(decideAnswer({ top1: 0.99, flowerLikeness: 0.5, distance: 80 }, far, 0.35).kind, 'species');
    assert.equal(decideAnswer({ top1: 0.3, flowerLikeness: 0.5, distance: 80 }, far, 0.35).kind, 'notSure');
    assert.equal(decideAnswer({ top1: 0.99, flowerLikeness: 0.5 }, far, 0.35).kind, 'species', 'no prototypes: the distance rule is off');
  });

  test('species prototypes (one each: the mean): each backbone weighs the same, and the nearest one is found', () => {
    const sizes = [2, 2];
    const n = normaliseFeatures(Float32Array.from([3, 4, 0, 10]), sizes);
    assert.deepEqual(
      Array.from(n, (x) => Math.round(x * 1000) / 1000),
      [0.424, 0.566, 0, 0.707],
    );
    const feats = [Float32Array.from([1, 0, 1, 0]), Float32Array.from([2, 0, 3, 0]), Float32Array.from([0, 1, 0, 1])];
    const c = speciesPrototypes(feats, [0, 0, 1], 2, sizes);
    assert.ok(Math.abs(nearestSimilarity(Float32Array.from([5, 0, 5, 0]), c, sizes) - 1) < 1e-6);
    assert.ok(Math.abs(nearestSimilarity(Float32Array.from([1, 0, 0, 1]), c, sizes) - 0.5) < 1e-6, 'half like each species');
  });

  test('several prototypes per species: a species seen two ways has one near each, where its mean is near neither', () => {
    const sizes = [4];
    // Species 0 photographed two ways (say, one bloom and a bed of them), species 1 one way; a photo a little off each look.
    const looks = [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
    ];
    const feats = [...looks, ...looks, ...looks, [0, 0, 1, 0], [0, 0, 1, 0.1]].map((v) => Float32Array.from(v));
    const labels = [0, 0, 0, 0, 0, 0, 1, 1];
    const one = speciesPrototypes(feats, labels, 3, sizes, 1);
    const two = speciesPrototypes(feats, labels, 3, sizes, 2);
    assert.equal(one.length, 2 * 4, 'one row per species with photos (species 2 has none)');
    assert.equal(two.length, 4 * 4, 'two for species 0 and 1 (both have two photos or more)');
    const bed = Float32Array.from([0.1, 1, 0, 0]);
    assert.ok(nearestSimilarity(bed, one, sizes) < 0.8, 'the mean of both looks is near neither');
    assert.ok(nearestSimilarity(bed, two, sizes) > 0.99, 'a prototype per look');
    assert.deepEqual(speciesPrototypes(feats, labels, 3, sizes, 2), two, 'deterministic');
    const far = Float32Array.from([0, 0, 0, 1]);
    assert.ok(nearestSimilarity(far, two, sizes) < 0.2, 'what is like no species stays far from all of them');
  });
});

describe('calibration', () => {
  test('temperature scaling keeps the ranking, and fitting it on overconfident rows lowers the calibration error', () => {
    const p = [0.7, 0.2, 0.1];
    const t = applyTemperature(p, 2);
    assert.ok(t[0]! > t[1]! && t[1]! > t[2]! && t[0]! < 0.7);
    assert.ok(Math.abs(t.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    // 70% right, but always 99% sure.
    const rows: number[][] = [],
      targets: number[] = [];
    for (let i = 0; i < 100; i++) {
      rows.push([0.99, 0.005, 0.005]);
      targets.push(i % 10 < 7 ? 0 : 1);
    }
    const T = fitTemperature(rows, targets);
    assert.ok(T > 1, String(T));
    const after = rows.map((r) => applyTemperature(r, T));
    assert.ok(Math.abs(after[0]![0]! - 0.7) < 0.02, String(after[0]![0]));
    assert.ok(expectedCalibrationError(after, targets) < expectedCalibrationError(rows, targets) / 10);
  });

  test('top-label calibration: fitted on under-confident rows it lifts the top-1 to how often it is right, and keeps the ranking of photos that a temperature changes', () => {
    // A head trained to doubt (outlier mixing): 40–60 % sure of its best species, right 95 % of the time.
    const rows: number[][] = [],
      targets: number[] = [];
    for (let i = 0; i < 200; i++) {
      const top = 0.4 + (0.2 * ((i * 37) % 100)) / 100;
      rows.push([top, (1 - top) / 2, (1 - top) / 2]);
      targets.push(i % 20 === 0 ? 1 : 0);
    }
    const m = fitTopLabel(rows, targets);
    assert.ok(m.a > 0, JSON.stringify(m));
    const after = rows.map((r) => applyTopLabel(r, m));
    for (const r of after) assert.ok(Math.abs(r.reduce((x, y) => x + y, 0) - 1) < 1e-6, 'still a distribution');
    assert.ok(expectedCalibrationError(after, targets) < expectedCalibrationError(rows, targets) / 5);
    const meanTop = after.reduce((t, r) => t + r[0]!, 0) / after.length;
    assert.ok(Math.abs(meanTop - 0.95) < 0.03, `mean top-1 ${meanTop}`);
    // Two photos the head ranks one way: a confident one with a close second, a less confident one with a flat rest.
    const sharp = [0.5, 0.45, 0.05],
      flat = [0.45, ...Array.from({ length: 20 }, () => 0.0275)];
    const top = (r: Float32Array) => Math.max(...r);
    assert.ok(top(applyTopLabel(sharp, m)) > top(applyTopLabel(flat, m)), "top-label keeps the head's order");
    assert.ok(top(applyTemperature(sharp, 0.4)) < top(applyTemperature(flat, 0.4)), 'a temperature below 1 reverses it');
    const sharp32 = Float32Array.from(sharp);
    const shown = applyTopLabel(sharp32, m);
    assert.ok(shown[1]! > shown[2]! && Math.abs(shown[1]! / shown[2]! - 9) < 1e-3, 'the other species keep their ratios');
    assert.deepEqual(calibrateProbs(sharp32, { temperature: 0.4, topLabel: m }), shown, 'top-label wins over the temperature');
    assert.deepEqual(calibrateProbs(sharp32, { temperature: 0.4 }), applyTemperature(sharp32, 0.4));
  });

  test('flower classes are where the training photos put their mass; likeness averages the backbones', () => {
    const rows = [Float32Array.from([0.6, 0.3, 0.05, 0.05]), Float32Array.from([0.5, 0.4, 0.05, 0.05])];
    assert.deepEqual(pickFlowerClasses(rows, 0.9), [0, 1]);
    assert.deepEqual(pickFlowerClasses(rows, 0.9, 1), [0]);
    const head = readImagenetHead(backbone, 24)!;
    const f = Float32Array.from({ length: 48 }, (_, i) => (i % 7) / 7);
    const p0 = imagenetProbs(head, f, 0),
      p1 = imagenetProbs(head, f, 24);
    const l = flowerLikeness(f, [head, head], featureOffsets([24, 24]), [[0, 3], [5]])!;
    assert.ok(Math.abs(l - (p0[0]! + p0[3]! + p1[5]!) / 2) < 1e-6);
    assert.equal(flowerLikeness(f, [undefined, head], featureOffsets([24, 24]), [[0], [5]]), p1[5]);
    assert.equal(flowerLikeness(f, [head, head], featureOffsets([24, 24]), undefined), undefined);
    assert.equal(quantile([5, 1, 3], 0), 1);
    assert.equal(quantile([5, 1, 3], 0.99), 5);
  });
});

describe('the threshold answering a share of the photos', () => {
  test('halfway between the last photo answered and the first not, to 4 decimals; all of them at share 1', () => {
    const scores = [0.99, 0.5, 0.95, 0.7, 0.81234, 0.4];
    assert.equal(thresholdAnswering(scores, 0.5), 0.7562, '3 of 6: between 0.81234 and 0.7');
    assert.equal(scores.filter((x) => x >= thresholdAnswering(scores, 0.5)).length, 3);
    assert.equal(thresholdAnswering(scores, 4 / 6), 0.6, '4 of 6: between 0.7 and 0.5');
    assert.equal(thresholdAnswering(scores, 1), 0.4);
    assert.equal(thresholdAnswering([0.93337, 0.40006], 1), 0.4, 'rounded down: the lowest photo still passes');
    assert.equal(thresholdAnswering(scores, 0.01), 1, 'none: only a certain photo would pass');
  });
});

describe('data folders', () => {
  test('a test split alone is enough to evaluate; --unknown and --not-flowers folders are read at any depth', () => {
    const root = path.join(tmp, 'testonly');
    fs.mkdirSync(path.join(root, 'test', '2'), { recursive: true });
    fs.copyFileSync(path.join(data, 'valid', '2', 'img_0.jpg'), path.join(root, 'test', '2', 'a.jpg'));
    const ds = scanDataset(root, { only: 'test' });
    assert.deepEqual(ds.labels, ['2']);
    assert.equal(ds.splits.test!.length, 1);
    assert.throws(() => scanDataset(root), /no train\//);
    assert.throws(() => scanDataset(root, { only: 'valid' }), /no valid\//);
    const deep = path.join(tmp, 'deep', 'a', 'b');
    fs.mkdirSync(deep, { recursive: true });
    fs.copyFileSync(path.join(data, 'valid', '1', 'img_0.jpg'), path.join(deep, 'x.JPG'));
    fs.writeFileSync(path.join(tmp, 'deep', 'notes.txt'), 'hi');
    fs.symlinkSync(path.join(data, 'valid', '3'), path.join(tmp, 'deep', 'linked'));
    assert.deepEqual(
      listImages(path.join(tmp, 'deep')).map((s) => path.relative(path.join(tmp, 'deep'), s.path)),
      ['a/b/x.JPG', 'linked/img_0.jpg', 'linked/img_1.jpg'],
    );
  });
});
