// What the bench measures on: the real backbones and flower photos from the
// shared folders when they are there, else synthetic stand-ins (the tiny CNN
// and shape photos of src/dev/fixtures), always saying which.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rng } from '../classifier/augment.ts';
import { splitArch } from '../classifier/backbones.ts';
import { readMeta, resolveCheckpointDir, setCurrent } from '../classifier/checkpoint.ts';
import { backendInfo } from '../classifier/backend.ts';
import { archOf } from '../classifier/classifier.ts';
import { resolveBackbone, type BackboneLocations } from '../classifier/featureExtractor.ts';
import { makeEmbedder } from '../classifier/makeEmbedder.ts';
import type { Config } from '../config.ts';
import { DEFAULT_TRAIN_PARAMS } from '../training/defaults.ts';
import { FeatureCache } from '../training/featureCache.ts';
import { train } from '../training/trainer.ts';
import { prepareModel } from '../dev/syntheticModel.ts';
import { shapeJpeg } from '../dev/fixtures/shapes.ts';
import { writeTinyBackbone } from '../dev/fixtures/tinyBackbone.ts';

export interface BackboneSource {
  /** The name asked for (--backbones). */
  name: string;
  /** What the pool loads: the preset name, or the tiny CNN's folder when synthetic. */
  arch: string;
  synthetic: boolean;
  dir: string;
}

export interface PhotoSource {
  synthetic: boolean;
  /** Folder the photos come from (a temp folder when synthetic). */
  dir: string;
  /** Every usable photo, sorted; pick() spreads a selection over them. */
  files: string[];
}

export interface ModelSource {
  /** checkpoint: the project's CURRENT model; trained-subset: trained here on a few photos per class; synthetic: tiny CNN on shapes. */
  kind: 'checkpoint' | 'trained-subset' | 'synthetic';
  checkpointDir: string;
  version: string;
  arch: string;
  validAccuracy: number;
  /** Dataset the model was trained on (typical photos, retrain). */
  dataDir: string;
  /** Photos to post (the dataset's valid split). */
  photos: PhotoSource;
  /** Backbone folders for the app's config. */
  backboneDir: string;
  backboneCache: string;
}

export interface SourceOptions {
  config: Config;
  /** Force the synthetic stand-ins even when the shared folders exist. */
  synthetic: boolean;
  /** Photos per class for the fallback model when there is no checkpoint. */
  fallbackPerClass: number;
  log: (msg: string) => void;
}

/** Picks n files spread evenly over the list (cycling when n is larger). */
export function pick<T>(files: readonly T[], n: number): T[] {
  if (files.length === 0) throw new Error('no photos to pick from');
  return Array.from({ length: n }, (_, i) => files[n <= files.length ? Math.floor((i * files.length) / n) : i % files.length]!);
}

const IMAGE = /\.(jpe?g|png|webp)$/i;

function listPhotos(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const label of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!label.isDirectory()) continue;
    for (const f of fs.readdirSync(path.join(dir, label.name))) if (IMAGE.test(f)) out.push(path.join(dir, label.name, f));
  }
  return out.sort();
}

export class BenchSources {
  readonly notes: string[] = [];
  readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bench-'));
  private tiny: Promise<string> | undefined;
  private model: Promise<ModelSource> | undefined;

  constructor(private readonly o: SourceOptions) {}

  get config(): Config {
    return this.o.config;
  }

  /** Backbone locations without downloads: the bench never reaches the network. */
  get loc(): BackboneLocations {
    return { backboneDir: this.o.config.backboneDir, cacheDir: this.o.config.backboneCache };
  }

  private note(msg: string): void {
    this.notes.push(msg);
    this.o.log(`note: ${msg}`);
  }

  private tinyBackbone(): Promise<string> {
    return (this.tiny ??= writeTinyBackbone(path.join(this.tmp, 'tiny-backbone')));
  }

  async backbone(name: string): Promise<BackboneSource> {
    if (!this.o.synthetic) {
      try {
        const { dir } = await resolveBackbone(name, this.loc);
        return { name, arch: name, synthetic: false, dir };
      } catch (err) {
        this.note(
          `backbone ${name} is not available offline (${(err as Error).message.split('\n')[0]}): timing a tiny synthetic CNN (32×32 input) in its place — not representative`,
        );
      }
    } else if (!this.notes.some((n) => n.startsWith('--synthetic'))) {
      this.note(
        "--synthetic: a tiny random CNN (32×32 input) stands in for every backbone, and generated shape photos for the flowers; the figures exercise the code paths, they are not the bot's speed",
      );
    }
    const dir = await this.tinyBackbone();
    return { name, arch: dir, synthetic: true, dir };
  }

  /** Flower photos (valid split) for extraction, or generated 320 px shape photos. */
  async photos(): Promise<PhotoSource> {
    const valid = path.join(this.o.config.dataDir, 'valid');
    const files = this.o.synthetic ? [] : listPhotos(valid);
    if (files.length) return { synthetic: false, dir: valid, files };
    if (!this.o.synthetic) this.note(`no photos in ${valid}: using generated shape photos (320×320 JPEG) instead of flowers`);
    const dir = path.join(this.tmp, 'photos');
    fs.mkdirSync(dir, { recursive: true });
    const r = rng(11);
    const out: string[] = [];
    for (let i = 0; i < 24; i++) {
      const f = path.join(dir, `shape_${i}.jpg`);
      fs.writeFileSync(f, await shapeJpeg(String((i % 3) + 1), r, 320));
      out.push(f);
    }
    return { synthetic: true, dir, files: out };
  }

  /** The model the bot runs in the end-to-end and retrain measurements (prepared once). */
  defaultModel(): Promise<ModelSource> {
    return (this.model ??= this.findModel());
  }

  private describe(
    kind: ModelSource['kind'],
    checkpointDir: string,
    dataDir: string,
    backboneDir: string,
    backboneCache: string,
  ): ModelSource {
    const meta = readMeta(resolveCheckpointDir(checkpointDir));
    const valid = path.join(dataDir, 'valid');
    return {
      kind,
      checkpointDir,
      dataDir,
      backboneDir,
      backboneCache,
      version: meta.version,
      arch: archOf(meta),
      validAccuracy: meta.validAccuracy,
      photos: { synthetic: kind === 'synthetic', dir: valid, files: listPhotos(valid) },
    };
  }

  private async findModel(): Promise<ModelSource> {
    const c = this.o.config;
    if (!this.o.synthetic) {
      let dir: string | undefined;
      try {
        dir = resolveCheckpointDir(c.checkpointDir);
      } catch {
        /* none yet */
      }
      const hasData = fs.existsSync(path.join(c.dataDir, 'train')) && listPhotos(path.join(c.dataDir, 'valid')).length > 0;
      if (dir && hasData) {
        const m = this.describe('checkpoint', c.checkpointDir, c.dataDir, c.backboneDir, c.backboneCache);
        this.o.log(`Model: ${m.version} (${m.arch}, valid top-1 ${(m.validAccuracy * 100).toFixed(1)}%) from ${c.checkpointDir}`);
        return m;
      }
      const arch = DEFAULT_TRAIN_PARAMS.arch;
      const haveBackbone = await Promise.all(splitArch(arch).map((p) => resolveBackbone(p, this.loc))).then(
        () => true,
        () => false,
      );
      if (hasData && haveBackbone) {
        this.note(
          `no checkpoint in ${c.checkpointDir}: trained a small ${arch} head on ${this.o.fallbackPerClass} photos per class for the end-to-end run (its accuracy is low; its speed is the default model's)`,
        );
        return this.trainSubset();
      }
      const missing = [
        dir ? '' : `no checkpoint in ${c.checkpointDir}`,
        hasData ? '' : `no flowers in ${c.dataDir}`,
        haveBackbone ? '' : `no ${arch} backbone`,
      ].filter(Boolean);
      this.note(`${missing.join(', ')}: the bot runs a tiny synthetic model (3 shape classes, 32×32 CNN) on shape photos`);
    }
    const m = await prepareModel(path.join(this.tmp, 'synthetic-model'));
    this.o.log('Model: tiny synthetic CNN on shapes (trained here)');
    return this.describe('synthetic', m.checkpointDir, m.dataDir, path.join(this.tmp, 'synthetic-model'), path.join(this.tmp, 'cache'));
  }

  private async trainSubset(): Promise<ModelSource> {
    const c = this.o.config;
    const saveDir = path.join(this.tmp, 'fallback-checkpoints');
    this.o.log(`Training a fallback model on ${this.o.fallbackPerClass} photos per class…`);
    const embedder = await makeEmbedder({
      arch: DEFAULT_TRAIN_PARAMS.arch,
      workers: Math.max(1, c.workers),
      loc: this.loc,
      backend: backendInfo()?.name,
    });
    try {
      const r = await train({
        ...DEFAULT_TRAIN_PARAMS,
        augViews: 0,
        augLevel: 'basic',
        epochs: 40,
        maxPerClass: this.o.fallbackPerClass,
        dataDir: c.dataDir,
        saveDir,
        embedder,
        cache: new FeatureCache(c.featureCache),
      });
      setCurrent(saveDir, r.meta.version);
    } finally {
      await embedder.close();
    }
    return this.describe('trained-subset', saveDir, c.dataDir, c.backboneDir, c.backboneCache);
  }

  cleanup(): void {
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
