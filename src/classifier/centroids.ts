// Species prototypes beside a checkpoint (meta.answers.centroids names the file):
// float32; float16 when the name ends in `.f16.bin`; or 8-bit when it ends in
// `.i8.bin` (a float32 scale, then one signed byte per value) — the shipped model
// stores them so to stay within its 2 MB budget: the values are parts of unit
// vectors, and a cosine similarity moves by well under 0.001 at 8 bits.
import fs from 'node:fs';
import { fromHalf, toHalf } from '../util/float16.ts';

export const PACKED_CENTROIDS_FILE = 'centroids.i8.bin';

const isHalf = (file: string) => file.endsWith('.f16.bin');
const isByte = (file: string) => file.endsWith('.i8.bin');

export function readCentroids(file: string): Float32Array {
  const bytes = new Uint8Array(fs.readFileSync(file));
  if (isByte(file)) {
    const scale = new DataView(bytes.buffer).getFloat32(0, true);
    return Float32Array.from(new Int8Array(bytes.buffer, 4), (q) => q * scale);
  }
  return isHalf(file) ? Float32Array.from(new Uint16Array(bytes.buffer), fromHalf) : new Float32Array(bytes.buffer);
}

export function writeCentroids(file: string, centroids: Float32Array): void {
  if (isByte(file)) {
    let max = 0;
    for (const v of centroids) max = Math.max(max, Math.abs(v));
    const scale = max / 127 || 1;
    const out = new Uint8Array(4 + centroids.length);
    new DataView(out.buffer).setFloat32(0, scale, true);
    new Int8Array(out.buffer, 4).set(Int8Array.from(centroids, (v) => Math.round(v / scale)));
    fs.writeFileSync(file, out);
    return;
  }
  const data = isHalf(file) ? Uint16Array.from(centroids, toHalf) : centroids;
  fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}
