// Model versions (/model list, /model rollback) on checkpoint folders, with a stand-in
// for the model manager: what is listed, what is refused, what CURRENT says afterwards.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CHECKPOINT_FORMAT, type CheckpointMeta } from '../src/classifier/checkpoint.ts';
import { modelList, rollbackMessage, versionLine } from '../src/bot/catalogueRender.ts';
import type { ModelManager } from '../src/services/modelManager.ts';
import { ModelVersions, SHIPPED_ID } from '../src/services/modelVersions.ts';

let tmp: string;
let root: string;
let shipped: string;

function write(dir: string, m: Partial<CheckpointMeta>) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'meta.json'),
    JSON.stringify({ format: CHECKPOINT_FORMAT, backbones: [], labels: ['1', '2', '3'], names: {}, validAccuracy: 0.9, ...m }),
  );
}

/** Stands in for ModelManager: what is live, and the swaps asked for (as a retrain would ask). */
function fakeModels(liveDir: string) {
  const loads: string[] = [];
  let dir = liveDir;
  const models = {
    get current() {
      return { dir };
    },
    get version() {
      return path.basename(dir);
    },
    load: (d: string) => {
      loads.push(d);
      dir = d;
      return Promise.resolve();
    },
    activate: (r: string, v: string) => {
      loads.push(path.join(r, v));
      dir = path.join(r, v);
      fs.writeFileSync(path.join(r, 'CURRENT'), `${v}\n`);
      return Promise.resolve();
    },
  };
  return { models: models as unknown as ModelManager, loads };
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-versions-'));
  root = path.join(tmp, 'checkpoints');
  shipped = path.join(tmp, 'default');
  write(path.join(root, 'v1'), { version: 'v1', createdAt: '2026-11-01T10:00:00.000Z', validAccuracy: 0.9 });
  write(path.join(root, 'v2'), {
    version: 'v2',
    createdAt: '2026-12-01T10:00:00.000Z',
    validAccuracy: 0.95,
    labels: ['1', '2', '3', 'c1'],
    evaluation: {
      set: 'valid',
      images: 10,
      perLabel: { '1': { images: 6, correct: 6, confusedWith: [] }, '2': { images: 4, correct: 2, confusedWith: [] } },
    },
  });
  fs.mkdirSync(path.join(root, '.tmp-v3-abc')); // a save in progress is no version
  fs.writeFileSync(path.join(root, 'CURRENT'), 'v2\n');
  write(shipped, {
    version: 'v0',
    createdAt: '2026-10-01T00:00:00.000Z',
    validAccuracy: 0.97,
    shipped: { exportedAt: '2026-10-02T00:00:00.000Z' } as CheckpointMeta['shipped'],
  });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('model versions', () => {
  test('list: newest first, the shipped default last and marked, the live one marked; accuracy on the evaluation set when measured', () => {
    const { models } = fakeModels(path.join(root, 'v2'));
    const v = new ModelVersions(models, () => false, { checkpointDir: root, shippedDir: shipped, shippedSelectable: true });
    const list = v.list();
    assert.deepEqual(
      list.map((x) => [x.id, x.live, x.shipped, x.species]),
      [
        ['v2', true, false, 4],
        ['v1', false, false, 3],
        [SHIPPED_ID, false, true, 3],
      ],
    );
    assert.equal(list[0]!.evalAccuracy, 0.8);
    assert.equal(list[1]!.evalAccuracy, undefined);
    assert.equal(versionLine(list[0]!), 'v2 · 2026-12-01 10:00 · valid 95.0 % · eval 80.0 % · 4 species');
    assert.equal(versionLine(list[2]!), 'default (shipped default) · 2026-10-02 00:00 · valid 97.0 % · 3 species');
    const text = modelList(list).embeds[0]!.description!.split('\n');
    assert.match(text[0]!, /^🟢 \*\*live\*\* v2 /);
    assert.match(text[1]!, /^⚪ v1 /);
  });

  test('rollback: swaps through the model manager and names the version in CURRENT; no-op when already live', async () => {
    const { models, loads } = fakeModels(path.join(root, 'v2'));
    const v = new ModelVersions(models, () => false, { checkpointDir: root, shippedDir: shipped, shippedSelectable: true });
    const r = await v.rollback('v1');
    assert.equal(r.kind, 'done');
    assert.equal(r.kind === 'done' && r.previous, 'v2');
    assert.deepEqual(loads, [path.join(root, 'v1')]);
    assert.equal(fs.readFileSync(path.join(root, 'CURRENT'), 'utf8').trim(), 'v1');
    assert.equal((await v.rollback('v1')).kind, 'already');
    assert.equal(loads.length, 1, 'nothing reloaded');
  });

  test('refused: while a retrain runs, an unknown version, a save in progress', async () => {
    let running = true;
    const { models, loads } = fakeModels(path.join(root, 'v2'));
    const v = new ModelVersions(models, () => running, { checkpointDir: root, shippedDir: shipped, shippedSelectable: true });
    assert.equal((await v.rollback('v1')).kind, 'busy');
    running = false;
    assert.equal((await v.rollback('v9')).kind, 'unknown');
    assert.equal((await v.rollback('.tmp-v3-abc')).kind, 'unknown');
    assert.equal((await v.rollback('../default')).kind, 'unknown');
    assert.deepEqual(loads, []);
    assert.equal(fs.readFileSync(path.join(root, 'CURRENT'), 'utf8').trim(), 'v2');
  });

  test('the shipped default: chosen by removing CURRENT (start-up then loads it), refused when BLOOM_CHECKPOINT_DIR pins the folder', async () => {
    const pinned = fakeModels(path.join(root, 'v2'));
    const p = new ModelVersions(pinned.models, () => false, { checkpointDir: root, shippedDir: shipped, shippedSelectable: false });
    assert.equal((await p.rollback(SHIPPED_ID)).kind, 'pinned');
    assert.deepEqual(pinned.loads, []);
    const { models, loads } = fakeModels(path.join(root, 'v2'));
    const v = new ModelVersions(models, () => false, { checkpointDir: root, shippedDir: shipped, shippedSelectable: true });
    assert.equal((await v.rollback(SHIPPED_ID)).kind, 'done');
    assert.deepEqual(loads, [shipped]);
    assert.equal(fs.existsSync(path.join(root, 'CURRENT')), false);
    assert.equal(v.list().find((x) => x.live)?.id, SHIPPED_ID);
  });

  test('a version that cannot be loaded: the live model and CURRENT stay, and the admin is told', async () => {
    const { models } = fakeModels(path.join(root, 'v2'));
    (models as unknown as { activate: () => Promise<void> }).activate = () => Promise.reject(new Error('Checkpoint v1 is damaged'));
    const v = new ModelVersions(models, () => false, { checkpointDir: root, shippedDir: shipped, shippedSelectable: true });
    const r = await v.rollback('v1');
    assert.equal(r.kind, 'failed');
    assert.equal(rollbackMessage(r, 'v1'), 'I could not load v1 (Checkpoint v1 is damaged), so the live model stays as it was.');
    assert.equal(fs.readFileSync(path.join(root, 'CURRENT'), 'utf8').trim(), 'v2');
    assert.equal(v.list().find((x) => x.live)?.id, 'v2');
  });
});
