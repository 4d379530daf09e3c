// What the rest of the code needs from feature extraction: images in, vectors
// out, per backbone. In-process here; a worker pool implements the same shape.
import type { BackboneSpec } from './backbones.ts';
import type { FeatureExtractor } from './featureExtractor.ts';

export interface Embedder {
  readonly specs: BackboneSpec[];
  readonly inputSize: number;
  /** Features of each image for the backbones named by index (all when omitted), concatenated in that order. */
  embed(images: Uint8Array[], backbones?: number[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export class LocalEmbedder implements Embedder {
  constructor(private readonly fx: FeatureExtractor) {}
  get specs() {
    return this.fx.specs;
  }
  get inputSize() {
    return this.fx.inputSize;
  }
  async embed(images: Uint8Array[], backbones?: number[]): Promise<Float32Array[]> {
    return this.fx.extract(images, backbones);
  }
  async close() {
    this.fx.dispose();
  }
}
