// Exporting a checkpoint as the shipped model, and which model is loaded when.
// Tiny synthetic backbone and photos: no ../shared, no network.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '../src/classifier/tf.ts';
import { loadCheckpoint } from '../src/classifier/checkpoint.ts';
import { LocalEmbedder } from '../src/classifier/embedder.ts';
import { loadFeatureExtractor } from '../src/classifier/featureExtractor.ts';
import { readModelJson } from '../src/classifier/modelFiles.ts';
import { thumbnailPath } from '../src/classifier/thumbnails.ts';
import { modelDir } from '../src/modelDir.ts';
import { shipModel, SHIPPED_BUDGET_BYTES, type DemoPlan } from '../src/training/ship.ts';
import { prepareModel } from '../src/dev/syntheticModel.ts';

let tmp: string;
let m: Awaited<ReturnType<typeof prepareModel>>;
const shipped = () => path.join(tmp, 'shipped');

const folderState = (dir: string) =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => `${path.join(e.parentPath, e.name)}:${fs.statSync(path.join(e.parentPath, e.name)).size}`)
    .sort();

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-ship-'));
  m = await prepareModel(tmp);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('ship-model writes a float16 head that answers like the original, thumbnails, figures and demo photos', async () => {
  const cacheBefore = folderState(m.featureDir);
  // An empty cache for the valid photos: the backbone starts, but nothing is written to the cache given.
  fs.rmSync(m.featureDir, { recursive: true, force: true });
  fs.mkdirSync(m.featureDir);
  const r = await shipModel({
    checkpoint: m.checkpointDir,
    outDir: shipped(),
    dataRoots: [m.dataDir],
    threshold: 0.35,
    command: 'npm run train:default',
    featureCacheDir: m.featureDir,
    startEmbedder: async () => new LocalEmbedder(await loadFeatureExtractor(m.backbone, { cacheDir: tmp })),
  });
  assert.deepEqual(folderState(m.featureDir), [], 'the feature cache is only read');
  assert.ok(cacheBefore.length > 0);
  assert.ok(r.bytes < SHIPPED_BUDGET_BYTES);
  for (const w of readModelJson(shipped()).weightsManifest.flatMap((g) => g.weights)) assert.equal(w.quantization?.dtype, 'float16');

  const a = await loadCheckpoint(m.checkpointDir);
  const b = await loadCheckpoint(shipped());
  const x = tf.randomNormal([20, a.meta.backbones[0]!.featureSize], 0, 1, 'float32', 7);
  const pa = (a.head.predict(x) as tf.Tensor).arraySync() as number[][];
  const pb = (b.head.predict(x) as tf.Tensor).arraySync() as number[][];
  pa.forEach((row, i) => row.forEach((p, k) => assert.ok(Math.abs(p - pb[i]![k]!) < 5e-3, `row ${i} class ${k}: ${p} vs ${pb[i]![k]}`)));
  a.head.dispose();
  b.head.dispose();
  x.dispose();

  assert.equal(b.meta.dataRoot, '');
  assert.equal(b.meta.shipped!.fromVersion, a.meta.version);
  assert.deepEqual(b.meta.params, a.meta.params);
  assert.equal(b.meta.backbones[0]!.source, a.meta.backbones[0]!.source, 'a custom backbone keeps its source');
  const v = b.meta.shipped!.valid;
  assert.equal(b.meta.validAccuracy, v.top1);
  assert.ok(Math.abs(v.confidentRight + v.confidentWrong + v.unsure - 1) < 1e-9);
  for (const l of b.meta.labels) {
    const t = fs.readFileSync(thumbnailPath(shipped(), l));
    assert.ok(t[0] === 0xff && t[1] === 0xd8 && t.length < 16 * 1024, `thumbnail of ${l}`);
  }
  const demo = JSON.parse(fs.readFileSync(path.join(shipped(), 'demo.json'), 'utf8')) as DemoPlan;
  assert.ok(demo.picks.length >= 1);
  for (const p of demo.picks) assert.ok(fs.existsSync(path.join(m.dataDir, p.photo)), p.photo);
});

test('the model to load: BLOOM_CHECKPOINT_DIR when set, else your own checkpoints, else the shipped one', () => {
  const own = path.join(tmp, 'own');
  const env = { BLOOM_SHIPPED_MODEL_DIR: shipped() };
  assert.deepEqual(modelDir({ checkpointDir: own }, env), { dir: shipped(), source: 'shipped' });
  assert.deepEqual(modelDir({ checkpointDir: m.checkpointDir }, env), { dir: m.checkpointDir, source: 'own' });
  assert.deepEqual(
    modelDir({ checkpointDir: own }, { ...env, BLOOM_CHECKPOINT_DIR: own }),
    { dir: own, source: 'configured' },
    'an explicit folder wins, even empty (its error names it)',
  );
  assert.deepEqual(
    modelDir({ checkpointDir: own }, { BLOOM_SHIPPED_MODEL_DIR: path.join(tmp, 'none') }),
    { dir: own, source: 'own' },
    'no shipped model: the error names your folder',
  );
});
