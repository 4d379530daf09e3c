// Species centroids beside a checkpoint (meta.answers.centroids names the file):
// float32, or float16 when the name ends in `.f16.bin` — the shipped model stores
// them so to stay within its size budget; a cosine similarity needs ~3 digits.
import fs from 'node:fs';
import { fromHalf, toHalf } from '../util/float16.ts';

export const HALF_CENTROIDS_FILE = 'centroids.f16.bin';

const isHalf = (file: string) => file.endsWith('.f16.bin');

export function readCentroids(file: string): Float32Array {
  const buf = new Uint8Array(fs.readFileSync(file)).buffer;
  return isHalf(file) ? Float32Array.from(new Uint16Array(buf), fromHalf) : new Float32Array(buf);
}

export function writeCentroids(file: string, centroids: Float32Array): void {
  const data = isHalf(file) ? Uint16Array.from(centroids, toHalf) : centroids;
  fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}
