// The model shipped in models/default, held to the code: it loads, it is the
// default recipe on the pinned backbones (a recipe change without re-training
// fails here), its labels are the flowers', and it stays small. Needs no
// backbone and no data set (the label names are compared when ../shared is there).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { findPreset, splitArch } from '../src/classifier/backbones.ts';
import { loadCheckpoint, type CheckpointMeta } from '../src/classifier/checkpoint.ts';
import { readModelJson } from '../src/classifier/modelFiles.ts';
import { thumbnailPath } from '../src/classifier/thumbnails.ts';
import { PACKED_CENTROIDS_FILE, readCentroids } from '../src/classifier/centroids.ts';
import { CLASS_STATS_FILE, loadClassStats } from '../src/training/classStats.ts';
import { loadConfig } from '../src/config.ts';
import { shippedModelDir } from '../src/modelDir.ts';
import { DEFAULT_ANSWERED_SHARE, DEFAULT_TRAIN_PARAMS } from '../src/training/defaults.ts';
import { SHIPPED_BUDGET_BYTES, type DemoPlan } from '../src/training/ship.ts';

const dir = shippedModelDir();
let meta: CheckpointMeta;

before(async () => {
  await initBackend({ prefer: 'cpu' });
});

test('the shipped model loads: head shapes match its meta', async () => {
  const { head, meta: m } = await loadCheckpoint(dir);
  meta = m;
  assert.deepEqual(head.inputs[0]!.shape, [null, m.backbones.reduce((n, b) => n + b.featureSize, 0)]);
  assert.deepEqual(head.outputs[0]!.shape, [null, m.labels.length]);
  head.dispose();
  assert.ok(m.shipped, 'meta.json has its shipped section (npm run ship-model)');
  assert.equal(m.shipped.weights, 'float16');
  for (const w of readModelJson(dir).weightsManifest.flatMap((g) => g.weights))
    assert.equal(w.quantization?.dtype, 'float16', `${w.name} stored as float16`);
  assert.equal(m.dataRoot, '', 'no path of the training machine');
});

test('it is the default recipe of src/training/defaults.ts (re-train with `npm run train:default` after changing it)', () => {
  assert.deepEqual(
    meta.params,
    DEFAULT_TRAIN_PARAMS,
    'src/training/defaults.ts changed but models/default was not re-trained: run `npm run train:default` and commit models/default',
  );
  assert.equal(meta.shipped!.command, 'npm run train:default');
  assert.ok(meta.trainImages > 6000, `trained on the whole training split (${meta.trainImages} photos)`);
});

test('its backbones are the pinned presets of src/classifier/backbones.ts', () => {
  const want = splitArch(DEFAULT_TRAIN_PARAMS.arch).map((name) => findPreset(name));
  assert.equal(meta.backbones.length, want.length);
  meta.backbones.forEach((b, i) => {
    const p = want[i]!;
    assert.ok(p, `preset ${b.id}`);
    assert.deepEqual(b, p, `${b.id}: same id, input, normalisation, feature layer and size, pinned URL (and no local source path)`);
    assert.match(p.url, /\/[0-9a-f]{40}\//, 'URL pinned to a commit');
  });
});

test('its labels are the 102 flowers, each with a name', () => {
  assert.equal(meta.labels.length, 102);
  assert.deepEqual(
    meta.labels,
    Array.from({ length: 102 }, (_, i) => String(i + 1)),
  );
  for (const l of meta.labels) assert.ok(meta.names[l]?.trim(), `label ${l} has a name`);
  const catToName = path.join(loadConfig({}).dataDir, 'cat_to_name.json');
  if (fs.existsSync(catToName)) assert.deepEqual(meta.names, JSON.parse(fs.readFileSync(catToName, 'utf8')));
});

test('a typical-photo thumbnail for every label, and the whole folder within its budget', () => {
  for (const l of meta.labels) {
    const f = thumbnailPath(dir, l);
    assert.ok(fs.existsSync(f), `typical photo of ${l}`);
    const b = fs.readFileSync(f);
    assert.ok(b[0] === 0xff && b[1] === 0xd8, `${f} is a JPEG`);
    assert.ok(b.length <= 16 * 1024, `${f} is small (${b.length} bytes)`);
  }
  const bytes = (d: string): number =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .reduce((n, e) => n + (e.isDirectory() ? bytes(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).size), 0);
  assert.ok(bytes(dir) <= SHIPPED_BUDGET_BYTES, `models/default takes ${bytes(dir)} bytes (budget ${SHIPPED_BUDGET_BYTES})`);
});

test('its recorded figures and demo photos are consistent', () => {
  const v = meta.shipped!.valid;
  assert.equal(v.top1, meta.validAccuracy);
  assert.equal(v.images, meta.validImages);
  assert.ok(Math.abs(v.confidentRight + v.confidentWrong + v.unsure - 1) < 1e-9);
  const demo = JSON.parse(fs.readFileSync(path.join(dir, 'demo.json'), 'utf8')) as DemoPlan;
  assert.ok(
    demo.picks.some((p) => p.kind === 'confident-right'),
    'the demo shows a confident answer',
  );
  for (const p of demo.picks) {
    assert.match(p.photo, /^valid\//, 'demo photos are validation photos (never trained on)');
    assert.ok(meta.labels.includes(p.label));
  }
});

test('it carries what answers and /retrain need: 8-bit species prototypes and the class statistics of its training photos', () => {
  const dims = meta.backbones.reduce((n, b) => n + b.featureSize, 0);
  assert.ok(meta.answers, 'calibrated (npm run calibrate): three kinds of answer');
  // The species threshold answers the share of valid photos src/training/defaults.ts names (to the photo).
  const v = meta.shipped!.valid;
  const answered = v.answers!.speciesRight + v.answers!.speciesWrong;
  assert.ok(Math.abs(answered - DEFAULT_ANSWERED_SHARE) <= 1 / v.images, `answered ${answered}`);
  assert.equal(meta.answers.centroids, PACKED_CENTROIDS_FILE);
  const rows = readCentroids(path.join(dir, PACKED_CENTROIDS_FILE)).length / dims;
  assert.ok(Number.isInteger(rows) && rows > meta.labels.length, `several prototypes per species (${rows} rows)`);
  assert.ok(rows <= meta.labels.length * (meta.answers.prototypes ?? 1), 'at most meta.answers.prototypes each');
  const stats = loadClassStats(dir, dims);
  assert.ok(stats, `${CLASS_STATS_FILE} beside the head: a /retrain with members' photos needs no data set`);
  assert.deepEqual(stats.labels, meta.labels);
  assert.ok(stats.counts.every((n) => n > 0));
});
