// Composition root: config → database, model, services → Discord bot.
// Used by `npm start` (real Discord) and by the demo and tests (local emulator).
import type { Logger } from 'pino';
import { initBackend } from './classifier/backend.ts';
import { CheckpointError } from './classifier/checkpoint.ts';
import type { Classifier } from './classifier/classifier.ts';
import type { Embedder } from './classifier/embedder.ts';
import { EmbedderPool, type PoolEvent } from './classifier/embedderPool.ts';
import { makeEmbedder as buildEmbedder } from './classifier/makeEmbedder.ts';
import type { FetchFile } from './classifier/modelFiles.ts';
import { BloomBot } from './bot/bot.ts';
import { createClient } from './bot/client.ts';
import type { Config } from './config.ts';
import { downloadBytes, type AddressPolicy } from './net/index.ts';
import { shippedModelDir } from './modelDir.ts';
import { Admission, Cooldowns, UserInFlight } from './services/admission.ts';
import { CatalogueService } from './services/catalogueService.ts';
import { FeedbackService } from './services/feedbackService.ts';
import { ForgetService } from './services/forgetService.ts';
import { IdentifyService } from './services/identifyService.ts';
import { ModelManager } from './services/modelManager.ts';
import { ModelVersions } from './services/modelVersions.ts';
import { RetrainService } from './services/retrainService.ts';
import { ReviewService } from './services/reviewService.ts';
import { openDatabase, type Store } from './storage/index.ts';
import type { TrainParams } from './classifier/checkpoint.ts';
import { DEFAULT_TRAIN_PARAMS } from './training/defaults.ts';

export interface AppOptions {
  config: Config;
  log: Logger;
  /** Where the model to start with is (see src/modelDir.ts); config.checkpointDir when absent. */
  modelDir?: string;
  /** Lets attachment downloads reach the local emulator's CDN (never set for real Discord). */
  addressPolicy?: AddressPolicy;
  fetchFile?: FetchFile;
  /** An embedder factory; by default makeEmbedder's (a worker pool unless BLOOM_WORKERS=0). */
  makeEmbedder?: (arch: string) => Promise<Embedder>;
  retrainParams?: Partial<TrainParams>;
  retrainMaxPerClass?: number;
  retrainEditMs?: number;
  tta?: boolean;
  /** How often prediction rows kept after a failed write (locked database...) are retried; 5 s by default. */
  pendingRetryMs?: number;
}

export interface App {
  bot: BloomBot;
  store: Store;
  models: ModelManager;
  identify: IdentifyService;
  retrain: RetrainService;
  /** Drain in-flight work, disconnect, close the model and the database (idempotent). */
  stop(): Promise<void>;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

export async function createApp(o: AppOptions): Promise<App> {
  const { config, log } = o;
  const backend = await initBackend({ prefer: config.backend, log: (m) => log.info(m) });
  const loc = { backboneDir: config.backboneDir, cacheDir: config.backboneCache, fetchFile: o.fetchFile };
  // Worker threads keep the Discord thread free and use every core.
  // A worker that dies or hangs fails its requests ("send it again") and is replaced; say so in the log.
  const onPoolEvent = (e: PoolEvent) =>
    e.type === 'worker-replaced'
      ? log.info(e, 'model worker replaced')
      : log.error(
          e,
          e.type === 'timeout'
            ? 'model call timed out; replacing its worker'
            : e.type === 'worker-died'
              ? 'model worker died; replacing it'
              : 'could not start a replacement model worker; retrying',
        );
  const makeEmbedder =
    o.makeEmbedder ??
    ((arch: string) =>
      buildEmbedder({
        arch,
        loc,
        workers: config.workers,
        backend: config.backend,
        keepThreadFree: true,
        timeoutMs: config.modelTimeoutS * 1000,
        onEvent: onPoolEvent,
      }));
  const models = new ModelManager(loc, makeEmbedder, log);
  // Retrains always save into config.checkpointDir; the first model may come from elsewhere (the shipped one).
  const modelDir = o.modelDir ?? config.checkpointDir;
  let live: Classifier;
  try {
    live = await models.load(modelDir);
  } catch (err) {
    const hint = err instanceof CheckpointError ? '' : ' (is the backbone available? see BLOOM_BACKBONE_DIR)';
    throw new StartupError(`Could not load the model from ${modelDir}: ${(err as Error).message}${hint}`);
  }
  log.info(
    { version: models.version, arch: live.meta.params.arch, validAccuracy: live.meta.validAccuracy, backend: backend.name },
    'model loaded',
  );
  let store: Store;
  let retrying = false;
  try {
    store = openDatabase(config.dbPath, {
      // Never wait for a lock on the request path: the wait would freeze the event loop
      // (every user's reply); rows that meet a lock are retried by the timer below.
      writeBusyTimeoutMs: 0,
      onWriteError: (f) => {
        // A background retry that finds the database still locked was already reported when the row was queued.
        if (retrying && f.dropped === 0) return void log.debug({ err: f.error, pending: f.pending }, 'database still not writable');
        log.error(
          { err: f.error, op: f.op, pending: f.pending, dropped: f.dropped },
          f.retryable ? 'database write failed; row kept for retry' : 'database write failed; row dropped',
        );
      },
      // Loud: whatever was in the old file (history, settings) is gone from this path.
      onReopen: (e) =>
        e.error
          ? log.error({ err: e.error, file: e.file }, `database file ${e.reason}; could not reopen it`)
          : log.error(
              { file: e.file },
              `database file ${e.reason}; reopened a fresh database at its path (earlier rows and settings are not in it)`,
            ),
    });
  } catch (err) {
    await models.close();
    throw new StartupError(`Could not open the database at ${config.dbPath}: ${(err as Error).message}`);
  }
  // Rows kept after a failed write land once the database is writable again, even if no new
  // photo comes. These attempts don't wait for a lock (busy_timeout would block the event loop).
  // The same timer notices a database file deleted or replaced while open (it is also checked on every prediction write).
  const retryTimer = setInterval(() => {
    if (!store.closed) store.checkFile();
    const n = store.pendingCount;
    if (n === 0 || store.closed) return;
    const busyMs = store.db.pragma('busy_timeout', { simple: true }) as number;
    retrying = true;
    store.db.pragma('busy_timeout = 0');
    try {
      if (store.flushPending()) log.info({ rows: n }, 'queued prediction rows written');
    } finally {
      store.db.pragma(`busy_timeout = ${busyMs}`);
      retrying = false;
    }
  }, o.pendingRetryMs ?? 5000);
  retryTimer.unref();
  const downloadTimeouts = {
    ...(config.downloadTimeoutS !== undefined && { totalMs: config.downloadTimeoutS * 1000 }),
    minBytesPerSec: config.minDownloadKbps * 1000,
  };
  // Feedback keeps a photo only once someone votes on it: recent photos wait in memory, older
  // ones (or after a restart) are fetched again from their attachment URL under the same rules.
  const feedback = new FeedbackService(store, () => models.current?.meta.names ?? {}, {
    contribDir: config.contribDir,
    dailyCap: config.contribDailyCap,
    download: async (url) =>
      (
        await downloadBytes(url, {
          maxBytes: config.maxImageMb * 1024 * 1024,
          allowHosts: config.cdnHosts,
          ...o.addressPolicy,
          timeouts: downloadTimeouts,
        })
      ).bytes,
    // Approval by agreement (a per-server setting); a failure here must not fail the member's vote.
    afterVote: (p) => {
      try {
        const approved = review.afterVote(p);
        if (approved) log.info({ predictionId: p.id, ...approved }, 'photo approved by agreement');
      } catch (err) {
        log.error({ err, predictionId: p.id }, 'auto-approve failed');
      }
    },
  });
  const review = new ReviewService(store, feedback, config.contribDir);
  const identify = new IdentifyService(
    models,
    store,
    {
      maxBytes: config.maxImageMb * 1024 * 1024,
      confidenceThreshold: config.confidenceThreshold,
      minImageSide: config.minImageSide,
      topK: 5,
      cdnHosts: config.cdnHosts,
      addressPolicy: o.addressPolicy,
      dataDir: config.dataDir,
      tta: o.tta,
      downloadTimeouts,
      keepPhoto: (logId, bytes) => feedback.remember(logId, bytes),
    },
    () => backend.name,
  );
  const retrain = new RetrainService(
    models,
    store,
    {
      dataDir: config.dataDir,
      saveDir: config.checkpointDir,
      featureCacheDir: config.featureCache,
      loc: { backboneDir: config.backboneDir, cacheDir: config.backboneCache },
      params: { ...DEFAULT_TRAIN_PARAMS, ...o.retrainParams },
      maxPerClass: o.retrainMaxPerClass,
      backend: config.backend,
      workers: config.workers,
      learning: { contribDir: config.contribDir, minPhotos: config.newSpeciesMinPhotos, keepVersions: config.keepVersions },
    },
    {
      // While a retrain runs, photos are answered by one embedding worker: the
      // others' memory (a backbone set each) goes to the training worker instead.
      lendMemory: async () => {
        const pool = models.current?.embedder;
        if (!(pool instanceof EmbedderPool) || pool.size < 2) return async () => {};
        const size = pool.size;
        await pool.resize(1);
        return () => pool.resize(size);
      },
    },
  );
  const catalogue = new CatalogueService(() => models.current?.meta, store.learning, config.newSpeciesMinPhotos);
  const versions = new ModelVersions(models, () => retrain.running, {
    checkpointDir: config.checkpointDir,
    shippedDir: shippedModelDir(),
    // Start-up falls back to the shipped model only when the caller resolved the model with
    // src/modelDir.ts (npm start, the demo) and BLOOM_CHECKPOINT_DIR does not pin the folder.
    shippedSelectable: o.modelDir !== undefined && !process.env.BLOOM_CHECKPOINT_DIR?.trim(),
  });
  const client = createClient({ apiUrl: config.discordApiUrl });
  const bot = new BloomBot(client, {
    config,
    log,
    store,
    models,
    identify,
    retrain,
    feedback,
    review,
    forget: new ForgetService(store, config.contribDir),
    catalogue,
    versions,
    cooldowns: new Cooldowns(config.userCooldownS, config.guildCooldownS, config.dmCooldownS),
    admission: new Admission(config.queueLimit),
    downloads: { url: new Admission(config.downloadSlots), attachment: new Admission(config.downloadSlots) },
    userInFlight: new UserInFlight(config.userInFlight),
    backend: backend.name,
    retrainEditMs: o.retrainEditMs ?? 1500,
  });
  let stopped: Promise<void> | undefined;
  return {
    bot,
    store,
    models,
    identify,
    retrain,
    stop: () =>
      (stopped ??= (async () => {
        // A retrain would hold shutdown for its whole run: stop it now (its row is marked
        // interrupted at once, and the admin's message says so before the bot disconnects).
        retrain.interrupt();
        await bot.stop();
        clearInterval(retryTimer);
        await models.close();
        store.close();
        log.info('stopped');
      })()),
  };
}
