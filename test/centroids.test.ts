import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { nearestSimilarity, speciesPrototypes } from '../src/classifier/answers.ts';
import { PACKED_CENTROIDS_FILE, readCentroids, writeCentroids } from '../src/classifier/centroids.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-centroids-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('centroids round-trip as float32, as float16 at half the bytes, and as 8 bits at a quarter', () => {
  const c = Float32Array.from({ length: 1792 * 3 }, (_, i) => Math.sin(i) * 0.05);
  const full = path.join(tmp, 'centroids.bin');
  const half = path.join(tmp, 'centroids.f16.bin');
  const byte = path.join(tmp, PACKED_CENTROIDS_FILE);
  for (const f of [full, half, byte]) writeCentroids(f, c);
  assert.deepEqual(readCentroids(full), c);
  assert.equal(fs.statSync(half).size, fs.statSync(full).size / 2);
  assert.equal(fs.statSync(byte).size, 4 + c.length, 'a scale, then a byte a value');
  const back = readCentroids(half);
  assert.equal(back.length, c.length);
  for (let i = 0; i < c.length; i++) assert.ok(Math.abs(back[i]! - c[i]!) <= Math.abs(c[i]!) * 1e-3 + 1e-7, `value ${i}`);
  const q = readCentroids(byte);
  assert.equal(q.length, c.length);
  for (let i = 0; i < c.length; i++) assert.ok(Math.abs(q[i]! - c[i]!) <= 0.05 / 254 + 1e-7, `value ${i} within half a step`);
});

test('8-bit prototypes give the similarities of the float32 ones to within 0.001', () => {
  let seed = 5;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const sizes = [1024, 768];
  // Sparse non-negative features, like pooled ReLU activations.
  const feature = () => Float32Array.from({ length: 1792 }, () => Math.max(0, rand()) ** 3);
  const feats = Array.from({ length: 60 }, feature);
  const protos = speciesPrototypes(
    feats,
    feats.map((_, i) => i % 10),
    10,
    sizes,
    3,
  );
  const file = path.join(tmp, PACKED_CENTROIDS_FILE);
  writeCentroids(file, protos);
  const packed = readCentroids(file);
  for (let i = 0; i < 20; i++) {
    const f = feature();
    assert.ok(Math.abs(nearestSimilarity(f, packed, sizes) - nearestSimilarity(f, protos, sizes)) < 1e-3);
  }
});
