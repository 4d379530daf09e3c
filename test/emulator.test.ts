import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants as zlibConstants, inflateSync } from 'node:zlib';
import {
  AttachmentBuilder,
  type ChatInputCommandInteraction,
  Client,
  type ClientEvents,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  MessageFlags,
  Partials,
  SlashCommandBuilder,
} from 'discord.js';
import WebSocket from 'ws';
import { type Emulator, samplePng, startEmulator } from '../src/dev/emulator/index.ts';

/** Resolve with the first `event` whose arguments pass `filter`. */
function nextEvent<E extends keyof ClientEvents>(
  client: Client,
  event: E,
  filter: (...args: ClientEvents[E]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<ClientEvents[E]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, listener);
      reject(new Error(`timed out waiting for ${String(event)}`));
    }, timeoutMs);
    const listener = (...args: ClientEvents[E]) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      client.off(event, listener);
      resolve(args);
    };
    client.on(event, listener);
  });
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

describe('discord.js against the emulator', () => {
  let emu: Emulator;
  let client: Client;

  before(async () => {
    emu = await startEmulator();
    client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.MessageContent,
        GatewayIntentBits.DirectMessages,
      ],
      partials: [Partials.Channel], // DM channels are not cached before their first message
      rest: { api: emu.apiBase, offset: 0 },
      // discord.js spaces IDENTIFYs 5 s apart; lift that so the re-identify test stays fast.
      ws: { buildIdentifyThrottler: () => ({ waitForIdentify: async () => {} }) },
    });
    const ready = nextEvent(client, Events.ClientReady);
    await client.login(emu.token);
    await ready;
  });

  after(async () => {
    await client.destroy();
    await emu.close();
  });

  test('logs in and caches the guild, its channels and the application', () => {
    assert.equal(client.user?.id, emu.botUser.id);
    assert.equal(client.application?.id, emu.applicationId);
    const guild = client.guilds.cache.get(emu.guild.id);
    assert.ok(guild, 'guild cached');
    assert.equal(guild.name, emu.guild.name);
    assert.deepEqual(guild.channels.cache.map((c) => c.name).sort(), ['flowers', 'general']);
    assert.ok(guild.members.me, 'bot member cached');
    assert.ok(guild.roles.cache.find((r) => r.name === 'Admin')?.permissions.has('Administrator'));
    const gw = emu.requests.find((r) => r.path === '/gateway/bot');
    assert.ok(gw?.authorized, 'GET /gateway/bot carried the bot token');
    assert.equal(emu.gatewayLog.filter((e) => e.kind === 'identify').length, 1);
    assert.deepEqual(emu.unknownRequests, [], 'logging in hit no unknown route');
  });

  test('a photo posted by a user reaches messageCreate, downloads intact, and the reply with a PNG is recorded', async () => {
    // Only this test's requests and messages are checked, whatever ran before.
    const unknownBefore = emu.unknownRequests.length;
    const photo = samplePng(16, 12, [230, 40, 120]);
    const attachment = emu.addAttachment('my rose.png', photo, 'image/png', { channelId: emu.channels.flowers.id });
    const received = nextEvent(client, Events.MessageCreate, (m) => !m.author.bot);
    const posted = await emu.postMessage({ channelId: emu.channels.flowers.id, content: 'what is this?', attachments: [attachment] });
    const [message] = await received;

    assert.equal(message.id, posted.id);
    assert.equal(message.content, 'what is this?');
    assert.equal(message.channel.id, emu.channels.flowers.id);
    assert.equal(message.member?.id, emu.users.member.id);
    const att = message.attachments.first();
    assert.ok(att);
    assert.ok(att.url.startsWith(`${emu.cdnBase}/attachments/`), att.url);
    assert.equal(att.name, 'my_rose.png'); // Discord swaps spaces for underscores
    assert.equal(att.width, 16);
    assert.deepEqual(await download(att.url), photo);

    const answer = samplePng(4, 4, [10, 200, 10]);
    const reply = await message.reply({
      embeds: [new EmbedBuilder().setTitle('Rose').setDescription('Rosa rubiginosa, 93%').setImage('attachment://answer.png')],
      files: [new AttachmentBuilder(answer, { name: 'answer.png' })],
    });
    assert.equal(reply.reference?.messageId, message.id);
    assert.equal(reply.author.id, emu.botUser.id);

    const req = await emu.waitFor(
      (r) =>
        r.method === 'POST' &&
        r.path === `/channels/${emu.channels.flowers.id}/messages` &&
        r.status === 200 &&
        r.body?.message_reference?.message_id === message.id,
    );
    assert.equal(req.body.message_reference.message_id, message.id);
    assert.equal(req.files.length, 1);
    assert.equal(req.files[0]?.filename, 'answer.png');
    assert.equal(req.files[0]?.contentType, 'image/png');
    assert.deepEqual(req.files[0]?.bytes, answer);

    const sent = emu.messagesIn(emu.channels.flowers.id).find((m) => m.message.id === reply.id);
    assert.equal(sent?.message.type, 19); // reply
    assert.equal(sent?.message.embeds[0]?.title, 'Rose');
    assert.equal(sent?.message.embeds[0]?.image?.url, sent?.message.attachments[0]?.url, 'attachment:// resolved to the CDN url');
    assert.deepEqual(await download(sent.message.attachments[0]!.url), answer);
    assert.deepEqual(emu.unknownRequests.slice(unknownBefore), []);
  });

  test('slash commands: registration, deferReply + editReply with files, and an ephemeral reply', async () => {
    const commands = [
      new SlashCommandBuilder()
        .setName('identify')
        .setDescription('Identify a flower')
        .addAttachmentOption((o) => o.setName('photo').setDescription('A flower photo').setRequired(true))
        .addIntegerOption((o) => o.setName('top').setDescription('How many guesses')),
      new SlashCommandBuilder().setName('help').setDescription('How to use Bloom'),
    ];
    const registered = await client.application!.commands.set(
      commands.map((c) => c.toJSON()),
      emu.guild.id,
    );
    assert.equal(registered.size, 2);
    assert.deepEqual(
      emu.registeredCommands(emu.guild.id).map((c) => c.name),
      ['identify', 'help'],
    );

    const photo = samplePng(8, 8);
    const seen = nextEvent(client, Events.InteractionCreate, (i) => i.isChatInputCommand() && i.commandName === 'identify');
    const { id } = await emu.invokeCommand({ name: 'identify', options: { photo: { name: 'tulip.png', bytes: photo }, top: 3 } });
    const interaction = (await seen)[0] as ChatInputCommandInteraction;
    assert.equal(interaction.id, id);
    assert.equal(interaction.channel?.id, emu.channels.general.id);
    assert.equal(interaction.options.getInteger('top'), 3);
    assert.equal(interaction.command?.name, 'identify', 'resolves the registered guild command');
    const option = interaction.options.getAttachment('photo', true);
    assert.deepEqual(await download(option.url), photo);

    await interaction.deferReply();
    const card = samplePng(6, 6, [0, 0, 255]);
    const edited = await interaction.editReply({
      embeds: [new EmbedBuilder().setTitle('Tulip').setThumbnail('attachment://card.png')],
      files: [new AttachmentBuilder(card, { name: 'card.png' })],
    });
    assert.equal(edited.embeds[0]?.title, 'Tulip');

    const responses = emu.interactionResponses(id);
    assert.deepEqual(
      responses.map((r) => r.kind),
      ['callback', 'editOriginal'],
    );
    assert.equal(responses[0]?.callbackType, 5);
    assert.equal(responses[0]?.flags, 0);
    assert.deepEqual(responses[1]?.files[0]?.bytes, card);
    assert.equal(responses[1]?.message?.flags, 0, 'LOADING cleared once the deferred reply is filled in');
    const patch = await emu.waitFor(
      (r) => r.method === 'PATCH' && r.route === '/webhooks/:appId/:token/messages/:messageId' && r.path.includes(`/${interaction.token}/`),
    );
    assert.equal(patch.path.endsWith('/messages/@original'), true);
    assert.equal(patch.hasAuth, false, 'interaction webhooks are authorised by token, not bot auth');

    const help = nextEvent(client, Events.InteractionCreate, (i) => i.isChatInputCommand() && i.commandName === 'help');
    const helpCall = await emu.invokeCommand({ name: 'help', user: emu.users.admin });
    const helpInteraction = (await help)[0] as ChatInputCommandInteraction;
    assert.ok(helpInteraction.memberPermissions?.has('Administrator'));
    await helpInteraction.reply({ content: 'Post a photo with /identify', flags: MessageFlags.Ephemeral });
    const [callback] = emu.interactionResponses(helpCall.id);
    assert.equal(callback?.callbackType, 4);
    assert.equal(callback?.flags, 64);
    assert.equal(callback?.body.data.content, 'Post a photo with /identify');
    await helpInteraction.followUp({ content: 'One more tip', flags: MessageFlags.Ephemeral });
    assert.deepEqual(
      emu.interactionResponses(helpCall.id).map((r) => r.kind),
      ['callback', 'followup'],
    );
    const again = await fetch(`${emu.apiBase}/v10/interactions/${helpCall.id}/${helpCall.token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'twice' } }),
    });
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { code: number }).code, 40060);
  });

  test('a 429 on the message POST is retried by discord.js and the reply still lands', async () => {
    const channelId = emu.channels.general.id;
    const requestsBefore = emu.requests.length;
    emu.failNext(new RegExp(`^POST /channels/${channelId}/messages$`), 429, 0.05);
    const received = nextEvent(client, Events.MessageCreate, (m) => m.content === 'rate me');
    await emu.postMessage({ channelId, content: 'rate me' });
    const [message] = await received;
    const started = Date.now();
    const reply = await message.reply('sunflower');
    assert.ok(Date.now() - started >= 50, 'waited out retry_after');
    const attempts = emu.requests.slice(requestsBefore).filter((r) => r.method === 'POST' && r.path === `/channels/${channelId}/messages`);
    assert.deepEqual(
      attempts.map((r) => r.status),
      [429, 200],
    );
    assert.equal(attempts[0]?.injected, 429);
    assert.equal(emu.messagesIn(channelId).at(-1)?.message.id, reply.id);

    // Two 500s in a row are retried too (discord.js allows 3 retries).
    emu.failNext(`^PATCH /channels/${channelId}/messages/${reply.id}$`, 500, 0, { times: 2 });
    await reply.edit('sunflower (edited)');
    const edits = emu.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(reply.id));
    assert.deepEqual(
      edits.map((r) => r.status),
      [500, 500, 200],
    );
    assert.equal(emu.messagesIn(channelId).at(-1)?.message.content, 'sunflower (edited)');
  });

  test('after the gateway drops, discord.js resumes and no event is lost', async () => {
    const resumed = emu.waitForGateway(['resume', 'identify'], 5000);
    await emu.dropGateway(); // 4000: resumable
    // Posted while the bot is disconnected: buffered and replayed on RESUME, as Discord does.
    const received = nextEvent(client, Events.MessageCreate, (m) => m.content === 'still there?');
    await emu.postMessage({ content: 'still there?' });
    const entry = await resumed;
    assert.equal(entry.kind, 'resume');
    assert.equal(entry.replayed, 1);
    const [message] = await received;
    assert.equal(message.channel.id, emu.channels.general.id);
    await message.react('🌼');
    assert.deepEqual(emu.messagesIn(emu.channels.general.id, { includeUsers: true }).at(-1)?.reactions, ['🌼']);
  });

  test('after a non-resumable INVALID_SESSION, discord.js identifies again and keeps receiving', async () => {
    const identifies = () => emu.gatewayLog.filter((e) => e.kind === 'identify').length;
    const identifiesBefore = identifies();
    const identified = emu.waitForGateway('identify');
    emu.invalidateSession();
    await identified;
    const received = nextEvent(client, Events.MessageCreate, (m) => m.content === 'fresh session');
    await emu.postMessage({ content: 'fresh session' });
    const [message] = await received;
    assert.equal(message.guild?.id, emu.guild.id);
    assert.equal(identifies(), identifiesBefore + 1);
  });

  test('a DM reaches the bot (Partials.Channel) and the reply goes to the DM channel', async () => {
    const received = nextEvent(client, Events.MessageCreate, (m) => m.content === 'hello in private');
    const posted = await emu.postMessage({ dm: true, author: emu.users.member, content: 'hello in private' });
    const [message] = await received;
    assert.equal(message.guild, null);
    assert.ok(message.channel.isDMBased());
    await message.reply('hi!');
    const dm = emu.dmChannelFor(emu.users.member);
    assert.equal(posted.channel_id, dm.id);
    assert.equal(emu.messagesIn(dm.id).at(-1)?.message.content, 'hi!');
  });

  test('components: a button click updates its message (7), a select opens a modal (9), a modal submit is answered; refusals and "interaction failed"', async () => {
    const channel = client.channels.cache.get(emu.channels.general.id);
    assert.ok(channel?.isSendable());
    const sent = await channel.send({
      content: 'pick one',
      components: [
        {
          type: 1,
          components: [
            { type: 2, style: 1, custom_id: 'press', label: 'Press' },
            { type: 2, style: 2, custom_id: 'ignored', label: 'Nobody answers' },
          ],
        },
        {
          type: 1,
          components: [
            {
              type: 3,
              custom_id: 'menu',
              options: [
                { label: 'A', value: 'a' },
                { label: 'B', value: 'b' },
              ],
            },
          ],
        },
      ],
    });
    const stored = emu.world.messages.get(sent.id)!;
    assert.equal(stored.message.components!.length, 2);
    const pressed = nextEvent(client, Events.InteractionCreate, (i) => i.isButton() && i.customId === 'press');
    const click = await emu.clickComponent({ message: sent.id, customId: 'press' });
    const [button] = await pressed;
    assert.ok(button.isButton());
    assert.equal(button.message.id, sent.id);
    assert.equal(button.user.id, emu.users.member.id);
    await button.update({ content: 'pressed', components: [] });
    assert.equal((await emu.waitForInteractionResponse(click.id, 'callback')).callbackType, 7);
    assert.equal(emu.world.messages.get(sent.id)!.message.content, 'pressed');
    assert.deepEqual(emu.world.messages.get(sent.id)!.message.components, []);
    assert.equal(emu.interactionStatus(click.id), 'answered');

    // What the client would not let a member do is refused; `forge` delivers it anyway.
    await assert.rejects(emu.clickComponent({ message: sent.id, customId: 'press' }), /has no component "press"/);
    const menuMsg = await channel.send({
      content: 'menu',
      components: [{ type: 1, components: [{ type: 3, custom_id: 'menu', options: [{ label: 'A', value: 'a' }] }] }],
    });
    await assert.rejects(emu.clickComponent({ message: menuMsg.id, customId: 'menu', values: ['z'] }), /offers no option "z"/);

    const chosen = nextEvent(client, Events.InteractionCreate, (i) => i.isStringSelectMenu());
    const pick = await emu.clickComponent({ message: menuMsg.id, customId: 'menu', values: ['a'] });
    const [select] = await chosen;
    assert.ok(select.isStringSelectMenu());
    assert.deepEqual(select.values, ['a']);
    await select.showModal({
      custom_id: 'ask',
      title: 'Name it',
      components: [{ type: 1, components: [{ type: 4, custom_id: 'name', style: 1, label: 'Name', required: true }] }],
    });
    assert.equal((await emu.waitForInteractionResponse(pick.id, 'callback')).callbackType, 9);
    await assert.rejects(emu.submitModal({ interactionId: pick.id, fields: { other: 'x' } }), /no text input "other"/);
    const submitted = nextEvent(client, Events.InteractionCreate, (i) => i.isModalSubmit());
    const submit = await emu.submitModal({ interactionId: pick.id, fields: { name: 'Lenten Rose' } });
    const [modal] = await submitted;
    assert.ok(modal.isModalSubmit());
    assert.equal(modal.customId, 'ask');
    assert.equal(modal.fields.getTextInputValue('name'), 'Lenten Rose');
    assert.ok(modal.isFromMessage(), 'a modal opened from a component carries its message');
    // A modal cannot answer a modal (discord.js has no showModal here; the API refuses it too).
    await assert.rejects(
      client.rest.post(`/interactions/${modal.id}/${modal.token}/callback`, {
        auth: false,
        body: { type: 9, data: { custom_id: 'again', title: 'Again', components: [] } },
      }),
      /not valid for this interaction/,
    );
    await modal.deferUpdate();
    await modal.editReply({ content: 'named', components: [] });
    assert.equal(emu.world.messages.get(menuMsg.id)!.message.content, 'named');
    assert.equal(emu.interactionStatus(submit.id), 'answered');

    // Nobody answers: after the deadline the member sees "This interaction failed".
    const other = await channel.send({
      content: 'x',
      components: [{ type: 1, components: [{ type: 2, style: 2, custom_id: 'silent', label: 'Silent' }] }],
    });
    const silent = await emu.clickComponent({ message: other.id, customId: 'silent' });
    assert.equal(emu.interactionStatus(silent.id), 'pending');
    emu.world.interactions.get(silent.id)!.createdAt -= 3001;
    assert.equal(emu.interactionStatus(silent.id), 'failed');
  });
});

describe('emulator protocol details', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ interactionDeadlineMs: 100, heartbeatIntervalMs: 1000 });
  });
  after(() => emu.close());

  /** A hand-rolled gateway client: collects payloads, sends JSON. */
  function connect(query = '?v=10&encoding=json') {
    const ws = new WebSocket(`${emu.gatewayUrl}${query}`);
    const payloads: any[] = [];
    const waiters: [(p: any) => boolean, (p: any) => void][] = [];
    // zlib-stream: one deflate context for the whole connection, so inflate everything received so far.
    let compressed = Buffer.alloc(0);
    let inflated = 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let text = data.toString();
      if (isBinary) {
        compressed = Buffer.concat([compressed, data]);
        const all = inflateSync(compressed, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString();
        text = all.slice(inflated);
        inflated = all.length;
      }
      const p = JSON.parse(text);
      payloads.push(p);
      for (const [pred, res] of waiters) if (pred(p)) res(p);
    });
    const next = (pred: (p: any) => boolean) =>
      new Promise<any>((resolve) => {
        const seen = payloads.find(pred);
        if (seen) resolve(seen);
        else waiters.push([pred, resolve]);
      });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    return { ws, payloads, next, closed, send: (p: unknown) => ws.send(JSON.stringify(p)) };
  }

  test('REST: bad tokens get 401, unknown routes 404 and are recorded', async () => {
    const unknownBefore = emu.unknownRequests.length;
    const bad = await fetch(`${emu.apiBase}/v10/users/@me`, { headers: { authorization: 'Bot nope' } });
    assert.equal(bad.status, 401);
    assert.deepEqual(await bad.json(), { message: '401: Unauthorized', code: 0 });
    const good = await fetch(`${emu.apiBase}/v10/users/@me`, { headers: { authorization: `Bot ${emu.token}` } });
    assert.equal(((await good.json()) as { id: string }).id, emu.botUser.id);
    const unknown = await fetch(`${emu.apiBase}/v10/guilds/${emu.guild.id}/bans`, { headers: { authorization: `Bot ${emu.token}` } });
    assert.equal(unknown.status, 404);
    assert.deepEqual(
      emu.unknownRequests.slice(unknownBefore).map((r) => r.path),
      [`/guilds/${emu.guild.id}/bans`],
    );
    const empty = await fetch(`${emu.apiBase}/v10/channels/${emu.channels.general.id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bot ${emu.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: '' }),
    });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { code: number }).code, 50006);
  });

  test('gateway: HELLO, heartbeat ACK, READY + GUILD_CREATE with sequences, zlib-stream, auth failure', async () => {
    const noAuth = connect();
    await noAuth.next((p) => p.op === 10);
    noAuth.send({ op: 2, d: { token: 'wrong', intents: 1, properties: {} } });
    assert.equal(await noAuth.closed, 4004);

    const gw = connect('?v=10&encoding=json&compress=zlib-stream');
    const hello = await gw.next((p) => p.op === 10);
    assert.equal(hello.d.heartbeat_interval, 1000);
    gw.send({ op: 1, d: null });
    await gw.next((p) => p.op === 11);
    gw.send({ op: 2, d: { token: emu.token, intents: 1 | (1 << 9), properties: {}, shard: [0, 1] } });
    const ready = await gw.next((p) => p.t === 'READY');
    const guild = await gw.next((p) => p.t === 'GUILD_CREATE');
    assert.equal(ready.s, 1);
    assert.equal(guild.s, 2);
    assert.equal(ready.d.resume_gateway_url, emu.gatewayUrl);
    assert.equal(guild.d.member_count, 3);

    // Without MESSAGE_CONTENT another user's guild message arrives blank, as on Discord.
    await emu.postMessage({ content: 'secret' });
    const created = await gw.next((p) => p.t === 'MESSAGE_CREATE');
    assert.equal(created.d.content, '');
    assert.equal(created.d.guild_id, emu.guild.id);

    // An interaction answered after the (shortened) deadline is unknown, as after Discord's 3 s.
    const late = await emu.invokeCommand({ name: 'anything' });
    await new Promise((r) => setTimeout(r, 150));
    const res = await fetch(`${emu.apiBase}/v10/interactions/${late.id}/${late.token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 5 }),
    });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: number }).code, 10062);
    gw.ws.close(1000);
    await gw.closed;
  });
});
