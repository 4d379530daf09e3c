// Feature extraction keeps the backbones busy: the next batch is read, decoded
// and rendered while the current one is being embedded, and a failure while
// embedding still rejects cleanly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import type { BackboneSpec } from '../src/classifier/backbones.ts';
import type { Embedder } from '../src/classifier/embedder.ts';
import { CENTRE_ONLY, extractFeatures } from '../src/training/features.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-pipeline-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function photos(n: number): Promise<{ path: string; label: string }[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const file = path.join(tmp, `p${n}-${i}.jpg`);
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 20 * i, g: 100, b: 200 - 10 * i } } })
        .jpeg()
        .toFile(file);
      return { path: file, label: String(i % 2) };
    }),
  );
}

/** An embedder that records, at each call, how many photos the extractor had already rendered. */
function gatedEmbedder(rendered: () => number, fail = false) {
  const seenAtCall: number[] = [];
  const embedder: Embedder = {
    specs: [{ id: 'fake', featureSize: 3 } as BackboneSpec],
    inputSize: 8,
    async embed(images) {
      seenAtCall.push(rendered());
      // Long enough for the next batch to be decoded meanwhile.
      await new Promise((r) => setTimeout(r, 150));
      if (fail) throw new Error('worker died');
      return images.map((img) => Float32Array.from([img[0]!, img[1]!, img[2]!]));
    },
    close: async () => undefined,
  };
  return { embedder, seenAtCall };
}

test('the next batch is decoded while the current one is embedded', async (t) => {
  const samples = await photos(6);
  // Count the photo reads done for rendering (hashing reads every file once first).
  let reads = 0;
  const fsp = await import('node:fs/promises');
  const real = fsp.default.readFile;
  t.mock.method(fsp.default, 'readFile', (...args: Parameters<typeof real>) => {
    reads++;
    return real(...args);
  });
  const { embedder, seenAtCall } = gatedEmbedder(() => reads - samples.length);
  const r = await extractFeatures(samples, { embedder, plan: CENTRE_ONLY, batchSize: 2 });
  assert.equal(r.items.length, 6);
  assert.equal(r.extracted, 6);
  // At each embed call but the last, the following batch (2 photos) has already been rendered.
  assert.equal(seenAtCall.length, 3);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(
    seenAtCall.slice(0, 2).map((n, k) => n >= 2 * (k + 2)),
    [true, true],
    `rendered photos at each embed call: ${seenAtCall.join(', ')}`,
  );
  // Rows are in sample order and come from each photo's own pixels.
  for (const [i, item] of r.items.entries()) assert.equal(item.sample.path, samples[i]!.path);
});

test('a failure while embedding rejects the extraction (the prefetched batch is not left dangling)', async () => {
  const samples = await photos(4);
  const { embedder } = gatedEmbedder(() => 0, true);
  await assert.rejects(extractFeatures(samples, { embedder, plan: CENTRE_ONLY, batchSize: 2 }), /worker died/);
});
