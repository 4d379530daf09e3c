import assert from 'node:assert/strict';
import test from 'node:test';
import type { ClassStats } from '../src/training/classStats.ts';
import {
  auroc,
  classDistance,
  compareOpenSet,
  knownShareAt,
  openSetSignals,
  trainBackboneHeads,
  type OpenSetPhoto,
} from '../src/training/openSet.ts';

function stats(over: Partial<ClassStats> & Pick<ClassStats, 'dim' | 'means' | 'pooledVar'>): ClassStats {
  const n = over.means.length / over.dim;
  return {
    labels: Array.from({ length: n }, (_, i) => String(i + 1)),
    counts: Array.from({ length: n }, () => 10),
    normMean: new Float32Array(over.dim),
    normStd: new Float32Array(over.dim).fill(1),
    source: 'test',
    ...over,
  };
}

test('AUROC: separated, reversed, identical and tied scores', () => {
  assert.equal(auroc([3, 4, 5], [0, 1, 2]), 1);
  assert.equal(auroc([0, 1], [2, 3]), 0);
  assert.equal(auroc([1, 1], [1, 1]), 0.5);
  // 2 beats 1 and ties 2; 0 beats nothing: (1 + 0.5 + 0) / 4.
  assert.equal(auroc([2, 0], [1, 2]), 0.375);
});

test('the known share at a fifth of the unknown photos answered', () => {
  const unknown = [0.95, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.05, 0];
  // Two of ten unknown may pass, so the bar is the third highest (0.5), exclusive.
  assert.equal(knownShareAt([0.99, 0.8, 0.6, 0.5, 0.45], unknown, 0.2), 0.6);
  assert.equal(knownShareAt([0.99], unknown, 0), 1 / 1);
  assert.equal(knownShareAt([0.92], unknown, 0), 0, 'with none allowed the bar is the highest unknown score');
});

test('class distance: per dimension, and along a spread direction by its own variance', () => {
  const flat = stats({ dim: 3, means: Float32Array.from([0, 0, 0, 3, 0, 0]), pooledVar: Float32Array.from([1, 4, 1]) });
  // To class 1: 1/1 + 4/4 = 2; to class 2: 4/1 + 4/4 = 5; the background is |z|² = 5.
  assert.deepEqual(classDistance(flat)(Float32Array.from([1, 2, 0])), { nearest: 2, background: 5 });
  const spread = { ...flat, directions: Float32Array.from([0, 1, 0]), directionVar: Float32Array.from([3]) };
  // Along the direction 2²/3; the rest of dimension 2 has variance 4 − 3 = 1 but no residual; dimension 1 as before.
  assert.ok(Math.abs(classDistance(spread)(Float32Array.from([1, 2, 0])).nearest - (1 + 4 / 3)) < 1e-6);
});

test('class distance matches the distance computed directly, on random statistics', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const dim = 6,
    k = 3;
  // Two orthonormal directions: e1 + e2 and e3 − e4, scaled.
  const u = Float32Array.from([1, 1, 0, 0, 0, 0, 0, 0, 1, -1, 0, 0].map((v) => v / Math.SQRT2));
  const s = stats({
    dim,
    means: Float32Array.from({ length: k * dim }, rnd),
    pooledVar: Float32Array.from({ length: dim }, () => 2 + rnd()),
    normMean: Float32Array.from({ length: dim }, rnd),
    normStd: Float32Array.from({ length: dim }, () => 1.5 + rnd()),
    directions: u,
    directionVar: Float32Array.from([1.2, 0.7]),
  });
  const rest = Array.from(s.pooledVar, (v, j) => v - 1.2 * u[j]! ** 2 - 0.7 * u[dim + j]! ** 2);
  const f = Float32Array.from({ length: dim }, () => 3 * rnd());
  const z = Array.from(f, (v, j) => (v - s.normMean[j]!) / s.normStd[j]!);
  let best = Infinity;
  for (let c = 0; c < k; c++) {
    const r = z.map((v, j) => v - s.means[c * dim + j]!);
    const a = [0, 1].map((q) => r.reduce((t, v, j) => t + v * u[q * dim + j]!, 0));
    const e = r.map((v, j) => v - a[0]! * u[j]! - a[1]! * u[dim + j]!);
    const d = a[0]! ** 2 / 1.2 + a[1]! ** 2 / 0.7 + e.reduce((t, v, j) => t + v ** 2 / Math.max(rest[j]!, 0.05 * s.pooledVar[j]!), 0);
    best = Math.min(best, d);
  }
  assert.ok(Math.abs(classDistance(s)(f).nearest - best) < 1e-4, `${classDistance(s)(f).nearest} vs ${best}`);
});

test('each signal scores photos of known species above photos far from every species', () => {
  // Tight species (within-species variance 0.1) in a unit-variance background, as standardised features are.
  const s = stats({ dim: 2, means: Float32Array.from([2, 0, -2, 0]), pooledVar: Float32Array.from([0.1, 0.1]) });
  const photo = (x: number, y: number, peak: number): OpenSetPhoto => ({
    features: [Float32Array.from([x, y])],
    probs: Float32Array.from([peak, 1 - peak]),
  });
  const known = [photo(2.1, 0, 0.97), photo(-1.8, 0.2, 0.95), photo(2.3, -0.2, 0.9)];
  const unknown = [photo(5, 6, 0.6), photo(-4, 7, 0.55)];
  const plain = compareOpenSet(openSetSignals(), known, unknown);
  assert.deepEqual(
    plain.map((x) => x.signal),
    ['calibrated top-1 (the bot)', 'top-1 − top-2 margin', 'negative entropy'],
  );
  const all = compareOpenSet(openSetSignals({ stats: s, similarity: (f) => -Math.abs(f[1]!) }), known, unknown);
  assert.equal(all.length, 6);
  for (const x of all) {
    assert.equal(x.auroc, 1, x.signal);
    assert.equal(x.known, 1, x.signal);
  }
  assert.ok(
    all.every((x) => x.knownRight === undefined),
    'no right share when the known photos do not say',
  );
  // Reversed roles: known photos now look unknown to every signal.
  for (const x of compareOpenSet(openSetSignals({ stats: s }), unknown, known)) assert.equal(x.auroc, 0, x.signal);
});

test('the right share: known photos answered at the bar and right', () => {
  const photo = (peak: number, right?: boolean): OpenSetPhoto => ({
    features: [Float32Array.from([0])],
    probs: Float32Array.from([peak, 1 - peak]),
    ...(right !== undefined && { right }),
  });
  // Five unknown at 0.6–0.8: one may pass (20 %), so the bar is 0.75; of the known, 0.99 / 0.9 / 0.85 pass, 0.7 does not.
  const unknown = [0.8, 0.75, 0.7, 0.65, 0.6].map((p) => photo(p));
  const known = [photo(0.99, true), photo(0.9, false), photo(0.85, true), photo(0.7, true)];
  const [top1] = compareOpenSet(openSetSignals(), known, unknown);
  assert.equal(top1!.known, 3 / 4);
  assert.equal(top1!.knownRight, 2 / 4);
});

test('heads trained apart per backbone are sure on the species they know and unsure between them', async () => {
  const { initBackend } = await import('../src/classifier/backend.ts');
  await initBackend({ prefer: 'cpu' });
  let seed = 3;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.4;
  // Backbone A (3 wide) puts species c on axis c; backbone B (2 wide) at angle c × 120°.
  const row = (a: number[], b: number[]) => Float32Array.from([...a, ...b].map((v) => v + noise()));
  const centre = (c: number) =>
    row(
      [0, 1, 2].map((k) => (k === c ? 6 : 0)),
      [Math.cos((c * 2 * Math.PI) / 3) * 6, Math.sin((c * 2 * Math.PI) / 3) * 6],
    );
  const rows: Float32Array[] = [],
    labels: number[] = [];
  for (let i = 0; i < 90; i++) {
    rows.push(centre(i % 3));
    labels.push(i % 3);
  }
  const heads = trainBackboneHeads(rows, labels, 3, [3, 2], 400);
  const sure = [0, 1, 2].flatMap((c) => heads(centre(c)));
  // Input dropout keeps them from certainty: with one coordinate of B dropped, two species look alike.
  for (const p of sure) assert.ok(p > 0.65, `${p}`);
  // Halfway between two species in both backbones: neither head can be sure.
  const between = row([3, 3, 0], [Math.cos(Math.PI / 3) * 3, Math.sin(Math.PI / 3) * 3]);
  const [a, b] = heads(between);
  assert.ok(a! < 0.55 && b! < 0.55, `${a} ${b}`);
  const signal = openSetSignals({ backboneHeads: heads })['top-1 × heads trained apart, one per backbone']!;
  const photo = (f: Float32Array): OpenSetPhoto => ({ features: [f], probs: Float32Array.from([0.9, 0.05, 0.05]) });
  assert.ok(signal(photo(centre(1))) > signal(photo(between)));
});
