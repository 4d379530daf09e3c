// The photo pipeline shared by the message listener and /identify: draining →
// photos in flight → cooldown → download slot → model slot → identify →
// rendered answer, with a fake service (no Discord, no model); and the
// admission classes themselves.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BotContext } from '../src/bot/context.ts';
import { handlePhotos, type PhotoAnswer, type PhotoRequest } from '../src/bot/photoPipeline.ts';
import { ImageError } from '../src/classifier/images.ts';
import { InternalError, INTERNAL_MESSAGE } from '../src/errors.ts';
import { Admission, Cooldowns, UserInFlight } from '../src/services/admission.ts';
import type { Fetched, IdentifyOutcome, IdentifyRequest } from '../src/services/identifyService.ts';

const ok = (): IdentifyOutcome => ({
  kind: 'identified',
  top: [{ label: '1', name: 'pink primrose', probability: 0.9 }],
  uncertain: false,
  qualityNotes: [],
  modelVersion: 'v1',
  backend: 'cpu',
  ms: 1,
  logId: 1,
});

function fixture(
  o: {
    draining?: boolean;
    cooldownS?: number;
    queueLimit?: number;
    downloadSlots?: number;
    userInFlight?: number;
    maxImages?: number;
    outcome?: (r: IdentifyRequest) => IdentifyOutcome;
    download?: (r: IdentifyRequest) => Promise<void>;
  } = {},
) {
  const calls: IdentifyRequest[] = [];
  const errors: { obj: Record<string, unknown>; msg: string }[] = [];
  const admission = new Admission(o.queueLimit ?? 4);
  const downloads = { url: new Admission(o.downloadSlots ?? 4), attachment: new Admission(o.downloadSlots ?? 4) };
  const asked = new WeakMap<Fetched, IdentifyRequest>();
  const ctx = {
    config: { maxImagesPerMessage: o.maxImages ?? 4 },
    log: { error: (obj: Record<string, unknown>, msg: string) => void errors.push({ obj, msg }) },
    cooldowns: new Cooldowns(o.cooldownS ?? 0, 0),
    admission,
    downloads,
    userInFlight: new UserInFlight(o.userInFlight ?? 2),
    draining: () => !!o.draining,
    identify: {
      fetchPhoto: async (r: IdentifyRequest) => {
        assert.ok((r.fromAttachment ? downloads.attachment : downloads.url).inFlight >= 1, 'the download holds a download slot');
        await o.download?.(r);
        const f: Fetched = { kind: 'fetched', bytes: Buffer.from('jpeg'), t0: 0 };
        asked.set(f, r);
        return f;
      },
      identifyFetched: async (f: Fetched) => {
        const r = asked.get(f)!;
        calls.push(r);
        assert.ok(admission.inFlight >= 1, 'identify runs inside admission');
        return (o.outcome ?? ok)(r);
      },
    },
  } as unknown as BotContext;
  const seen = { refused: [] as string[], started: 0, accepted: 0, answers: [] as PhotoAnswer[] };
  const replier = {
    refuse: async (t: string) => void seen.refused.push(t),
    started: () => void seen.started++,
    accepted: () => void seen.accepted++,
    answer: async (a: PhotoAnswer) => void seen.answers.push(a),
  };
  return { ctx, calls, errors, admission, downloads, seen, replier };
}

const request = (entry: 'message' | 'slash', n = 1): PhotoRequest => ({
  entry,
  photos: Array.from({ length: n }, (_, i) => ({ url: `https://cdn.example/p${i}.jpg`, fromAttachment: true })),
  who: { source: entry, sourceId: 's1', guildId: 'g1', channelId: 'c1', userId: 'u1' },
  logFields: { messageId: 's1' },
});

describe('handlePhotos', () => {
  test("while draining: refused with the entry point's wording, nothing identified", async () => {
    for (const [entry, text] of [
      ['message', 'I am restarting — please send that again in a minute.'],
      ['slash', 'I am restarting — please try again in a minute.'],
    ] as const) {
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
    assert.deepEqual(
      f.calls.map((c) => c.url),
      ['https://cdn.example/p0.jpg', 'https://cdn.example/p1.jpg'],
    );
    assert.equal(f.seen.accepted, 1);
    assert.deepEqual(
      f.seen.answers.map((a) => a.payload.content),
      [undefined, 'I looked at the first 2 photos only.'],
    );
    assert.match(f.seen.answers[0]!.payload.embeds[0]!.title!, /Pink Primrose/);
    assert.equal(f.admission.inFlight, 0);
  });

  test('failures: a user-facing one is answered quietly, an internal one is answered generically and logged', async () => {
    const cause = new Error('disk on fire');
    let n = 0;
    const f = fixture({
      outcome: () =>
        n++ === 0
          ? { kind: 'failed', error: new ImageError('CORRUPT'), ms: 1, logId: 3 }
          : { kind: 'failed', error: new InternalError(cause), ms: 1, logId: 4 },
    });
    await handlePhotos(f.ctx, request('message', 2), f.replier);
    assert.match(f.seen.answers[0]!.payload.embeds[0]!.description!, /damaged or cut off/);
    assert.equal(f.seen.answers[1]!.payload.content, INTERNAL_MESSAGE);
    assert.deepEqual(
      f.errors.map((e) => [e.msg, e.obj.err, e.obj.logId, e.obj.messageId]),
      [['identify failed', cause, 4, 's1']],
    );
  });

  test('a reply that fails still releases the admission slot', async () => {
    const f = fixture();
    await assert.rejects(
      handlePhotos(f.ctx, request('slash'), {
        ...f.replier,
        answer: async () => {
          throw new Error('Unknown interaction');
        },
      }),
      /Unknown interaction/,
    );
    assert.equal(f.admission.inFlight, 0);
  });
});

/** A download that waits until `open()` is called, to hold its slot as a trickling link would. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, wait: () => opened };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('slots (issue 14)', () => {
  test('a download in progress holds no model slot: with BLOOM_QUEUE_LIMIT 1, another photo is identified meanwhile', async () => {
    const slow = gate();
    const f = fixture({ queueLimit: 1, download: (r) => (r.fromAttachment ? Promise.resolve() : slow.wait()) });
    const trickling = handlePhotos(
      f.ctx,
      {
        ...request('slash'),
        photos: [{ url: 'https://slow.example/p.jpg', fromAttachment: false }],
        who: { ...request('slash').who, userId: 'u2' },
      },
      f.replier,
    );
    await tick();
    assert.equal(f.seen.started, 1, 'the slash reply was deferred before the download');
    await handlePhotos(f.ctx, request('message'), f.replier);
    assert.deepEqual(
      f.calls.map((c) => c.url),
      ['https://cdn.example/p0.jpg'],
      'the attachment was answered while the link still trickles',
    );
    slow.open();
    await trickling;
    assert.equal(f.calls.length, 2);
    assert.deepEqual(f.seen.refused, []);
  });

  test('a full url: download pool gets "busy"; attachments have their own pool and still go through', async () => {
    const slow = gate();
    const f = fixture({ downloadSlots: 2, userInFlight: 5, download: (r) => (r.fromAttachment ? Promise.resolve() : slow.wait()) });
    const link = (u: string): PhotoRequest => ({
      ...request('slash'),
      photos: [{ url: 'https://slow.example/p.jpg', fromAttachment: false }],
      who: { ...request('slash').who, userId: u },
    });
    const held = [handlePhotos(f.ctx, link('a'), f.replier), handlePhotos(f.ctx, link('b'), f.replier)];
    await tick();
    await handlePhotos(f.ctx, link('c'), f.replier);
    assert.match(f.seen.refused[0]!, /^I'm busy with a lot of photos right now — please try again in \d+ s\.$/);
    await handlePhotos(f.ctx, request('message'), f.replier);
    assert.equal(f.calls.length, 1, 'the attachment was answered');
    slow.open();
    await Promise.all(held);
    assert.equal(f.calls.length, 3);
    assert.equal(f.downloads.url.inFlight, 0);
  });

  test('bytes in hand but every model slot taken: "busy", and nothing identified', async () => {
    const f = fixture({ queueLimit: 1 });
    let held: (() => void) | null = null;
    // The model fills up while the photo downloads.
    f.ctx.identify.fetchPhoto = async () => {
      held = f.admission.tryEnter();
      return { kind: 'fetched', bytes: Buffer.from('x'), t0: 0 };
    };
    await handlePhotos(f.ctx, request('slash'), f.replier);
    held!();
    assert.equal(f.seen.started, 1);
    assert.equal(f.seen.accepted, 0);
    assert.deepEqual(f.seen.refused, ["I'm busy with a lot of photos right now — please try again in 1 s."]);
    assert.equal(f.calls.length, 0);
  });

  test('a failed download is answered without a model slot', async () => {
    const f = fixture({ queueLimit: 1 });
    f.ctx.identify.fetchPhoto = async () => {
      assert.equal(f.admission.inFlight, 0);
      return { kind: 'failed', error: new ImageError('EMPTY'), ms: 1, logId: 9 };
    };
    await handlePhotos(f.ctx, request('message'), f.replier);
    assert.equal(f.seen.answers.length, 1);
    assert.equal(f.seen.answers[0]!.outcome.kind, 'failed');
    assert.equal(f.seen.accepted, 0);
  });
});

describe('photos in flight per user (BLOOM_USER_IN_FLIGHT)', () => {
  test('a user with 2 photos in flight is told to wait for those answers; others are not; no cooldown is started', async () => {
    const slow = gate();
    const f = fixture({ userInFlight: 2, cooldownS: 30, download: () => slow.wait() });
    f.ctx.cooldowns = new Cooldowns(0, 0);
    const two = handlePhotos(f.ctx, request('message', 2), f.replier); // sequential: 1 in flight
    const other = handlePhotos(f.ctx, { ...request('slash'), who: { ...request('slash').who, userId: 'u1' } }, f.replier); // 2 in flight
    await tick();
    f.ctx.cooldowns = new Cooldowns(30, 0);
    await handlePhotos(f.ctx, request('slash'), f.replier);
    assert.deepEqual(f.seen.refused, ['You already have 2 photos being looked at — wait for those answers first.']);
    const third = handlePhotos(f.ctx, { ...request('slash'), who: { ...request('slash').who, userId: 'u9' } }, f.replier);
    await tick();
    assert.equal(f.seen.refused.length, 1, 'another user is not refused');
    assert.equal(f.seen.started, 3);
    slow.open();
    await Promise.all([two, other, third]);
    assert.equal(f.calls.length, 4);
    await handlePhotos(f.ctx, request('slash'), f.replier);
    assert.equal(f.calls.length, 5, 'the refusal started no cooldown (30 s)');
    assert.equal(f.ctx.userInFlight.count('u1'), 0);
  });

  test('UserInFlight: a limit per user, releases are idempotent', () => {
    const u = new UserInFlight(2);
    const a = u.tryEnter('x')!;
    const b = u.tryEnter('x')!;
    assert.equal(u.tryEnter('x'), null);
    assert.ok(u.tryEnter('y'));
    a();
    a();
    assert.equal(u.count('x'), 1);
    b();
    assert.equal(u.count('x'), 0);
  });
});

describe('Cooldowns', () => {
  test('direct messages share one bucket with its own cooldown (the guild cooldown by default)', () => {
    const c = new Cooldowns(0, 1, 3);
    assert.equal(c.check('a', null, 0), 0);
    assert.equal(c.check('b', null, 1000), 2, 'another account in DMs waits for the DM bucket');
    assert.equal(c.check('b', 'g1', 1000), 0, 'a server has its own bucket');
    assert.equal(c.check('b', undefined, 3000), 0);
    const d = new Cooldowns(0, 1);
    assert.equal(d.check('a', null, 0), 0);
    assert.equal(d.check('b', null, 500), 1);
  });
});
