import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { rng } from '../src/classifier/augment.ts';
import * as tf from '../src/classifier/tf.ts';
import { mixOutliers, speciesAccuracy, trainingBatch } from '../src/training/outlierMix.ts';

before(() => initBackend());

// Four rows of width 2: species 0 at (1, 0) and (1, 1), species 1 at (0, 1) and (0, 0).
const rows = Float32Array.from([1, 0, 1, 1, 0, 1, 0, 0]);
const labels = [0, 0, 1, 1];

test('mixOutliers: each row is a mix of two rows of different species, weighted 0.3–0.7', () => {
  const out = mixOutliers(rows, labels, 2, 2, rng(7));
  assert.equal(out.length, 8 * 2, 'share 2 → two mixed rows per row');
  for (let k = 0; k < out.length / 2; k++) {
    // The first coordinate is 1 for species 0 and 0 for species 1, so it is the weight of the species-0 row.
    const x = out[2 * k]!;
    assert.ok(x >= 0.3 - 1e-6 && x <= 0.7 + 1e-6, `row ${k}: weight ${x}`);
  }
});

test('mixOutliers: a fractional share adds that many rows on average; none for one species or share 0', () => {
  const r = rng(3);
  let total = 0;
  for (let i = 0; i < 400; i++) total += mixOutliers(rows, labels, 2, 0.25, r).length / 2;
  assert.ok(Math.abs(total / 400 - 1) < 0.15, `mean ${total / 400} rows per batch of 4 at share 0.25`);
  assert.equal(mixOutliers(rows, [1, 1, 1, 1], 2, 1, rng(1)).length, 0);
  assert.equal(mixOutliers(rows, labels, 2, 0, rng(1)).length, 0);
});

test('speciesAccuracy counts the one-hot rows only', () => {
  const y = tf.tensor2d([
    [1, 0, 0],
    [0, 1, 0],
    [1 / 3, 1 / 3, 1 / 3],
  ]);
  const p = tf.tensor2d([
    [0.8, 0.1, 0.1],
    [0.7, 0.2, 0.1],
    [0.9, 0.05, 0.05],
  ]);
  const acc = speciesAccuracy(y, p);
  assert.equal(acc.dataSync()[0], 0.5);
  tf.dispose([y, p, acc]);
});

test('trainingBatch: the species rows with one-hot targets, then the mixed rows with uniform ones', () => {
  const plain = trainingBatch(rows, labels, 2, 3);
  assert.deepEqual(plain.x.shape, [4, 2]);
  assert.deepEqual(plain.y.arraySync()[2], [0, 1, 0]);
  const mixed = trainingBatch(rows, labels, 2, 3, { share: 1, rand: rng(5) });
  assert.deepEqual(mixed.x.shape, [8, 2]);
  assert.deepEqual(Array.from(mixed.x.dataSync().slice(0, 8)), Array.from(rows), 'the species rows first, as given');
  const y = mixed.y.arraySync();
  assert.deepEqual(y[1], [1, 0, 0]);
  for (const r of y.slice(4)) r.forEach((v) => assert.ok(Math.abs(v - 1 / 3) < 1e-6));
  tf.dispose([plain.x, plain.y, mixed.x, mixed.y]);
});
