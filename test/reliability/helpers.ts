// Small helpers shared by the reliability tests (not a test file itself).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIUser } from 'discord.js';
import type { Emulator, InteractionResponse, StoredMessage } from '../../src/dev/emulator/index.ts';
import type { Harness } from '../helpers/botHarness.ts';

/** Everything a user would read in a bot message: content and embeds. */
export const textOf = (m: StoredMessage): string => `${m.message.content}\n${JSON.stringify(m.message.embeds)}`;

/** Polls `find` until it returns something (or throws after `ms`). */
export async function eventually<T>(find: () => T | undefined | false, ms = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Bot messages replying to one message (in its channel). */
export const repliesTo = (h: Harness, channelId: string, messageId: string): StoredMessage[] =>
  h.emu.messagesIn(channelId).filter((m) => m.message.message_reference?.message_id === messageId);

/** Posts one attachment as `author` and returns the posted message. */
export async function postPhoto(
  h: Harness,
  o: { name: string; bytes: Buffer; contentType?: string; channelId?: string; author?: APIUser; dm?: boolean },
) {
  const channelId = o.channelId ?? (o.dm ? h.emu.dmChannelFor(o.author ?? h.emu.users.member).id : h.emu.channels.flowers.id);
  const att = h.emu.addAttachment(o.name, o.bytes, o.contentType, { channelId });
  return h.emu.postMessage({ channelId, author: o.author, attachments: [att] });
}

/** The first reply to a posted message (waits for it). */
export async function replyTo(h: Harness, channelId: string, messageId: string, ms = 15_000): Promise<StoredMessage> {
  return h.emu.waitForMessage(channelId, (m) => m.message.message_reference?.message_id === messageId, ms);
}

/** The response to a slash command that carries its answer: an immediate reply, the edited result, or an ephemeral follow-up. */
export function finalResponse(h: Harness, interactionId: string, ms = 15_000): Promise<InteractionResponse> {
  return eventually(
    () =>
      h.emu
        .interactionResponses(interactionId)
        .find((r) => (r.kind === 'callback' && r.callbackType === 4) || r.kind === 'editOriginal' || r.kind === 'followup'),
    ms,
    `an answer to interaction ${interactionId}`,
  );
}

export const bodyText = (r: InteractionResponse): string => JSON.stringify(r.body);

export interface TestServer {
  origin: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests seen, as "METHOD /path". */
  requests: string[];
  close(): Promise<void>;
}

/** A local HTTP server on 127.0.0.1 (random port) with a custom handler. */
export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const server = createServer((req, res) => {
    state.requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on('connection', (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Error-level (50+) log lines parsed, for asserting what was logged. */
export const logEntries = (h: Harness): Array<Record<string, unknown>> =>
  h.logLines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Runs the bot as its own process (test/reliability/appProcess.ts, or `entry` such as src/main.ts) with the given environment. */
export function startAppProcess(
  env: Record<string, string>,
  entry = 'test/reliability/appProcess.ts',
): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves once the bot printed 'ready' (killed and rejected after 60 s). */
  online: () => Promise<unknown>;
} {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      BLOOM_BACKEND: 'wasm',
      BLOOM_LOG_LEVEL: 'warn',
      BLOOM_OFFLINE: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  const online = () =>
    within(
      eventually(() => out.includes('ready'), 60_000, 'the bot process to come online'),
      60_000,
      'ready',
      () => child.kill('SIGKILL'),
    );
  return { child, stdout: () => out, stderr: () => err, exited, online };
}

/** Resolves with `p`, or rejects after `ms` (calling onTimeout first, e.g. to kill a child). */
export async function within<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => (onTimeout?.(), reject(new Error(`timed out after ${ms} ms: ${what}`))), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The environment of a bot process (startAppProcess) on the harness's model, talking to `emu`; tests add what they test. */
export function botProcessEnv(h: Harness, emu: Emulator, dbPath: string): Record<string, string> {
  return {
    DISCORD_TOKEN: emu.token,
    DISCORD_API_URL: emu.apiBase,
    BLOOM_CHECKPOINT_DIR: h.checkpointDir,
    BLOOM_DATA_DIR: h.dataDir,
    BLOOM_DB_PATH: dbPath,
    BLOOM_BACKBONE_CACHE: path.join(h.tmp, 'cache'),
    BLOOM_WORKERS: '1',
    BLOOM_LOG_LEVEL: 'info',
  };
}
