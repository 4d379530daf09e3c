// The train / predict / evaluate command-line tools, run as a user would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeShapesDataset } from '../src/dev/fixtures/shapes.ts';
import { writeTinyBackbone } from '../src/dev/fixtures/tinyBackbone.ts';
import { initBackend } from '../src/classifier/backend.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-cli-'));
const data = path.join(tmp, 'shapes');
const ckpt = path.join(tmp, 'ckpt');
let backbone = '';
const env = {
  ...process.env,
  BLOOM_BACKEND: 'wasm',
  BLOOM_WORKERS: '0',
  BLOOM_FEATURE_CACHE: path.join(tmp, 'features'),
  BLOOM_BACKBONE_CACHE: path.join(tmp, 'cache'),
};

function run(script: string, args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  await initBackend({ prefer: 'wasm' });
  backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
  await writeShapesDataset(data);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('--help lists the familiar options', () => {
  const t = run('train', ['--help']);
  assert.equal(t.code, 0);
  for (const o of ['--data-dir', '--arch', '--hidden-units', '--learning-rate', '--epochs', '--gpu', '--save-dir'])
    assert.ok(t.out.includes(o), o);
  const p = run('predict', ['--help']);
  for (const o of ['--checkpoint', '--top-k', '--category-names', '--json']) assert.ok(p.out.includes(o), o);
  const e = run('evaluate', ['--help']);
  for (const o of ['--split', '--perturb', '--tta', '--unknown', '--not-flowers', '--open-set', '--json']) assert.ok(e.out.includes(o), o);
});

// The checkpoint the later tests use: trained by whichever test needs it first, so each test runs alone too.
let training: ReturnType<typeof run> | undefined;
function trained() {
  training ??= run('train', [
    '--data_dir',
    data,
    '--arch',
    backbone,
    '--hidden_units',
    '32',
    '--learning_rate',
    '0.01',
    '--epochs',
    '25',
    '--batch_size',
    '16',
    '--aug_views',
    '1',
    '--save_dir',
    ckpt,
    '--json',
    '--gpu',
  ]);
  return training;
}

test('train (underscore aliases), predict and evaluate agree', () => {
  const t = trained();
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /GPU requested but not available/);
  assert.match(t.err, /TensorFlow\.js backend: wasm/);
  assert.match(t.err, /epoch 25\/25/);
  const summary = JSON.parse(t.out);
  assert.equal(summary.backend, 'wasm');
  assert.ok(summary.validTop1 >= 0.9, String(summary.validTop1));
  assert.ok(fs.existsSync(path.join(ckpt, 'CURRENT')));

  const img = path.join(data, 'valid', '2', 'img_1.jpg');
  const names = path.join(tmp, 'names.json');
  fs.writeFileSync(names, JSON.stringify({ 1: 'Disc', 2: 'Square', 3: 'Triangle' }));
  const p = run('predict', [img, '--checkpoint', ckpt, '--top_k', '2', '--category_names', names, '--json']);
  assert.equal(p.code, 0, p.err);
  const pred = JSON.parse(p.out);
  assert.equal(pred.top.length, 2);
  assert.equal(pred.top[0].name, 'Square');
  assert.ok(pred.top[0].probability >= pred.top[1].probability);

  const e = run('evaluate', ['--data-dir', data, '--checkpoint', ckpt, '--split', 'valid', '--json', '--perturb']);
  assert.equal(e.code, 0, e.err);
  const ev = JSON.parse(e.out);
  assert.equal(ev.clean.top1, summary.validTop1, 'evaluate reports the figure training reported');
  assert.ok(ev.perturbed.images > 0 && ev.perturbed.top1 >= 0 && ev.perturbed.top1 <= 1);
  assert.ok(ev.msPerImage > 0);
  assert.ok(Array.isArray(ev.worst));
});

test('calibrate saves the answer settings; evaluate answers a test split alone, --unknown and --not-flowers as the bot would', async () => {
  assert.equal(trained().code, 0);
  const bad = run('calibrate', ['--checkpoint', ckpt, '--data-dir', data, '--prototypes', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--prototypes must be a whole number from 1 to 64/);
  const badCalibration = run('calibrate', ['--checkpoint', ckpt, '--data-dir', data, '--calibration', 'isotonic']);
  assert.equal(badCalibration.code, 1);
  assert.match(badCalibration.err, /--calibration must be top-label or temperature/);
  const badBackbone = run('calibrate', ['--checkpoint', ckpt, '--data-dir', data, '--spread-backbone', '1']);
  assert.equal(badBackbone.code, 1);
  assert.match(badBackbone.err, /--spread-backbone must be a backbone index from 0 to 0/);
  const c = run('calibrate', ['--checkpoint', ckpt, '--data-dir', data, '--species-threshold', '0.5', '--prototypes', '3', '--json']);
  assert.equal(c.code, 0, c.err);
  const cal = JSON.parse(c.out);
  // Three prototypes per species, from every other training photo (8 of 16 each) under the centre crop and the six training views of the default recipe.
  assert.equal(cal.prototypes, 3);
  assert.match(cal.fitted.prototypesOn, /^24 training photos \(every other one\), 168 views, up to 3 per species/);
  const dirNow = path.join(ckpt, fs.readFileSync(path.join(ckpt, 'CURRENT'), 'utf8').trim());
  const dims = (JSON.parse(fs.readFileSync(path.join(dirNow, 'meta.json'), 'utf8')) as { backbones: { featureSize: number }[] })
    .backbones[0]?.featureSize;
  assert.ok(dims);
  assert.equal(fs.statSync(path.join(dirNow, 'centroids.bin')).size, 3 * 3 * dims * 4, 'three species × three prototypes, float32');
  // The species' spread on the one backbone, and the held-out flower photos (valid) all within the "not a flower" distance.
  assert.equal(cal.spread.backbone, 0);
  assert.ok(cal.spread.rank > 0 && cal.spread.rest > 0, c.out);
  assert.match(cal.fitted.notFlowerDistanceAbove, /^the 99.9% quantile of the distance/);
  assert.ok(cal.distance.valid[0] <= cal.notFlowerDistanceAbove, c.out);
  assert.equal(cal.saved, true);
  assert.ok(cal.temperature > 0 && cal.eceAfter >= 0 && cal.eceBefore >= 0, c.out);
  // The probabilities members see: top-label calibration by default, monotone in the head's own top-1.
  assert.ok(cal.topLabel.a > 0, c.out);
  assert.match(cal.fitted.calibration, /^top-label/);
  assert.equal(cal.speciesThreshold, 0.5);
  assert.ok(cal.notFlowerBelow > 0, c.out);
  const meta = JSON.parse(
    fs.readFileSync(path.join(ckpt, fs.readFileSync(path.join(ckpt, 'CURRENT'), 'utf8').trim(), 'meta.json'), 'utf8'),
  );
  assert.equal(meta.answers.flowerClasses.length, 1);
  assert.equal(meta.answers.temperature, cal.temperature);

  // Only test/ (no train/), and folders of photos at any depth.
  const testOnly = path.join(tmp, 'test-only');
  for (const l of ['1', '2', '3']) fs.cpSync(path.join(data, 'valid', l), path.join(testOnly, 'test', l), { recursive: true });
  const unknown = path.join(tmp, 'unknown', 'deeper');
  fs.cpSync(path.join(data, 'train', '2'), unknown, { recursive: true });
  const others = path.join(tmp, 'others');
  fs.mkdirSync(others);
  const sharp = (await import('sharp')).default;
  for (let i = 0; i < 3; i++)
    fs.writeFileSync(
      path.join(others, `grey${i}.jpg`),
      await sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 60 * i, g: 60 * i, b: 60 * i } } })
        .jpeg()
        .toBuffer(),
    );
  const e = run('evaluate', [
    '--data-dir',
    testOnly,
    '--checkpoint',
    ckpt,
    '--split',
    'test',
    '--unknown',
    path.join(tmp, 'unknown'),
    '--not-flowers',
    others,
    '--open-set',
    '--json',
  ]);
  assert.equal(e.code, 0, e.err);
  const report = JSON.parse(e.out);
  // The open-set comparison: the bot's signal, the head's others, the prototypes and the class statistics training saved.
  assert.deepEqual(
    report.openSet.map((x: { signal: string }) => x.signal),
    [
      'calibrated top-1 (the bot)',
      'top-1 − top-2 margin',
      'negative entropy',
      'similarity to the nearest prototype',
      'distance to the species (the "not a flower" rule)',
      'Mahalanobis (class statistics)',
      'relative Mahalanobis',
    ],
  );
  for (const x of report.openSet as { auroc: number; known: number; knownRight: number; unknownShare: number }[])
    assert.ok(
      x.auroc >= 0 && x.auroc <= 1 && x.knownRight >= 0 && x.knownRight <= x.known && x.known <= 1 && x.unknownShare === 0.2,
      JSON.stringify(x),
    );
  const a = report.answers;
  assert.equal(a.known.images, 18);
  assert.equal(a.unknown.images, 16);
  assert.equal(a.notFlowers.images, 3);
  for (const x of [a.known, a.unknown, a.notFlowers])
    assert.ok(Math.abs(x.species + x.notSure + x.notFlower - 1) < 1e-9, JSON.stringify(x));
  assert.ok(a.known.speciesCorrect <= a.known.species);
  assert.equal(a.unknown.speciesCorrect, undefined);
  const noUnknown = run('evaluate', ['--data-dir', testOnly, '--checkpoint', ckpt, '--split', 'test', '--open-set']);
  assert.equal(noUnknown.code, 1);
  assert.match(noUnknown.err, /--open-set needs --unknown DIR/);
  const text = run('evaluate', ['--data-dir', testOnly, '--checkpoint', ckpt, '--split', 'test', '--not-flowers', others]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /not flowers +3 photos: species [\d.]+%/);

  // predict says what the bot would, as evaluate counted it: the answer, then the calibrated candidates unless it is not a flower.
  const kinds = { species: 0, notSure: 0, notFlower: 0 };
  for (const f of [...fs.readdirSync(others).map((n) => path.join(others, n)), path.join(data, 'valid', '2', 'img_1.jpg')]) {
    const j = run('predict', [f, '--checkpoint', ckpt, '--top_k', '2', '--json']);
    assert.equal(j.code, 0, j.err);
    const pred = JSON.parse(j.out) as { answer: keyof typeof kinds; top: { name: string; label: string; probability: number }[] };
    const t = run('predict', [f, '--checkpoint', ckpt, '--top_k', '2']);
    const [headline, ...rest] = t.out.trim().split('\n');
    const best = pred.top[0]!;
    if (pred.answer === 'species') assert.equal(headline, `${best.name} (${best.label}), ${(best.probability * 100).toFixed(1)}% sure`);
    else if (pred.answer === 'notSure') assert.equal(headline, 'Not sure which flower this is. Candidates:');
    else assert.equal(headline, "That doesn't look like a flower.");
    assert.equal(rest.filter((l) => /^\d\. /.test(l)).length, pred.answer === 'notFlower' ? 0 : 2, t.out);
    if (f.startsWith(others)) kinds[pred.answer]++;
    else assert.equal(pred.answer, 'species', 'a clear valid shape');
  }
  for (const k of ['species', 'notSure', 'notFlower'] as const)
    assert.equal(kinds[k] / 3, a.notFlowers[k], `${k}: predict and evaluate agree`);
});

test('BLOOM_BACKEND forces a backend, and bad input gets a friendly error', () => {
  assert.equal(trained().code, 0);
  const txt = path.join(tmp, 'notes.jpg');
  fs.writeFileSync(txt, 'not a photo');
  const p = run('predict', [path.join(data, 'valid', '1', 'img_0.jpg'), '--checkpoint', ckpt, '--json'], { BLOOM_BACKEND: 'cpu' });
  assert.equal(p.code, 0, p.err);
  assert.equal(JSON.parse(p.out).backend, 'cpu');
  const bad = run('predict', [txt, '--checkpoint', ckpt]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /notes\.jpg: That file isn't an image I can read/);
  const missing = run('predict', [path.join(data, 'valid', '1', 'img_0.jpg'), '--checkpoint', path.join(tmp, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /No checkpoint at .*nope.*Train one first/);
  const typo = run('train', [
    '--data-dir',
    data,
    '--arch',
    backbone,
    '--aug-level',
    'robust:2,phnoe:2',
    '--save-dir',
    path.join(tmp, 'typo'),
  ]);
  assert.equal(typo.code, 1);
  assert.match(typo.err, /unknown augmentation level "phnoe"/);
  assert.equal(fs.existsSync(path.join(tmp, 'typo')), false, 'refused before any training');
  for (const [args, message] of [
    [['--loss', 'hinge'], /--loss must be crossentropy or logitnorm \(got "hinge"\)/],
    [['--loss', 'logitnorm', '--logit-temperature', '0'], /--logit-temperature must be a number ≥ 0.000001 \(got "0"\)/],
  ] as const) {
    const r = run('train', ['--data-dir', data, '--arch', backbone, ...args, '--save-dir', path.join(tmp, 'typo')]);
    assert.equal(r.code, 1);
    assert.match(r.err, message);
    assert.equal(fs.existsSync(path.join(tmp, 'typo')), false, 'refused before any training');
  }
});

test('make-check-set writes the real-photo and perturbed checks; calibrate --crops fits the crops the bot answers from; evaluate uses them', () => {
  const checks = path.join(tmp, 'checks');
  const m = run('make-check-set', ['--data-dir', data, '--out', checks, '--size', '96']);
  assert.equal(m.code, 0, m.err);
  const real = fs.readdirSync(path.join(checks, 'real', 'valid'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jpg'));
  assert.equal(real.length, 18, 'one scene per valid photo');
  const kinds = new Set(real.map((f) => f.split('.').at(-2)));
  assert.deepEqual([...kinds].sort(), ['bed', 'far', 'filter', 'hand', 'light', 'macro']);
  const perturbed = fs.readdirSync(path.join(checks, 'perturbed', 'valid'), { recursive: true, encoding: 'utf8' });
  assert.equal(perturbed.filter((f) => f.endsWith('.jpg')).length, 18);
  assert.ok(fs.existsSync(path.join(checks, 'real', 'cat_to_name.json')));

  const own = path.join(tmp, 'ckpt-crops');
  const t = run('train', ['--data-dir', data, '--arch', backbone, '--hidden-units', '16', '--epochs', '4', '--save-dir', own, '--json']);
  assert.equal(t.code, 0, t.err);
  const c = run('calibrate', [
    '--checkpoint',
    own,
    '--data-dir',
    data,
    '--species-threshold',
    '0.5',
    '--crops',
    'centre,whole',
    '--combine',
    'max',
    '--json',
  ]);
  assert.equal(c.code, 0, c.err);
  const meta = JSON.parse(fs.readFileSync(path.join(own, fs.readFileSync(path.join(own, 'CURRENT'), 'utf8').trim(), 'meta.json'), 'utf8'));
  assert.deepEqual(meta.answers.views, { crops: ['centre', 'whole'], combine: 'max' });
  assert.match(meta.answers.fitted.temperatureOn, /crops centre\+whole combined by max/);
  // Its "not a flower" thresholds leave room for the training photos under every training view (phone-like, scenes).
  assert.match(meta.answers.fitted.notFlowerBelow, /centre and [1-9]\d* training views/);

  const e = run('evaluate', ['--data-dir', path.join(checks, 'real'), '--checkpoint', own, '--split', 'valid', '--json']);
  assert.equal(e.code, 0, e.err);
  const ev = JSON.parse(e.out);
  assert.deepEqual(ev.views, { crops: ['centre', 'whole'], combine: 'max' }, 'the fitted crops');
  assert.equal(ev.clean.images, 18);
  const o = run('evaluate', [
    '--data-dir',
    path.join(checks, 'real'),
    '--checkpoint',
    own,
    '--split',
    'valid',
    '--crops',
    'zoom',
    '--json',
  ]);
  assert.equal(o.code, 0, o.err);
  assert.deepEqual(JSON.parse(o.out).views, { crops: ['zoom'], combine: 'max' }, '--crops overrides them');
  const bad = run('evaluate', ['--data-dir', data, '--checkpoint', own, '--split', 'valid', '--crops', 'corner']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /unknown crop "corner"/);
});

test('a leave-species-out run without copying folders: --unknown-labels in calibrate and evaluate, and --answered-share', () => {
  const leaveOut = path.join(tmp, 'ckpt-leave-out');
  const t = run('train', [
    ...['--data-dir', data, '--arch', backbone, '--hidden-units', '32', '--learning-rate', '0.01', '--epochs', '15'],
    ...['--batch-size', '16', '--aug-views', '0', '--exclude-labels', '3', '--save-dir', leaveOut, '--json'],
  ]);
  assert.equal(t.code, 0, t.err);
  // The species threshold from the left-out species' photos (train and valid: 16 + 6).
  const known = run('calibrate', ['--checkpoint', leaveOut, '--data-dir', data, '--unknown-labels', '2']);
  assert.equal(known.code, 1);
  assert.match(known.err, /the model was trained on label 2: not unknown to it/);
  const both = run('calibrate', ['--checkpoint', leaveOut, '--data-dir', data, '--unknown-labels', '3', '--answered-share', '0.9']);
  assert.equal(both.code, 1);
  assert.match(both.err, /choose one way to set the species threshold/);
  const c = run('calibrate', [
    '--checkpoint',
    leaveOut,
    '--data-dir',
    data,
    '--unknown-labels',
    '3',
    '--unknown-species-rate',
    '0.25',
    '--json',
  ]);
  assert.equal(c.code, 0, c.err);
  assert.match(JSON.parse(c.out).fitted.speciesThreshold, /^at most 25% of 22 unknown-species photos answered with a species$/);
  const e = run('evaluate', ['--checkpoint', leaveOut, '--data-dir', data, '--split', 'valid', '--unknown-labels', '3', '--json']);
  assert.equal(e.code, 0, e.err);
  const a = JSON.parse(e.out).answers;
  assert.equal(a.known.images, 12, 'the valid photos of the two species it knows');
  assert.equal(a.unknown.images, 22);
  assert.ok(a.unknown.species <= 0.25 + 1e-9, JSON.stringify(a.unknown));
  // The threshold that answers every valid photo (the cut between two photos is src/training/calibrate's thresholdAnswering, in test/answers).
  const s = run('calibrate', ['--checkpoint', leaveOut, '--data-dir', data, '--answered-share', '1', '--json']);
  assert.equal(s.code, 0, s.err);
  assert.equal(JSON.parse(s.out).fitted.speciesThreshold, 'answers 1 of the 12 valid photos with a species');
  const v = run('evaluate', ['--checkpoint', leaveOut, '--data-dir', data, '--split', 'valid', '--json']);
  assert.equal(JSON.parse(v.out).answers.known.species, 1);
});
