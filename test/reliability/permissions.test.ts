// Issue 6, part 5: admin-only commands refused to members even when invoked directly,
// watched channels managed by admins, the bot token kept out of logs and replies, and DMs.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { createLogger, redactSecrets, REDACTED } from '../../src/log.ts';
import { badImages } from '../fixtures/badImages.ts';
import { photo, assertNoUnknownRoutes, startHarness, type Harness } from '../helpers/botHarness.ts';
import { bodyText, eventually, finalResponse, logEntries, postPhoto, repliesTo, replyTo, textOf } from './helpers.ts';

// Shaped like a Discord bot token (base64 id . timestamp . hmac), with characters that JSON and URLs escape.
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.s3cr3t/T0ken+value_for-bloom=tests';

let h: Harness;
before(async () => {
  h = await startHarness({ BLOOM_WORKERS: '1' }, { token: TOKEN });
});
after(async () => {
  await h?.stop();
});
// Every test checks its own traffic: no request it caused hit a route the emulator does not know.
afterEach(() => assertNoUnknownRoutes(h));

describe('admin commands', () => {
  test('/retrain, /settings and /stats are refused for a member even when invoked directly', async () => {
    const { member } = h.emu.users;
    const runs = () => (h.app.store.db.prepare('SELECT COUNT(*) AS n FROM training_runs').get() as { n: number }).n;
    const runsBefore = runs();
    const general = h.emu.channels.general.id;
    const attempts = [
      { name: 'retrain', user: member },
      { name: 'settings', user: member, subcommandGroup: 'channel', subcommand: 'add', options: { channel: { type: 7, value: general } } },
      { name: 'settings', user: member, subcommandGroup: 'channel', subcommand: 'list' },
      { name: 'stats', user: member },
      {
        name: 'settings',
        user: member,
        dm: true,
        subcommandGroup: 'channel',
        subcommand: 'add',
        options: { channel: { type: 7, value: general } },
      },
    ];
    for (const a of attempts) {
      const { id } = await h.emu.invokeCommand(a);
      const r = await finalResponse(h, id);
      assert.equal(r.flags & 64, 64, `${a.name}: ephemeral`);
      assert.match(bodyText(r), /Only server admins can/, a.name);
    }
    assert.equal(h.app.retrain.running, false);
    assert.equal(runs(), runsBefore, 'no training run was started');
    assert.deepEqual(h.app.store.listWatchedChannels(h.emu.guild.id), [], 'no channel was added');
    assert.equal(logEntries(h).filter((e) => e.msg === 'admin command refused').length, attempts.length, 'each refusal was logged');
  });

  test('/settings channel add by an admin: photos there are then answered; remove stops it', async () => {
    const { admin } = h.emu.users;
    const general = h.emu.channels.general.id;
    const add = await h.emu.invokeCommand({
      name: 'settings',
      user: admin,
      subcommandGroup: 'channel',
      subcommand: 'add',
      options: { channel: { type: 7, value: general } },
    });
    assert.match(bodyText(await finalResponse(h, add.id)), /I'll identify photos posted in <#\d+>/);
    assert.deepEqual(h.app.store.listWatchedChannels(h.emu.guild.id), [general]);

    const msg = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg', channelId: general });
    assert.match(textOf(await replyTo(h, general, msg.id)), /Red Disc/);

    const list = await h.emu.invokeCommand({ name: 'settings', user: admin, subcommandGroup: 'channel', subcommand: 'list' });
    assert.match(bodyText(await finalResponse(h, list.id)), new RegExp(`<#${general}>`));

    const remove = await h.emu.invokeCommand({
      name: 'settings',
      user: admin,
      subcommandGroup: 'channel',
      subcommand: 'remove',
      options: { channel: { type: 7, value: general } },
    });
    assert.match(bodyText(await finalResponse(h, remove.id)), /I stopped watching/);
    const ignored = await postPhoto(h, { name: 'sq.jpg', bytes: photo(h, '2'), contentType: 'image/jpeg', channelId: general });
    // Events are handled in order: once a later photo in #flowers is answered, the one in #general was seen and skipped.
    const marker = await postPhoto(h, { name: 'tri.jpg', bytes: photo(h, '3'), contentType: 'image/jpeg' });
    await replyTo(h, h.emu.channels.flowers.id, marker.id);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(repliesTo(h, general, ignored.id).length, 0);
  });
});

describe('DMs', () => {
  test('a photo sent in a DM gets an answer, a broken one a clear message — also from someone outside the server', async () => {
    const stranger = h.emu.addUser('stranger', { inGuild: false });
    for (const author of [h.emu.users.member, stranger]) {
      const dm = h.emu.dmChannelFor(author).id;
      const ok = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1', 1), contentType: 'image/jpeg', author, dm: true });
      assert.match(textOf(await replyTo(h, dm, ok.id)), /Red Disc/);
      const broken = await postPhoto(h, {
        name: 'cut.jpg',
        bytes: (await badImages()).truncatedJpeg,
        contentType: 'image/jpeg',
        author,
        dm: true,
      });
      assert.match(textOf(await replyTo(h, dm, broken.id)), /damaged or cut off/);
    }
    const { id } = await h.emu.invokeCommand({
      name: 'identify',
      dm: true,
      options: { image: { name: 'sq.jpg', bytes: photo(h, '2', 1), contentType: 'image/jpeg' } },
    });
    const r = await finalResponse(h, id);
    assert.equal(r.kind, 'editOriginal');
    assert.match(bodyText(r), /Green Square/);
  });
});

describe('the bot token stays secret', () => {
  test('errors along the way (failed REST calls, failed downloads, a failing command) never log or send the token', async () => {
    const flowers = h.emu.channels.flowers.id;
    // A reply Discord refuses, and one that keeps failing with 500 until discord.js gives up.
    h.emu.failNext(/^POST \/channels\/\d+\/messages$/, 403);
    const m1 = await postPhoto(h, { name: 'a.jpg', bytes: photo(h, '1', 2), contentType: 'image/jpeg' });
    h.emu.failNext(/^POST \/channels\/\d+\/messages$/, 500, 0.05, { times: 4 }); // the first try and discord.js's 3 retries
    const m2 = await postPhoto(h, { name: 'b.jpg', bytes: photo(h, '2', 2), contentType: 'image/jpeg' });
    await eventually(
      () => logEntries(h).filter((e) => e.msg === 'could not send reply' && (e.messageId === m1.id || e.messageId === m2.id)).length === 2,
      30_000,
      'both failed replies to be logged',
    );
    // A download that fails, from the CDN and from a link.
    h.emu.failNext(/^GET \/cdn\/attachments\//, 500);
    const m3 = await postPhoto(h, { name: 'c.jpg', bytes: photo(h, '3', 2), contentType: 'image/jpeg' });
    assert.match(textOf(await replyTo(h, flowers, m3.id)), /HTTP 500/);
    const link = await h.emu.invokeCommand({ name: 'identify', options: { url: `http://127.0.0.1:1/${encodeURIComponent(TOKEN)}.jpg` } });
    await finalResponse(h, link.id);
    // A command whose response fails: the handler's error path runs.
    h.emu.failNext(/^POST \/interactions\/\d+\/.+\/callback$/, 500, 0.05, { times: 8 }); // the answer and the error reply, each tried 4 times
    const stats = await h.emu.invokeCommand({ name: 'stats', user: h.emu.users.admin });
    await eventually(
      () => logEntries(h).some((e) => e.msg === 'command failed' && e.interactionId === stats.id),
      30_000,
      'the failed command to be logged',
    );

    // And one error that carries the token itself, through the app's own logger.
    h.app.bot.ctx.log.error(
      {
        err: new Error(`401: invalid token ${TOKEN}`),
        headers: { authorization: `Bot ${TOKEN}` },
        url: `https://x/?t=${encodeURIComponent(TOKEN)}`,
      },
      `login failed for ${TOKEN}`,
    );

    const logs = h.logLines.join('');
    assert.ok(logs.length > 0);
    for (const variant of [TOKEN, encodeURIComponent(TOKEN), JSON.stringify(TOKEN).slice(1, -1), TOKEN.split('.')[2]!]) {
      assert.ok(!logs.includes(variant), `no log line contains the token (as ${variant.slice(0, 8)}…)`);
    }
    assert.ok(logs.includes(REDACTED), 'the token-bearing error was logged, redacted');
    assert.match(logs, /"msg":"login failed for \[REDACTED\]"/);
    // Nothing the bot sent to Discord carries it either (the Authorization header is not recorded).
    const sent = JSON.stringify(h.emu.requests.map((r) => [r.path, r.query, r.body, r.headers]));
    assert.ok(!sent.includes(TOKEN.split('.')[2]!), 'no request path, query, header or body contains the token');
    const said = h.emu.messagesIn(flowers).map(textOf).join('\n');
    assert.ok(!said.includes(TOKEN.split('.')[2]!), 'no reply contains the token');
    const rows = JSON.stringify(h.app.store.db.prepare('SELECT error_message FROM predictions').all());
    assert.ok(!rows.includes(TOKEN.split('.')[2]!) && !rows.includes(encodeURIComponent(TOKEN)), 'no logged prediction error contains it');
  });

  test('redactSecrets and the logger: raw, JSON-escaped and URL-encoded forms', () => {
    const json = JSON.stringify({ t: TOKEN });
    assert.equal(redactSecrets(`Bot ${TOKEN}`, [TOKEN]), `Bot ${REDACTED}`);
    assert.equal(redactSecrets(`?token=${encodeURIComponent(TOKEN)}&x=1`, [TOKEN]), `?token=${REDACTED}&x=1`);
    assert.equal(redactSecrets(json, [TOKEN]), JSON.stringify({ t: REDACTED }));
    assert.equal(redactSecrets(`${TOKEN}${TOKEN}`, [TOKEN]), `${REDACTED}${REDACTED}`);
    assert.equal(redactSecrets('abc', ['']), 'abc', 'an empty secret is ignored');
    assert.equal(redactSecrets(`x ${TOKEN} y`, []), `x ${TOKEN} y`);
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (l: string) => void lines.push(l) }, secrets: [TOKEN] });
    log.error({ err: new Error(TOKEN), nested: { deep: [TOKEN] }, token: 'other-secret-field' }, 'x');
    const out = lines.join('');
    assert.ok(!out.includes(TOKEN) && !out.includes('other-secret-field'));
    assert.equal(JSON.parse(out).nested.deep[0], REDACTED);
  });
});
