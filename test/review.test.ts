// Review without Discord: the queue (one page per photo), the majority answer,
// approve / reject / relabel with their label rules, the agreement rule and /forget.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { parseReviewId, reviewId } from '../src/bot/reviewRender.ts';
import { FeedbackService } from '../src/services/feedbackService.ts';
import { ForgetService } from '../src/services/forgetService.ts';
import { AUTO_REVIEWER, ReviewService } from '../src/services/reviewService.ts';
import { openDatabase, type Store, type VoteAnswer } from '../src/storage/index.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-review-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const NAMES = { '1': 'pink primrose', '2': 'lenten rose', '3': 'globe-flower' };
const GUILD = 'g1';

let n = 0;
function setup() {
  const store = openDatabase(path.join(tmp, `db${++n}.sqlite`));
  const contribDir = path.join(tmp, `contrib${n}`);
  const holder: { review?: ReviewService } = {};
  const feedback = new FeedbackService(store, () => NAMES, {
    contribDir,
    dailyCap: 20,
    afterVote: (p) => void holder.review!.afterVote(p),
  });
  const review = (holder.review = new ReviewService(store, feedback, contribDir));
  return { store, contribDir, feedback, review, forget: new ForgetService(store, contribDir) };
}

const colour = (i: number) =>
  sharp({ create: { width: 64, height: 64, channels: 3, background: { r: (i * 40) % 256, g: 90, b: 200 - i } } })
    .jpeg()
    .toBuffer();

/** A photo identified in a server: its prediction id, with the bytes waiting for votes. */
async function posted(s: ReturnType<typeof setup>, i: number, guildId = GUILD, bytes?: Buffer): Promise<number> {
  const b = bytes ?? (await colour(i));
  const id = s.store.insertPrediction({
    source: 'message',
    guildId,
    userId: `poster${i}`,
    imageSha256: crypto.createHash('sha256').update(b).digest('hex'),
    topK: [
      { label: '1', name: 'pink primrose', probability: 0.7 },
      { label: '2', name: 'lenten rose', probability: 0.2 },
    ],
  });
  s.feedback.remember(id, b);
  return id;
}

const vote = async (s: ReturnType<typeof setup>, id: number, user: string, answer: VoteAnswer) =>
  s.feedback.vote(s.feedback.prediction(id)!, user, answer);

const statusOf = (store: Store, id: number) =>
  store.db
    .prepare(
      'SELECT created_by AS by, status, final_label AS label, reviewed_by AS reviewer FROM contributions WHERE prediction_id = ? ORDER BY id',
    )
    .all(id) as { by: string; status: string; label: string | null; reviewer: string | null }[];

test('review custom_ids round-trip and anything else is refused', () => {
  assert.deepEqual(parseReviewId(reviewId.approve(12, 3)), { action: 'approve', predictionId: 12, page: 3 });
  assert.deepEqual(parseReviewId(reviewId.page(2, 'next')), { action: 'page', page: 2 });
  assert.deepEqual(parseReviewId(reviewId.relabelModal(5, 0)), { action: 'relabeled', predictionId: 5, page: 0 });
  for (const bad of ['rv:approve:1', 'rv:approve:x:1', 'rv:nope:1:1', 'fb:right:1', 'rv:page:1', 'rv:approve:1:2:3'])
    assert.equal(parseReviewId(bad), undefined, bad);
});

describe('the review queue', () => {
  test('one page per photo of this server, oldest first; the majority of pending contributions is proposed', async () => {
    const s = setup();
    const a = await posted(s, 1);
    const b = await posted(s, 2);
    const elsewhere = await posted(s, 3, 'g2');
    await vote(s, a, 'u1', { kind: 'new', name: 'lenten ROSE' });
    await vote(s, a, 'u2', { kind: 'label', label: '1' });
    await vote(s, a, 'u3', { kind: 'new', name: 'Lenten rose' });
    await vote(s, b, 'u1', { kind: 'not_flower' });
    await vote(s, elsewhere, 'u1', { kind: 'not_flower' });

    const first = s.review.page(GUILD, 0)!;
    assert.equal(first.prediction.id, a);
    assert.deepEqual([first.index, first.total, first.contributions.length], [0, 2, 3]);
    assert.deepEqual(
      first.proposal,
      { answer: { kind: 'new', name: 'lenten ROSE' }, count: 2 },
      'names agree whatever the case (spelt as first typed)',
    );
    assert.equal(first.tally.length, 2);
    assert.ok(first.photoFile && fs.existsSync(first.photoFile));
    assert.equal(s.review.page(GUILD, 1)!.prediction.id, b);
    assert.equal(s.review.page(GUILD, 9)!.prediction.id, b, 'a page past the end shows the last photo');
    assert.equal(s.review.page('g3', 0), undefined);
    s.store.close();
  });

  test('a tie goes to the answer kept first', async () => {
    const s = setup();
    const a = await posted(s, 1);
    await vote(s, a, 'u1', { kind: 'label', label: '2' });
    await vote(s, a, 'u2', { kind: 'not_flower' });
    assert.deepEqual(s.store.review.proposal(a), { answer: { kind: 'label', label: '2' }, count: 1 });
    s.store.close();
  });
});

describe('decisions', () => {
  test('approve a new name: species c1 is created and every pending contribution trains as it', async () => {
    const s = setup();
    const a = await posted(s, 1);
    await vote(s, a, 'u1', { kind: 'new', name: 'Hellebore' });
    await vote(s, a, 'u2', { kind: 'new', name: 'hellebore' });
    const o = s.review.approve(GUILD, a, 'admin');
    assert.equal(o.kind, 'approved');
    assert.deepEqual(o.kind === 'approved' && o.approval, {
      approved: 2,
      finalLabel: 'c1',
      createdSpecies: { label: 'c1', name: 'Hellebore' },
    });
    assert.deepEqual(
      statusOf(s.store, a).map((c) => [c.status, c.label, c.reviewer]),
      [
        ['approved', 'c1', 'admin'],
        ['approved', 'c1', 'admin'],
      ],
    );
    assert.equal(s.store.learning.speciesByName('HELLEBORE')!.label, 'c1');
    assert.deepEqual(
      s.store.learning.approvedPhotos().map((p) => p.label),
      ['c1'],
    );
    // A second press changes nothing and says who decided.
    const again = s.review.approve(GUILD, a, 'admin2');
    assert.deepEqual(again.kind === 'already' && [again.review.status, again.review.reviewedBy], ['approved', 'admin']);
    assert.equal(s.store.learning.communitySpecies().length, 1);
    s.store.close();
  });

  test('approve a known label, approve "not a flower" (no label), reject (the file stays)', async () => {
    const s = setup();
    const [a, b, c] = [await posted(s, 1), await posted(s, 2), await posted(s, 3)];
    await vote(s, a, 'u1', { kind: 'label', label: '2' });
    await vote(s, b, 'u1', { kind: 'not_flower' });
    await vote(s, c, 'u1', { kind: 'label', label: '1' });
    assert.equal(s.review.approve(GUILD, a, 'admin').kind, 'approved');
    assert.equal(s.review.approve(GUILD, b, 'admin').kind, 'approved');
    const file = s.review.page(GUILD, 0)!.photoFile!;
    assert.deepEqual(s.review.reject(GUILD, c, 'admin'), { kind: 'rejected', count: 1 });
    assert.deepEqual(statusOf(s.store, a)[0], { by: 'u1', status: 'approved', label: '2', reviewer: 'admin' });
    assert.deepEqual(statusOf(s.store, b)[0], { by: 'u1', status: 'approved', label: null, reviewer: 'admin' });
    assert.deepEqual(statusOf(s.store, c)[0], { by: 'u1', status: 'rejected', label: null, reviewer: 'admin' });
    assert.ok(fs.existsSync(file), 'a rejected photo file stays (forget removes it)');
    assert.equal(s.review.page(GUILD, 0), undefined, 'the queue is empty');
    assert.equal(s.store.learning.communitySpecies().length, 0, 'no species was created');
    assert.deepEqual(s.review.reject(GUILD, c, 'admin2').kind, 'already');
    s.store.close();
  });

  test('relabel: a typo of a known species, "not a flower", a new name, a species taught before', async () => {
    const s = setup();
    const a = await posted(s, 1);
    assert.deepEqual(s.review.match('LENTIN rose', s.feedback.prediction(a)), { kind: 'label', label: '2' });
    assert.deepEqual(s.review.match(' Not a flower! '), { kind: 'not_flower' });
    assert.deepEqual(s.review.match('Hellebore niger'), { kind: 'new', name: 'Hellebore niger' });
    assert.equal(s.review.match('🌸'), undefined);
    s.store.learning.ensureSpecies('Hellebore niger', 'x');
    assert.deepEqual(s.review.match('helebore niger'), { kind: 'label', label: 'c1' }, 'community species match forgivingly too');
    assert.equal(s.review.nameOf('c1'), 'Hellebore niger');

    await vote(s, a, 'u1', { kind: 'label', label: '1' });
    const o = s.review.approve(GUILD, a, 'admin', s.review.match('lenten rose', s.feedback.prediction(a)));
    assert.equal(o.kind === 'approved' && o.approval.finalLabel, '2');
    s.store.close();
  });

  test('a photo of another server, or that nobody kept, cannot be decided', async () => {
    const s = setup();
    const a = await posted(s, 1, 'g2');
    await vote(s, a, 'u1', { kind: 'label', label: '1' });
    assert.deepEqual(s.review.approve(GUILD, a, 'admin'), { kind: 'gone' });
    assert.deepEqual(s.review.reject(GUILD, 424242, 'admin'), { kind: 'gone' });
    assert.equal(statusOf(s.store, a)[0]!.status, 'pending');
    s.store.close();
  });
});

describe('approval by agreement', () => {
  test('off by default; n members agreeing approve it (reviewed by "auto"); one disagreeing keeps it pending', async () => {
    const s = setup();
    const a = await posted(s, 1);
    const b = await posted(s, 2);
    await vote(s, a, 'u1', { kind: 'new', name: 'Hellebore' });
    await vote(s, a, 'u2', { kind: 'new', name: 'hellebore' });
    assert.equal(statusOf(s.store, a)[0]!.status, 'pending', 'off by default');

    s.review.setAutoApproveMembers(GUILD, 3);
    assert.equal(s.review.autoApproveMembers(GUILD), 3);
    await vote(s, b, 'u1', { kind: 'label', label: '2' });
    await vote(s, b, 'u2', { kind: 'label', label: '2' });
    await vote(s, b, 'u3', { kind: 'label', label: '3' });
    await vote(s, b, 'u4', { kind: 'label', label: '2' });
    assert.deepEqual(new Set(statusOf(s.store, b).map((c) => c.status)), new Set(['pending']), 'one member disagrees');

    await vote(s, a, 'u3', { kind: 'new', name: 'HELLEBORE' });
    assert.deepEqual(
      statusOf(s.store, a).map((c) => [c.status, c.label, c.reviewer]),
      Array(3).fill(['approved', 'c1', AUTO_REVIEWER]),
    );
    assert.equal(s.store.learning.communitySpecies()[0]!.name, 'Hellebore', 'spelt as first typed');

    // The disagreeing member changes their mind: now all four agree.
    await vote(s, b, 'u3', { kind: 'label', label: '2' });
    assert.deepEqual(
      statusOf(s.store, b).map((c) => [c.status, c.label]),
      Array(4).fill(['approved', '2']),
    );
    assert.throws(() => s.review.setAutoApproveMembers(GUILD, 51), RangeError);
    s.store.close();
  });

  test('the rule itself', () => {
    const s = setup();
    const r = s.store.review;
    const label = (l: string, count: number) => ({ answer: { kind: 'label', label: l } as VoteAnswer, count });
    assert.deepEqual(r.agreedAnswer([label('2', 2)], 2), { kind: 'label', label: '2' });
    assert.equal(r.agreedAnswer([label('2', 1)], 2), undefined, 'not enough members');
    assert.equal(r.agreedAnswer([label('2', 5), label('3', 1)], 2), undefined, 'someone disagrees');
    assert.equal(r.agreedAnswer([label('2', 5)], 0), undefined, '0 is off');
    s.store.close();
  });
});

describe('forget', () => {
  test("removes a member's votes and contributions, unlinks their photos, and deletes only files nobody else kept", async () => {
    const s = setup();
    const shared = await colour(7);
    const mine = await posted(s, 1);
    const theirs = await posted(s, 2, GUILD, shared);
    const again = await posted(s, 3, GUILD, shared); // the same photo posted twice
    s.store.insertPrediction({ source: 'message', guildId: GUILD, userId: 'u1', topK: [] });
    await vote(s, mine, 'u1', { kind: 'label', label: '1' });
    await vote(s, theirs, 'u1', { kind: 'label', label: '2' });
    await vote(s, again, 'u2', { kind: 'label', label: '2' });
    await vote(s, theirs, 'u3', { kind: 'not_flower' });
    const file = (id: number, user: string) => path.join(s.contribDir, s.store.feedback.getContribution(id, user)!.path);
    const mineFile = file(mine, 'u1');
    const sharedFile = file(theirs, 'u1');
    assert.equal(sharedFile, file(again, 'u2'), 'one file for the same photo');

    assert.deepEqual(s.forget.preview('u1'), { votes: 2, contributions: 2, predictions: 1 });
    const o = await s.forget.forget('u1');
    assert.deepEqual(o, { votes: 2, contributions: 2, predictions: 1, filesDeleted: 1, sharedPhotos: 1 });
    assert.equal(fs.existsSync(mineFile), false, 'the unshared photo is deleted');
    assert.equal(fs.existsSync(sharedFile), true, 'the photo u2 kept too stays');
    assert.deepEqual(s.forget.preview('u1'), { votes: 0, contributions: 0, predictions: 0 });
    assert.equal(s.store.feedback.getVote(theirs, 'u3')?.answer.kind, 'not_flower', "other members' votes stay");
    assert.equal(
      s.store.feedback.getContribution(again, 'u2')?.sha256,
      crypto.createHash('sha256').update(fs.readFileSync(sharedFile)).digest('hex'),
    );
    s.store.close();
  });
});
