// The learning loop's parts on their own: which photos are held out, when a
// species joins, the incremental head update, the gate's per-species figures, pruning.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../src/classifier/backend.ts';
import { rng } from '../src/classifier/augment.ts';
import { buildHead } from '../src/classifier/head.ts';
import * as tf from '../src/classifier/tf.ts';
import { readMeta, resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { prepareModel } from '../src/dev/syntheticModel.ts';
import { ringJpeg } from '../src/dev/fixtures/shapes.ts';
import { Classifier } from '../src/classifier/classifier.ts';
import { calibrateCheckpoint, saveAnswerSettings } from '../src/training/calibrate.ts';
import { scanDataset } from '../src/training/dataset.ts';
import { CLASS_STATS_FILES, ClassStatsBuilder, loadClassStats, saveClassStats, withSpread } from '../src/training/classStats.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { learn, MIN_RECALIBRATION_PHOTOS } from '../src/training/learn.ts';
import { HELD_OUT_SHARE, isHeldOut, planContributions } from '../src/training/contributions.ts';
import { judge, passesGate, speciesChanges } from '../src/training/gate.ts';
import { updateHead } from '../src/training/incremental.ts';
import { lossOnLogits, type HeadLoss } from '../src/training/headLoss.ts';
import { pruneVersions } from '../src/training/prune.ts';

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

describe('held-out contributions', () => {
  test('chosen by the photo hash alone: the same photo is always on the same side, about a fifth are held out', () => {
    assert.equal(isHeldOut('00000000' + 'a'.repeat(56)), true);
    assert.equal(isHeldOut('ffffffff' + 'a'.repeat(56)), false);
    const hashes = Array.from({ length: 4000 }, (_, i) => sha(`photo ${i}`));
    const share = hashes.filter((h) => isHeldOut(h)).length / hashes.length;
    assert.ok(Math.abs(share - HELD_OUT_SHARE) < 0.03, `held out ${share}`);
    // More contributions arriving never move an earlier one.
    const first = planContributions({
      approved: hashes.slice(0, 50).map((h) => ({ sha256: h, path: `${h}.jpg`, label: '1' })),
      contribDir: '/c',
      liveLabels: ['1', '2'],
      liveNames: {},
      names: {},
      minPhotos: 8,
    });
    const later = planContributions({
      approved: hashes.slice(0, 400).map((h) => ({ sha256: h, path: `${h}.jpg`, label: '1' })),
      contribDir: '/c',
      liveLabels: ['1', '2'],
      liveNames: {},
      names: {},
      minPhotos: 8,
    });
    const laterOut = new Set(later.heldOut.map((p) => p.sha256));
    for (const p of first.heldOut) assert.ok(laterOut.has(p.sha256));
    for (const p of first.train) assert.ok(!laterOut.has(p.sha256));
    assert.equal(first.train[0]!.path, path.join('/c', `${first.train[0]!.sha256}.jpg`));
  });
});

describe('new species threshold', () => {
  test('a species the model does not know joins at newSpeciesMinPhotos approved photos (held-out ones count); below, it waits and none of its photos train', () => {
    const photos = (label: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ sha256: sha(`${label}-${i}`), path: `${label}-${i}.jpg`, label }));
    const plan = planContributions({
      approved: [...photos('c1', 8), ...photos('c2', 7), ...photos('2', 3)],
      contribDir: '/c',
      liveLabels: ['1', '2'],
      liveNames: { '1': 'red disc', '2': 'green square' },
      names: { c1: 'Lenten rose', c2: 'Snow trillium' },
      minPhotos: 8,
    });
    assert.deepEqual(plan.added, [{ label: 'c1', name: 'Lenten rose', photos: 8 }]);
    assert.deepEqual(plan.waiting, [{ label: 'c2', name: 'Snow trillium', photos: 7, needed: 8 }]);
    assert.deepEqual(plan.labels, ['1', '2', 'c1']);
    assert.equal(plan.names.c1, 'Lenten rose');
    const used = [...plan.train, ...plan.heldOut];
    assert.equal(used.filter((p) => p.label === 'c1').length, 8);
    assert.equal(used.filter((p) => p.label === '2').length, 3, 'photos of a known species always train');
    assert.equal(used.filter((p) => p.label === 'c2').length, 0);
  });
});

/** Gaussian clusters in `dim` dimensions with correlated noise (a shared factor), as pooled CNN features are. */
function clusters(classes: number, dim: number, seed: number) {
  const r = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, () => 3 * normal()));
  const draw = (k: number) => {
    const shared = normal();
    return Float32Array.from(centres[k]!, (c) => 5 + c + 0.8 * normal() + 0.8 * shared);
  };
  return { draw };
}

async function trainedHead(dim: number, classes: number, hidden: number[], draw: (k: number) => Float32Array, loss?: HeadLoss) {
  const xs: Float32Array[] = [],
    ys: number[] = [];
  for (let k = 0; k < classes; k++)
    for (let i = 0; i < 40; i++) {
      xs.push(draw(k));
      ys.push(k);
    }
  // LogitNorm trains the logits, then they go into a softmax head, as the trainer does.
  const shape = { inputDim: dim, classes, hidden, dropout: 0, seed: 3 };
  const onLogits = buildHead({ ...shape, output: loss ? 'logits' : 'softmax' });
  onLogits.compile({ optimizer: tf.train.adam(0.02), loss: loss ? lossOnLogits(loss) : 'categoricalCrossentropy' });
  // A fixed interleaved order and no shuffling: the head, and so the test, is the same on every run.
  const order = xs.map((_, i) => i).sort((a, b) => (a % 40) - (b % 40) || a - b);
  const x = tf.tensor2d(order.map((i) => Array.from(xs[i]!)));
  const y = tf.oneHot(
    tf.tensor1d(
      order.map((i) => ys[i]!),
      'int32',
    ),
    classes,
  );
  await onLogits.fit(x, y, { epochs: 40, batchSize: 32, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
  const head = loss ? buildHead(shape) : onLogits;
  if (loss) {
    head.setWeights(onLogits.getWeights());
    onLogits.dispose();
  }
  const stats = new ClassStatsBuilder(dim);
  xs.forEach((v, i) => stats.add(String(ys[i]), v));
  const labels = Array.from({ length: classes }, (_, k) => String(k));
  return {
    head,
    stats: withSpread(
      stats.build(labels, 'test'),
      xs.map((row, i) => ({ label: String(ys[i]), row })),
    ),
    labels,
  };
}

function top1(head: tf.LayersModel, rows: Float32Array[]): number[] {
  return tf.tidy(() => Array.from(tf.argMax(head.predict(tf.tensor2d(rows.map((r) => Array.from(r)))) as tf.Tensor, 1).dataSync()));
}

describe('incremental head update', () => {
  before(async () => {
    await initBackend({ prefer: 'cpu' });
  });

  const cases: { hidden: number[]; loss?: HeadLoss; outlierMix?: number }[] = [
    { hidden: [] },
    { hidden: [12] },
    { hidden: [], loss: { loss: 'logitnorm', logitTemperature: 0.1 } },
    { hidden: [], outlierMix: 0.5 },
  ];
  for (const { hidden, loss, outlierMix } of cases) {
    const kind = `${hidden.length ? 'hidden layer' : 'linear head'}${loss ? ', trained and updated with LogitNorm' : ''}${outlierMix ? ', updated with outlier mixing' : ''}`;
    test(`a new species learnt from 6 feature vectors, the old classes kept (${kind})`, async () => {
      const dim = 24,
        old = 5;
      const { draw } = clusters(old + 1, dim, 11);
      const { head, stats, labels } = await trainedHead(dim, old, hidden, draw, loss);
      const testOld = Array.from({ length: old * 30 }, (_, i) => ({ x: draw(i % old), y: i % old }));
      const beforeAcc =
        top1(
          head,
          testOld.map((t) => t.x),
        ).filter((p, i) => p === testOld[i]!.y).length / testOld.length;

      const r = await updateHead({
        head,
        labels,
        hidden,
        dropout: 0,
        stats,
        photos: Array.from({ length: 6 }, () => ({ features: draw(old), label: 'c1' })),
        newLabels: ['c1'],
        epochs: 30,
        anchor: Infinity,
        ...(loss && { loss }),
        outlierMix,
      });
      assert.deepEqual(r.labels, [...labels, 'c1']);
      assert.equal(r.head.outputs[0]!.shape[1], old + 1);
      const fresh = Array.from({ length: 40 }, () => draw(old));
      const newHits = top1(r.head, fresh).filter((p) => p === old).length / fresh.length;
      const afterAcc =
        top1(
          r.head,
          testOld.map((t) => t.x),
        ).filter((p, i) => p === testOld[i]!.y).length / testOld.length;
      assert.ok(newHits >= 0.8, `new species named on ${newHits} of fresh photos`);
      assert.ok(afterAcc >= beforeAcc - 0.03, `old classes ${beforeAcc} → ${afterAcc}`);
      // The old classes' rows are frozen without photos of them: the live head's scores for them are unchanged.
      const probe = [draw(0)];
      const a = tf.tidy(() => Array.from((head.predict(tf.tensor2d([Array.from(probe[0]!)])) as tf.Tensor).dataSync()));
      const b = tf.tidy(() => Array.from((r.head.predict(tf.tensor2d([Array.from(probe[0]!)])) as tf.Tensor).dataSync()));
      assert.ok(Math.abs(Math.log(a[1]! / a[0]!) - Math.log(b[1]! / b[0]!)) < 1e-3, 'old logits differ by a constant only');
      head.dispose();
      r.head.dispose();
    });
  }

  test('with outlier mixing the new species row is less sure of mixes of it and an old class', async () => {
    const dim = 24,
      old = 5;
    // Each run draws the same photos from its own stream; the mixes come from another (the same species centres).
    const { draw } = clusters(old + 1, dim, 11);
    const mixes = Array.from({ length: 40 }, (_, i) => {
      const [a, b] = [draw(i % old), draw(old)];
      return a.map((v, k) => (v + b[k]!) / 2);
    });
    const sureness = async (outlierMix?: number) => {
      const own = clusters(old + 1, dim, 11).draw;
      const { head, stats, labels } = await trainedHead(dim, old, [], own);
      const photos = Array.from({ length: 6 }, () => ({ features: own(old), label: 'c1' }));
      const r = await updateHead({
        head,
        labels,
        hidden: [],
        dropout: 0,
        stats,
        photos,
        newLabels: ['c1'],
        epochs: 30,
        anchor: Infinity,
        seed: 4,
        outlierMix,
      });
      const p = tf.tidy(() => tf.mean(tf.max(r.head.predict(tf.tensor2d(mixes.map((m) => Array.from(m)))) as tf.Tensor, 1)).dataSync()[0]!);
      head.dispose();
      r.head.dispose();
      return p;
    };
    const [plain, mixed] = [await sureness(), await sureness(1)];
    assert.ok(mixed < plain, `mean top-1 on the mixes: ${mixed} with outlier mixing, ${plain} without`);
  });

  test('class statistics survive a save and load (means float16, spread directions included)', async () => {
    const dim = 24;
    const { draw } = clusters(3, dim, 5);
    const b = new ClassStatsBuilder(dim);
    const rows = Array.from({ length: 60 }, (_, i) => ({ label: String(i % 3), row: draw(i % 3) }));
    rows.forEach((r) => b.add(r.label, r.row));
    const s = withSpread(b.build(['0', '1', '2'], 'test'), rows);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-stats-'));
    saveClassStats(dir, s);
    const back = loadClassStats(dir, dim)!;
    assert.deepEqual(back.labels, ['0', '1', '2']);
    assert.deepEqual(back.counts, [20, 20, 20]);
    assert.equal(back.directionVar!.length, s.directionVar!.length);
    back.means.forEach((v, i) => assert.ok(Math.abs(v - s.means[i]!) < 0.01 * Math.max(1, Math.abs(v))));
    assert.equal(loadClassStats(dir, dim + 1), undefined, 'statistics of another feature size are ignored');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('the gate', () => {
  test('both models on the same photos; a label the live model lacks counts as wrong for it; changes per species, worst drop first', () => {
    const labelsOld = ['1', '2'],
      labelsNew = ['1', '2', 'c1'];
    const truth = ['1', '1', '2', 'c1'];
    const isValid = [true, true, true, false];
    const before = judge(
      [
        [0.9, 0.1],
        [0.8, 0.2],
        [0.1, 0.9],
        [0.6, 0.4],
      ],
      truth,
      labelsOld,
      isValid,
      'valid 3 + held-out contributions 1',
      new Set(labelsOld),
    );
    const after = judge(
      [
        [0.8, 0.1, 0.1],
        [0.2, 0.1, 0.7],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
      ],
      truth,
      labelsNew,
      isValid,
      'valid 3 + held-out contributions 1',
      new Set(labelsOld),
    );
    assert.equal(before.accuracy, 3 / 4);
    assert.equal(after.accuracy, 3 / 4);
    assert.equal(before.validAccuracy, 1);
    assert.equal(before.knownAccuracy, 1, 'on the photos of species the live model knows');
    assert.equal(after.knownAccuracy, 2 / 3);
    assert.deepEqual(after.summary.perLabel['1'], { images: 2, correct: 1, confusedWith: [{ label: 'c1', count: 1 }] });
    assert.deepEqual(before.summary.perLabel.c1, { images: 1, correct: 0, confusedWith: [{ label: '1', count: 1 }] });
    assert.deepEqual(speciesChanges(before.summary, after.summary), [
      { label: '1', images: 2, before: 2, after: 1 },
      { label: 'c1', images: 1, before: 0, after: 1 },
    ]);
  });
});

describe('pruning', () => {
  test('keeps the newest keepVersions versions and never the live one', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-prune-'));
    const versions = ['20260101-000000-aaaaaa', '20260102-000000-bbbbbb', '20260103-000000-cccccc', '20260104-000000-dddddd'];
    for (const v of versions) {
      fs.mkdirSync(path.join(root, v));
      fs.writeFileSync(path.join(root, v, 'meta.json'), '{}');
    }
    fs.mkdirSync(path.join(root, '.tmp-half-written'));
    fs.writeFileSync(path.join(root, 'CURRENT'), `${versions[0]}\n`); // rolled back to the oldest
    assert.deepEqual(pruneVersions(root, 2), [versions[1]]);
    assert.deepEqual(fs.readdirSync(root).sort(), ['.tmp-half-written', 'CURRENT', versions[0], versions[2], versions[3]].sort());
    assert.deepEqual(pruneVersions(root, 1, [versions[2]]), []);
    assert.deepEqual(pruneVersions(root, 1), [versions[2]]);
    fs.rmSync(root, { recursive: true });
  });
});

describe('the gate decides', () => {
  const j = (accuracy: number, knownAccuracy: number) => ({
    summary: { set: 's', images: 1, perLabel: {} },
    accuracy,
    validAccuracy: knownAccuracy,
    validTop5: 1,
    knownAccuracy,
  });
  test('without new species: not lower on the same photos', () => {
    assert.equal(passesGate(j(0.9, 0.9), j(0.9, 0.9), 0), true);
    assert.equal(passesGate(j(0.9, 0.9), j(0.899, 0.899), 0), false);
  });
  test('with new species: at most 0.5 points lower on the species the live model knew', () => {
    assert.equal(passesGate(j(0.96, 0.97), j(0.966, 0.966), 1), true);
    assert.equal(passesGate(j(0.96, 0.97), j(0.97, 0.964), 1), false);
  });
});

describe('learn() on a checkpoint made before class statistics were kept', () => {
  test('computes them from a few training photos per class, keeps them beside the new checkpoint, and writes evaluation and training counts', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-learn-'));
    const m = await prepareModel(tmp);
    const liveDir = resolveCheckpointDir(m.checkpointDir);
    for (const f of CLASS_STATS_FILES) fs.rmSync(path.join(liveDir, f));
    const embedder = await makeEmbedder({ arch: m.backbone, loc: { cacheDir: tmp }, workers: 0 });
    // Photos of a known species approved by members (the data set's own, as if posted again).
    const photos = fs.readdirSync(path.join(m.dataDir, 'train', '2')).map((f) => path.join(m.dataDir, 'train', '2', f));
    const approved = photos.map((p) => ({ sha256: sha(p), path: p, label: '2' }));
    const r = await learn({
      liveDir,
      dataDir: m.dataDir,
      saveDir: m.checkpointDir,
      contribDir: '/',
      approved,
      communityNames: {},
      minPhotos: 8,
      embedder,
      cache: new FeatureCache(m.featureDir),
      statsPerClass: 4,
    });
    await embedder.close();
    assert.match(r.statsSource, /centre views of up to 4 photos per class \(12 photos\)/);
    const saved = loadClassStats(r.dir, r.meta.backbones[0]!.featureSize)!;
    assert.deepEqual(saved.labels, ['1', '2', '3']);
    assert.deepEqual(r.meta.labels, ['1', '2', '3']);
    assert.equal(r.meta.evaluation!.set, `valid 18 + held-out contributions ${r.plan.heldOut}`);
    assert.equal(r.meta.trainCounts!['2']!.community, r.plan.train);
    assert.equal(r.meta.trainCounts!['1']!.dataset, 16);
    assert.equal(r.plan.train + r.plan.heldOut, photos.length);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});

/** The synthetic model, calibrated as `npm run calibrate` would (species threshold 0.5), in its own tmp folder. */
async function calibratedModel() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-learn-'));
  const m = await prepareModel(tmp);
  const liveDir = resolveCheckpointDir(m.checkpointDir);
  const loc = { cacheDir: tmp };
  const cache = new FeatureCache(m.featureDir);
  const ds = scanDataset(m.dataDir);
  const cal = await calibrateCheckpoint(liveDir, {
    embedder: await makeEmbedder({ arch: m.backbone, loc, workers: 0 }),
    loc,
    train: ds.splits.train!,
    valid: ds.splits.valid!,
    speciesThreshold: 0.5,
    cache,
  });
  return { tmp, m, liveDir, loc, cache, cal };
}

describe('learn() and the distance to the species', () => {
  test('a species learnt from members\' photos joins the prototypes, so its new photos are near the species, not "not a flower"', async () => {
    const { tmp, m, liveDir, loc, cache, cal } = await calibratedModel();
    const bar = cal.settings.notFlowerDistanceAbove!;
    const r = rng(42);
    const rings = await Promise.all(Array.from({ length: 16 }, () => ringJpeg(r)));
    const files = rings.map((b, i) => {
      const p = path.join(tmp, `ring-${i}.jpg`);
      fs.writeFileSync(p, b);
      return p;
    });
    const distances = async (dir: string) => {
      const clf = await Classifier.load({ checkpoint: dir, ...loc });
      try {
        const out: number[] = [];
        for (const b of rings.slice(12)) out.push(clf.signals(await clf.embedder.embed(await clf.views(b))).distance!);
        return out;
      } finally {
        await clf.dispose();
      }
    };
    const before = await distances(liveDir);
    const embedder = await makeEmbedder({ arch: m.backbone, loc, workers: 0 });
    const learnt = await learn({
      liveDir,
      dataDir: m.dataDir,
      saveDir: m.checkpointDir,
      contribDir: '/',
      approved: files.slice(0, 12).map((p) => ({ sha256: sha(p), path: p, label: 'ring' })),
      communityNames: { ring: 'Golden ring' },
      minPhotos: 8,
      embedder,
      cache,
    });
    await embedder.close();
    assert.ok(learnt.meta.labels.includes('ring'));
    assert.deepEqual(learnt.meta.answers?.spread, cal.settings.spread, 'the spread is shared by all species: it carries over');
    const after = await distances(learnt.dir);
    after.forEach((d, i) => assert.ok(d < before[i]!, `photo ${i}: ${d.toFixed(1)} after, ${before[i]!.toFixed(1)} before`));
    assert.ok(
      after.every((d) => d <= bar),
      `the new species' photos within the "not a flower" distance ${bar.toFixed(1)}: ${after.map((d) => d.toFixed(1)).join(', ')}`,
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});

describe("learn() and the answers' calibration", () => {
  test('the updated head gets its calibration refitted on the evaluation photos; with too few of them, the live one carries over', async () => {
    const { tmp, m, liveDir, loc, cache, cal } = await calibratedModel();
    // A badly calibrated live model: every top-1 squeezed toward a coin toss.
    const skewed = { a: 0.1, b: -1 };
    saveAnswerSettings(liveDir, { ...cal.settings, topLabel: skewed });
    const photos = fs.readdirSync(path.join(m.dataDir, 'train', '2')).map((f) => path.join(m.dataDir, 'train', '2', f));
    const run = async (minRecalibrationPhotos?: number) => {
      const embedder = await makeEmbedder({ arch: m.backbone, loc, workers: 0 });
      try {
        return await learn({
          liveDir,
          dataDir: m.dataDir,
          saveDir: m.checkpointDir,
          contribDir: '/',
          approved: photos.map((p) => ({ sha256: sha(p), path: p, label: '2' })),
          communityNames: {},
          minPhotos: 8,
          embedder,
          cache,
          minRecalibrationPhotos,
        });
      } finally {
        await embedder.close();
      }
    };
    const carried = await run();
    assert.ok(carried.after.summary.images < MIN_RECALIBRATION_PHOTOS);
    assert.equal(carried.recalibration, undefined);
    assert.deepEqual(carried.meta.answers!.topLabel, skewed, 'too few photos: the live calibration as it was');
    const refit = await run(10);
    const r = refit.recalibration!;
    assert.equal(r.photos, refit.after.summary.images);
    assert.ok(r.eceAfter < r.eceCarried / 2, `calibration error ${r.eceCarried.toFixed(3)} carried, ${r.eceAfter.toFixed(3)} refitted`);
    const saved = readMeta(refit.dir).answers!;
    assert.notDeepEqual(saved.topLabel, skewed);
    assert.ok(saved.topLabel!.a > 0);
    assert.match(String(saved.fitted?.recalibratedOn), /^valid 18 \+ held-out contributions \d+ \(centre views\)/);
    // Everything else stays the live model's.
    assert.equal(saved.speciesThreshold, 0.5);
    assert.equal(saved.notFlowerDistanceAbove, cal.settings.notFlowerDistanceAbove);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
