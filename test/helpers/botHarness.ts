// A whole bot on loopback for end-to-end tests: synthetic data and a tiny
// backbone, a trained checkpoint, the Discord emulator, and the real app.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { initBackend } from '../../src/classifier/backend.ts';
import { setCurrent } from '../../src/classifier/checkpoint.ts';
import { LocalEmbedder } from '../../src/classifier/embedder.ts';
import { loadFeatureExtractor } from '../../src/classifier/featureExtractor.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { FeatureCache } from '../../src/training/featureCache.ts';
import { train } from '../../src/training/trainer.ts';
import { startEmulator, type Emulator } from '../emulator/index.ts';
import { writeShapesDataset } from '../fixtures/shapes.ts';
import { writeTinyBackbone } from '../fixtures/tinyBackbone.ts';

export const TRAIN_PARAMS = { hiddenUnits: [32], dropout: 0.1, learningRate: 0.01, epochs: 25, batchSize: 16, augViews: 0, augLevel: 'basic', seed: 1 };

export interface Harness {
  tmp: string;
  dataDir: string;
  checkpointDir: string;
  emu: Emulator;
  app: App;
  logLines: string[];
  stop(): Promise<void>;
}

/** Trains once per tmp folder (cheap: tiny CNN, 3 classes). */
export async function prepareModel(tmp: string): Promise<{ dataDir: string; backbone: string; checkpointDir: string; featureDir: string }> {
  await initBackend({ prefer: 'wasm' });
  const backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
  const dataDir = await writeShapesDataset(path.join(tmp, 'shapes'));
  const checkpointDir = path.join(tmp, 'checkpoints');
  const featureDir = path.join(tmp, 'features');
  const embedder = new LocalEmbedder(await loadFeatureExtractor(backbone, { cacheDir: tmp }));
  const r = await train({ ...TRAIN_PARAMS, arch: backbone, dataDir, saveDir: checkpointDir, embedder, cache: new FeatureCache(featureDir) });
  await embedder.close();
  setCurrent(checkpointDir, r.meta.version);
  return { dataDir, backbone, checkpointDir, featureDir };
}

export interface HarnessOptions {
  /** Bot token the emulator accepts (and the logger scrubs). */
  token?: string;
  /** Origins besides the emulator's that downloads may reach (exact "http://127.0.0.1:PORT"). */
  allowOrigins?: string[];
  /** Extra createApp options (e.g. pendingRetryMs). */
  app?: Partial<Omit<AppOptions, 'config' | 'log'>>;
}

export async function startHarness(env: Record<string, string> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bot-'));
  const m = await prepareModel(tmp);
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
    BLOOM_BACKEND: 'wasm',
    BLOOM_LOG_LEVEL: 'info',
    ...env,
  });
  const logLines: string[] = [];
  const log = createLogger({ level: 'info', secrets: [emu.token], destination: new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } }) });
  const app = await createApp({ config, log, addressPolicy: { allowOrigins: [origin, ...(opts.allowOrigins ?? [])] }, retrainEditMs: 50, ...opts.app });
  await app.bot.start(emu.token);
  return {
    tmp, dataDir: m.dataDir, checkpointDir: m.checkpointDir, emu, app, logLines,
    async stop() {
      await app.stop();
      await emu.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export const photo = (h: Harness, label: '1' | '2' | '3', i = 0) => fs.readFileSync(path.join(h.dataDir, 'valid', label, `img_${i}.jpg`));
