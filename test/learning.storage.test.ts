import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrate, MIGRATIONS, openConnection, openDatabase } from '../src/storage/index.ts';

const insertPrediction = `INSERT INTO predictions (created_at, source, top_k) VALUES ('2026-01-01T00:00:00.000Z', 'message', '[]')`;

test('community species get labels c1, c2… and are found by name whatever the case', () => {
  const store = openDatabase(':memory:');
  const a = store.learning.ensureSpecies('Lenten Rose', 'admin');
  assert.equal(a.created, true);
  assert.equal(a.species.label, 'c1');
  const again = store.learning.ensureSpecies('  lenten rose ', 'someone');
  assert.equal(again.created, false);
  assert.equal(again.species.id, a.species.id);
  assert.equal(store.learning.ensureSpecies('Tulip', null).species.label, 'c2');
  assert.deepEqual(
    store.learning.communitySpecies().map((s) => s.name),
    ['Lenten Rose', 'Tulip'],
  );
  store.close();
});

test('approved photos: one row per photo, its latest review decides the label; pending, rejected and "not a flower" stay out', () => {
  const store = openDatabase(':memory:');
  const db = store.db;
  for (let i = 0; i < 5; i++) db.prepare(insertPrediction).run();
  const add =
    db.prepare(`INSERT INTO contributions (sha256, path, bytes, prediction_id, label, new_name, not_flower, status, created_by, created_at, final_label, reviewed_at)
    VALUES (?, ?, 10, ?, ?, NULL, ?, ?, ?, '2026-01-02T00:00:00.000Z', ?, ?)`);
  add.run('aa', 'p/aa.jpg', 1, '3', 0, 'approved', 'u1', '3', '2026-01-03T00:00:00.000Z');
  add.run('aa', 'p/aa.jpg', 2, '3', 0, 'approved', 'u2', '5', '2026-01-04T00:00:00.000Z'); // relabelled later
  add.run('bb', 'p/bb.jpg', 3, '7', 0, 'pending', 'u1', null, null);
  add.run('cc', 'p/cc.jpg', 4, '7', 0, 'rejected', 'u1', null, '2026-01-03T00:00:00.000Z');
  add.run('dd', 'p/dd.jpg', 5, null, 1, 'approved', 'u1', null, '2026-01-03T00:00:00.000Z');
  assert.deepEqual(
    store.learning.approvedPhotos().map((p) => [p.sha256, p.label]),
    [['aa', '5']],
  );
  store.close();
});

test('a version-2 database upgrades to the review schema in place', () => {
  const db = openConnection(':memory:');
  migrate(db, MIGRATIONS.slice(0, 2));
  db.prepare(insertPrediction).run();
  db.prepare(
    `INSERT INTO contributions (sha256, path, bytes, prediction_id, label, created_by, created_at) VALUES ('aa', 'x', 1, 1, '3', 'u1', 'now')`,
  ).run();
  migrate(db, MIGRATIONS);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  const row = db.prepare(`SELECT status, final_label FROM contributions`).get() as { status: string; final_label: string | null };
  assert.deepEqual({ ...row }, { status: 'pending', final_label: null });
  db.close();
});
