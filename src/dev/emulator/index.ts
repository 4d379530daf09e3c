/**
 * A small Discord emulator for end-to-end tests and demos: one HTTP server on
 * 127.0.0.1 serving the REST API (/api/v10), the attachment CDN (/cdn, /media)
 * and the gateway (ws /gateway), good enough for the real discord.js client.
 *
 *   const emu = await startEmulator();
 *   const client = new Client({ intents, partials: [Partials.Channel], rest: { api: emu.apiBase } });
 *   await client.login(emu.token);
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIApplicationCommand, APIAttachment, APIMessage, APIRole, APIUser } from 'discord.js';
import { handleCdn } from './cdn.ts';
import { buildComponentInteraction, buildModalSubmit, type ComponentClick, type ModalSubmission } from './components.ts';
import { Gateway, type GatewayLogEntry, type GatewayLogKind } from './gateway.ts';
import {
  buildAutocompleteInteraction,
  buildCommandInteraction,
  type AutocompleteOptions,
  type InvokeCommandOptions,
  type UploadSpec,
} from './interactions.ts';
import { makeToken, Permissions } from './payloads.ts';
import { Rest, type Fault, type RecordedRequest } from './rest.ts';
import {
  World,
  type DMChannel,
  type EmuGuild,
  type GuildTextChannel,
  type InteractionResponse,
  type InteractionResponseKind,
  type StoredMessage,
} from './world.ts';

export type { RecordedRequest } from './rest.ts';
export type { GatewayLogEntry, GatewayLogKind } from './gateway.ts';
export type { AutocompleteOptions, CommandOptionValue, InvokeCommandOptions, UploadSpec } from './interactions.ts';
export type { ComponentClick, ModalSubmission } from './components.ts';
export type {
  DMChannel,
  EmuGuild,
  GuildTextChannel,
  InteractionResponse,
  InteractionResponseKind,
  StoredFile,
  StoredMessage,
} from './world.ts';
export { samplePng, imageSize } from './images.ts';

export interface EmulatorOptions {
  /** Bot token the emulator accepts; a realistic random one by default. */
  token?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** HELLO heartbeat_interval; Discord's 41.25 s by default. */
  heartbeatIntervalMs?: number;
  /** Initial interaction responses later than this get 10062 Unknown interaction, as on Discord. 0 disables. Default 3000. */
  interactionDeadlineMs?: number;
  /** Per-file upload limit (413 / 40005 above it). Default 10 MiB, Discord's limit for unboosted guilds. */
  uploadLimitBytes?: number;
}

export interface PostMessageOptions {
  /** Guild channel or DM channel id; defaults to #general (or the author's DM with `dm: true`). */
  channelId?: string;
  dm?: boolean;
  /** Defaults to the normal member. */
  author?: APIUser;
  content?: string;
  /** From addAttachment(), or raw bytes to upload. */
  attachments?: (APIAttachment | UploadSpec)[];
  /** Id of a message this one replies to. */
  replyTo?: string;
}

export interface MessagesInOptions {
  includeDeleted?: boolean;
  /** Include messages users posted via postMessage(), not only the bot's. */
  includeUsers?: boolean;
}

interface Waiter {
  probe(): boolean;
  cancel(err: Error): void;
}

const DEFAULT_TIMEOUT = 5000;

export class Emulator {
  readonly apiBase: string;
  readonly cdnBase: string;
  /** Base of attachment `proxy_url`s (Discord's media.discordapp.net). */
  readonly mediaBase: string;
  readonly gatewayUrl: string;
  readonly token: string;
  /** Every REST call, in arrival order, including rejected, injected-fault and unknown ones. */
  readonly requests: RecordedRequest[] = [];
  /** Every CDN (/cdn, /media) request. */
  readonly cdnRequests: RecordedRequest[] = [];
  readonly gatewayLog: GatewayLogEntry[] = [];
  readonly world: World;

  private readonly gateway: Gateway;
  private readonly rest: Rest;
  private readonly faults: Fault[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly uploadLimitBytes: number;
  private readonly interactionDeadlineMs: number;

  /** @internal use startEmulator() */
  constructor(
    private readonly server: Server,
    origin: string,
    opts: EmulatorOptions,
  ) {
    this.apiBase = `${origin}/api`;
    this.cdnBase = `${origin}/cdn`;
    this.mediaBase = `${origin}/media`;
    this.gatewayUrl = `${origin.replace(/^http/, 'ws')}/gateway`;
    this.uploadLimitBytes = opts.uploadLimitBytes ?? 10 * 1024 * 1024;
    this.interactionDeadlineMs = opts.interactionDeadlineMs ?? 3000;
    this.world = new World({
      cdnBase: this.cdnBase,
      mediaBase: this.mediaBase,
      uploadLimitBytes: this.uploadLimitBytes,
      interactionDeadlineMs: this.interactionDeadlineMs,
      dispatch: (t, d) => {
        this.gateway.dispatch(t, d);
        this.notify();
      },
    });
    this.token = opts.token ?? makeToken(this.world.botUser.id);
    const w = this.world;
    this.gateway = new Gateway({
      token: this.token,
      url: this.gatewayUrl,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 41_250,
      botId: w.botUser.id,
      ready: (session) => ({
        v: 10,
        user: { ...w.botUser, flags: 0, mfa_enabled: false, verified: true },
        user_settings: {},
        guilds: [{ id: w.guild.id, unavailable: true }],
        session_id: session.id,
        session_type: 'normal',
        resume_gateway_url: this.gatewayUrl,
        shard: session.shard,
        application: { id: w.applicationId, flags: 0 },
        private_channels: [],
        presences: [],
        relationships: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        _trace: ['["bloom-emulator",{}]'],
      }),
      guildCreates: () => [w.guildCreatePayload()],
      members: (guildId) =>
        guildId === w.guild.id ? [...w.guild.members.values()].map((m) => w.memberPayload(m) as { user: APIUser }) : [],
      onLog: (entry) => {
        this.gatewayLog.push(entry);
        this.notify();
      },
    });
    this.rest = new Rest({
      world: w,
      token: this.token,
      gatewayUrl: this.gatewayUrl,
      faults: this.faults,
      record: (r) => {
        this.requests.push(r);
        this.notify();
      },
    });
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', origin);
      if (url.pathname.startsWith('/api/')) return void this.rest.handle(req, res, url);
      handleCdn(
        w,
        req,
        res,
        url,
        (m, p) => this.rest.takeFault(m, p),
        (r) => {
          this.cdnRequests.push(r);
          this.notify();
        },
      );
    });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', origin).pathname.replace(/\/$/, '') === '/gateway') this.gateway.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  // ---- the world ----------------------------------------------------------------------

  get botUser(): APIUser {
    return this.world.botUser;
  }

  get applicationId(): string {
    return this.world.applicationId;
  }

  /** The one guild: id, name, channels (#general, #flowers), roles (@everyone, Bloom (bot), Admin), members. */
  get guild(): EmuGuild {
    return this.world.guild;
  }

  get channels(): { general: GuildTextChannel; flowers: GuildTextChannel } {
    return { general: this.world.channelByName('general'), flowers: this.world.channelByName('flowers') };
  }

  get roles(): { everyone: APIRole; admin: APIRole; bot: APIRole } {
    const role = (id: string): APIRole => {
      const found = this.world.guild.roles.find((r) => r.id === id);
      if (!found) throw new Error(`emulator: no role ${id}`);
      return found;
    };
    return { everyone: role(this.world.guild.id), admin: role(this.world.adminRoleId), bot: role(this.world.botRoleId) };
  }

  /** `admin` has the Admin role (ADMINISTRATOR) and owns the guild; `member` is an ordinary member. */
  get users(): { admin: APIUser; member: APIUser; bot: APIUser } {
    return { admin: this.world.admin, member: this.world.member, bot: this.world.botUser };
  }

  /** Add a user (a guild member unless `inGuild: false`); announced with GUILD_MEMBER_ADD. */
  addUser(username: string, opts: { admin?: boolean; roles?: string[]; inGuild?: boolean } = {}): APIUser {
    const roles = [...(opts.roles ?? []), ...(opts.admin ? [this.world.adminRoleId] : [])];
    return this.world.addUser(username, { roles, inGuild: opts.inGuild });
  }

  /** Guild-level permissions of a user as a bitfield (administrators get every bit). */
  permissionsOf(userId: string): bigint {
    return this.world.permissionsOf(userId);
  }

  dmChannelFor(user: APIUser): DMChannel {
    return this.world.dmChannelFor(user);
  }

  /** Put a file on the CDN and get the attachment object a user's message would carry. */
  addAttachment(name: string, bytes: Buffer, contentType?: string, opts: { channelId?: string; description?: string } = {}): APIAttachment {
    return this.world.storeAttachment(opts.channelId ?? this.channels.general.id, name, bytes, contentType, opts.description);
  }

  registeredCommands(guildId?: string): APIApplicationCommand[] {
    return this.world.commandsFor(guildId);
  }

  // ---- acting as users --------------------------------------------------------------

  /** A user posts a message; the bot receives MESSAGE_CREATE (subject to its intents). Returns the message. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async on purpose: a refused post reaches the caller as a rejection (tests assert.rejects it), as a real request would
  async postMessage(opts: PostMessageOptions): Promise<APIMessage> {
    this.requireSession();
    const w = this.world;
    const author = opts.author ?? w.member;
    const channel = opts.channelId ? w.requireChannel(opts.channelId) : opts.dm ? w.dmChannelFor(author) : this.channels.general;
    if (channel.type === 0 && !w.guild.members.has(author.id)) throw new Error(`emulator: ${author.username} is not a member of the guild`);
    const attachments = (opts.attachments ?? []).map((a) =>
      'bytes' in a ? w.storeAttachment(channel.id, a.name, a.bytes, a.contentType) : a,
    );
    const body = { content: opts.content ?? '', ...(opts.replyTo ? { message_reference: { message_id: opts.replyTo } } : {}) };
    return w.createMessage({ channelId: channel.id, author, body, attachments, allowEmpty: attachments.length > 0 }).message;
  }

  /** A user deletes a message (their own, say a photo the bot is still working on); the bot receives MESSAGE_DELETE. */
  deleteMessage(channelId: string, messageId: string): void {
    this.requireSession();
    this.world.deleteMessage(this.world.message(channelId, messageId));
  }

  /** A user runs a slash command; the bot receives INTERACTION_CREATE. */
  // eslint-disable-next-line @typescript-eslint/require-await -- async on purpose: a refused invocation reaches the caller as a rejection (tests assert.rejects it)
  async invokeCommand(opts: InvokeCommandOptions): Promise<{ id: string; token: string; payload: Record<string, unknown> }> {
    this.requireSession();
    const state = buildCommandInteraction(this.world, opts, this.uploadLimitBytes);
    this.gateway.dispatch('INTERACTION_CREATE', state.payload);
    return { id: state.id, token: state.token, payload: state.payload };
  }

  /**
   * A member types `typed` into option `focused` of a slash command (INTERACTION_CREATE of type 4)
   * and reads the suggestions the bot answers with (callback type 8). Throws, as the client would
   * send nothing, when the registered option does not autocomplete (unless `forge`); rejects when
   * no suggestions arrive within `timeoutMs`.
   */
  async autocomplete(
    opts: AutocompleteOptions,
    timeoutMs = DEFAULT_TIMEOUT,
  ): Promise<{ id: string; choices: { name: string; value: string | number }[] }> {
    this.requireSession();
    const state = buildAutocompleteInteraction(this.world, opts, this.uploadLimitBytes);
    this.gateway.dispatch('INTERACTION_CREATE', state.payload);
    const r = await this.waitForInteractionResponse(state.id, 'callback', timeoutMs);
    const body = r.body as { data: { choices: { name: string; value: string | number }[] } };
    return { id: state.id, choices: body.data.choices };
  }

  /**
   * A member clicks a button or picks from a select menu (`values`) on a message; the bot
   * receives INTERACTION_CREATE of type 3. Throws for what the client would not allow
   * (no such component, an option not offered, someone else's ephemeral message) unless `forge`.
   */
  clickComponent(opts: ComponentClick): Promise<{ id: string; token: string; payload: Record<string, unknown> }> {
    // Refusals arrive as a rejected promise, like the other user actions.
    return Promise.resolve().then(() => {
      this.requireSession();
      const state = buildComponentInteraction(this.world, opts, this.uploadLimitBytes);
      this.gateway.dispatch('INTERACTION_CREATE', state.payload);
      return { id: state.id, token: state.token, payload: state.payload };
    });
  }

  /** The member submits the modal the bot opened in answer to `interactionId` (INTERACTION_CREATE of type 5). */
  submitModal(opts: ModalSubmission): Promise<{ id: string; token: string; payload: Record<string, unknown> }> {
    // Refusals arrive as a rejected promise, like the other user actions.
    return Promise.resolve().then(() => {
      this.requireSession();
      const state = buildModalSubmit(this.world, opts, this.uploadLimitBytes);
      this.gateway.dispatch('INTERACTION_CREATE', state.payload);
      return { id: state.id, token: state.token, payload: state.payload };
    });
  }

  /**
   * `answered` once the bot's initial response arrived; `failed` when it did not within the
   * deadline (the member sees "This interaction failed"); `pending` meanwhile.
   */
  interactionStatus(interactionId: string): 'answered' | 'pending' | 'failed' {
    const i = this.world.interactions.get(interactionId);
    if (!i) throw new Error(`emulator: no interaction ${interactionId}`);
    if (i.acknowledged !== null) return 'answered';
    return this.interactionDeadlineMs > 0 && Date.now() - i.createdAt > this.interactionDeadlineMs ? 'failed' : 'pending';
  }

  // ---- observing the bot ------------------------------------------------------------

  /** Messages the bot created in a channel (channel posts, interaction responses, follow-ups), oldest first. */
  messagesIn(channelId: string, opts: MessagesInOptions = {}): StoredMessage[] {
    return [...this.world.messages.values()].filter(
      (m) =>
        m.message.channel_id === channelId &&
        (opts.includeDeleted || !m.deleted) &&
        (opts.includeUsers || m.message.author.id === this.world.botUser.id),
    );
  }

  /** The bot's successful responses to one interaction, in order: callback, edits, follow-ups, deletes. */
  interactionResponses(interactionId: string): InteractionResponse[] {
    return this.world.interactions.get(interactionId)?.responses ?? [];
  }

  /** REST calls that hit no known route (404/405). A clean run has none. */
  get unknownRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.unknownRoute);
  }

  clearRequests(): void {
    this.requests.length = 0;
    this.cdnRequests.length = 0;
  }

  /** Resolve with the first recorded REST request matching `predicate` (past ones too, unless includePast is false). */
  waitFor(
    predicate: (r: RecordedRequest) => boolean,
    timeoutMs = DEFAULT_TIMEOUT,
    opts: { includePast?: boolean } = {},
  ): Promise<RecordedRequest> {
    const from = opts.includePast === false ? this.requests.length : 0;
    return this.waitUntil(
      () => this.requests.slice(from).find(predicate),
      timeoutMs,
      () =>
        `no matching request; saw:\n${
          this.requests
            .slice(from)
            .map((r) => `  ${r.method} ${r.path} -> ${r.status}`)
            .join('\n') || '  (none)'
        }`,
    );
  }

  /** Resolve with the first bot message in `channelId` matching `predicate`. */
  waitForMessage(
    channelId: string,
    predicate: (m: StoredMessage) => boolean = () => true,
    timeoutMs = DEFAULT_TIMEOUT,
  ): Promise<StoredMessage> {
    return this.waitUntil(
      () => this.messagesIn(channelId).find(predicate),
      timeoutMs,
      () => `no matching message in ${channelId}`,
    );
  }

  /** Resolve with the first response of `kind` (any kind if omitted) the bot made to an interaction. */
  waitForInteractionResponse(
    interactionId: string,
    kind?: InteractionResponseKind,
    timeoutMs = DEFAULT_TIMEOUT,
  ): Promise<InteractionResponse> {
    return this.waitUntil(
      () => this.interactionResponses(interactionId).find((r) => !kind || r.kind === kind),
      timeoutMs,
      () =>
        `no ${kind ?? ''} response to interaction ${interactionId}; got [${this.interactionResponses(interactionId)
          .map((r) => r.kind)
          .join(', ')}]`,
    );
  }

  /** Resolve with the next (future) gateway log entry of one of `kinds`. */
  waitForGateway(kinds: GatewayLogKind | GatewayLogKind[], timeoutMs = DEFAULT_TIMEOUT): Promise<GatewayLogEntry> {
    const wanted = ([] as GatewayLogKind[]).concat(kinds);
    const from = this.gatewayLog.length;
    return this.waitUntil(
      () => this.gatewayLog.slice(from).find((e) => wanted.includes(e.kind)),
      timeoutMs,
      () => `no gateway ${wanted.join('/')}`,
    );
  }

  // ---- fault injection --------------------------------------------------------------

  /**
   * Make the next `times` (default 1) requests whose `"METHOD /path"` matches answer with
   * `status` instead: 429 with Retry-After / X-RateLimit-* headers and a
   * `{ retry_after, global }` body, or a 5xx. REST paths are below /api/v10
   * (e.g. `POST /channels/123/messages`); CDN paths start with /cdn or /media.
   */
  failNext(match: RegExp | string, status = 429, retryAfterSec = 0.05, opts: { times?: number; global?: boolean } = {}): void {
    this.faults.push({
      match: typeof match === 'string' ? new RegExp(match) : match,
      status,
      retryAfterSec,
      global: opts.global ?? false,
      remaining: opts.times ?? 1,
    });
  }

  /** Close the bot's gateway socket(s). 4000 (default) makes discord.js RESUME; 1000 makes it IDENTIFY anew (throttled ~5 s). */
  dropGateway(code = 4000): Promise<void> {
    return this.gateway.drop(code);
  }

  /** Send op 7 RECONNECT; discord.js reconnects and resumes. */
  requestReconnect(): void {
    this.gateway.requestReconnect();
  }

  /** Send op 9 INVALID_SESSION; non-resumable by default, forcing a fresh IDENTIFY. */
  invalidateSession(resumable = false): void {
    this.gateway.invalidateSessions(resumable);
  }

  async close(): Promise<void> {
    for (const w of [...this.waiters]) w.cancel(new Error('emulator: closed while waiting'));
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- internals --------------------------------------------------------------------

  private requireSession(): void {
    if (!this.gateway.hasSession) throw new Error('emulator: no bot is connected to the gateway (did the client log in?)');
  }

  private notify(): void {
    for (const w of [...this.waiters]) w.probe();
  }

  private waitUntil<T>(find: () => T | undefined, timeoutMs: number, explain: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        probe: () => {
          const found = find();
          if (found === undefined) return false;
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(found);
          return true;
        },
        cancel: (err) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`emulator: timed out after ${timeoutMs} ms: ${explain()}`));
      }, timeoutMs);
      if (!waiter.probe()) this.waiters.add(waiter);
    });
  }
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const server = createServer({ keepAliveTimeout: 5000 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new Emulator(server, `http://127.0.0.1:${port}`, opts);
}

export { Permissions };
