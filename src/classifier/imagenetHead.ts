// The backbone's own ImageNet classifier, read straight from its model files.
// Both presets classify linearly on the pooled features Bloom already computes
// (DenseNet: avg_pool → fc1000; MobileNet v1: GAP → reshape → dropout →
// conv_preds 1×1 → softmax), so ImageNet probabilities cost one small matmul
// on the features, in whichever thread holds them, without a second forward pass.
import fs from 'node:fs';
import path from 'node:path';
import type { BackboneSpec } from './backbones.ts';
import { resolveBackbone, type BackboneLocations } from './featureExtractor.ts';
import { readModelJson } from './modelFiles.ts';

export interface ImagenetHead {
  /** The layer read (e.g. fc1000, conv_preds). */
  layer: string;
  dim: number;
  classes: number;
  /** Row-major [dim × classes]. */
  kernel: Float32Array;
  bias: Float32Array;
}

type LayerJson = { class_name: string; config: { name: string; kernel_size?: number[] } };

function layersOf(topology: unknown): LayerJson[] {
  const t = topology as { model_config?: { config: unknown }; config?: unknown };
  const cfg = (t.model_config ?? t).config as { layers?: LayerJson[] } | LayerJson[] | undefined;
  return (Array.isArray(cfg) ? cfg : cfg?.layers) ?? [];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * The last Dense or 1×1 Conv2D layer that takes `featureSize` inputs, as a
 * linear map; undefined when the model has none (a headless custom backbone)
 * or stores it quantised.
 */
export function readImagenetHead(dir: string, featureSize: number): ImagenetHead | undefined {
  const json = readModelJson(dir);
  const specs = json.weightsManifest.flatMap((g, group) => g.weights.map((w) => ({ ...w, group })));
  const layer = layersOf(json.modelTopology)
    .reverse()
    .find((l) => {
      if (l.class_name !== 'Dense' && l.class_name !== 'Conv2D') return false;
      if (l.class_name === 'Conv2D' && (l.config.kernel_size ?? []).some((k) => k !== 1)) return false;
      const k = specs.find((w) => w.name === `${l.config.name}/kernel`);
      return !!k && k.shape[k.shape.length - 2] === featureSize;
    });
  if (!layer) return undefined;
  const want = [`${layer.config.name}/kernel`, `${layer.config.name}/bias`];
  const found: Float32Array[] = [];
  for (const name of want) {
    const at = specs.findIndex((w) => w.name === name);
    const w = specs[at];
    if (!w || w.dtype !== 'float32' || w.quantization) return undefined;
    const g = json.weightsManifest[w.group]!;
    let offset = 0;
    for (const prev of specs.slice(0, at)) {
      if (prev.group !== w.group) continue;
      const bytes = prev.quantization ? { uint8: 1, uint16: 2, float16: 2 }[prev.quantization.dtype] : BYTES[prev.dtype];
      if (!bytes) return undefined;
      offset += bytes * prev.shape.reduce((a, b) => a * b, 1);
    }
    const data = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    const n = w.shape.reduce((a, b) => a * b, 1);
    found.push(new Float32Array(new Uint8Array(data.subarray(offset, offset + n * 4)).buffer));
  }
  const [kernel, bias] = found as [Float32Array, Float32Array];
  return { layer: layer.config.name, dim: featureSize, classes: bias.length, kernel, bias };
}

/** Softmax of the head on one backbone's features (a slice of the concatenated vector). */
export function imagenetProbs(head: ImagenetHead, features: Float32Array, offset = 0): Float32Array {
  const { dim, classes, kernel, bias } = head;
  const z = Float64Array.from(bias);
  for (let i = 0; i < dim; i++) {
    const f = features[offset + i]!;
    if (f === 0) continue;
    const row = i * classes;
    for (let c = 0; c < classes; c++) z[c]! += f * kernel[row + c]!;
  }
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += z[c] = Math.exp(z[c]! - max);
  return Float32Array.from(z, (v) => v / sum);
}

/**
 * The ImageNet heads of a checkpoint's backbones, in order (undefined for one
 * that has none or cannot be read): `parts` are the --arch parts of the backbones.
 */
export async function loadImagenetHeads(
  parts: string[],
  specs: BackboneSpec[],
  loc: BackboneLocations,
): Promise<(ImagenetHead | undefined)[]> {
  return Promise.all(
    parts.map(async (part, i) => {
      try {
        const { dir } = await resolveBackbone(part, loc);
        return readImagenetHead(dir, specs[i]!.featureSize);
      } catch {
        return undefined;
      }
    }),
  );
}
