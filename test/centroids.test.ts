import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { HALF_CENTROIDS_FILE, readCentroids, writeCentroids } from '../src/classifier/centroids.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-centroids-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('centroids round-trip as float32, and as float16 at half the bytes within float16 precision', () => {
  const c = Float32Array.from({ length: 1792 * 3 }, (_, i) => Math.sin(i) * 0.05);
  const full = path.join(tmp, 'centroids.bin');
  const half = path.join(tmp, HALF_CENTROIDS_FILE);
  writeCentroids(full, c);
  writeCentroids(half, c);
  assert.deepEqual(readCentroids(full), c);
  assert.equal(fs.statSync(half).size, fs.statSync(full).size / 2);
  const back = readCentroids(half);
  assert.equal(back.length, c.length);
  for (let i = 0; i < c.length; i++) assert.ok(Math.abs(back[i]! - c[i]!) <= Math.abs(c[i]!) * 1e-3 + 1e-7, `value ${i}`);
});
