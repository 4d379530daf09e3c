// Issue 6, part 3: floods. Cooldowns per user and per guild (and one for all DMs, issue 14), a bounded number of photos in
// flight ("busy" instead of a growing queue), and a 200-photo burst where every message
// gets exactly one reply while memory stays bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Cooldowns } from '../../src/services/admission.ts';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import { bodyText, eventually, finalResponse, postPhoto, repliesTo, replyTo, textOf } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ BLOOM_USER_COOLDOWN_S: '30', BLOOM_GUILD_COOLDOWN_S: '0.5', BLOOM_QUEUE_LIMIT: '2', BLOOM_WORKERS: '1' });
});
after(async () => {
  await h?.stop();
});

const flowers = () => h.emu.channels.flowers.id;
const SLOW = /Slow down a little 🌱 — I can look at your next photo in (\d+) s/;
const BUSY = /I'm busy with a lot of photos right now — please try again in (\d+) s/;
const isResult = (t: string) => /🌸|Not sure/.test(t);
const typingCalls = () => h.emu.requests.filter((r) => r.method === 'POST' && /\/typing$/.test(r.path)).length;
const predictionCount = () => (h.app.store.db.prepare('SELECT COUNT(*) AS n FROM predictions').get() as { n: number }).n;

describe('cooldowns', () => {
  test('per user (BLOOM_USER_COOLDOWN_S) and per guild (BLOOM_GUILD_COOLDOWN_S)', async () => {
    const alice = h.emu.addUser('alice');
    const bob = h.emu.addUser('bob');
    const rows = predictionCount();
    // Posted back to back (the bot checks cooldowns in event order, before any await):
    // Alice's first photo is answered; her second hits her own 30 s cooldown; Bob's hits
    // the guild's 0.5 s cooldown (shown rounded up).
    const first = await postPhoto(h, { name: 'a.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg', author: alice });
    const again = await postPhoto(h, { name: 'b.jpg', bytes: photo(h, '1', 1), contentType: 'image/jpeg', author: alice });
    const bobs = await postPhoto(h, { name: 'c.jpg', bytes: photo(h, '2'), contentType: 'image/jpeg', author: bob });
    assert.ok(isResult(textOf(await replyTo(h, flowers(), first.id))), 'first photo answered');
    const aliceWait = Number(SLOW.exec(textOf(await replyTo(h, flowers(), again.id)))?.[1]);
    const bobWait = Number(SLOW.exec(textOf(await replyTo(h, flowers(), bobs.id)))?.[1]);
    assert.ok(aliceWait > 20 && aliceWait <= 30, `alice waits her user cooldown (${aliceWait} s)`);
    assert.equal(bobWait, 1, 'bob only waits for the guild cooldown');
    assert.equal(predictionCount(), rows + 1, 'refused photos were not downloaded or classified');

    // After the guild cooldown, Bob is answered; Alice is still cooling down, also via /identify and in DMs.
    await new Promise((r) => setTimeout(r, 600));
    const bobLater = await postPhoto(h, { name: 'd.jpg', bytes: photo(h, '2', 1), contentType: 'image/jpeg', author: bob });
    assert.ok(isResult(textOf(await replyTo(h, flowers(), bobLater.id))), 'bob answered after the guild cooldown');
    const { id } = await h.emu.invokeCommand({
      name: 'identify',
      user: alice,
      options: { image: h.emu.addAttachment('e.jpg', photo(h, '3'), 'image/jpeg') },
    });
    const slash = await finalResponse(h, id);
    assert.equal(slash.flags & 64, 64);
    const slashWait = Number(/Slow down a little 🌱 — try again in (\d+) s/.exec(bodyText(slash))?.[1]);
    assert.ok(slashWait > 20, `alice's own cooldown applies to /identify too (${slashWait} s)`);
    const dm = await postPhoto(h, { name: 'f.jpg', bytes: photo(h, '3'), contentType: 'image/jpeg', author: alice, dm: true });
    assert.match(textOf(await replyTo(h, h.emu.dmChannelFor(alice).id, dm.id)), SLOW);
  });

  test('direct messages share one bucket (BLOOM_DM_COOLDOWN_S, the guild cooldown by default): accounts in DMs cannot bypass it', async () => {
    const carol = h.emu.addUser('carol');
    const dave = h.emu.addUser('dave');
    await new Promise((r) => setTimeout(r, 600));
    const first = await postPhoto(h, { name: 'g.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg', author: carol, dm: true });
    const second = await postPhoto(h, { name: 'h.jpg', bytes: photo(h, '2'), contentType: 'image/jpeg', author: dave, dm: true });
    assert.ok(isResult(textOf(await replyTo(h, h.emu.dmChannelFor(carol).id, first.id))), 'carol answered');
    const daveWait = Number(SLOW.exec(textOf(await replyTo(h, h.emu.dmChannelFor(dave).id, second.id)))?.[1]);
    assert.equal(daveWait, 1, 'dave, another account, waits for the DM bucket');
    await new Promise((r) => setTimeout(r, 600));
    const later = await postPhoto(h, { name: 'i.jpg', bytes: photo(h, '2', 1), contentType: 'image/jpeg', author: dave, dm: true });
    assert.ok(isResult(textOf(await replyTo(h, h.emu.dmChannelFor(dave).id, later.id))), 'dave answered after the DM cooldown');
  });
});

describe('bounded work', () => {
  before(() => {
    // The burst below is about admission and reply accounting: lift the cooldowns tested above.
    h.app.bot.ctx.cooldowns = new Cooldowns(0, 0);
  });

  test('over BLOOM_QUEUE_LIMIT photos at once: "busy, try again in N s", never more than the limit in flight', async () => {
    let maxInFlight = 0;
    const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, h.app.bot.ctx.admission.inFlight)), 2);
    try {
      const users = [h.emu.addUser('q1'), h.emu.addUser('q2'), h.emu.addUser('q3'), h.emu.addUser('q4'), h.emu.addUser('q5')];
      const posted = await Promise.all(
        users.map((u, i) => postPhoto(h, { name: `${i}.jpg`, bytes: photo(h, '1', i), contentType: 'image/jpeg', author: u })),
      );
      const texts = await Promise.all(posted.map(async (m) => textOf(await replyTo(h, flowers(), m.id, 20_000))));
      const busy = texts.filter((t) => BUSY.test(t));
      assert.ok(busy.length >= 1, `some photos got "busy" (${texts.map((t) => t.slice(0, 40)).join(' | ')})`);
      assert.ok(texts.filter(isResult).length >= 2, 'the admitted ones were answered');
      assert.equal(busy.length + texts.filter(isResult).length, posted.length);
      assert.ok(Number(BUSY.exec(busy[0]!)![1]) >= 1);
    } finally {
      clearInterval(sampler);
    }
    assert.ok(maxInFlight <= 2, `never more than 2 photos in flight (saw ${maxInFlight})`);
  });

  test('a burst of 200 photos from several users: every message gets exactly one reply, memory stays bounded', async () => {
    const users = Array.from({ length: 8 }, (_, i) => h.emu.addUser(`burst${i}`));
    const labels = ['1', '2', '3'] as const;
    const rowsBefore = predictionCount();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let maxInFlight = 0;
    let maxRss = rssBefore;
    const sampler = setInterval(() => {
      maxInFlight = Math.max(maxInFlight, h.app.bot.ctx.admission.inFlight);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 5);
    const t0 = Date.now();
    const posted: { id: string }[] = [];
    const typingBefore = typingCalls();
    try {
      // 200 photos in waves of 20, a few milliseconds apart: far more than the bot can take at once.
      for (let i = 0; i < 200; i++) {
        const att = h.emu.addAttachment(`p${i}.jpg`, photo(h, labels[i % 3]!, i % 6), 'image/jpeg', { channelId: flowers() });
        posted.push(await h.emu.postMessage({ channelId: flowers(), author: users[i % users.length], attachments: [att] }));
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 50));
      }
      await eventually(() => posted.every((m) => repliesTo(h, flowers(), m.id).length >= 1), 60_000, 'a reply to every burst message');
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - t0) / 1000;
    // Give stragglers a moment: a second reply to any message would show up now.
    await new Promise((r) => setTimeout(r, 300));
    let answered = 0,
      busy = 0;
    for (const m of posted) {
      const replies = repliesTo(h, flowers(), m.id);
      assert.equal(replies.length, 1, `message ${m.id} got exactly one reply`);
      const t = textOf(replies[0]!);
      if (isResult(t)) answered++;
      else if (BUSY.test(t)) busy++;
      else assert.fail(`unexpected reply: ${t}`);
    }
    assert.equal(answered + busy, 200);
    assert.ok(answered >= 2, `some photos were answered (${answered})`);
    assert.equal(predictionCount() - rowsBefore, answered, 'only admitted photos were downloaded and classified');
    assert.ok(maxInFlight <= 2, `in flight stayed within BLOOM_QUEUE_LIMIT (saw ${maxInFlight})`);
    const grewMb = (maxRss - rssBefore) / 1024 / 1024;
    assert.ok(grewMb < 400, `RSS grew by ${grewMb.toFixed(0)} MB during the burst`);
    assert.ok(seconds < 60, `took ${seconds} s`);
    assert.ok(typingCalls() - typingBefore <= answered, 'typing is shown for accepted photos only, not for every refused one');
    assert.equal(h.app.bot.inFlight, 0, 'no handler left running');
  });
});
