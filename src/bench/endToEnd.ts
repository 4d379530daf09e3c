// End-to-end latency: a photo posted in the local Discord emulator → the bot's
// reply stored by the emulator. The real app (createApp) and the real discord.js
// client, over loopback; emulator, bot and bench share this process's main thread.
// BLOOM_BENCH_VERBOSE=1 copies the bot's log to stderr.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../app.ts';
import type { BackendName } from '../classifier/backend.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { startEmulator, type Emulator } from '../dev/emulator/index.ts';
import { now, summarise, type Summary } from './stats.ts';

export interface EndToEndOptions {
  workers: number;
  checkpointDir: string;
  dataDir: string;
  backboneDir: string;
  backboneCache: string;
  backend?: BackendName;
  /** Photos to post; cycled. */
  photos: Buffer[];
  /** Untimed photos first (the first one's latency is reported as firstReplyMs). */
  warmup: number;
  /** Photos posted one after another, each after the previous reply. */
  alone: number;
  /** Photos posted at once, one per message, by `users` different members. */
  burst: number;
  users: number;
  /** Give up on a reply after this long (counted as unanswered). */
  replyTimeoutMs: number;
  log: (msg: string) => void;
}

export interface PostOutcome {
  ms: number;
  /** performance.now() when the reply arrived (or the wait gave up). */
  at: number;
  answered: boolean;
  /** The reply is an identification (carries the probability chart), not a notice or an error. */
  identified: boolean;
}

export interface SeriesResult {
  posted: number;
  answered: number;
  identified: number;
  /** Post → reply, over the answered photos. */
  latencyMs: Summary;
}

export interface EndToEndRun {
  workers: number;
  /** createApp (model + pool start) and the gateway login. */
  startupMs: number;
  firstReplyMs: number;
  alone: SeriesResult;
  burst: SeriesResult & {
    users: number;
    /** First post → last reply. */
    wallMs: number;
    /** Answered photos per second of wallMs. */
    imagesPerSecond: number;
    /** Embed calls the micro-batcher made for the burst (photos per call = identified / batches). */
    embedBatches: number;
  };
  /** Warning- and error-level lines the bot logged during the run (e.g. a reply it could not send). */
  botProblems: number;
  botProblemSamples: string[];
}

const series = (outs: PostOutcome[]): SeriesResult => ({
  posted: outs.length,
  answered: outs.filter((o) => o.answered).length,
  identified: outs.filter((o) => o.identified).length,
  latencyMs: summarise(outs.filter((o) => o.answered).map((o) => o.ms)),
});

export async function measureEndToEnd(o: EndToEndOptions): Promise<EndToEndRun> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bench-e2e-'));
  const problems: string[] = [];
  const verbose = process.env.BLOOM_BENCH_VERBOSE === '1';
  let emu: Emulator | undefined;
  let stopApp: (() => Promise<void>) | undefined;
  try {
    const t0 = now();
    emu = await startEmulator();
    const channelId = emu.channels.flowers.id;
    const config = loadConfig({
      DISCORD_API_URL: emu.apiBase,
      BLOOM_DB_PATH: path.join(tmp, 'bench.sqlite'),
      BLOOM_CHECKPOINT_DIR: o.checkpointDir,
      BLOOM_DATA_DIR: o.dataDir,
      BLOOM_FEATURE_CACHE: path.join(tmp, 'features'),
      BLOOM_BACKBONE_DIR: o.backboneDir,
      BLOOM_BACKBONE_CACHE: o.backboneCache,
      BLOOM_WATCH_CHANNELS: channelId,
      BLOOM_CDN_HOSTS: '127.0.0.1',
      BLOOM_USER_COOLDOWN_S: '0',
      BLOOM_GUILD_COOLDOWN_S: '0',
      BLOOM_QUEUE_LIMIT: String(Math.max(64, o.burst)),
      // A throughput figure: no per-user or download limit turns burst photos away.
      BLOOM_USER_IN_FLIGHT: '100',
      BLOOM_DOWNLOAD_SLOTS: String(Math.max(64, o.burst)),
      BLOOM_WORKERS: String(o.workers),
      ...(o.backend && { BLOOM_BACKEND: o.backend }),
      BLOOM_LOG_LEVEL: 'warn',
    });
    const sink = new Writable({
      write(chunk, _enc, cb) {
        const line = String(chunk);
        if (verbose) process.stderr.write(line);
        if (/"level":(40|50|60)/.test(line)) problems.push(line.trim().slice(0, 600));
        cb();
      },
    });
    const log = createLogger({ level: verbose ? 'info' : 'warn', secrets: [emu.token], destination: sink });
    const app = await createApp({ config, log, addressPolicy: { allowOrigins: [new URL(emu.apiBase).origin] } });
    stopApp = () => app.stop();
    await app.bot.start(emu.token);
    const startupMs = now() - t0;

    const e = emu;
    let k = 0;
    const post = async (author = e.users.member): Promise<PostOutcome> => {
      const i = k++;
      const att = e.addAttachment(`photo_${i}.jpg`, o.photos[i % o.photos.length]!, 'image/jpeg');
      const t = now();
      try {
        const posted = await e.postMessage({ channelId, author, attachments: [att] });
        const reply = await e.waitForMessage(channelId, (m) => m.message.message_reference?.message_id === posted.id, o.replyTimeoutMs);
        const at = now();
        return { ms: at - t, at, answered: true, identified: reply.files.some((f) => f.filename === 'probabilities.png') };
      } catch {
        const at = now();
        return { ms: at - t, at, answered: false, identified: false };
      }
    };

    let firstReplyMs = NaN;
    for (let i = 0; i < o.warmup; i++) {
      const r = await post();
      if (i === 0) firstReplyMs = r.ms;
      // A bot that cannot answer one photo will not answer fifty: stop here with its log.
      if (!r.answered)
        throw new Error(
          `the bot did not answer a warm-up photo within ${o.replyTimeoutMs} ms${problems.length ? `; it logged: ${problems.slice(0, 2).join(' | ')}` : ''} (BLOOM_BENCH_VERBOSE=1 shows its log)`,
        );
    }

    o.log(`  ${o.alone} photos one after another…`);
    const alone: PostOutcome[] = [];
    for (let i = 0; i < o.alone; i++) alone.push(await post());

    o.log(`  burst of ${o.burst} photos from ${o.users} users…`);
    const users = Array.from({ length: o.users }, (_, i) => e.addUser(`bench-user-${i + 1}`));
    const batchesBefore = app.identify.batches;
    const t = now();
    const burst = await Promise.all(Array.from({ length: o.burst }, (_, i) => post(users[i % users.length])));
    const b = series(burst);
    const wallMs = (b.answered ? Math.max(...burst.filter((r) => r.answered).map((r) => r.at)) : now()) - t;

    return {
      workers: o.workers,
      startupMs,
      firstReplyMs,
      alone: series(alone),
      burst: {
        ...b,
        users: o.users,
        wallMs,
        imagesPerSecond: (1000 * b.answered) / wallMs,
        embedBatches: app.identify.batches - batchesBefore,
      },
      botProblems: problems.length,
      botProblemSamples: problems.slice(0, 3),
    };
  } finally {
    await stopApp?.().catch(() => undefined);
    await emu?.close().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
