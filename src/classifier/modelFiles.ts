// Reads and writes TF.js layers models as plain folders (model.json + weight
// files), and mirrors a remote model.json and its shards into a local cache.
import * as tf from './tf.ts';
import fs from 'node:fs';
import path from 'node:path';

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
}

export function readModelJson(dir: string): ModelJson {
  const file = path.join(dir, 'model.json');
  if (!fs.existsSync(file)) throw new Error(`No model.json in ${dir}`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
}

/** An IOHandler that loads model.json and concatenates its weight files in manifest order. */
export function folderLoader(dir: string): tf.io.IOHandler {
  return {
    // tf awaits the handler, so a throw here still rejects loadLayersModel.
    load: () => {
      const json = readModelJson(dir);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) parts.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(parts);
      return Promise.resolve({
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
      });
    },
  };
}

/** Writes model.json + weights.bin into dir (which must exist). */
export async function saveModelToFolder(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      const data = artifacts.weightData;
      const bytes = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.concat((data ?? []).map((b) => Buffer.from(b)));
      fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: 'bloom',
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.length } });
    }),
  );
}

export type FetchFile = (url: string, dest: string, label: string) => Promise<void>;

/**
 * Mirrors a remote model (model.json URL) into cacheDir and returns the folder.
 * A `.complete` marker makes an interrupted mirror resume instead of being trusted.
 */
export async function mirrorRemoteModel(url: string, cacheDir: string, fetchFile: FetchFile): Promise<string> {
  const done = path.join(cacheDir, '.complete');
  if (fs.existsSync(done)) return cacheDir;
  fs.mkdirSync(cacheDir, { recursive: true });
  const jsonPath = path.join(cacheDir, 'model.json');
  await fetchFile(url, jsonPath, 'model.json');
  const json = readModelJson(cacheDir);
  const files = json.weightsManifest.flatMap((g) => g.paths);
  for (const [i, p] of files.entries()) {
    if (p.includes('..') || path.isAbsolute(p)) throw new Error(`Refusing weight path ${p} in ${url}`);
    const dest = path.join(cacheDir, p);
    if (!fs.existsSync(dest)) await fetchFile(new URL(p, url).toString(), dest, `weights ${i + 1}/${files.length}`);
  }
  fs.writeFileSync(done, new Date().toISOString());
  return cacheDir;
}
