// The head's training losses on logits (src/training/headLoss.ts).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import * as tf from '../src/classifier/tf.ts';
import { isHeadLoss, lossOnLogits } from '../src/training/headLoss.ts';

before(async () => {
  await initBackend({ prefer: 'cpu' });
});

const value = (f: ReturnType<typeof lossOnLogits>, y: number[][], z: number[][]) =>
  tf.tidy(() => f(tf.tensor2d(y), tf.tensor2d(z)).dataSync()[0]!);

test('cross-entropy by default: −log softmax of the right class', () => {
  const ce = lossOnLogits(undefined);
  // Logits (2, 0): −log(e²/(e²+1)) = log(1+e⁻²).
  assert.ok(Math.abs(value(ce, [[1, 0]], [[2, 0]]) - Math.log(1 + Math.exp(-2))) < 1e-5);
  assert.ok(Math.abs(value(lossOnLogits({ loss: 'crossentropy' }), [[1, 0]], [[2, 0]]) - Math.log(1 + Math.exp(-2))) < 1e-5);
});

test('LogitNorm: cross-entropy of the logits scaled to norm 1/τ, so only their direction counts', () => {
  const ln = lossOnLogits({ loss: 'logitnorm', logitTemperature: 0.5 });
  // (3, 4) has norm 5: scaled to (1.2, 1.6); the first class is right: log(1 + e^0.4).
  const expected = Math.log(1 + Math.exp(0.4));
  assert.ok(Math.abs(value(ln, [[1, 0]], [[3, 4]]) - expected) < 1e-5);
  assert.ok(Math.abs(value(ln, [[1, 0]], [[30, 40]]) - expected) < 1e-5, 'the same for logits ten times larger');
  // Plain cross-entropy falls as the logits grow: the growth LogitNorm takes away.
  const ce = lossOnLogits(undefined);
  assert.ok(value(ce, [[0, 1]], [[30, 40]]) < value(ce, [[0, 1]], [[3, 4]]));
  // A batch is averaged.
  const two = value(
    ln,
    [
      [1, 0],
      [0, 1],
    ],
    [
      [3, 4],
      [3, 4],
    ],
  );
  assert.ok(Math.abs(two - (expected + Math.log(1 + Math.exp(-0.4))) / 2) < 1e-5);
});

test('LogitNorm without τ uses the default, and refuses τ ≤ 0; loss names are checked', () => {
  assert.ok(Number.isFinite(value(lossOnLogits({ loss: 'logitnorm' }), [[1, 0]], [[3, 4]])));
  assert.throws(() => lossOnLogits({ loss: 'logitnorm', logitTemperature: 0 }), /temperature must be > 0/);
  assert.ok(isHeadLoss('logitnorm') && isHeadLoss('crossentropy'));
  assert.ok(!isHeadLoss('hinge'));
});
