// A frozen backbone (or several, concatenated) cut at its feature layer.
import * as tf from './tf.ts';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { backendInfo } from './backend.ts';
import { findPreset, normalizePixels, presetNames, splitArch, type BackboneSpec, type Normalization } from './backbones.ts';
import { folderLoader, mirrorRemoteModel, readModelJson, type FetchFile } from './modelFiles.ts';

export interface BackboneLocations {
  /** Folder holding preset folders (e.g. ../shared/backbones). */
  backboneDir?: string;
  /** Download cache for presets and URLs (models/cache). */
  cacheDir: string;
  /** How to fetch remote files; absent = offline (a clear error instead). */
  fetchFile?: FetchFile;
}

export interface LoadedBackbone {
  spec: BackboneSpec;
  model: tf.LayersModel;
}

/**
 * Images per forward pass. On wasm and cpu a batch is no faster per image
 * than a single photo (DenseNet: 238 ms alone, 249 ms in a batch of 16), while
 * wasm memory grows with the batch and never shrinks (a batch of 16 left
 * 150–220 MB per instance); native backends do gain from batches.
 */
const chunkSize = () => (/^tensorflow/.test(backendInfo()?.name ?? '') ? 32 : 2);

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Sidecar a custom backbone may carry: bloom-backbone.json next to model.json. */
type Sidecar = Partial<Pick<BackboneSpec, 'inputSize' | 'featureLayer' | 'normalization'>>;

async function materialise(source: string, cacheName: string, loc: BackboneLocations): Promise<string> {
  if (!isUrl(source)) return source;
  const cache = path.join(loc.cacheDir, cacheName);
  if (fs.existsSync(path.join(cache, '.complete'))) return cache;
  if (!loc.fetchFile) throw new Error(`Backbone ${source} is not cached in ${cache} and downloads are disabled`);
  try {
    return await mirrorRemoteModel(source, cache, loc.fetchFile);
  } catch (err) {
    throw new Error(
      `Could not download backbone from ${source}: ${(err as Error).message}. ` +
        `If this machine is offline, put the model folder in ${cache} or set BLOOM_BACKBONE_DIR.`,
    );
  }
}

/** Resolves one part of --arch (preset name, folder or model.json URL) to a spec and a local folder. */
export async function resolveBackbone(part: string, loc: BackboneLocations): Promise<{ spec: BackboneSpec; dir: string }> {
  const preset = findPreset(part);
  if (preset) {
    const local = loc.backboneDir ? path.join(loc.backboneDir, preset.id) : undefined;
    const dir = local && fs.existsSync(path.join(local, 'model.json')) ? local : await materialise(preset.url, preset.id, loc);
    return { spec: { ...preset, source: dir }, dir };
  }
  if (!isUrl(part) && !fs.existsSync(path.join(part, 'model.json'))) {
    throw new Error(
      `Unknown backbone "${part}": not a preset (${presetNames().join(', ')}), a folder with model.json, or an http(s) URL of one`,
    );
  }
  const id = 'custom-' + crypto.createHash('sha256').update(part).digest('hex').slice(0, 12);
  const dir = await materialise(part, id, loc);
  const json = readModelJson(dir);
  const sidecarPath = path.join(dir, 'bloom-backbone.json');
  const sidecar: Sidecar = fs.existsSync(sidecarPath) ? (JSON.parse(fs.readFileSync(sidecarPath, 'utf8')) as Sidecar) : {};
  // The id hashes the topology so a changed model never reuses cached features.
  const hash = crypto
    .createHash('sha256')
    .update(JSON.stringify(json.modelTopology))
    .update(JSON.stringify(json.weightsManifest))
    .digest('hex')
    .slice(0, 12);
  const spec: BackboneSpec = {
    id: `custom-${hash}`,
    inputSize: sidecar.inputSize ?? 0,
    normalization: sidecar.normalization ?? ({ kind: 'scale', divisor: 127.5, offset: -1 } satisfies Normalization),
    featureLayer: sidecar.featureLayer ?? '',
    featureSize: 0,
    source: part,
  };
  return { spec, dir };
}

/** Loads a model and cuts it at the feature layer (default: the layer before the classifier). */
export async function loadBackbone(part: string, loc: BackboneLocations): Promise<LoadedBackbone> {
  const { spec, dir } = await resolveBackbone(part, loc);
  const full = await tf.loadLayersModel(folderLoader(dir));
  const layerName = spec.featureLayer || full.layers[full.layers.length - 2]!.name;
  let layer: tf.layers.Layer;
  try {
    layer = full.getLayer(layerName);
  } catch {
    throw new Error(`Backbone ${spec.id} has no layer "${layerName}"`);
  }
  const cut = tf.model({ inputs: full.inputs, outputs: layer.output });
  const outShape = (layer.output as tf.SymbolicTensor).shape;
  const inShape = full.inputs[0]!.shape;
  const resolved: BackboneSpec = {
    ...spec,
    featureLayer: layerName,
    inputSize: spec.inputSize || (inShape[1] as number),
    featureSize: outShape[outShape.length - 1] as number,
  };
  return { spec: resolved, model: cut };
}

/** Extracts L2-comparable feature vectors; several backbones are concatenated in order. */
export class FeatureExtractor {
  readonly id: string;
  readonly inputSize: number;
  readonly featureSize: number;

  constructor(readonly backbones: LoadedBackbone[]) {
    const sizes = new Set(backbones.map((b) => b.spec.inputSize));
    if (sizes.size !== 1) throw new Error(`An ensemble needs backbones with one input size (got ${[...sizes].join(', ')})`);
    this.inputSize = [...sizes][0]!;
    this.featureSize = backbones.reduce((n, b) => n + b.spec.featureSize, 0);
    this.id = backbones.map((b) => b.spec.id).join('+');
  }

  get specs(): BackboneSpec[] {
    return this.backbones.map((b) => b.spec);
  }

  /** images: RGB uint8, inputSize² × 3 each; features of the chosen backbones, concatenated. */
  extract(images: Uint8Array[], which: number[] = this.backbones.map((_, i) => i)): Float32Array[] {
    const out: Float32Array[] = [];
    const step = chunkSize();
    for (let i = 0; i < images.length; i += step) out.push(...this.extractChunk(images.slice(i, i + step), which));
    return out;
  }

  private extractChunk(images: Uint8Array[], which: number[]): Float32Array[] {
    const n = images.length;
    const px = this.inputSize * this.inputSize * 3;
    const chosen = which.map((i) => this.backbones[i]!);
    const total = chosen.reduce((s, b) => s + b.spec.featureSize, 0);
    const out = images.map(() => new Float32Array(total));
    let offset = 0;
    for (const b of chosen) {
      const batch = new Float32Array(n * px);
      images.forEach((img, i) => normalizePixels(img, b.spec.normalization, batch.subarray(i * px, (i + 1) * px)));
      const feats = tf.tidy(() => {
        const y = b.model.predict(tf.tensor4d(batch, [n, this.inputSize, this.inputSize, 3])) as tf.Tensor;
        return y.rank === 4 ? tf.mean(y, [1, 2]) : tf.reshape(y, [n, -1]);
      });
      const data = feats.dataSync() as Float32Array;
      feats.dispose();
      const d = b.spec.featureSize;
      for (let i = 0; i < n; i++) out[i]!.set(data.subarray(i * d, (i + 1) * d), offset);
      offset += d;
    }
    return out;
  }

  dispose(): void {
    for (const b of this.backbones) b.model.dispose();
  }
}

export async function loadFeatureExtractor(arch: string, loc: BackboneLocations): Promise<FeatureExtractor> {
  const parts = splitArch(arch);
  const loaded: LoadedBackbone[] = [];
  for (const p of parts) loaded.push(await loadBackbone(p, loc));
  return new FeatureExtractor(loaded);
}
