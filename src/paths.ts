// The folders the command-line tools need, from the same validated config as the bot.
import { loadConfig } from './config.ts';

export interface Paths {
  backboneDir: string;
  cacheDir: string;
  featureCacheDir: string;
  checkpointDir: string;
  dataDir: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const c = loadConfig(env);
  return {
    backboneDir: c.backboneDir,
    cacheDir: c.backboneCache,
    featureCacheDir: c.featureCache,
    checkpointDir: c.checkpointDir,
    dataDir: c.dataDir,
  };
}
