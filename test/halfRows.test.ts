// Float16 training rows: values come back within half precision, specials stay special.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHalf, HalfRows, toHalf } from '../src/training/halfRows.ts';
import { rng } from '../src/classifier/augment.ts';

test('float16 round trip keeps about three significant digits, and the special values', () => {
  const r = rng(11);
  for (let i = 0; i < 5000; i++) {
    const x = (r() - 0.5) * 10 ** (r() * 8 - 4); // 1e-4 … 1e4, both signs
    const y = fromHalf(toHalf(x));
    assert.ok(Math.abs(y - x) <= Math.abs(x) * 2 ** -11 + 2 ** -25, `${x} → ${y}`);
  }
  assert.equal(fromHalf(toHalf(0)), 0);
  assert.equal(fromHalf(toHalf(1)), 1);
  assert.equal(fromHalf(toHalf(65504)), 65504); // largest finite half
  assert.equal(fromHalf(toHalf(1e6)), Infinity);
  assert.equal(fromHalf(toHalf(-1e6)), -Infinity);
  assert.ok(Number.isNaN(fromHalf(toHalf(NaN))));
  assert.equal(fromHalf(toHalf(2 ** -24)), 2 ** -24); // smallest subnormal
  assert.equal(fromHalf(toHalf(1 + 2 ** -11 + 2 ** -20)), 1 + 2 ** -10); // rounds up to the next half
});

test('rows are stored and read back, standardised on request', () => {
  const rows = new HalfRows(3, 4);
  rows.set(1, Float32Array.from([0.5, 1.25, -2, 3]));
  assert.deepEqual([...rows.get(1)], [0.5, 1.25, -2, 3]);
  assert.deepEqual([...rows.get(0)], [0, 0, 0, 0]);
  const out = new Float32Array(8);
  rows.readInto(1, out, 4, { mean: Float32Array.from([0.5, 0.25, 0, 1]), std: Float32Array.from([1, 2, 4, 0.5]) });
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0.5, -0.5, 4]);
});
