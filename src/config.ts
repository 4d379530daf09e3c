import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { BACKENDS, type BackendName } from './classifier/backendNames.ts';

export type Backend = BackendName;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type ConfigLogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  discordToken?: string;
  discordApplicationId?: string;
  discordGuildId?: string;
  /** REST base URL override, for the local Discord emulator. */
  discordApiUrl?: string;
  /** Absolute paths (resolved against the working directory), except a literal ':memory:' db. */
  dbPath: string;
  checkpointDir: string;
  backboneDir: string;
  /** Where presets missing from backboneDir are downloaded to. */
  backboneCache: string;
  dataDir: string;
  featureCache: string;
  watchChannels: string[];
  ownerIds: string[];
  maxImageMb: number;
  maxImagesPerMessage: number;
  confidenceThreshold: number;
  minImageSide: number;
  userCooldownS: number;
  guildCooldownS: number;
  /** Cooldown of the one bucket all direct messages share (the guild cooldown when unset). */
  dmCooldownS: number;
  /** Photos one user may have in flight at once (downloading, classifying or being answered). */
  userInFlight: number;
  /** Concurrent downloads per pool (user `url:` links and Discord attachments each have one). */
  downloadSlots: number;
  /** Photos with their bytes in hand being classified at once; "busy" beyond it. */
  queueLimit: number;
  /** Overall limit for one image download (redirects and body included); the built-in 30 s when absent. */
  downloadTimeoutS?: number;
  /** Slowest average download rate accepted after the first 5 s, in KB/s (1000 bytes); 0 turns the floor off. */
  minDownloadKbps: number;
  /** Feature-extraction worker threads; 0 runs the model on the main thread. */
  workers: number;
  /** Limit on one model call in a worker; past it the call fails ("send it again") and the worker is replaced. */
  modelTimeoutS: number;
  /** Minutes after a /retrain ends before the next may start (owners may force one sooner). */
  retrainCooldownMin: number;
  backend?: Backend;
  logLevel: ConfigLogLevel;
  cdnHosts: string[];
  /** Where photos kept because of member feedback go (content-addressed); beside the database by default. */
  contribDir: string;
  /** Pending contributions (kept photos) one member may add in 24 hours. */
  contribDailyCap: number;
  /** Approved photos a community species needs before /retrain adds it to the model. */
  newSpeciesMinPhotos: number;
  /** Trained versions kept in the checkpoints folder (the live one always stays); /model rollback picks among them. */
  keepVersions: number;
}

export interface LoadConfigOptions {
  /** True when the bot will log in to Discord; scripts (train, predict) don't need a token. */
  requireToken?: boolean;
  /** Base for relative paths and for the shared-folder defaults; process.cwd() by default. */
  cwd?: string;
  exists?: (p: string) => boolean;
}

/** Thrown with every problem found, one line each, so a deployer fixes them all in one go. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// Discord ids are unsigned 64-bit integers written in decimal.
const SNOWFLAKE = /^\d{1,20}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const snowflake = z.string().regex(SNOWFLAKE);
const list = (item: z.ZodString) =>
  z
    .string()
    .transform((s) => [
      ...new Set(
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ),
    ])
    .pipe(z.array(item));
const num = (min: number, max: number, def: number) => z.coerce.number().min(min).max(max).default(def);
const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);
const lowerEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(values));

/**
 * One entry per variable: its schema and, for error messages, what a good value
 * looks like. Paths stay optional here; their defaults depend on the filesystem.
 */
const FIELDS = {
  DISCORD_TOKEN: { schema: z.string().regex(/^\S+$/).optional(), expect: 'a bot token without spaces' },
  DISCORD_APPLICATION_ID: { schema: snowflake.optional(), expect: 'a Discord id (digits only)' },
  DISCORD_GUILD_ID: { schema: snowflake.optional(), expect: 'a Discord id (digits only)' },
  DISCORD_API_URL: { schema: z.url({ protocol: /^https?$/ }).optional(), expect: 'an http(s) URL' },
  BLOOM_DB_PATH: { schema: z.string().optional(), expect: 'a file path' },
  BLOOM_CHECKPOINT_DIR: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_BACKBONE_DIR: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_BACKBONE_CACHE: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_DATA_DIR: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_FEATURE_CACHE: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_WATCH_CHANNELS: {
    schema: list(snowflake).default([]),
    expect: 'a comma-separated list of channel ids (digits only)',
  },
  BLOOM_OWNER_IDS: { schema: list(snowflake).default([]), expect: 'a comma-separated list of user ids (digits only)' },
  BLOOM_MAX_IMAGE_MB: { schema: num(1, 50, 10), expect: 'a number between 1 and 50' },
  // Discord allows at most 10 attachments per message.
  BLOOM_MAX_IMAGES_PER_MESSAGE: { schema: int(1, 10, 3), expect: 'a whole number between 1 and 10' },
  BLOOM_CONFIDENCE_THRESHOLD: { schema: num(0, 1, 0.35), expect: 'a number between 0 and 1' },
  BLOOM_MIN_IMAGE_SIDE: { schema: int(16, 4096, 224), expect: 'a whole number of pixels between 16 and 4096' },
  BLOOM_USER_COOLDOWN_S: { schema: num(0, 3600, 5), expect: 'a number of seconds between 0 and 3600' },
  BLOOM_GUILD_COOLDOWN_S: { schema: num(0, 3600, 1), expect: 'a number of seconds between 0 and 3600' },
  BLOOM_DM_COOLDOWN_S: { schema: z.coerce.number().min(0).max(3600).optional(), expect: 'a number of seconds between 0 and 3600' },
  BLOOM_USER_IN_FLIGHT: { schema: int(1, 100, 2), expect: 'a whole number between 1 and 100' },
  BLOOM_DOWNLOAD_SLOTS: { schema: int(1, 1000, 32), expect: 'a whole number between 1 and 1000' },
  BLOOM_QUEUE_LIMIT: { schema: int(1, 1000, 32), expect: 'a whole number between 1 and 1000' },
  BLOOM_DOWNLOAD_TIMEOUT_S: { schema: z.coerce.number().min(1).max(300).optional(), expect: 'a number of seconds between 1 and 300' },
  BLOOM_MIN_DOWNLOAD_KBPS: { schema: num(0, 100_000, 8), expect: 'a number of KB/s between 0 and 100000 (0 = no floor)' },
  BLOOM_WORKERS: { schema: int(0, 64, Math.min(2, availableParallelism())), expect: 'a whole number of worker threads between 0 and 64' },
  BLOOM_MODEL_TIMEOUT_S: { schema: num(1, 600, 30), expect: 'a number of seconds between 1 and 600' },
  BLOOM_RETRAIN_COOLDOWN_MIN: { schema: num(0, 1440, 10), expect: 'a number of minutes between 0 and 1440' },
  BLOOM_BACKEND: { schema: lowerEnum(BACKENDS).optional(), expect: `one of ${BACKENDS.join(', ')}` },
  BLOOM_LOG_LEVEL: { schema: lowerEnum(LOG_LEVELS).default('info'), expect: `one of ${LOG_LEVELS.join(', ')}` },
  BLOOM_CONTRIB_DIR: { schema: z.string().optional(), expect: 'a folder path' },
  BLOOM_CONTRIB_DAILY_CAP: { schema: int(0, 10_000, 20), expect: 'a whole number between 0 and 10000' },
  BLOOM_NEW_SPECIES_MIN_PHOTOS: { schema: int(1, 1000, 8), expect: 'a whole number between 1 and 1000' },
  BLOOM_KEEP_VERSIONS: { schema: int(1, 100, 5), expect: 'a whole number between 1 and 100' },
  BLOOM_CDN_HOSTS: {
    schema: list(z.string().toLowerCase().regex(HOSTNAME))
      .pipe(z.array(z.string()).min(1))
      .default(['cdn.discordapp.com', 'media.discordapp.net']),
    expect: 'a comma-separated list of host names (no scheme or path)',
  },
} as const;

type Key = keyof typeof FIELDS;
const KEYS = Object.keys(FIELDS) as Key[];
const SECRET_KEYS: ReadonlySet<Key> = new Set(['DISCORD_TOKEN']);

const envSchema = z.object(Object.fromEntries(KEYS.map((k) => [k, FIELDS[k].schema])) as { [K in Key]: (typeof FIELDS)[K]['schema'] });

function describeBad(key: Key, raw: string | undefined): string {
  const shown = SECRET_KEYS.has(key) ? 'value hidden' : `got '${raw !== undefined && raw.length > 60 ? `${raw.slice(0, 57)}...` : raw}'`;
  return `${key} must be ${FIELDS[key].expect} (${shown})`;
}

/** Reads and validates the environment; throws one ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv, opts: LoadConfigOptions & { requireToken: true }): Config & { discordToken: string };
export function loadConfig(env?: NodeJS.ProcessEnv, opts?: LoadConfigOptions): Config;
export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: LoadConfigOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const exists = opts.exists ?? existsSync;

  // Blank values (`BLOOM_X=` in a .env file) mean "use the default".
  const raw: Partial<Record<Key, string>> = {};
  for (const key of KEYS) {
    const value = env[key]?.trim();
    if (value) raw[key] = value;
  }

  const problems: string[] = [];
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const badKeys = new Set(parsed.error.issues.map((issue) => issue.path[0] as Key));
    for (const key of KEYS) if (badKeys.has(key)) problems.push(describeBad(key, raw[key]));
  }
  if (opts.requireToken && raw.DISCORD_TOKEN === undefined) {
    problems.push('DISCORD_TOKEN is required to connect to Discord (set it to the bot token)');
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);

  const v = parsed.data;
  const resolve = (p: string) => (p === ':memory:' ? p : path.resolve(cwd, p));
  // Prefer the shared folders (backbones, datasets) when this checkout sits beside them.
  const sharedOr = (shared: string, local: string) => (exists(path.resolve(cwd, shared)) ? shared : local);

  return {
    ...(v.DISCORD_TOKEN !== undefined && { discordToken: v.DISCORD_TOKEN }),
    ...(v.DISCORD_APPLICATION_ID !== undefined && { discordApplicationId: v.DISCORD_APPLICATION_ID }),
    ...(v.DISCORD_GUILD_ID !== undefined && { discordGuildId: v.DISCORD_GUILD_ID }),
    ...(v.DISCORD_API_URL !== undefined && { discordApiUrl: v.DISCORD_API_URL }),
    dbPath: resolve(v.BLOOM_DB_PATH ?? 'data/bloom.sqlite'),
    checkpointDir: resolve(v.BLOOM_CHECKPOINT_DIR ?? 'models/checkpoints'),
    backboneDir: resolve(v.BLOOM_BACKBONE_DIR ?? sharedOr('../shared/backbones', 'models/cache')),
    backboneCache: resolve(v.BLOOM_BACKBONE_CACHE ?? 'models/cache'),
    dataDir: resolve(v.BLOOM_DATA_DIR ?? sharedOr('../shared/datasets/flowers102', 'data/flowers102')),
    featureCache: resolve(v.BLOOM_FEATURE_CACHE ?? 'models/features'),
    watchChannels: v.BLOOM_WATCH_CHANNELS,
    ownerIds: v.BLOOM_OWNER_IDS,
    maxImageMb: v.BLOOM_MAX_IMAGE_MB,
    maxImagesPerMessage: v.BLOOM_MAX_IMAGES_PER_MESSAGE,
    confidenceThreshold: v.BLOOM_CONFIDENCE_THRESHOLD,
    minImageSide: v.BLOOM_MIN_IMAGE_SIDE,
    userCooldownS: v.BLOOM_USER_COOLDOWN_S,
    guildCooldownS: v.BLOOM_GUILD_COOLDOWN_S,
    dmCooldownS: v.BLOOM_DM_COOLDOWN_S ?? v.BLOOM_GUILD_COOLDOWN_S,
    userInFlight: v.BLOOM_USER_IN_FLIGHT,
    downloadSlots: v.BLOOM_DOWNLOAD_SLOTS,
    queueLimit: v.BLOOM_QUEUE_LIMIT,
    ...(v.BLOOM_DOWNLOAD_TIMEOUT_S !== undefined && { downloadTimeoutS: v.BLOOM_DOWNLOAD_TIMEOUT_S }),
    minDownloadKbps: v.BLOOM_MIN_DOWNLOAD_KBPS,
    workers: v.BLOOM_WORKERS,
    modelTimeoutS: v.BLOOM_MODEL_TIMEOUT_S,
    retrainCooldownMin: v.BLOOM_RETRAIN_COOLDOWN_MIN,
    ...(v.BLOOM_BACKEND !== undefined && { backend: v.BLOOM_BACKEND }),
    logLevel: v.BLOOM_LOG_LEVEL,
    cdnHosts: v.BLOOM_CDN_HOSTS,
    contribDir: resolve(v.BLOOM_CONTRIB_DIR ?? path.join(path.dirname(v.BLOOM_DB_PATH ?? 'data/bloom.sqlite'), 'contributions')),
    contribDailyCap: v.BLOOM_CONTRIB_DAILY_CAP,
    newSpeciesMinPhotos: v.BLOOM_NEW_SPECIES_MIN_PHOTOS,
    keepVersions: v.BLOOM_KEEP_VERSIONS,
  };
}
