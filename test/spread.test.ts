// The distance to the species under their spread: what flower photos vary in
// counts little, what they never vary in counts a lot.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { SpreadDistance, unitSlice } from '../src/classifier/spread.ts';
import { fitSpread } from '../src/training/fitSpread.ts';

before(async () => {
  await initBackend({ prefer: 'wasm' });
});

/** A deterministic normal draw (Box–Muller on a small LCG). */
function normals(seed: number) {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) + 1) / (2 ** 31 + 1);
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

const DIM = 8;
/** Two species on unit-ish rows: centred on axes 0 and 1, spread a lot along axis 2, barely along the others. */
function species(n: number, seed = 1) {
  const z = normals(seed);
  const rows: Float32Array[] = [],
    labels: number[] = [];
  for (let i = 0; i < n; i++)
    for (const c of [0, 1]) {
      const r = Float32Array.from({ length: DIM }, (_, k) => (k === c ? 1 : 0) + (k === 2 ? 0.3 : 0.01) * z());
      rows.push(unitSlice(r, 0, DIM));
      labels.push(c);
    }
  return { rows, labels };
}

test('a step where the species never vary is far; the same step where they do vary is near (a cosine sees both alike)', () => {
  const { rows, labels } = species(200);
  const spread = fitSpread(rows, labels, 0, 2, 0.1);
  assert.equal(spread.rank, 2);
  assert.equal(Buffer.from(spread.directions, 'base64').length, 2 * DIM * 2, 'rank × features, float16');
  // Prototypes: the two species' centres, each backbone row padded into a two-backbone vector (the spread reads backbone 0 only).
  const centres = new Float32Array(2 * (DIM + 3));
  centres[0] = 1;
  centres[DIM + 3 + 1] = 1;
  const dist = new SpreadDistance(spread, centres, [DIM, 3]);
  const at = (v: number[]) => dist.distance(Float32Array.from([...v, 9, 9, 9]));
  const along = at([1, 0, 0.3, 0, 0, 0, 0, 0]);
  const across = at([1, 0, 0, 0.3, 0, 0, 0, 0]);
  assert.ok(across > 20 * along, `off the spread ${across.toFixed(1)} against along it ${along.toFixed(1)}`);
  assert.ok(at([0, 1, 0, 0, 0, 0, 0, 0]) < 1, 'the second species is near too');
  assert.ok(
    Math.abs(at([2, 0, 0, 0, 0, 0, 0, 0]) - at([1, 0, 0, 0, 0, 0, 0, 0])) < 1e-6,
    'only the direction counts: the slice is scaled to unit length',
  );
});

test('held-out photos of the species stay inside the distance most of their own photos reach; other things fall outside', () => {
  const fit = species(200, 1);
  const held = species(100, 7);
  const spread = fitSpread(fit.rows, fit.labels, 0);
  const centres = new Float32Array(2 * DIM);
  centres[0] = 1;
  centres[DIM + 1] = 1;
  const dist = new SpreadDistance(spread, centres, [DIM]);
  const own = fit.rows.map((r) => dist.distance(r)).sort((a, b) => a - b);
  const bar = own[Math.floor(0.99 * own.length)]!;
  const inside = held.rows.filter((r) => dist.distance(r) <= bar).length / held.rows.length;
  assert.ok(inside > 0.95, `held-out photos inside: ${inside}`);
  const z = normals(3);
  const others = Array.from({ length: 50 }, () => unitSlice(Float32Array.from({ length: DIM }, z), 0, DIM));
  const outside = others.filter((r) => dist.distance(r) > bar).length / others.length;
  assert.ok(outside > 0.9, `other things outside: ${outside}`);
});
