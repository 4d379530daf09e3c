// The species catalogue (/species): the live model's species and the ones members
// teach, suggestions while typing, forgiving look-up, details, /species add, and the
// list's pages and cards as rendered.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CheckpointMeta } from '../src/classifier/checkpoint.ts';
import { PAGE_SIZE, pageId, parsePageId, speciesCard, speciesPage } from '../src/bot/catalogueRender.ts';
import { CatalogueService } from '../src/services/catalogueService.ts';
import { openDatabase, type Store } from '../src/storage/index.ts';

const NAMES: Record<string, string> = { '1': 'pink primrose', '2': 'hard-leaved pocket orchid', '3': 'canterbury bells', '4': 'sweet pea' };

function meta(extra: Partial<CheckpointMeta> = {}, names = NAMES): CheckpointMeta {
  return { labels: Object.keys(names), names, ...extra } as CheckpointMeta;
}

/** Approves `n` photos of `label` (as a review would). */
function approve(store: Store, label: string, n: number, from = 0) {
  const db = store.db;
  for (let i = from; i < from + n; i++) {
    const pid = db
      .prepare(`INSERT INTO predictions (created_at, source, top_k) VALUES ('2026-01-01T00:00:00.000Z', 'message', '[]')`)
      .run().lastInsertRowid;
    db.prepare(
      `INSERT INTO contributions (sha256, path, bytes, prediction_id, label, status, created_by, created_at, final_label, reviewed_at)
       VALUES (?, 'x.jpg', 1, ?, ?, 'approved', 'u', '2026-01-02T00:00:00.000Z', ?, '2026-01-03T00:00:00.000Z')`,
    ).run(`${label}-${i}`, pid, label, label);
  }
}

function setup(m: CheckpointMeta | undefined = meta(), minPhotos = 8) {
  const store = openDatabase(':memory:');
  let live = m;
  const cat = new CatalogueService(() => live, store.learning, minPhotos);
  return { store, cat, setLive: (x: CheckpointMeta) => (live = x) };
}

describe('catalogue', () => {
  test('all species: the model by name, taught ones in the model marked, candidates still collecting last with their counts', () => {
    const { store, cat, setLive } = setup();
    store.learning.ensureSpecies('Lenten Rose', 'admin'); // c1: taught, now in the model below
    store.learning.ensureSpecies('Blue Poppy', 'admin'); // c2: collecting
    store.learning.ensureSpecies('Tulip', 'admin'); // c3: collecting, more photos
    setLive(meta({}, { ...NAMES, c1: 'Lenten Rose' }));
    approve(store, 'c3', 5);
    approve(store, 'c2', 2);
    const all = cat.all();
    assert.deepEqual(
      all.map((e) => [e.name, e.inModel, e.taught, e.collecting?.approved]),
      [
        ['canterbury bells', true, false, undefined],
        ['hard-leaved pocket orchid', true, false, undefined],
        ['Lenten Rose', true, true, undefined],
        ['pink primrose', true, false, undefined],
        ['sweet pea', true, false, undefined],
        ['Tulip', false, true, 5],
        ['Blue Poppy', false, true, 2],
      ],
    );
    assert.equal(all.at(-1)!.collecting!.needed, 8);
    store.close();
  });

  test('suggestions: starts of names and words first, then inside names, then a typo; everything (≤ 25) on an empty field', () => {
    const { store, cat } = setup();
    store.learning.ensureSpecies('Peach Blossom', null);
    assert.deepEqual(
      cat.suggest('pe').map((e) => e.name),
      ['sweet pea', 'Peach Blossom'],
      "the model's species before those still collecting photos",
    );
    assert.deepEqual(
      cat.suggest('ORCH').map((e) => e.name),
      ['hard-leaved pocket orchid'],
    );
    assert.deepEqual(
      cat.suggest('rose').map((e) => e.name),
      ['pink primrose'],
      'inside a name',
    );
    assert.deepEqual(
      cat.suggest('canterbry').map((e) => e.name),
      ['canterbury bells'],
      'a missing letter',
    );
    assert.deepEqual(cat.suggest('zzzz'), []);
    assert.equal(cat.suggest('').length, 5);
    const many = setup(meta({}, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [String(i), `flower ${i}`]))));
    assert.equal(many.cat.suggest('').length, 25);
    assert.equal(many.cat.suggest('flower').length, 25);
    store.close();
    many.store.close();
  });

  test('find: forgiving as feedback names are (case, accents, spacing, a typo); unknown names are not found', () => {
    const { store, cat } = setup();
    store.learning.ensureSpecies('Lenten Rose', null);
    assert.equal(cat.find('  SWEET   pea ')?.label, '4');
    assert.equal(cat.find('swet pea')?.label, '4');
    assert.equal(cat.find('Canterbury Bélls')?.label, '3');
    assert.equal(cat.find('lenten rose')?.label, 'c1');
    assert.equal(cat.find('lenten rose')?.collecting?.approved, 0);
    assert.equal(cat.find('Sunflower'), undefined);
    assert.equal(cat.find('!!!'), undefined);
    store.close();
  });

  test('detail: photos trained on, accuracy and confusions from the checkpoint; "not recorded"/"not measured" when absent', () => {
    const { cat, setLive, store } = setup();
    const bare = cat.detail(cat.find('sweet pea')!);
    assert.equal(bare.trained, undefined);
    assert.equal(bare.evaluation, undefined);
    setLive(
      meta({
        trainCounts: { '4': { dataset: 40, community: 3 } },
        evaluation: {
          set: 'valid 20',
          images: 20,
          perLabel: {
            '4': {
              images: 10,
              correct: 7,
              confusedWith: [
                { label: '1', count: 2 },
                { label: '3', count: 1 },
              ],
            },
          },
        },
      }),
    );
    const d = cat.detail(cat.find('sweet pea')!);
    assert.deepEqual(d.trained, { dataset: 40, community: 3 });
    assert.deepEqual(d.evaluation, {
      set: 'valid 20',
      images: 10,
      correct: 7,
      confusedWith: [
        { label: '1', name: 'pink primrose', count: 2 },
        { label: '3', name: 'canterbury bells', count: 1 },
      ],
    });
    const card = speciesCard(d, Buffer.from('jpeg'));
    const fields = Object.fromEntries(card.embeds[0]!.fields!.map((f) => [f.name, f.value]));
    assert.equal(fields['Photos trained on'], '40 from the data set · 3 from members');
    assert.equal(fields['On the evaluation photos'], '7 of 10 right (70.0 %)');
    assert.equal(fields['Most often confused with'], 'Pink Primrose (2×), Canterbury Bells (1×)');
    assert.equal(card.embeds[0]!.thumbnail?.url, 'attachment://typical.jpg');
    assert.deepEqual(
      card.files.map((f) => f.name),
      ['typical.jpg'],
    );
    const bareCard = Object.fromEntries(speciesCard(bare).embeds[0]!.fields!.map((f) => [f.name, f.value]));
    assert.equal(bareCard['Photos trained on'], 'not recorded for this model');
    assert.equal(bareCard['On the evaluation photos'], 'not measured for this model');
    store.close();
  });

  test('a species members are teaching: "collecting photos: k of N approved"', () => {
    const { store, cat } = setup(meta(), 8);
    store.learning.ensureSpecies('Blue Poppy', 'admin');
    approve(store, 'c1', 3);
    approve(store, '4', 2); // photos of another species do not count
    const d = cat.detail(cat.find('blue poppy')!);
    assert.deepEqual(d.collecting, { approved: 3, needed: 8 });
    assert.match(speciesCard(d).embeds[0]!.description!, /Collecting photos: 3 of 8 approved\*\* \(BLOOM_NEW_SPECIES_MIN_PHOTOS\)/);
    store.close();
  });

  test('add: a new name is created once; a known species (any case, spacing, accents) or a symbol-only name is refused', () => {
    const { store, cat } = setup();
    const added = cat.add('  Blue   Poppy ', 'admin');
    assert.equal(added.kind, 'added');
    assert.equal(added.kind === 'added' && added.entry.label, 'c1');
    assert.equal(store.learning.speciesByName('blue poppy')?.createdBy, 'admin');
    assert.equal(cat.add('BLUE POPPY', 'admin').kind, 'known');
    assert.equal(cat.add('Sweet Péa', 'admin').kind, 'known', 'a species of the model');
    assert.equal(cat.add('🌸🌸', 'admin').kind, 'invalid');
    assert.equal(store.learning.communitySpecies().length, 1);
    store.close();
  });
});

describe('species list pages', () => {
  const entries = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      label: String(i),
      name: `flower ${String(i).padStart(2, '0')}`,
      inModel: true,
      taught: i === 3,
    }));

  test('25 per page, "page i of n", ◀ disabled on the first page and ▶ on the last; 🆕 and 🌱 lines', () => {
    const all = [...entries(30), { label: 'c1', name: 'blue poppy', inModel: false, taught: true, collecting: { approved: 2, needed: 8 } }];
    const first = speciesPage(all, 0);
    const lines = first.embeds[0]!.description!.split('\n');
    assert.equal(lines.length, PAGE_SIZE);
    assert.equal(lines[3], 'Flower 03 🆕');
    assert.match(first.embeds[0]!.footer!.text, /^page 1 of 2 · /);
    assert.match(first.embeds[0]!.title!, /\(30\)/);
    const [prev, next] = (first.components![0]!.components as { custom_id: string; disabled: boolean }[]).map((b) => [
      b.custom_id,
      b.disabled,
    ]);
    assert.deepEqual(prev, [pageId(0, 'prev'), true]);
    assert.deepEqual(next, [pageId(1, 'next'), false]);
    const last = speciesPage(all, 1);
    assert.match(last.embeds[0]!.footer!.text, /^page 2 of 2 · /);
    assert.equal(last.embeds[0]!.description!.split('\n').at(-1), '🌱 Blue Poppy — collecting photos: 2 of 8 approved');
    assert.deepEqual(
      (last.components![0]!.components as { disabled: boolean }[]).map((b) => b.disabled),
      [false, true],
    );
    assert.match(speciesPage(all, 99).embeds[0]!.footer!.text, /^page 2 of 2/, 'clamped');
    assert.deepEqual(speciesPage(entries(3), 0).components, [], 'one page: no buttons');
    assert.equal(parsePageId(pageId(4, 'next')), 4);
    assert.equal(parsePageId('species:page:x'), undefined);
  });
});
