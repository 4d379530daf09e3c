// Exporting a checkpoint as the shipped model, and which model is loaded when.
// Tiny synthetic backbone and photos: no ../shared, no network.
import { PACKED_CENTROIDS_FILE } from '../src/classifier/centroids.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '../src/classifier/tf.ts';
import { pickFlowerClasses, quantile, speciesPrototypes } from '../src/classifier/answers.ts';
import { loadCheckpoint, resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { imagenetProbs, loadImagenetHeads } from '../src/classifier/imagenetHead.ts';
import { scanDataset } from '../src/training/dataset.ts';
import { answerPhotos } from '../src/training/evaluate.ts';
import { saveAnswerSettings } from '../src/training/calibrate.ts';
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
  // Each weight is the original rounded to float16 (11 significant bits; subnormals below 6.1e-5).
  const wa = a.head.getWeights().map((t) => t.dataSync());
  const wb = b.head.getWeights().map((t) => t.dataSync());
  assert.equal(wb.length, wa.length);
  wa.forEach((ws, j) =>
    ws.forEach((w, i) =>
      assert.ok(Math.abs(w - wb[j]![i]!) <= Math.abs(w) * 2 ** -11 + 2 ** -25, `weight ${j}[${i}]: ${w} vs ${wb[j]![i]}`),
    ),
  );
  // So the answers barely move: rounding shifts each logit by at most ~0.05 % of its |w·x| sum.
  const argmax = (r: number[]) => r.indexOf(Math.max(...r));
  pa.forEach((row, i) => {
    row.forEach((p, k) => assert.ok(Math.abs(p - pb[i]![k]!) < 2e-2, `row ${i} class ${k}: ${p} vs ${pb[i]![k]}`));
    const [p1, p2] = [...row].sort((u, v) => v - u);
    if (p1! - p2! > 0.05) assert.equal(argmax(pb[i]!), argmax(row), `row ${i} top-1`);
  });
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

test('with answer settings, the figures and demo photos are the answers the bot gives: species right or wrong, not sure, not a flower', async () => {
  // Settings as npm run calibrate writes them, chosen so that every kind of answer happens on the valid photos.
  const dir = resolveCheckpointDir(m.checkpointDir);
  const clf = await Classifier.load({ checkpoint: dir, cacheDir: tmp });
  const ds = scanDataset(m.dataDir);
  const signals = await Promise.all(
    ds.splits.valid!.map(async (s) => {
      const f = (await clf.embedder.embed(await clf.views(fs.readFileSync(s.path))))[0]!;
      return { f, top1: Math.max(...clf.probsOfFeatures([f])[0]!) };
    }),
  );
  const [inet] = await loadImagenetHeads([m.backbone], clf.meta.backbones, { cacheDir: tmp });
  const flowerClasses = [
    pickFlowerClasses(
      signals.map((s) => imagenetProbs(inet!, s.f)),
      0.5,
    ),
  ];
  const like = signals.map((s) => flowerClasses[0]!.reduce((a, c) => a + imagenetProbs(inet!, s.f)[c]!, 0));
  const labelIndex = ds.splits.valid!.map((s) => clf.meta.labels.indexOf(s.label));
  const sizes = clf.meta.backbones.map((b) => b.featureSize);
  await clf.dispose();
  saveAnswerSettings(
    dir,
    {
      temperature: 1.5,
      flowerClasses,
      speciesThreshold: quantile(
        signals.map((s) => s.top1),
        0.5,
      ),
      notFlowerBelow: quantile(like, 0.15),
      centroids: 'centroids.bin',
    },
    speciesPrototypes(
      signals.map((s) => s.f),
      labelIndex,
      clf.meta.labels.length,
      sizes,
    ),
  );

  const out = path.join(tmp, 'shipped-answers');
  const r = await shipModel({
    checkpoint: m.checkpointDir,
    outDir: out,
    dataRoots: [m.dataDir],
    threshold: 0.35,
    command: 'npm run train:default',
    featureCacheDir: m.featureDir,
    backbones: { cacheDir: tmp },
    startEmbedder: async () => new LocalEmbedder(await loadFeatureExtractor(m.backbone, { cacheDir: tmp })),
  });
  assert.equal(r.meta.answers?.centroids, PACKED_CENTROIDS_FILE, 'the prototypes travel with the head, in 8 bits');
  assert.ok(fs.existsSync(path.join(out, PACKED_CENTROIDS_FILE)) && !fs.existsSync(path.join(out, 'centroids.bin')));
  const a = r.meta.shipped.valid.answers!;
  assert.ok(a, 'answer figures are recorded');
  assert.ok(a.speciesRight > 0 && a.notSure > 0 && a.notFlower > 0, JSON.stringify(a));
  assert.ok(Math.abs(a.speciesRight + a.speciesWrong + a.notSure + a.notFlower - 1) < 1e-9);

  // The same shares as npm run evaluate counts on the shipped folder (the bot's code path for answers).
  const shippedClf = await Classifier.load({ checkpoint: out, cacheDir: tmp });
  const { rows } = await answerPhotos(shippedClf, ds.splits.valid!, 0.35);
  await shippedClf.dispose();
  const share = (f: (x: (typeof rows)[number]) => boolean) => rows.filter(f).length / rows.length;
  assert.deepEqual(a, {
    speciesThreshold: r.meta.answers.speciesThreshold,
    speciesRight: share((x) => x.kind === 'species' && x.best === x.sample.label),
    speciesWrong: share((x) => x.kind === 'species' && x.best !== x.sample.label),
    notSure: share((x) => x.kind === 'notSure'),
    notFlower: share((x) => x.kind === 'notFlower'),
  });

  // Each pick is the answer it stands for.
  const demo = JSON.parse(fs.readFileSync(path.join(out, 'demo.json'), 'utf8')) as DemoPlan;
  assert.deepEqual(demo.valid, r.meta.shipped.valid);
  assert.equal(demo.threshold, a.speciesThreshold);
  const kindOf = new Map(rows.map((x) => [path.relative(m.dataDir, x.sample.path), x]));
  for (const p of demo.picks) {
    const x = kindOf.get(p.photo)!;
    if (p.kind === 'confident-right') assert.ok(x.kind === 'species' && x.best === p.label, p.photo);
    if (p.kind === 'unsure') assert.equal(x.kind, 'notSure', p.photo);
    if (p.kind === 'wrong') assert.notEqual(x.best, p.label, p.photo);
  }
  assert.deepEqual(
    demo.picks.map((p) => p.kind),
    ['confident-right', 'unsure', ...(a.speciesWrong > 0 || rows.some((x) => x.best !== x.sample.label) ? ['wrong'] : [])],
  );
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
