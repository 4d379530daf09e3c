import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FALLBACK_SPECIES_THRESHOLD } from '../src/classifier/answers.ts';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config.ts';

const cwd = '/srv/bloom/main';
const nothingExists = () => false;

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected loadConfig to throw');
}

test('defaults for an empty environment', () => {
  const config = loadConfig({}, { cwd, exists: nothingExists });
  assert.deepEqual(config, {
    dbPath: '/srv/bloom/main/data/bloom.sqlite',
    checkpointDir: '/srv/bloom/main/models/checkpoints',
    backboneDir: '/srv/bloom/main/models/cache',
    backboneCache: '/srv/bloom/main/models/cache',
    dataDir: '/srv/bloom/main/data/flowers102',
    featureCache: '/srv/bloom/main/models/features',
    watchChannels: [],
    ownerIds: [],
    maxImageMb: 10,
    maxImagesPerMessage: 3,
    confidenceThreshold: FALLBACK_SPECIES_THRESHOLD, // the CLIs' fallback too (classify without a config)
    minImageSide: 224,
    userCooldownS: 5,
    guildCooldownS: 1,
    dmCooldownS: 1,
    userInFlight: 2,
    downloadSlots: 32,
    queueLimit: 32,
    minDownloadKbps: 8,
    workers: Math.min(2, availableParallelism()),
    modelTimeoutS: 30,
    retrainCooldownMin: 10,
    logLevel: 'info',
    cdnHosts: ['cdn.discordapp.com', 'media.discordapp.net'],
    contribDir: '/srv/bloom/main/data/contributions',
    contribDailyCap: 20,
    newSpeciesMinPhotos: 8,
    keepVersions: 5,
  });
});

test('shared backbone and dataset folders are preferred when they exist', () => {
  const seen: string[] = [];
  const exists = (p: string) => (seen.push(p), true);
  const config = loadConfig({}, { cwd, exists });
  assert.equal(config.backboneDir, '/srv/bloom/shared/backbones');
  assert.equal(config.dataDir, '/srv/bloom/shared/datasets/flowers102');
  assert.ok(seen.includes('/srv/bloom/shared/backbones'));
});

test('explicit values are parsed, trimmed and normalised', () => {
  const config = loadConfig(
    {
      DISCORD_TOKEN: ' abc.def.ghi ',
      DISCORD_APPLICATION_ID: '123456789012345678',
      DISCORD_GUILD_ID: '223456789012345678',
      DISCORD_API_URL: 'http://127.0.0.1:8787/api',
      BLOOM_DB_PATH: ':memory:',
      BLOOM_CHECKPOINT_DIR: '/abs/ckpt',
      BLOOM_WATCH_CHANNELS: '111, 222,,111 ',
      BLOOM_OWNER_IDS: '333',
      BLOOM_MAX_IMAGE_MB: '7.5',
      BLOOM_MAX_IMAGES_PER_MESSAGE: '10',
      BLOOM_CONFIDENCE_THRESHOLD: '0',
      BLOOM_MIN_IMAGE_SIDE: '128',
      BLOOM_USER_COOLDOWN_S: '0',
      BLOOM_GUILD_COOLDOWN_S: '2.5',
      BLOOM_USER_IN_FLIGHT: '3',
      BLOOM_DOWNLOAD_SLOTS: '8',
      BLOOM_QUEUE_LIMIT: '4',
      BLOOM_BACKEND: 'WASM',
      BLOOM_LOG_LEVEL: 'Debug',
      BLOOM_CDN_HOSTS: 'CDN.example.com,img.example.org',
      BLOOM_MAX_IMAGE_MB_TYPO: 'ignored',
    },
    { cwd, exists: nothingExists, requireToken: true },
  );
  assert.equal(config.discordToken, 'abc.def.ghi');
  assert.equal(config.discordApplicationId, '123456789012345678');
  assert.equal(config.discordGuildId, '223456789012345678');
  assert.equal(config.discordApiUrl, 'http://127.0.0.1:8787/api');
  assert.equal(config.dbPath, ':memory:');
  assert.equal(config.checkpointDir, '/abs/ckpt');
  assert.deepEqual(config.watchChannels, ['111', '222']);
  assert.deepEqual(config.ownerIds, ['333']);
  assert.equal(config.maxImageMb, 7.5);
  assert.equal(config.maxImagesPerMessage, 10);
  assert.equal(config.confidenceThreshold, 0);
  assert.equal(config.minImageSide, 128);
  assert.equal(config.userCooldownS, 0);
  assert.equal(config.guildCooldownS, 2.5);
  assert.equal(config.dmCooldownS, 2.5, 'the DM bucket defaults to the guild cooldown');
  assert.equal(config.userInFlight, 3);
  assert.equal(config.downloadSlots, 8);
  assert.equal(config.queueLimit, 4);
  assert.equal(loadConfig({ BLOOM_DM_COOLDOWN_S: '4' }, { cwd, exists: nothingExists }).dmCooldownS, 4);
  assert.equal(config.backend, 'wasm');
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(config.cdnHosts, ['cdn.example.com', 'img.example.org']);
});

test('blank values fall back to defaults', () => {
  const config = loadConfig({ BLOOM_MAX_IMAGE_MB: '  ', BLOOM_LOG_LEVEL: '' }, { cwd, exists: nothingExists });
  assert.equal(config.maxImageMb, 10);
  assert.equal(config.logLevel, 'info');
});

test('every bad value is reported together, one line each, in a stable order', () => {
  const problems = problemsOf(() =>
    loadConfig(
      {
        DISCORD_TOKEN: 'has a space',
        DISCORD_APPLICATION_ID: 'app',
        DISCORD_GUILD_ID: '12-34',
        DISCORD_API_URL: 'ftp://example.com',
        BLOOM_WATCH_CHANNELS: '123,general',
        BLOOM_OWNER_IDS: '@me',
        BLOOM_MAX_IMAGE_MB: 'abc',
        BLOOM_MAX_IMAGES_PER_MESSAGE: '2.5',
        BLOOM_CONFIDENCE_THRESHOLD: '1.5',
        BLOOM_MIN_IMAGE_SIDE: '8',
        BLOOM_USER_COOLDOWN_S: '-1',
        BLOOM_GUILD_COOLDOWN_S: 'soon',
        BLOOM_DM_COOLDOWN_S: 'never',
        BLOOM_USER_IN_FLIGHT: '0',
        BLOOM_DOWNLOAD_SLOTS: '1.5',
        BLOOM_QUEUE_LIMIT: '0',
        BLOOM_BACKEND: 'webgpu',
        BLOOM_LOG_LEVEL: 'loud',
        BLOOM_CDN_HOSTS: 'https://cdn.example.com/x',
      },
      { cwd, exists: nothingExists },
    ),
  );
  assert.deepEqual(problems, [
    'DISCORD_TOKEN must be a bot token without spaces (value hidden)',
    "DISCORD_APPLICATION_ID must be a Discord id (digits only) (got 'app')",
    "DISCORD_GUILD_ID must be a Discord id (digits only) (got '12-34')",
    "DISCORD_API_URL must be an http(s) URL (got 'ftp://example.com')",
    "BLOOM_WATCH_CHANNELS must be a comma-separated list of channel ids (digits only) (got '123,general')",
    "BLOOM_OWNER_IDS must be a comma-separated list of user ids (digits only) (got '@me')",
    "BLOOM_MAX_IMAGE_MB must be a number between 1 and 50 (got 'abc')",
    "BLOOM_MAX_IMAGES_PER_MESSAGE must be a whole number between 1 and 10 (got '2.5')",
    "BLOOM_CONFIDENCE_THRESHOLD must be a number between 0 and 1 (got '1.5')",
    "BLOOM_MIN_IMAGE_SIDE must be a whole number of pixels between 16 and 4096 (got '8')",
    "BLOOM_USER_COOLDOWN_S must be a number of seconds between 0 and 3600 (got '-1')",
    "BLOOM_GUILD_COOLDOWN_S must be a number of seconds between 0 and 3600 (got 'soon')",
    "BLOOM_DM_COOLDOWN_S must be a number of seconds between 0 and 3600 (got 'never')",
    "BLOOM_USER_IN_FLIGHT must be a whole number between 1 and 100 (got '0')",
    "BLOOM_DOWNLOAD_SLOTS must be a whole number between 1 and 1000 (got '1.5')",
    "BLOOM_QUEUE_LIMIT must be a whole number between 1 and 1000 (got '0')",
    "BLOOM_BACKEND must be one of tensorflow-gpu, tensorflow, wasm, cpu (got 'webgpu')",
    "BLOOM_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got 'loud')",
    "BLOOM_CDN_HOSTS must be a comma-separated list of host names (no scheme or path) (got 'https://cdn.example.com/x')",
  ]);
});

test('the ConfigError message lists each problem on its own line and never echoes the token', () => {
  try {
    loadConfig({ DISCORD_TOKEN: 'secret token', BLOOM_MAX_IMAGE_MB: '0' }, { cwd, exists: nothingExists });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.name, 'ConfigError');
    const lines = err.message.split('\n');
    assert.equal(lines[0], 'Invalid configuration:');
    assert.equal(lines.length, 3);
    assert.ok(!err.message.includes('secret token'));
  }
});

test('an empty host list is rejected', () => {
  const problems = problemsOf(() => loadConfig({ BLOOM_CDN_HOSTS: ', ,' }, { cwd, exists: nothingExists }));
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^BLOOM_CDN_HOSTS must be/);
});

test('the token is required only when asked for, and its absence is collected with other problems', () => {
  assert.equal(loadConfig({}, { cwd, exists: nothingExists }).discordToken, undefined);
  const problems = problemsOf(() => loadConfig({ BLOOM_QUEUE_LIMIT: 'many' }, { cwd, exists: nothingExists, requireToken: true }));
  assert.deepEqual(problems, [
    "BLOOM_QUEUE_LIMIT must be a whole number between 1 and 1000 (got 'many')",
    'DISCORD_TOKEN is required to connect to Discord (set it to the bot token)',
  ]);
  assert.deepEqual(
    problemsOf(() => loadConfig({ DISCORD_TOKEN: '   ' }, { cwd, exists: nothingExists, requireToken: true })),
    ['DISCORD_TOKEN is required to connect to Discord (set it to the bot token)'],
  );
});

test('relative paths resolve against the working directory; long bad values are shortened', () => {
  const config = loadConfig({ BLOOM_DB_PATH: 'var/db.sqlite' }, { exists: nothingExists });
  assert.equal(config.dbPath, path.resolve('var/db.sqlite'));
  const [line] = problemsOf(() => loadConfig({ BLOOM_BACKEND: 'x'.repeat(100) }, { cwd, exists: nothingExists }));
  assert.ok(line!.length < 160, line);
  assert.match(line!, /\.\.\.'\)$/);
});
