/**
 * The REST API under /api/v10: a small route table over the World, request
 * recording (every call, including rejected and unknown ones) and REST fault
 * injection (429 with real rate-limit headers, 5xx).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { APIUser } from 'discord.js';
import { ApiError, Errors, InteractionCallbackType, MessageFlags, MessageType } from './payloads.ts';
import type { InteractionResponseKind, InteractionState, RecordedJson, StoredFile, StoredMessage, World } from './world.ts';

export interface RecordedRequest {
  method: string;
  /** Path below the versioned API root, e.g. `/channels/123/messages` (or `/cdn/...`, `/media/...` for CDN hits). */
  path: string;
  /** The matched route pattern, e.g. `/channels/:channelId/messages`; null when unknown. */
  route: string | null;
  query: Record<string, string>;
  /** Lower-cased request headers, with `authorization` removed (see hasAuth/authorized). */
  headers: Record<string, string>;
  hasAuth: boolean;
  /** The request carried `Bot <the emulator token>`. */
  authorized: boolean;
  /** Parsed JSON body, or `payload_json` of a multipart body; null when there was none. */
  body: RecordedJson;
  files: StoredFile[];
  status: number;
  response: RecordedJson;
  unknownRoute: boolean;
  /** Set when the answer came from failNext() rather than the route. */
  injected?: number;
  /** An exception inside the emulator itself (answered with 500). */
  error?: string;
  at: number;
}

export interface Fault {
  match: RegExp;
  status: number;
  retryAfterSec: number;
  global: boolean;
  remaining: number;
}

export interface RestOptions {
  world: World;
  token: string;
  gatewayUrl: string;
  faults: Fault[];
  record(r: RecordedRequest): void;
}

type Reply = { status: number; json?: unknown };
/** The `:name` segments of a route pattern: `'/users/:userId'` → `'userId'`. */
type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;
/** A matched route's parameters: its own are there (distributed over a union of patterns), any other name may not be. */
type Params<P extends string> = P extends string ? Record<ParamNames<P>, string> & Record<string, string | undefined> : never;
interface Ctx<P extends string = string> {
  params: Params<P>;
  query: URLSearchParams;
  /** The parsed JSON (an array for a bulk command overwrite); handlers check the fields they read. */
  body: Record<string, unknown>;
  files: StoredFile[];
}
type Handler<P extends string = string> = (ctx: Ctx<P>) => Reply | Promise<Reply>;
interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  keys: string[];
  auth: boolean;
  handler: Handler;
}

const ok = (json: unknown): Reply => ({ status: 200, json });
const noContent = (): Reply => ({ status: 204 });
const clone = <T>(v: T): T => structuredClone(v);

export class Rest {
  private readonly routes: Route[] = [];
  private readonly world: World;

  constructor(private readonly opts: RestOptions) {
    this.world = opts.world;
    this.defineRoutes();
  }

  /** Pick and consume the first armed fault matching `METHOD /path`. */
  takeFault(method: string, path: string): Fault | undefined {
    const i = this.opts.faults.findIndex((f) => f.match.test(`${method} ${path}`));
    if (i === -1) return undefined;
    const fault = this.opts.faults[i]!;
    if (--fault.remaining <= 0) this.opts.faults.splice(i, 1);
    return fault;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const at = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawPath = url.pathname.replace(/^\/api(\/v\d+)?/, '') || '/';
    const path = safeDecode(rawPath); // recorded and fault-matched readable: '@original', '🌸'
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k !== 'authorization' && v !== undefined) headers[k] = String(v);
    const auth = req.headers.authorization;
    const record: RecordedRequest = {
      method,
      path,
      route: null,
      query: Object.fromEntries(url.searchParams),
      headers,
      hasAuth: auth !== undefined,
      authorized: auth === `Bot ${this.opts.token}`,
      body: null,
      files: [],
      status: 0,
      response: null,
      unknownRoute: false,
      at,
    };
    let reply: Reply;
    let extraHeaders: Record<string, string> = {};
    try {
      const raw = await readBody(req);
      const parsed = await parseBody(req.headers['content-type'], raw);
      record.body = parsed.body;
      record.files = parsed.files;
      const fault = this.takeFault(method, path);
      if (fault) {
        ({ reply, headers: extraHeaders } = faultReply(fault));
        record.injected = fault.status;
      } else {
        reply = await this.dispatch(method, rawPath, url.searchParams, parsed, record);
      }
    } catch (err) {
      if (err instanceof ApiError) reply = { status: err.status, json: err.toJSON() };
      else {
        record.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        reply = { status: 500, json: { message: '500: Internal Server Error', code: 0 } };
      }
    }
    record.status = reply.status;
    record.response = reply.json ?? null;
    res.writeHead(reply.status, {
      ...(reply.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...extraHeaders,
    });
    res.end(reply.json !== undefined ? JSON.stringify(reply.json) : undefined);
    this.opts.record(record);
  }

  private async dispatch(
    method: string,
    path: string,
    query: URLSearchParams,
    parsed: ParsedBody,
    record: RecordedRequest,
  ): Promise<Reply> {
    const candidates = this.routes.filter((r) => r.regex.test(path));
    const route = candidates.find((r) => r.method === method);
    if (!route) {
      record.unknownRoute = true;
      if (candidates.length) return { status: 405, json: { message: '405: Method Not Allowed', code: 0 } };
      throw Errors.notFound();
    }
    record.route = route.pattern;
    if (route.auth && !record.authorized) throw Errors.unauthorized();
    const values = route.regex.exec(path)!.slice(1);
    const params = Object.fromEntries(route.keys.map((k, i) => [k, safeDecode(values[i]!)]));
    return route.handler({ params, query, body: (parsed.body ?? {}) as Record<string, unknown>, files: parsed.files });
  }

  private route<P extends string>(method: string, pattern: P, handler: Handler<P>, auth = true): void {
    const keys: string[] = [];
    const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_, k: string) => {
      keys.push(k);
      return '([^/]+)';
    });
    // The regex has a group for each of P's names, so dispatch fills every one of them.
    this.routes.push({ method, pattern, regex: new RegExp(`^${source}/?$`), keys, auth, handler });
  }

  private defineRoutes(): void {
    const w = this.world;
    const bot = w.botUser;
    const r = this.route.bind(this);

    r('GET', '/gateway', () => ok({ url: this.opts.gatewayUrl }));
    r('GET', '/gateway/bot', () =>
      ok({
        url: this.opts.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      }),
    );

    // ---- users, applications
    r('GET', '/users/@me', () => ok({ ...bot, flags: 0, mfa_enabled: false, verified: true, locale: 'en-US' }));
    r('GET', '/users/:userId', ({ params }) => ok(userOr404(w.users.get(params.userId))));
    r('POST', '/users/@me/channels', ({ body }) => {
      const u = w.users.get(String(body.recipient_id));
      if (!u) throw Errors.invalidForm('recipient_id', 'Value "' + String(body.recipient_id) + '" is not snowflake.', 'NUMBER_TYPE_COERCE');
      return ok(w.channelPayload(w.dmChannelFor(u)));
    });
    r('GET', '/applications/@me', () =>
      ok({
        id: w.applicationId,
        name: bot.username,
        icon: null,
        description: 'Identifies flowers in photos',
        bot_public: true,
        bot_require_code_grant: false,
        flags: 0,
        approximate_guild_count: 1,
        verify_key: randomBytes(32).toString('hex'),
        team: null,
        owner: w.admin,
        bot,
        summary: '',
        tags: [],
        interactions_endpoint_url: null,
        redirect_uris: [],
      }),
    );

    // ---- channels and messages
    r('GET', '/channels/:channelId', ({ params }) => ok(w.channelPayload(w.requireChannel(params.channelId))));
    r('GET', '/channels/:channelId/messages', ({ params, query }) => {
      const channel = w.requireChannel(params.channelId);
      const limit = Math.min(Number(query.get('limit') ?? 50) || 50, 100);
      const before = query.get('before');
      const after = query.get('after');
      const list = [...w.messages.values()]
        .filter((m) => !m.deleted && m.message.channel_id === channel.id && !((m.message.flags ?? 0) & MessageFlags.Ephemeral))
        .filter((m) => (!before || BigInt(m.message.id) < BigInt(before)) && (!after || BigInt(m.message.id) > BigInt(after)))
        .reverse()
        .slice(0, limit);
      return ok(list.map((m) => m.message));
    });
    r('GET', '/channels/:channelId/messages/:messageId', ({ params }) => ok(w.message(params.channelId, params.messageId).message));
    r('POST', '/channels/:channelId/messages', ({ params, body, files }) => {
      const stored = w.createMessage({ channelId: w.requireChannel(params.channelId).id, author: bot, body, files });
      return ok(stored.message);
    });
    r('PATCH', '/channels/:channelId/messages/:messageId', ({ params, body, files }) =>
      ok(w.editMessage(w.message(params.channelId, params.messageId), body, files).message),
    );
    r('DELETE', '/channels/:channelId/messages/:messageId', ({ params }) => {
      w.deleteMessage(w.message(params.channelId, params.messageId));
      return noContent();
    });
    r('POST', '/channels/:channelId/typing', ({ params }) => {
      w.requireChannel(params.channelId);
      return noContent();
    });
    for (const method of ['PUT', 'DELETE'] as const) {
      r(method, '/channels/:channelId/messages/:messageId/reactions/:emoji/@me', ({ params }) => {
        w.react(w.message(params.channelId, params.messageId), params.emoji, method === 'PUT');
        return noContent();
      });
    }

    // ---- guilds
    const guild = (id: string) => {
      if (id !== w.guild.id) throw Errors.unknownGuild();
      return w.guild;
    };
    r('GET', '/guilds/:guildId', ({ params }) => (guild(params.guildId), ok(w.guildPayload())));
    r('GET', '/guilds/:guildId/channels', ({ params }) => ok(guild(params.guildId).channels.map((c) => w.channelPayload(c))));
    r('GET', '/guilds/:guildId/roles', ({ params }) => ok(guild(params.guildId).roles));
    r('GET', '/guilds/:guildId/members/:userId', ({ params }) => {
      const m = guild(params.guildId).members.get(params.userId);
      if (!m) throw Errors.unknownMember();
      return ok(w.memberPayload(m));
    });

    // ---- application commands (global and guild)
    const app = (id: string) => {
      if (id !== w.applicationId) throw new ApiError(403, 50001, 'Missing Access');
    };
    for (const base of ['/applications/:appId/commands', '/applications/:appId/guilds/:guildId/commands'] as const) {
      r('GET', base, ({ params }) => (app(params.appId), ok(w.commandsFor(params.guildId))));
      r('PUT', base, ({ params, body }) => (app(params.appId), ok(w.overwriteCommands(body, params.guildId))));
      r('POST', base, ({ params, body }) => (app(params.appId), { status: 201, json: w.upsertCommand(body, params.guildId) }));
      r('GET', `${base}/:commandId`, ({ params }) => {
        app(params.appId);
        const cmd = w.commandsFor(params.guildId).find((c) => c.id === params.commandId);
        if (!cmd) throw Errors.unknownCommand();
        return ok(cmd);
      });
      r(
        'DELETE',
        `${base}/:commandId`,
        ({ params }) => (app(params.appId), w.deleteCommand(params.commandId, params.guildId), noContent()),
      );
    }

    // ---- interactions: the callback and the interaction webhook, authorised by token rather than bot auth
    r('POST', '/interactions/:interactionId/:token/callback', (ctx) => this.callback(ctx), false);
    r('POST', '/webhooks/:appId/:token', (ctx) => this.followup(ctx), false);
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      r(method, '/webhooks/:appId/:token/messages/:messageId', (ctx) => this.webhookMessage(method, ctx), false);
    }
  }

  private callback({ params, query, body, files }: Ctx<'/interactions/:interactionId/:token/callback'>): Reply {
    const w = this.world;
    const i = w.interactions.get(params.interactionId);
    if (!i || i.token !== params.token) throw Errors.unknownInteraction();
    w.checkDeadline(i);
    if (i.acknowledged !== null) throw Errors.alreadyAcknowledged();
    const type = body.type as number;
    const data = (body.data ?? {}) as Record<string, unknown>;
    let stored: StoredMessage | undefined;
    // Component clicks (3) and modal submits from a component (5 with a message) may update that message.
    const kind = i.payload.type as number;
    const source = (i.payload.message as { id: string } | undefined)?.id;
    const updatable = (kind === 3 || kind === 5) && source !== undefined;
    let original: string | null = null;
    // An autocomplete interaction (4) takes only choices (8), and only it does.
    if ((kind === 4) !== (type === InteractionCallbackType.Autocomplete))
      throw Errors.invalidForm('type', 'Interaction callback type is not valid for this interaction', 'INTERACTION_CALLBACK_TYPE_INVALID');
    switch (type) {
      case InteractionCallbackType.Autocomplete:
        validateChoices(data.choices);
        break;
      case InteractionCallbackType.ChannelMessageWithSource:
        stored = w.createMessage({
          channelId: i.channelId,
          author: w.botUser,
          body: data,
          files,
          type: MessageType.ChatInputCommand,
          interaction: i,
        });
        break;
      case InteractionCallbackType.DeferredChannelMessageWithSource:
        // The "Bloom is thinking..." placeholder: empty, LOADING, ephemeral if the deferral was.
        stored = w.createMessage({
          channelId: i.channelId,
          author: w.botUser,
          body: { flags: data.flags ?? 0 },
          extraFlags: MessageFlags.Loading,
          allowEmpty: true,
          type: MessageType.ChatInputCommand,
          interaction: i,
        });
        break;
      case InteractionCallbackType.DeferredUpdateMessage:
      case InteractionCallbackType.UpdateMessage: {
        if (!updatable)
          throw Errors.invalidForm(
            'type',
            'Interaction callback type is not valid for this interaction',
            'INTERACTION_CALLBACK_TYPE_INVALID',
          );
        const target = w.messages.get(source);
        if (!target || target.deleted) throw Errors.unknownMessage();
        if (type === InteractionCallbackType.UpdateMessage) w.editMessage(target, data, files);
        stored = target;
        original = target.message.id;
        break;
      }
      case InteractionCallbackType.Modal:
        // A modal cannot answer a modal.
        if (kind === 5)
          throw Errors.invalidForm(
            'type',
            'Interaction callback type is not valid for this interaction',
            'INTERACTION_CALLBACK_TYPE_INVALID',
          );
        if (typeof data.custom_id !== 'string' || typeof data.title !== 'string' || !Array.isArray(data.components)) {
          throw Errors.invalidForm('data', 'Modal requires custom_id, title and components', 'BASE_TYPE_REQUIRED');
        }
        break;
      default:
        // 6/7 (component updates) are not valid for an application command.
        throw Errors.invalidForm(
          'type',
          'Interaction callback type is not valid for this interaction',
          'INTERACTION_CALLBACK_TYPE_INVALID',
        );
    }
    i.acknowledged = type;
    i.originalId = original ?? stored?.message.id ?? null;
    this.respond(i, 'callback', body, files, stored, { callbackType: type, flags: (data.flags as number | undefined) ?? 0 });
    if (query.get('with_response') !== 'true') return noContent();
    return ok({
      interaction: {
        id: i.id,
        type: kind,
        ...(stored
          ? {
              response_message_id: stored.message.id,
              response_message_loading: type === InteractionCallbackType.DeferredChannelMessageWithSource,
              response_message_ephemeral: Boolean((stored.message.flags ?? 0) & MessageFlags.Ephemeral),
            }
          : {}),
      },
      resource: { type, ...(stored ? { message: stored.message } : {}) },
    });
  }

  private followup({ params, query, body, files }: Ctx<'/webhooks/:appId/:token'>): Reply {
    const w = this.world;
    const i = w.interactionByToken(params.appId, params.token);
    if (i.acknowledged === null) throw Errors.unknownWebhook(); // follow-ups need an initial response first
    const stored = w.createMessage({ channelId: i.channelId, author: w.botUser, body, files, type: MessageType.Default, interaction: i });
    this.respond(i, 'followup', body, files, stored, { flags: (body.flags as number | undefined) ?? 0 });
    return query.get('wait') === 'true' ? ok(stored.message) : noContent();
  }

  private webhookMessage(
    method: 'GET' | 'PATCH' | 'DELETE',
    { params, body, files }: Ctx<'/webhooks/:appId/:token/messages/:messageId'>,
  ): Reply {
    const w = this.world;
    const i = w.interactionByToken(params.appId, params.token);
    const original = params.messageId === '@original';
    const id = original ? i.originalId : params.messageId;
    const stored = id ? w.messages.get(id) : undefined;
    // @original of a component update (6/7) is the message the component was on.
    if (!stored || stored.deleted || (stored.interactionId !== i.id && !(original && id === i.originalId))) throw Errors.unknownMessage();
    if (method === 'GET') return ok(stored.message);
    if (method === 'DELETE') {
      w.deleteMessage(stored);
      this.respond(i, original ? 'deleteOriginal' : 'deleteFollowup', {}, [], stored, { flags: stored.message.flags ?? 0 });
      return noContent();
    }
    w.editMessage(stored, body, files);
    this.respond(i, original ? 'editOriginal' : 'editFollowup', body, files, stored, { flags: stored.message.flags ?? 0 });
    return ok(stored.message);
  }

  private respond(
    i: InteractionState,
    kind: InteractionResponseKind,
    body: Record<string, unknown>,
    files: StoredFile[],
    stored: StoredMessage | undefined,
    extra: { callbackType?: number; flags: number },
  ): void {
    i.responses.push({ kind, ...extra, body, files, ...(stored ? { message: clone(stored.message) } : {}), at: Date.now() });
  }
}

/** Autocomplete choices as Discord checks them: at most 25, names 1–100 characters, string values up to 100. */
function validateChoices(choices: unknown): void {
  if (!Array.isArray(choices)) throw Errors.invalidForm('data.choices', 'This field is required', 'BASE_TYPE_REQUIRED');
  if (choices.length > 25) throw Errors.invalidForm('data.choices', 'Must be 25 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
  choices.forEach((c: { name?: unknown; value?: unknown }, i) => {
    if (typeof c.name !== 'string' || c.name.length < 1 || c.name.length > 100)
      throw Errors.invalidForm(`data.choices.${i}.name`, 'Must be between 1 and 100 in length.', 'BASE_TYPE_BAD_LENGTH');
    if (typeof c.value === 'string' ? c.value.length > 100 : typeof c.value !== 'number')
      throw Errors.invalidForm(
        `data.choices.${i}.value`,
        'Must be a string of at most 100 characters or a number.',
        'BASE_TYPE_BAD_LENGTH',
      );
  });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function userOr404(u: APIUser | undefined): APIUser {
  if (!u) throw Errors.unknownUser();
  return u;
}

function faultReply(f: Fault): { reply: Reply; headers: Record<string, string> } {
  if (f.status !== 429) {
    const text: Record<number, string> = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };
    return { reply: { status: f.status, json: { message: `${f.status}: ${text[f.status] ?? 'Error'}`, code: 0 } }, headers: {} };
  }
  const after = String(f.retryAfterSec);
  // Discord's Retry-After header is whole seconds; @discordjs/rest parses it as a float, so a
  // fractional value keeps tests fast. The body carries the precise float as Discord's does.
  const headers: Record<string, string> = {
    'retry-after': after,
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': ((Date.now() + f.retryAfterSec * 1000) / 1000).toFixed(3),
    'x-ratelimit-reset-after': after,
    'x-ratelimit-bucket': randomBytes(16).toString('hex'),
    'x-ratelimit-scope': f.global ? 'global' : 'user',
    // @discordjs/rest tests for the header's presence, so it is only sent for global limits.
    ...(f.global ? { 'x-ratelimit-global': 'true' } : {}),
  };
  return {
    reply: { status: 429, json: { message: 'You are being rate limited.', retry_after: f.retryAfterSec, global: f.global, code: 0 } },
    headers,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface ParsedBody {
  body: unknown;
  files: StoredFile[];
}

/** JSON, or multipart/form-data with `payload_json` plus `files[n]` parts (parsed by the platform's own FormData). */
async function parseBody(contentType: string | undefined, raw: Buffer): Promise<ParsedBody> {
  if (!raw.length) return { body: null, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer, {
      headers: { 'content-type': contentType },
    }).formData();
    let body: Record<string, unknown> = {};
    const files: StoredFile[] = [];
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = { ...body, ...(parseJson(value) as Record<string, unknown>) };
        else body[field] = value;
        continue;
      }
      const bytes = Buffer.from(await value.arrayBuffer());
      files.push({ field, filename: value.name, contentType: value.type || 'application/octet-stream', size: bytes.length, bytes });
    }
    return { body, files };
  }
  return { body: parseJson(raw.toString('utf8')), files: [] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw Errors.invalidJson();
  }
}
