// Registry of pretrained feature extractors. Facts from ../shared/backbones/README.md;
// the URLs are pinned to commits so every user downloads the same weights.

export type Normalization =
  | { kind: 'scale'; /** x / divisor + offset */ divisor: number; offset: number }
  | { kind: 'meanStd'; mean: [number, number, number]; std: [number, number, number] };

export interface BackboneSpec {
  /** Preset name, or a stable id for a custom model (hash of its model.json). */
  id: string;
  inputSize: number;
  normalization: Normalization;
  /** Layer whose output is the feature; 4-D outputs are global-average-pooled. */
  featureLayer: string;
  featureSize: number;
  /** Where the model comes from: a local folder, or an http(s) URL of model.json. */
  source?: string;
  url?: string;
}

/** A preset always says where to download it. */
export type PresetSpec = BackboneSpec & { url: string };

export const PRESETS: Record<string, PresetSpec> = {
  mobilenet_v1_0_75_224: {
    id: 'mobilenet_v1_0.75_224',
    inputSize: 224,
    normalization: { kind: 'scale', divisor: 127.5, offset: -1 },
    featureLayer: 'conv_pw_13_relu',
    featureSize: 768,
    url: 'https://raw.githubusercontent.com/tangmingsh/ml5featureExtractormodel/238fbc538b0dd3d3993a1ebaf5f68fa679c99fa7/mobilenet_v1_0.75_224/model.json',
  },
  densenet121: {
    id: 'densenet121',
    inputSize: 224,
    normalization: { kind: 'meanStd', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    featureLayer: 'avg_pool',
    featureSize: 1024,
    url: 'https://raw.githubusercontent.com/carlthome/tfjs-gradcam/65518224b2fa5b53edcab9cdfdac7fc06953b4a8/models/DenseNet121/model.json',
  },
};

export function presetNames(): string[] {
  return Object.values(PRESETS).map((p) => p.id);
}

export function findPreset(name: string): PresetSpec | undefined {
  return Object.values(PRESETS).find((p) => p.id === name);
}

/** "densenet121+mobilenet_v1_0.75_224" → its parts; each a preset name, a folder or a URL. */
export function splitArch(arch: string): string[] {
  const parts = arch
    .split('+')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new Error('--arch is empty');
  return parts;
}

/** Maps 0..255 RGB to the backbone's input range, in place. */
export function normalizePixels(
  rgb: Uint8Array | Uint8ClampedArray,
  norm: Normalization,
  out = new Float32Array(rgb.length),
): Float32Array {
  if (norm.kind === 'scale') {
    for (let i = 0; i < rgb.length; i++) out[i] = rgb[i]! / norm.divisor + norm.offset;
  } else {
    const scale = norm.std.map((s) => 1 / (255 * s));
    const shift = norm.mean.map((m, c) => m / norm.std[c]!);
    for (let i = 0; i < rgb.length; i++) {
      const c = i % 3;
      out[i] = rgb[i]! * scale[c]! - shift[c]!;
    }
  }
  return out;
}
