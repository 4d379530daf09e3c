// Feedback without Discord: name matching, custom_ids, the tally line, the photo
// cache, votes and contributions on a real database, and the schema upgrade.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { customId, parseCustomId, tallyLine, withTally } from '../src/bot/feedbackRender.ts';
import { FeedbackService, matchSpecies, PhotoCache } from '../src/services/feedbackService.ts';
import { migrate, MIGRATIONS, openConnection, openDatabase, type Store } from '../src/storage/index.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-feedback-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const NAMES = { '1': 'pink primrose', '2': 'lenten rose', '3': 'globe-flower', '4': 'sweet pea', '5': 'english marigold' };

describe('matchSpecies', () => {
  test('case, diacritics, spacing and punctuation do not matter', () => {
    assert.deepEqual(matchSpecies('  LENTEN   rosé ', NAMES), { kind: 'label', label: '2', name: 'lenten rose' });
    assert.deepEqual(matchSpecies('Globe Flower', NAMES), { kind: 'label', label: '3', name: 'globe-flower' });
  });
  test('a small typo still finds the species', () => {
    assert.deepEqual(matchSpecies('lentin rose', NAMES), { kind: 'label', label: '2', name: 'lenten rose' });
    assert.deepEqual(matchSpecies('englsh marigold', NAMES), { kind: 'label', label: '5', name: 'english marigold' });
  });
  test('an unknown name is proposed as a new species, cleaned of markdown and mentions', () => {
    assert.deepEqual(matchSpecies('Hellebore **niger** @everyone', NAMES), { kind: 'new', name: 'Hellebore niger everyone' });
    assert.equal(matchSpecies('🌸 !!', NAMES), undefined);
  });
});

test('custom_ids round-trip and anything else is refused', () => {
  assert.deepEqual(parseCustomId(customId.right(42)), { action: 'right', predictionId: 42 });
  assert.deepEqual(parseCustomId(customId.pick(7, '123456789012345678')), {
    action: 'pick',
    predictionId: 7,
    messageId: '123456789012345678',
  });
  for (const bad of ['fb:right:', 'fb:right:1:123456', 'fb:pick:1', 'fb:vote:1', 'xx:right:1', 'fb:right:1e3'])
    assert.equal(parseCustomId(bad), undefined, bad);
});

test('the tally line replaces the previous one and keeps other content', () => {
  const p = { id: 1, top1Label: '1' } as Parameters<typeof tallyLine>[1];
  const line = tallyLine(
    [
      { answer: { kind: 'label', label: '2' }, count: 2 },
      { answer: { kind: 'label', label: '1' }, count: 1 },
      { answer: { kind: 'not_flower' }, count: 1 },
    ],
    p,
    (l) => NAMES[l as '1'],
  );
  assert.equal(line, "🗳️ ❌ 2 members say: Lenten Rose · ✅ 1 member says it's right · ❌ 1 member says: not a flower");
  assert.equal(withTally('I looked at the first 3 photos only.\n🗳️ old', line), `I looked at the first 3 photos only.\n${line}`);
  assert.equal(withTally('', line), line);
});

test('the photo cache is bounded in count and age', () => {
  let now = 0;
  const c = new PhotoCache(2, 1000, () => now);
  c.put(1, Buffer.from('a'));
  c.put(2, Buffer.from('b'));
  c.put(3, Buffer.from('c'));
  assert.equal(c.get(1), undefined, 'the oldest left');
  assert.equal(String(c.get(2)), 'b');
  now = 1001;
  assert.equal(c.get(3), undefined, 'too old');
});

test('the photo cache also keeps to its byte budget and lets expired photos go as new ones arrive', () => {
  let now = 0;
  const c = new PhotoCache(100, 1000, () => now, 10);
  c.put(1, Buffer.alloc(4));
  c.put(2, Buffer.alloc(4));
  c.put(3, Buffer.alloc(4));
  assert.equal(c.get(1), undefined, 'the oldest left to stay within 10 bytes');
  assert.equal(c.bytes, 8);
  now = 2000;
  c.put(4, Buffer.alloc(1));
  assert.equal(c.size, 1, 'expired photos are gone without being asked for');
  assert.equal(c.bytes, 1);
});

describe('FeedbackService', () => {
  let n = 0;
  const setup = (dailyCap = 20, download?: (url: string) => Promise<Buffer>) => {
    const store = openDatabase(path.join(tmp, `db${++n}.sqlite`));
    const contribDir = path.join(tmp, `contrib${n}`);
    return { store, contribDir, service: new FeedbackService(store, () => NAMES, { contribDir, dailyCap, download }) };
  };
  const predict = (store: Store, bytes: Buffer, url?: string) =>
    store.insertPrediction({
      source: 'message',
      userId: 'u0',
      imageUrl: url ?? null,
      imageSha256: crypto.createHash('sha256').update(bytes).digest('hex'),
      topK: [
        { label: '1', name: 'pink primrose', probability: 0.7 },
        { label: '2', name: 'lenten rose', probability: 0.2 },
      ],
    });
  const big = () =>
    sharp({ create: { width: 2000, height: 1000, channels: 3, background: { r: 200, g: 40, b: 90 } } })
      .withExif({ IFD0: { Artist: 'Somebody Private' } })
      .jpeg()
      .toBuffer();

  test('a vote keeps the photo once, capped in size and without metadata; the same vote again changes nothing', async () => {
    const { store, contribDir, service } = setup();
    const bytes = await big();
    const id = predict(store, bytes);
    service.remember(id, bytes);
    const p = service.prediction(id)!;
    const first = await service.vote(p, 'u1', { kind: 'label', label: '1' });
    assert.deepEqual([first.result, first.photo], ['new', 'kept']);
    const c = store.feedback.getContribution(id, 'u1')!;
    const meta = await sharp(path.join(contribDir, c.path)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.exif], [1024, 512, undefined]);
    const again = await service.vote(p, 'u1', { kind: 'label', label: '1' });
    assert.deepEqual(
      [again.result, again.photo, again.tally],
      ['same', 'unchanged', [{ answer: { kind: 'label', label: '1' }, count: 1 }]],
    );
    const changed = await service.vote(p, 'u1', { kind: 'new', name: 'Hellebore' });
    assert.deepEqual([changed.result, changed.photo], ['changed', 'already']);
    assert.deepEqual(store.feedback.getContribution(id, 'u1')!.answer, { kind: 'new', name: 'Hellebore' });
    store.close();
  });

  test('a member past the daily cap still votes, but the photo is not kept', async () => {
    const { store, service } = setup(1);
    const a = Buffer.from(
      await sharp({ create: { width: 300, height: 300, channels: 3, background: '#ff0000' } })
        .jpeg()
        .toBuffer(),
    );
    const b = Buffer.from(
      await sharp({ create: { width: 300, height: 300, channels: 3, background: '#00ff00' } })
        .jpeg()
        .toBuffer(),
    );
    const [ia, ib] = [predict(store, a), predict(store, b)];
    service.remember(ia, a);
    service.remember(ib, b);
    assert.equal((await service.vote(service.prediction(ia)!, 'u1', { kind: 'not_flower' })).photo, 'kept');
    const capped = await service.vote(service.prediction(ib)!, 'u1', { kind: 'not_flower' });
    assert.deepEqual([capped.result, capped.photo], ['new', 'capped']);
    assert.equal((await service.vote(service.prediction(ib)!, 'u2', { kind: 'not_flower' })).photo, 'kept', 'another member is not capped');
    store.close();
  });

  test('without the bytes in memory the photo is downloaded again, and only the same photo is kept', async () => {
    const bytes = await big();
    const other = Buffer.from(
      await sharp({ create: { width: 50, height: 50, channels: 3, background: '#000' } })
        .jpeg()
        .toBuffer(),
    );
    const { store, service } = setup(20, async (url) => (url.endsWith('same') ? bytes : other));
    const same = predict(store, bytes, 'https://cdn.example/same');
    const swapped = predict(store, bytes, 'https://cdn.example/swapped');
    const gone = predict(store, bytes);
    assert.equal((await service.vote(service.prediction(same)!, 'u1', { kind: 'label', label: '2' })).photo, 'kept');
    assert.equal((await service.vote(service.prediction(swapped)!, 'u1', { kind: 'label', label: '2' })).photo, 'unavailable');
    assert.equal((await service.vote(service.prediction(gone)!, 'u1', { kind: 'label', label: '2' })).photo, 'unavailable');
    assert.equal(store.feedback.getVote(gone, 'u1')?.answer.kind, 'label', 'the vote counts anyway');
    assert.equal(service.prediction(9999), undefined);
    store.close();
  });
});

test('an existing database upgrades in place (migration 2 adds feedback, keeps the rows)', () => {
  const file = path.join(tmp, 'old.sqlite');
  const old = openConnection(file);
  migrate(old, MIGRATIONS.slice(0, 1));
  old
    .prepare(
      `INSERT INTO predictions (created_at, source, top_k, top1_label) VALUES ('2026-01-01T00:00:00.000Z', 'message', '[{"label":"1","name":"pink primrose","probability":0.9}]', '1')`,
    )
    .run();
  old.close();
  const store = openDatabase(file);
  assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  const p = store.getPrediction(1)!;
  assert.equal(p.top1Label, '1');
  assert.equal(p.imageUrl, null);
  assert.equal(store.feedback.vote(1, 'u1', { kind: 'label', label: '1' }), 'new');
  assert.equal(store.feedback.feedbackCounts().votes, 1);
  store.close();
});
