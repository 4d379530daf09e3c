// The wasm BatchMatMul patch must give the same products as plain arithmetic
// for every transpose combination, batched too, and the same dense-layer gradients.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '../src/classifier/tf.ts';
import { initBackend } from '../src/classifier/backend.ts';
import { rng } from '../src/classifier/augment.ts';

before(async () => {
  await initBackend({ prefer: 'wasm' });
});

/** Reference product of row-major [batch, m, k] · [batch, k, n] in plain JS. */
function reference(a: number[][][], b: number[][][]): number[][][] {
  return a.map((am, i) => am.map((row) => b[i]![0]!.map((_, c) => row.reduce((s, v, k) => s + v * b[i]![k]![c]!, 0))));
}

const rand = (r: () => number, ...shape: number[]): any =>
  shape.length === 1
    ? Array.from({ length: shape[0]! }, () => r() * 2 - 1)
    : Array.from({ length: shape[0]! }, () => rand(r, ...shape.slice(1)));
const T = (m: number[][][]) => m.map((x) => x[0]!.map((_, c) => x.map((row) => row[c]!)));

test('transposed products on wasm equal the plain-JS reference', () => {
  assert.equal(tf.getBackend(), 'wasm');
  const r = rng(3);
  const a = rand(r, 2, 5, 7) as number[][][],
    b = rand(r, 2, 7, 3) as number[][][];
  const want = reference(a, b);
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const A = tf.tensor3d(ta ? T(a) : a),
      B = tf.tensor3d(tb ? T(b) : b);
    const got = tf.matMul(A, B, ta, tb).arraySync() as number[][][];
    got.flat(2).forEach((v, i) => assert.ok(Math.abs(v - want.flat(2)[i]!) < 1e-4, `transposeA=${ta} transposeB=${tb}`));
    tf.dispose([A, B]);
  }
});

test('a dense layer’s weight gradient matches xᵀ·dy', () => {
  const r = rng(4);
  const x = tf.tensor2d(rand(r, 6, 4)),
    w = tf.variable(tf.tensor2d(rand(r, 4, 3))),
    dy = tf.tensor2d(rand(r, 6, 3));
  const { grads } = tf.variableGrads(() => tf.sum<tf.Scalar>(tf.mul(tf.matMul(x, w), dy)), [w]);
  const want = reference([T([x.arraySync()])[0]!], [dy.arraySync()])[0]!;
  (grads[w.name]!.arraySync() as number[][]).flat().forEach((v, i) => assert.ok(Math.abs(v - want.flat()[i]!) < 1e-4));
});
