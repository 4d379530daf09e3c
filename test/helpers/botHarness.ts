import { registerCommands } from '../../src/bot/registerCommands.ts';
import assert from 'node:assert/strict';
// A whole bot on loopback for end-to-end tests: synthetic data and a tiny
// backbone, a trained checkpoint (src/dev/syntheticModel.ts), the Discord
// emulator (src/dev/emulator/), and the real app.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startEmulator, type Emulator } from '../../src/dev/emulator/index.ts';
import { prepareModel, type SyntheticModel } from '../../src/dev/syntheticModel.ts';

export interface Harness {
  tmp: string;
  dataDir: string;
  checkpointDir: string;
  emu: Emulator;
  app: App;
  logLines: string[];
  /** Stops the app and starts a fresh one (same config, database and emulator): a bot restart. */
  restartApp(): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Bot token the emulator accepts (and the logger scrubs). */
  token?: string;
  /** Origins besides the emulator's that downloads may reach (exact "http://127.0.0.1:PORT"). */
  allowOrigins?: string[];
  /** Extra createApp options (e.g. pendingRetryMs). */
  app?: Partial<Omit<AppOptions, 'config' | 'log'>>;
  /** Runs on the trained model before the bot loads it (e.g. to set its answer thresholds). */
  prepare?: (m: SyntheticModel) => Promise<void> | void;
  /** Registers the slash commands in the emulator's server, so it checks every invocation against them as Discord does. */
  registerCommands?: boolean;
}

export async function startHarness(env: Record<string, string> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bot-'));
  const m = await prepareModel(tmp);
  await opts.prepare?.(m);
  const emu = await startEmulator({ token: opts.token });
  const origin = new URL(emu.apiBase).origin;
  const config = loadConfig({
    DISCORD_API_URL: emu.apiBase,
    BLOOM_DB_PATH: path.join(tmp, 'bloom.sqlite'),
    BLOOM_CHECKPOINT_DIR: m.checkpointDir,
    BLOOM_DATA_DIR: m.dataDir,
    BLOOM_FEATURE_CACHE: m.featureDir,
    BLOOM_BACKBONE_CACHE: path.join(tmp, 'cache'),
    BLOOM_WATCH_CHANNELS: emu.channels.flowers.id,
    BLOOM_CDN_HOSTS: '127.0.0.1',
    BLOOM_USER_COOLDOWN_S: '0',
    BLOOM_GUILD_COOLDOWN_S: '0',
    // Tests that exercise the retrain cooldown set it themselves.
    BLOOM_RETRAIN_COOLDOWN_MIN: '0',
    // Like the cooldowns, lifted: tests post many photos as one user (test/reliability/slowLinkSlots sets it).
    BLOOM_USER_IN_FLIGHT: '100',
    BLOOM_BACKEND: 'wasm',
    BLOOM_LOG_LEVEL: 'info',
    ...env,
  });
  const logLines: string[] = [];
  const log = createLogger({
    level: 'info',
    secrets: [emu.token],
    destination: new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }),
  });
  const make = async () => {
    const app = await createApp({
      config,
      log,
      addressPolicy: { allowOrigins: [origin, ...(opts.allowOrigins ?? [])] },
      retrainEditMs: 50,
      ...opts.app,
    });
    await app.bot.start(emu.token);
    return app;
  };
  const h: Harness = {
    tmp,
    dataDir: m.dataDir,
    checkpointDir: m.checkpointDir,
    emu,
    app: await make(),
    logLines,
    async restartApp() {
      await h.app.stop();
      h.app = await make();
    },
    async stop() {
      await h.app.stop();
      await emu.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  if (opts.registerCommands) await registerCommands({ token: emu.token, apiUrl: emu.apiBase, guildId: emu.guild.id });
  return h;
}

export const photo = (h: Harness, label: '1' | '2' | '3', i = 0) => fs.readFileSync(path.join(h.dataDir, 'valid', label, `img_${i}.jpg`));

/** For afterEach: no request the test caused hit a route the emulator does not know. */
export function assertNoUnknownRoutes(h: Harness): void {
  assert.deepEqual(
    h.emu.unknownRequests.map((r) => `${r.method} ${r.path}`),
    [],
    'no request hit an unknown route',
  );
}

/** The /retrain reply's last edit once the run is over (progress edits are titled "Retraining…"). */
export async function retrainOutcome(h: Harness, id: string) {
  await h.emu.waitForInteractionResponse(id, 'editOriginal', 60_000);
  for (;;) {
    const last = h.emu.interactionResponses(id).at(-1)!;
    if (last.kind === 'editOriginal' && !/Retraining/.test(last.body.embeds?.[0]?.title ?? '')) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
}
