/**
 * The gateway: HELLO / IDENTIFY / READY / heartbeats / RESUME with sequence
 * numbers, intent filtering, and fault injection (drop, reconnect request,
 * invalid session).
 *
 * Sessions outlive sockets, as on Discord: an event dispatched while the bot
 * is disconnected is buffered and replayed on RESUME, and lost on a fresh
 * IDENTIFY. A client that closes with 1000/1001 ends its session.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { constants as zlibConstants, createDeflate, type Deflate } from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_VERSION, Intents } from './payloads.ts';

const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

export const CloseCode = {
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidShard: 4010,
  InvalidApiVersion: 4012,
  InvalidIntents: 4013,
} as const;

export type GatewayLogKind = 'connect' | 'identify' | 'resume' | 'close' | 'invalid-session';

export interface GatewayLogEntry {
  kind: GatewayLogKind;
  at: number;
  sessionId?: string;
  /** Close code for `close`; `byServer` tells a fault-injected drop from a client-side close. */
  code?: number;
  byServer?: boolean;
  /** Sequence the client resumed from, and how many events were replayed. */
  seq?: number;
  replayed?: number;
}

interface Session {
  id: string;
  intents: number;
  shard: [number, number];
  seq: number;
  /** Sent dispatches kept for RESUME replay. */
  buffer: { s: number; t: string; d: unknown }[];
  conn: Connection | null;
}

interface Connection {
  ws: WebSocket;
  session: Session | null;
  deflate: Deflate | null;
  /** Serialises compressed sends. */
  queue: Promise<void>;
  closedByServer: boolean;
}

export interface GatewayHooks {
  token: string;
  /** ws url given out by /gateway/bot and as resume_gateway_url. */
  url: string;
  heartbeatIntervalMs: number;
  botId: string;
  ready(session: { id: string; shard: [number, number] }): Record<string, unknown>;
  guildCreates(): Record<string, unknown>[];
  /** Members for op 8 (REQUEST_GUILD_MEMBERS). */
  members(guildId: string): { user: { id: string; username: string } }[];
  onLog(entry: GatewayLogEntry): void;
}

const REPLAY_LIMIT = 2000;

export class Gateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  private readonly conns = new Set<Connection>();

  constructor(private readonly hooks: GatewayHooks) {
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  /** True once any session has identified and not ended. */
  get hasSession(): boolean {
    return this.sessions.size > 0;
  }

  /** Send an event to every live session (buffering for disconnected ones), filtered by its intents. */
  dispatch(t: string, d: Record<string, unknown>): void {
    for (const session of this.sessions.values()) {
      const view = intentView(t, d, session.intents, this.hooks.botId);
      if (view) this.send(session, t, view);
    }
  }

  /** Close every socket with `code`; 4000 (default) makes discord.js resume, 1000 makes it re-identify. */
  async drop(code: number = CloseCode.UnknownError, reason = 'emulator: dropped'): Promise<void> {
    const closing = [...this.conns].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.closedByServer = true;
          if (c.ws.readyState === c.ws.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(code, reason);
        }),
    );
    await Promise.all(closing);
  }

  /** Ask clients to reconnect and resume (op 7), as Discord does before moving a session. */
  requestReconnect(): void {
    for (const c of this.conns) if (c.session) this.raw(c, { op: Op.Reconnect, d: null });
  }

  /** op 9: with `resumable` false the session is gone and the client must IDENTIFY again. */
  invalidateSessions(resumable = false): void {
    for (const c of this.conns) {
      const session = c.session;
      if (!session) continue;
      // Detach so the client may RESUME or IDENTIFY again on this very socket.
      c.session = null;
      if (session.conn === c) session.conn = null;
      if (!resumable) this.sessions.delete(session.id);
      this.hooks.onLog({ kind: 'invalid-session', at: Date.now(), sessionId: session.id });
      this.raw(c, { op: Op.InvalidSession, d: resumable });
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns) {
      c.closedByServer = true;
      c.ws.terminate();
    }
    this.sessions.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const query = new URL(req.url ?? '/', 'ws://localhost').searchParams;
    const conn: Connection = { ws, session: null, deflate: null, queue: Promise.resolve(), closedByServer: false };
    this.conns.add(conn);
    this.hooks.onLog({ kind: 'connect', at: Date.now() });
    ws.on('close', (code) => this.onClose(conn, code));
    ws.on('error', () => {}); // a reset socket also emits 'close', which is what matters
    const v = query.get('v');
    if (v && Number(v) !== API_VERSION && Number(v) !== 9) return void ws.close(CloseCode.InvalidApiVersion, 'Invalid API version');
    if ((query.get('encoding') ?? 'json') !== 'json') return void ws.close(CloseCode.DecodeError, 'Only JSON encoding is emulated');
    if (query.get('compress') === 'zlib-stream') conn.deflate = createDeflate();
    // ws's default binaryType ('nodebuffer') hands every message over as one Buffer.
    ws.on('message', (data, isBinary) => this.onMessage(conn, (data as Buffer).toString(), isBinary));
    this.raw(conn, { op: Op.Hello, d: { heartbeat_interval: this.hooks.heartbeatIntervalMs, _trace: ['["bloom-emulator",{}]'] } });
  }

  private onClose(conn: Connection, code: number): void {
    this.conns.delete(conn);
    conn.deflate?.close();
    const session = conn.session;
    if (session && session.conn === conn) {
      session.conn = null;
      // Discord ends a session when the *client* closes normally; other closes stay resumable.
      if (!conn.closedByServer && (code === 1000 || code === 1001)) this.sessions.delete(session.id);
    }
    this.hooks.onLog({ kind: 'close', at: Date.now(), code, byServer: conn.closedByServer, sessionId: session?.id });
  }

  private onMessage(conn: Connection, text: string, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      payload = JSON.parse(text) as { op?: unknown; d?: unknown };
    } catch {
      return void conn.ws.close(CloseCode.DecodeError, 'Decode error');
    }
    const d = payload.d as Record<string, unknown> | null;
    switch (payload.op) {
      case Op.Heartbeat:
        return this.raw(conn, { op: Op.HeartbeatAck });
      case Op.Identify:
        return this.identify(conn, d ?? {});
      case Op.Resume:
        return this.resume(conn, d ?? {});
      case Op.RequestGuildMembers:
        if (!conn.session) return void conn.ws.close(CloseCode.NotAuthenticated, 'Not authenticated');
        return this.membersChunk(conn.session, d ?? {});
      case Op.PresenceUpdate:
      case Op.VoiceStateUpdate:
        if (!conn.session) return void conn.ws.close(CloseCode.NotAuthenticated, 'Not authenticated');
        return;
      default:
        return void conn.ws.close(CloseCode.UnknownOpcode, 'Unknown opcode');
    }
  }

  private checkToken(conn: Connection, token: unknown): boolean {
    const raw = typeof token === 'string' ? token.replace(/^Bot\s+/i, '') : '';
    if (raw === this.hooks.token) return true;
    conn.ws.close(CloseCode.AuthenticationFailed, 'Authentication failed');
    return false;
  }

  private identify(conn: Connection, d: Record<string, unknown>): void {
    if (conn.session) return void conn.ws.close(CloseCode.AlreadyAuthenticated, 'Already authenticated');
    if (!this.checkToken(conn, d.token)) return;
    if (typeof d.intents !== 'number' || !Number.isInteger(d.intents) || d.intents < 0) {
      return void conn.ws.close(CloseCode.InvalidIntents, 'Invalid intent(s)');
    }
    const shard = (Array.isArray(d.shard) ? d.shard : [0, 1]) as [number, number];
    if (shard.length !== 2 || !(shard[0] >= 0 && shard[0] < shard[1])) return void conn.ws.close(CloseCode.InvalidShard, 'Invalid shard');
    const session: Session = { id: randomBytes(16).toString('hex'), intents: d.intents, shard, seq: 0, buffer: [], conn };
    conn.session = session;
    this.sessions.set(session.id, session);
    this.hooks.onLog({ kind: 'identify', at: Date.now(), sessionId: session.id });
    this.send(session, 'READY', this.hooks.ready({ id: session.id, shard }));
    // Only shard 0 of a multi-shard bot gets our guild (guild_id >> 22 % shard_count would decide on Discord).
    if (session.intents & Intents.Guilds && shard[0] === 0) {
      for (const g of this.hooks.guildCreates()) this.send(session, 'GUILD_CREATE', g);
    }
  }

  private resume(conn: Connection, d: Record<string, unknown>): void {
    if (conn.session) return void conn.ws.close(CloseCode.AlreadyAuthenticated, 'Already authenticated');
    if (!this.checkToken(conn, d.token)) return;
    const session = this.sessions.get(String(d.session_id));
    const seq = typeof d.seq === 'number' ? d.seq : -1;
    if (!session || seq > session.seq || (session.buffer[0] && seq < session.buffer[0].s - 1)) {
      this.hooks.onLog({ kind: 'invalid-session', at: Date.now(), sessionId: session?.id });
      return this.raw(conn, { op: Op.InvalidSession, d: false });
    }
    if (session.conn && session.conn !== conn) {
      const old = session.conn;
      old.session = null; // detach first so its close doesn't end the session
      old.closedByServer = true;
      old.ws.close(CloseCode.UnknownError, 'Session resumed elsewhere');
    }
    conn.session = session;
    session.conn = conn;
    const missed = session.buffer.filter((e) => e.s > seq);
    for (const e of missed) this.raw(conn, { op: Op.Dispatch, s: e.s, t: e.t, d: e.d });
    this.hooks.onLog({ kind: 'resume', at: Date.now(), sessionId: session.id, seq, replayed: missed.length });
    this.send(session, 'RESUMED', {});
  }

  private membersChunk(session: Session, d: Record<string, unknown>): void {
    const guildId = String(d.guild_id);
    const ids = d.user_ids == null ? null : ([] as unknown[]).concat(d.user_ids).map(String);
    const query = typeof d.query === 'string' ? d.query.toLowerCase() : '';
    const limit = typeof d.limit === 'number' && d.limit > 0 ? d.limit : Infinity;
    const members = this.hooks
      .members(guildId)
      .filter((m) => (ids ? ids.includes(m.user.id) : m.user.username.toLowerCase().startsWith(query)))
      .slice(0, limit);
    const found = new Set(members.map((m) => m.user.id));
    this.send(session, 'GUILD_MEMBERS_CHUNK', {
      guild_id: guildId,
      members,
      chunk_index: 0,
      chunk_count: 1,
      ...(ids ? { not_found: ids.filter((id) => !found.has(id)) } : {}),
      ...(d.nonce != null ? { nonce: d.nonce } : {}),
    });
  }

  private send(session: Session, t: string, d: unknown): void {
    const s = ++session.seq;
    session.buffer.push({ s, t, d });
    if (session.buffer.length > REPLAY_LIMIT) session.buffer.shift();
    if (session.conn) this.raw(session.conn, { op: Op.Dispatch, s, t, d });
  }

  private raw(conn: Connection, payload: { op: number; d?: unknown; s?: number; t?: string }): void {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    const text = JSON.stringify({ s: null, t: null, d: null, ...payload });
    const deflate = conn.deflate;
    if (!deflate) return conn.ws.send(text);
    // zlib-stream: one deflate context per connection, each message ending on a sync flush. Messages
    // go through the stream one at a time so their output chunks can't interleave.
    conn.queue = conn.queue.then(
      () =>
        new Promise<void>((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer) => chunks.push(c);
          deflate.on('data', onData);
          deflate.write(text);
          deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
            deflate.off('data', onData);
            if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(Buffer.concat(chunks));
            resolve();
          });
        }),
    );
  }
}

const GUILD_SCOPED: Record<string, [guild: number, dm: number]> = {
  MESSAGE_CREATE: [Intents.GuildMessages, Intents.DirectMessages],
  MESSAGE_UPDATE: [Intents.GuildMessages, Intents.DirectMessages],
  MESSAGE_DELETE: [Intents.GuildMessages, Intents.DirectMessages],
  MESSAGE_REACTION_ADD: [Intents.GuildMessageReactions, Intents.DirectMessageReactions],
  MESSAGE_REACTION_REMOVE: [Intents.GuildMessageReactions, Intents.DirectMessageReactions],
  GUILD_MEMBER_ADD: [Intents.GuildMembers, 0],
  GUILD_MEMBER_UPDATE: [Intents.GuildMembers, 0],
  GUILD_MEMBER_REMOVE: [Intents.GuildMembers, 0],
  GUILD_CREATE: [Intents.Guilds, 0],
  GUILD_UPDATE: [Intents.Guilds, 0],
  CHANNEL_CREATE: [Intents.Guilds, 0],
  CHANNEL_UPDATE: [Intents.Guilds, 0],
};

/**
 * What a session with `intents` would receive for this event, or null. Without
 * MESSAGE_CONTENT, other users' guild messages arrive with content, embeds,
 * attachments and components blanked, unless the bot is mentioned.
 */
function intentView(t: string, d: Record<string, unknown>, intents: number, botId: string): Record<string, unknown> | null {
  const scoped = GUILD_SCOPED[t];
  if (scoped) {
    const needed = d.guild_id ? scoped[0] : scoped[1];
    if (!needed || !(intents & needed)) return null;
  }
  if ((t === 'MESSAGE_CREATE' || t === 'MESSAGE_UPDATE') && !(intents & Intents.MessageContent) && d.guild_id) {
    const author = d.author as { id: string } | undefined;
    const mentioned = (d.mentions as { id: string }[] | undefined)?.some((u) => u.id === botId);
    if (author?.id !== botId && !mentioned) return { ...d, content: '', embeds: [], attachments: [], components: [] };
  }
  return d;
}
