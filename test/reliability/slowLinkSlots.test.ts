// Issue 14, point 2: slow links must not hold every slot. Accounts in DMs pointing
// `/identify url:` at a server that sends just enough to never be cut off hold only
// the `url:` download pool; a member's photo in a watched channel is still answered;
// one user cannot have more than BLOOM_USER_IN_FLIGHT photos in flight.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import type { APIUser } from 'discord.js';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import { bodyText, eventually, finalResponse, postPhoto, replyTo, startServer, textOf, type TestServer } from './helpers.ts';

const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
const BUSY = /I'm busy with a lot of photos right now — please try again in \d+ s/;

let h: Harness;
let slow: TestServer;
/** Open slow responses; cut at the end of each test so the next one starts with free slots. */
const open = new Set<ServerResponse>();

before(async () => {
  // About 20 KB/s, never finishing: above any sensible minimum transfer rate and far
  // below the size cap, so only the overall download timeout ends it.
  slow = await startServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    res.write(JPEG_HEAD);
    open.add(res);
    const t = setInterval(() => res.write(Buffer.alloc(2048, 0x42)), 100);
    res.on('close', () => {
      clearInterval(t);
      open.delete(res);
    });
  });
  h = await startHarness(
    {
      BLOOM_QUEUE_LIMIT: '4',
      BLOOM_DOWNLOAD_SLOTS: '4',
      BLOOM_USER_IN_FLIGHT: '2',
      BLOOM_DM_COOLDOWN_S: '0',
      BLOOM_DOWNLOAD_TIMEOUT_S: '60',
      BLOOM_WORKERS: '1',
    },
    { allowOrigins: [slow.origin] },
  );
});
afterEach(async () => {
  for (const res of open) res.destroy();
  await eventually(() => h.app.bot.inFlight === 0, 15_000, 'every handler to finish');
});
after(async () => {
  await h?.stop();
  await slow?.close();
});

const ctx = () => h.app.bot.ctx;

/** `/identify url:` to the slow server from `user`'s DMs; resolves once the bot has taken it on (deferred) or answered. */
async function slowIdentify(user: APIUser, n = 0) {
  const { id } = await h.emu.invokeCommand({ name: 'identify', user, dm: true, options: { url: `${slow.origin}/p${n}.jpg` } });
  return { id, first: await eventually(() => h.emu.interactionResponses(id)[0], 15_000, `a response to ${id}`) };
}

describe('slow links (issue 14)', () => {
  test("accounts in DMs holding slow url: downloads do not block a member's photo in a watched channel", async () => {
    const users = ['s1', 's2', 's3', 's4'].map((n) => h.emu.addUser(n));
    for (const [i, u] of users.entries()) {
      const { first } = await slowIdentify(u, i);
      assert.equal(first.kind === 'callback' && first.callbackType, 5, `${u.username} was taken on (deferred): ${bodyText(first)}`);
    }
    await eventually(() => ctx().downloads.url.inFlight === 4, 10_000, 'four slow downloads in flight');
    assert.equal(ctx().admission.inFlight, 0, 'waiting on the network holds no model slot');

    // The url: pool is full: one more link is "busy", not queued.
    const { id } = await h.emu.invokeCommand({
      name: 'identify',
      user: h.emu.addUser('s5'),
      dm: true,
      options: { url: `${slow.origin}/p5.jpg` },
    });
    assert.match(bodyText(await finalResponse(h, id)), BUSY);

    // A member's photo in #flowers: downloaded from the CDN and answered while the links still trickle.
    const t0 = Date.now();
    const posted = await postPhoto(h, { name: 'rose.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg' });
    const text = textOf(await replyTo(h, h.emu.channels.flowers.id, posted.id, 20_000));
    assert.doesNotMatch(text, BUSY);
    assert.match(text, /🌸|Not sure/, text);
    assert.equal(ctx().downloads.url.inFlight, 4, `answered in ${Date.now() - t0} ms, with the slow downloads still in flight`);
  });

  test('a user with BLOOM_USER_IN_FLIGHT (2) photos in flight is told to wait for those answers', async () => {
    const user = h.emu.addUser('greedy');
    await slowIdentify(user, 0);
    await slowIdentify(user, 1);
    await eventually(() => ctx().downloads.url.inFlight === 2, 10_000, 'two slow downloads in flight');
    const { first: r } = await slowIdentify(user, 2);
    assert.equal(r.kind === 'callback' && r.callbackType, 4, `refused at once, not taken on: ${bodyText(r)}`);
    assert.equal(r.flags & 64, 64, 'ephemeral');
    assert.match(bodyText(r), /You already have 2 photos being looked at — wait for those answers first\./);
    assert.equal(ctx().downloads.url.inFlight, 2, 'the third photo took no slot');

    // Someone else is not affected, and once the first two are answered the user may send again.
    const other = await postPhoto(h, { name: 'x.jpg', bytes: photo(h, '2'), contentType: 'image/jpeg', author: h.emu.addUser('patient') });
    assert.match(textOf(await replyTo(h, h.emu.channels.flowers.id, other.id, 20_000)), /🌸|Not sure/);
    for (const res of open) res.destroy();
    await eventually(() => ctx().userInFlight.count(user.id) === 0, 15_000, 'the slow ones to be answered');
    const again = await postPhoto(h, { name: 'y.jpg', bytes: photo(h, '3'), contentType: 'image/jpeg', author: user, dm: true });
    assert.match(textOf(await replyTo(h, h.emu.dmChannelFor(user).id, again.id, 20_000)), /🌸|Not sure/);
  });
});
