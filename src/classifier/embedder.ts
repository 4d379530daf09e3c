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
  // extract() and dispose() are synchronous: run inside a promise, a throw still reaches the caller as a rejection.
  embed(images: Uint8Array[], backbones?: number[]): Promise<Float32Array[]> {
    return new Promise((resolve) => resolve(this.fx.extract(images, backbones)));
  }
  close(): Promise<void> {
    return new Promise((resolve) => resolve(this.fx.dispose()));
  }
}

/**
 * Starts the real embedder on first use. A retrain on a warm feature cache
 * never embeds, so it never pays for loading backbones into worker threads.
 */
export class LazyEmbedder implements Embedder {
  private real: Promise<Embedder> | undefined;

  constructor(
    readonly specs: BackboneSpec[],
    readonly inputSize: number,
    private readonly start: () => Promise<Embedder>,
  ) {}

  get started(): boolean {
    return !!this.real;
  }

  async embed(images: Uint8Array[], backbones?: number[]): Promise<Float32Array[]> {
    this.real ??= this.start();
    return (await this.real).embed(images, backbones);
  }

  async close(): Promise<void> {
    if (this.real) await (await this.real).close();
  }
}
