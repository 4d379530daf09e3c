import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { LocalEmbedder } from '../src/classifier/embedder.ts';
import { EmbedderPool, ModelWorkerError } from '../src/classifier/embedderPool.ts';
import { loadFeatureExtractor } from '../src/classifier/featureExtractor.ts';
import { prepareImage } from '../src/classifier/images.ts';
import { rng } from '../src/classifier/augment.ts';
import { MicroBatcher } from '../src/services/batcher.ts';
import { shapeJpeg } from '../src/dev/fixtures/shapes.ts';
import { TINY_INPUT, writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-pool-'));
let backbone = '';
before(async () => {
  await initBackend({ prefer: 'wasm' });
  backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a two-worker pool returns the same features as in-process extraction, in order', async () => {
  const r = rng(5);
  const images = await Promise.all(['1', '2', '3', '1', '2'].map(async (l) => prepareImage(await shapeJpeg(l, r), { size: TINY_INPUT })));
  const local = new LocalEmbedder(await loadFeatureExtractor(backbone, { cacheDir: tmp }));
  const pool = await EmbedderPool.start({ arch: backbone, loc: { cacheDir: tmp }, workers: 2, backend: 'wasm' });
  try {
    assert.equal(pool.size, 2);
    assert.deepEqual(pool.specs, local.specs);
    const want = await local.embed(images);
    const got = await pool.embed(images);
    assert.equal(got.length, 5);
    got.forEach((g, i) => g.forEach((v, j) => assert.ok(Math.abs(v - want[i]![j]!) < 1e-5)));
    // Concurrent single-image calls are spread and all answered.
    const singles = await Promise.all(images.map((im) => pool.embed([im])));
    singles.forEach((s, i) => assert.ok(Math.abs(s[0]![0]! - want[i]![0]!) < 1e-5));
  } finally {
    await pool.close();
    await local.close();
  }
  await assert.rejects(pool.embed(images), /closed/);
});

test('a lone photo on an ensemble runs its backbones on two idle workers and comes back in order', async () => {
  const second = await writeTinyBackbone(path.join(tmp, 'tiny2'), 2);
  const arch = `${backbone}+${second}`;
  const image = prepareImage(await shapeJpeg('2', rng(9)), { size: TINY_INPUT });
  const local = new LocalEmbedder(await loadFeatureExtractor(arch, { cacheDir: tmp }));
  const pool = await EmbedderPool.start({ arch, loc: { cacheDir: tmp }, workers: 2, backend: 'wasm' });
  try {
    const want = (await local.embed([await image]))[0]!;
    const before = pool.requestsPerWorker;
    const got = (await pool.embed([await image]))[0]!;
    assert.deepEqual(
      pool.requestsPerWorker.map((n, i) => n - before[i]!),
      [1, 1],
    );
    assert.equal(got.length, want.length);
    got.forEach((v, j) => assert.ok(Math.abs(v - want[j]!) < 1e-5, `feature ${j}`));
    // Asked in the other order, the parts come back in that order too.
    const swapped = (await pool.embed([await image], [1, 0]))[0]!;
    const d0 = local.specs[0]!.featureSize;
    assert.deepEqual(
      [...swapped.subarray(swapped.length - d0)].map((v) => v.toFixed(4)),
      [...want.subarray(0, d0)].map((v) => v.toFixed(4)),
    );
  } finally {
    await pool.close();
    await local.close();
  }
});

test('a pool shrinks (finishing work in flight) and grows back, answering throughout', async () => {
  const image = await prepareImage(await shapeJpeg('1', rng(3)), { size: TINY_INPUT });
  const pool = await EmbedderPool.start({ arch: backbone, loc: { cacheDir: tmp }, workers: 2, backend: 'wasm' });
  try {
    const want = (await pool.embed([image]))[0]!;
    const inFlight = Promise.all(Array.from({ length: 8 }, () => pool.embed([image])));
    await pool.resize(1);
    assert.equal(pool.size, 1);
    (await inFlight).forEach((r) => assert.deepEqual(r[0], want));
    assert.deepEqual((await pool.embed([image, image]))[1], want);
    await pool.resize(2);
    assert.equal(pool.size, 2);
    const before = pool.requestsPerWorker;
    await pool.embed([image, image]);
    assert.deepEqual(
      pool.requestsPerWorker.map((n, i) => n - before[i]!),
      [1, 1],
      'the new worker takes work',
    );
  } finally {
    await pool.close();
  }
});

test('the micro-batcher gathers concurrent calls into one batch', async () => {
  const sizes: number[] = [];
  const b = new MicroBatcher(
    async (xs: number[]) => {
      sizes.push(xs.length);
      return xs.map((x) => x * 2);
    },
    { windowMs: 20, maxBatch: 8 },
  );
  const out = await Promise.all([1, 2, 3, 4, 5].map((x) => b.submit(x)));
  assert.deepEqual(out, [2, 4, 6, 8, 10]);
  assert.deepEqual(sizes, [5]);
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(i)));
  assert.equal(many[19], 38);
  assert.deepEqual(sizes.slice(1), [8, 8, 4]);
});

test('calls that arrive while a batch runs form the next batch together', async () => {
  const sizes: number[] = [];
  const b = new MicroBatcher(
    async (xs: number[]) => {
      sizes.push(xs.length);
      await new Promise((r) => setTimeout(r, 60));
      return xs.map((x) => -x);
    },
    { windowMs: 2, maxBatch: 16 },
  );
  const first = b.submit(0);
  await new Promise((r) => setTimeout(r, 10));
  // Spaced wider than the window, but all while the first batch runs.
  const later: Promise<number>[] = [];
  for (let i = 1; i <= 4; i++) {
    later.push(b.submit(i));
    await new Promise((r) => setTimeout(r, 8));
  }
  assert.deepEqual(await Promise.all([first, ...later]), [-0, -1, -2, -3, -4]);
  assert.deepEqual(sizes, [1, 4]);
});

test('a lazy embedder starts the real one only when something needs embedding', async () => {
  const { LazyEmbedder } = await import('../src/classifier/embedder.ts');
  let starts = 0;
  const local = new LocalEmbedder(await loadFeatureExtractor(backbone, { cacheDir: tmp }));
  const lazy = new LazyEmbedder(local.specs, local.inputSize, async () => (starts++, local));
  assert.equal(lazy.started, false);
  await lazy.close();
  assert.equal(starts, 0, 'close without use starts nothing');
  const img = new Uint8Array(TINY_INPUT * TINY_INPUT * 3);
  const [a, b] = await Promise.all([lazy.embed([img]), lazy.embed([img])]);
  assert.equal(starts, 1);
  assert.deepEqual(Array.from(a[0]!), Array.from(b[0]!));
  await lazy.close();
});

test('a worker that dies mid-request: the request fails at once with a "send it again" error, the worker is replaced, the next request works', async () => {
  const image = await prepareImage(await shapeJpeg('1', rng(4)), { size: TINY_INPUT });
  const events: string[] = [];
  const pool = await EmbedderPool.start({
    arch: backbone,
    loc: { cacheDir: tmp },
    workers: 2,
    backend: 'wasm',
    onEvent: (e) => events.push(e.type),
  });
  try {
    const want = (await pool.embed([image]))[0]!;
    pool.injectFault('exit', 0);
    pool.injectFault('exit', 1);
    const t0 = Date.now();
    await assert.rejects(
      pool.embed([image]),
      (e: unknown) => e instanceof ModelWorkerError && e.code === 'MODEL_RESTARTED' && /please send that photo again/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 5000, 'rejected promptly');
    assert.ok(events.includes('worker-died'));
    // The next request is answered (by the surviving worker or a replacement), and the pool gets back to full size.
    await assert.rejects(pool.embed([image]), ModelWorkerError); // the second worker's planted fault
    const again = (await pool.embed([image]))[0]!;
    assert.deepEqual(again, want);
    const end = Date.now() + 30_000;
    while ((pool.size < 2 || events.filter((e) => e === 'worker-replaced').length < 2) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.size, 2, 'both workers replaced');
    assert.deepEqual((await pool.embed([image, image]))[1], want);
  } finally {
    await pool.close();
  }
});

test('a hung worker: the model call times out with a clear error and the worker is replaced', async () => {
  const image = await prepareImage(await shapeJpeg('2', rng(6)), { size: TINY_INPUT });
  const events: string[] = [];
  const pool = await EmbedderPool.start({
    arch: backbone,
    loc: { cacheDir: tmp },
    workers: 1,
    backend: 'wasm',
    timeoutMs: 800,
    onEvent: (e) => events.push(e.type),
  });
  try {
    const want = (await pool.embed([image]))[0]!;
    pool.injectFault('hang');
    const t0 = Date.now();
    await assert.rejects(pool.embed([image]), (e: unknown) => e instanceof ModelWorkerError && e.code === 'MODEL_TIMEOUT');
    assert.ok(Date.now() - t0 < 3000, `timed out after ${Date.now() - t0} ms`);
    assert.ok(events.includes('timeout'));
    // With no worker left, the next call waits for the replacement and is answered.
    assert.deepEqual((await pool.embed([image]))[0], want);
    assert.equal(pool.size, 1);
  } finally {
    await pool.close();
  }
});
