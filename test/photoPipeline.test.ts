// The photo pipeline shared by the message listener and /identify: draining →
// cooldown → admission → identify → rendered answer, with a fake service (no
// Discord, no model).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BotContext } from '../src/bot/context.ts';
import { handlePhotos, type PhotoAnswer, type PhotoRequest } from '../src/bot/photoPipeline.ts';
import { ImageError } from '../src/classifier/images.ts';
import { InternalError, INTERNAL_MESSAGE } from '../src/errors.ts';
import { Admission, Cooldowns } from '../src/services/admission.ts';
import type { IdentifyOutcome, IdentifyRequest } from '../src/services/identifyService.ts';

const ok = (): IdentifyOutcome => ({ kind: 'identified', top: [{ label: '1', name: 'pink primrose', probability: 0.9 }], uncertain: false, qualityNotes: [], modelVersion: 'v1', backend: 'cpu', ms: 1, logId: 1 });

function fixture(o: { draining?: boolean; cooldownS?: number; queueLimit?: number; maxImages?: number; outcome?: (r: IdentifyRequest) => IdentifyOutcome } = {}) {
  const calls: IdentifyRequest[] = [];
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  const admission = new Admission(o.queueLimit ?? 4);
  const ctx = {
    config: { maxImagesPerMessage: o.maxImages ?? 4 },
    log: { error: (obj: Record<string, unknown>, msg: string) => void errors.push({ obj, msg }) },
    cooldowns: new Cooldowns(o.cooldownS ?? 0, 0),
    admission,
    draining: () => !!o.draining,
    identify: {
      identify: async (r: IdentifyRequest) => {
        calls.push(r);
        assert.equal(admission.inFlight, 1, 'identify runs inside admission');
        return (o.outcome ?? ok)(r);
      },
    },
  } as unknown as BotContext;
  const seen = { refused: [] as string[], accepted: 0, answers: [] as PhotoAnswer[] };
  const replier = {
    refuse: async (t: string) => void seen.refused.push(t),
    accepted: () => void seen.accepted++,
    answer: async (a: PhotoAnswer) => void seen.answers.push(a),
  };
  return { ctx, calls, errors, admission, seen, replier };
}

const request = (entry: 'message' | 'slash', n = 1): PhotoRequest => ({
  entry,
  photos: Array.from({ length: n }, (_, i) => ({ url: `https://cdn.example/p${i}.jpg`, fromAttachment: true })),
  who: { source: entry, sourceId: 's1', guildId: 'g1', channelId: 'c1', userId: 'u1' },
  logFields: { messageId: 's1' },
});

describe('handlePhotos', () => {
  test('while draining: refused with the entry point\'s wording, nothing identified', async () => {
    for (const [entry, text] of [['message', 'I am restarting — please send that again in a minute.'], ['slash', 'I am restarting — please try again in a minute.']] as const) {
      const f = fixture({ draining: true });
      await handlePhotos(f.ctx, request(entry), f.replier);
      assert.deepEqual(f.seen.refused, [text]);
      assert.equal(f.calls.length, 0);
      assert.equal(f.seen.accepted, 0);
    }
  });

  test('a second request within the cooldown is refused with the wait', async () => {
    const f = fixture({ cooldownS: 30 });
    await handlePhotos(f.ctx, request('message'), f.replier);
    await handlePhotos(f.ctx, request('message'), f.replier);
    await handlePhotos(f.ctx, request('slash'), f.replier);
    assert.equal(f.calls.length, 1);
    assert.match(f.seen.refused[0]!, /^Slow down a little 🌱 — I can look at your next photo in (29|30) s\.$/);
    assert.match(f.seen.refused[1]!, /^Slow down a little 🌱 — try again in (29|30) s\.$/);
  });

  test('a full queue: busy, with a retry estimate, before any work is accepted', async () => {
    const f = fixture({ queueLimit: 1 });
    const held = f.admission.tryEnter()!;
    await handlePhotos(f.ctx, request('slash'), f.replier);
    held();
    assert.deepEqual(f.seen.refused, ["I'm busy with a lot of photos right now — please try again in 1 s."]);
    assert.equal(f.seen.accepted, 0);
    assert.equal(f.calls.length, 0);
  });

  test('several photos: the first few only, one "accepted", the note on the last answer, admission released', async () => {
    const f = fixture({ maxImages: 2 });
    await handlePhotos(f.ctx, request('message', 3), f.replier);
    assert.deepEqual(f.calls.map((c) => c.url), ['https://cdn.example/p0.jpg', 'https://cdn.example/p1.jpg']);
    assert.equal(f.seen.accepted, 1);
    assert.deepEqual(f.seen.answers.map((a) => a.payload.content), [undefined, 'I looked at the first 2 photos only.']);
    assert.match(f.seen.answers[0]!.payload.embeds[0]!.title!, /Pink Primrose/);
    assert.equal(f.admission.inFlight, 0);
  });

  test('failures: a user-facing one is answered quietly, an internal one is answered generically and logged', async () => {
    const cause = new Error('disk on fire');
    let n = 0;
    const f = fixture({ outcome: () => (n++ === 0 ? { kind: 'failed', error: new ImageError('CORRUPT'), ms: 1, logId: 3 } : { kind: 'failed', error: new InternalError(cause), ms: 1, logId: 4 }) });
    await handlePhotos(f.ctx, request('message', 2), f.replier);
    assert.match(f.seen.answers[0]!.payload.embeds[0]!.description!, /damaged or cut off/);
    assert.equal(f.seen.answers[1]!.payload.content, INTERNAL_MESSAGE);
    assert.deepEqual(f.errors.map((e) => [e.msg, e.obj.err, e.obj.logId, e.obj.messageId]), [['identify failed', cause, 4, 's1']]);
  });

  test('a reply that fails still releases the admission slot', async () => {
    const f = fixture();
    await assert.rejects(handlePhotos(f.ctx, request('slash'), { ...f.replier, answer: async () => { throw new Error('Unknown interaction'); } }), /Unknown interaction/);
    assert.equal(f.admission.inFlight, 0);
  });
});
