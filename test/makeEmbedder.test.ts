// The one embedder factory: its choice rule (pool or this thread), and what it builds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { LazyEmbedder, LocalEmbedder } from '../src/classifier/embedder.ts';
import { EmbedderPool } from '../src/classifier/embedderPool.ts';
import { embedderKind, makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { TINY_INPUT, writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-make-embedder-'));
let backbone = '';
before(async () => {
  await initBackend({ prefer: 'wasm' });
  backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the choice rule: a pool from two workers, or from one when this thread must stay free', () => {
  const cases: [workers: number, keepThreadFree: boolean, kind: 'pool' | 'local'][] = [
    [0, false, 'local'],
    [0, true, 'local'],
    [1, false, 'local'],
    [1, true, 'pool'],
    [2, false, 'pool'],
    [2, true, 'pool'],
    [4, false, 'pool'],
  ];
  for (const [workers, keepThreadFree, kind] of cases)
    assert.equal(embedderKind({ workers, keepThreadFree }), kind, `${workers} worker(s), keepThreadFree ${keepThreadFree}`);
  assert.equal(embedderKind({ workers: 1 }), 'local', 'keepThreadFree is off by default');
});

test('builds what the rule says: in-process, or a pool of the asked size', async () => {
  const loc = { cacheDir: tmp };
  const local = await makeEmbedder({ arch: backbone, loc, workers: 1 });
  assert.ok(local instanceof LocalEmbedder);
  assert.equal(local.inputSize, TINY_INPUT);
  await local.close();
  const pool = await makeEmbedder({ arch: backbone, loc, workers: 1, keepThreadFree: true, backend: 'wasm' });
  try {
    assert.ok(pool instanceof EmbedderPool);
    assert.equal(pool.size, 1);
    assert.deepEqual(pool.specs, local.specs);
  } finally {
    await pool.close();
  }
});

test('lazy: presets start on first use (shapes known without loading); other backbones load at once', async () => {
  const lazy = await makeEmbedder({
    arch: 'densenet121+mobilenet_v1_0.75_224',
    loc: { cacheDir: path.join(tmp, 'empty') },
    workers: 2,
    lazy: true,
  });
  assert.ok(lazy instanceof LazyEmbedder);
  assert.equal(lazy.started, false, 'nothing loaded (nor downloaded) yet');
  assert.deepEqual(
    lazy.specs.map((s) => [s.id, s.featureSize]),
    [
      ['densenet121', 1024],
      ['mobilenet_v1_0.75_224', 768],
    ],
  );
  assert.equal(lazy.inputSize, 224);
  await lazy.close();
  const eager = await makeEmbedder({ arch: backbone, loc: { cacheDir: tmp }, workers: 0, lazy: true });
  assert.ok(eager instanceof LocalEmbedder, 'a custom backbone has to be loaded to know its shape');
  await eager.close();
});
