// Issue 6, part 1: awkward and hostile images through the predict CLI and the bot.
// Each gets a prediction or a clear message; nothing crashes, hangs or prints a stack.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { badImages, heicHeader, oddImages, thinImages } from '../fixtures/badImages.ts';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import { bodyText, finalResponse, logEntries, postPhoto, replyTo, textOf } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let h: Harness;
let files: Record<string, { bytes: Buffer; name: string; type: string }>;
let cliRuns: Promise<CliRun[]>;

before(async () => {
  h = await startHarness({ BLOOM_WORKERS: '1' }); // one embedding worker: the CLI runs need the other core
  const bad = await badImages();
  const odd = await oddImages();
  const thin = await thinImages();
  // A class photo cropped to landscape, and the same pixels stored sideways: with EXIF
  // orientation 6 (must be read upright) and without it (a control the model sees differently).
  const upright = await sharp(photo(h, '3'))
    .extract({ left: 0, top: 16, width: 96, height: 64 })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .toBuffer();
  const turned = sharp(upright).rotate(-90);
  const exifRotated = await turned.clone().withMetadata({ orientation: 6 }).jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
  const sidewaysNoExif = await turned.clone().jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
  const jpg = (bytes: Buffer, name: string) => ({ bytes, name, type: 'image/jpeg' });
  const png = (bytes: Buffer, name: string) => ({ bytes, name, type: 'image/png' });
  files = {
    empty: jpg(bad.empty, 'empty.jpg'),
    truncated: jpg(bad.truncatedJpeg, 'cut.jpg'),
    textAsJpg: jpg(bad.text, 'notes.jpg'),
    onePixel: png(odd.onePixel, 'dot.png'),
    bomb: png(bad.bomb, 'bomb.png'),
    animatedGif: { bytes: odd.animatedGif, name: 'anim.gif', type: 'image/gif' },
    cmyk: jpg(odd.cmykJpeg, 'cmyk.jpg'),
    png16: png(odd.png16, 'deep.png'),
    greyscale: png(odd.greyscale, 'grey.png'),
    upright: jpg(upright, 'upright.jpg'),
    exifRotated: jpg(exifRotated, 'rotated.jpg'),
    sidewaysNoExif: jpg(sidewaysNoExif, 'sideways.jpg'),
    svg: { bytes: bad.svg, name: 'drawing.svg', type: 'image/svg+xml' },
    thin1x4000: png(thin.thin1x4000, 'thin.png'),
    wide4000x1: png(thin.wide4000x1, 'wide.png'),
    thin1x40000: png(thin.thin1x40000, 'thinner.png'),
    strip3x400: jpg(thin.strip3x400, 'strip.jpg'),
    heic: { bytes: heicHeader(), name: 'IMG_0001.HEIC', type: 'image/heic' },
  };
  // The CLI runs (two processes at a time) start now and are checked by the last test.
  const dir = path.join(h.tmp, 'cli');
  fs.mkdirSync(dir);
  cliRuns = pool(Object.keys(files), 2, (k) => {
    const f = path.join(dir, files[k]!.name);
    fs.writeFileSync(f, files[k]!.bytes);
    return runPredict(f);
  });
  cliRuns.catch(() => undefined); // awaited (and reported) by its test
});
after(async () => {
  await h?.stop();
});

const GOOD = ['onePixel', 'animatedGif', 'cmyk', 'png16', 'greyscale', 'upright', 'exifRotated', 'sidewaysNoExif'];
/** Bad input → the message both the CLI and the bot must give, and the logged error code. */
const BAD: Record<string, { says: RegExp; code: string }> = {
  empty: { says: /file is empty/, code: 'EMPTY' },
  truncated: { says: /damaged or cut off/, code: 'CORRUPT' },
  textAsJpg: { says: /doesn't look like a photo|isn't an image I can read/, code: 'NOT_AN_IMAGE' },
  bomb: { says: /too many pixels/, code: 'TOO_MANY_PIXELS' },
  svg: { says: /not a photo|SVG drawing/, code: 'NOT_AN_IMAGE' },
  thin1x4000: { says: /extremely thin \(1×4000 px\).*send a normal photo/, code: 'TOO_THIN' },
  wide4000x1: { says: /extremely thin \(4000×1 px\)/, code: 'TOO_THIN' },
  thin1x40000: { says: /extremely thin \(1×40000 px\)/, code: 'TOO_THIN' },
  strip3x400: { says: /extremely thin \(3×400 px\)/, code: 'TOO_THIN' },
  heic: { says: /HEIC format.*send it as a JPEG/, code: 'HEIC' },
};
const THIN = ['thin1x4000', 'wide4000x1', 'thin1x40000', 'strip3x400'];

type Probs = Record<string, number>;
const asProbs = (top: { label: string; probability: number }[]): Probs => Object.fromEntries(top.map((p) => [p.label, p.probability]));
/** Largest difference of log-probabilities: 0 for identical outputs (the tiny model is very sure, so raw probabilities barely move). */
const logDistance = (a: Probs, b: Probs) =>
  Math.max(...Object.keys(a).map((k) => Math.abs(Math.log(a[k]! + 1e-12) - Math.log((b[k] ?? 0) + 1e-12))));

/** EXIF orientation honoured: the rotated file reads like the upright one, unlike the same pixels without the tag. */
function assertUpright(p: Record<'upright' | 'exifRotated' | 'sidewaysNoExif', Probs>, where: string) {
  const top1 = (x: Probs) => Object.entries(x).sort((a, b) => b[1] - a[1])[0]![0];
  assert.equal(top1(p.exifRotated), top1(p.upright), `${where}: same top-1 as upright`);
  const rotated = logDistance(p.exifRotated, p.upright);
  const control = logDistance(p.sidewaysNoExif, p.upright);
  // Both files went through a lossless-ish JPEG (q100, 4:4:4), so "the same picture" is very close.
  assert.ok(rotated < 0.05, `${where}: EXIF-rotated photo classified like the upright one (log distance ${rotated})`);
  assert.ok(control > 5 * rotated, `${where}: unlike the same pixels without the EXIF tag (${control} vs ${rotated})`);
}

interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runPredict(file: string): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/predict.ts', file, '--checkpoint', h.checkpointDir, '--json'], {
      cwd: ROOT,
      env: { ...process.env, BLOOM_BACKEND: 'wasm', BLOOM_WORKERS: '0', BLOOM_OFFLINE: '1', NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000, // a hang is a failure (killed → signal set)
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** Runs fn over items, `limit` at a time (2 cores: two CLI processes at once). */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe('bot', () => {
  const rowFor = (sourceId: string) =>
    h.app.store.db.prepare('SELECT * FROM predictions WHERE source_id = ?').get(sourceId) as Record<string, unknown> | undefined;

  test('every image posted in the watched channel gets one clear reply', async () => {
    const channel = h.emu.channels.flowers.id;
    // The SVG is tried here under a photo's name and type: it is sniffed and refused.
    const posts = await Promise.all(
      Object.entries(files).map(async ([k, f]) => {
        const named = k === 'svg' ? { ...f, name: 'drawing.jpg', type: 'image/jpeg' } : f;
        return [k, await postPhoto(h, { ...named, contentType: named.type })] as const;
      }),
    );
    const probs: Record<string, Probs> = {};
    for (const [k, msg] of posts) {
      const reply = await replyTo(h, channel, msg.id, 30_000);
      const text = textOf(reply);
      const row = rowFor(msg.id);
      assert.ok(row, `${k}: logged`);
      if (GOOD.includes(k)) {
        assert.match(reply.message.embeds[0]!.title!, /🌸|Not sure/, `${k}: a prediction (${text})`);
        assert.equal(row.error_code, null, k);
        probs[k] = asProbs(JSON.parse(String(row.top_k)));
      } else {
        assert.match(reply.message.embeds[0]!.title!, /couldn't identify/, `${k}: an error reply`);
        assert.match(text, BAD[k]!.says, k);
        assert.equal(row.error_code, BAD[k]!.code, k);
      }
    }
    assertUpright(probs, 'bot');
    // Sizes are logged upright too.
    assert.deepEqual(
      [rowFor(posts.find(([k]) => k === 'exifRotated')![1].id)!.width, rowFor(posts.find(([k]) => k === 'exifRotated')![1].id)!.height],
      [96, 64],
    );
    for (const [k, msg] of posts)
      assert.equal(
        h.emu.messagesIn(channel).filter((m) => m.message.message_reference?.message_id === msg.id).length,
        1,
        `${k}: exactly one reply`,
      );
    // Expected failures are answered, not crashed on: no "identify failed" errors, and the bot still works.
    assert.deepEqual(
      logEntries(h).filter((e) => e.msg === 'identify failed' || e.msg === 'message handler failed'),
      [],
    );
  });

  test('/identify: bad images get an ephemeral explanation, odd ones a public answer', async () => {
    const cases = ['empty', 'truncated', 'textAsJpg', 'bomb', 'cmyk', 'animatedGif', 'exifRotated'];
    const ids = await Promise.all(
      cases.map(async (k) => {
        const f = files[k]!;
        return [
          k,
          (await h.emu.invokeCommand({ name: 'identify', options: { image: h.emu.addAttachment(f.name, f.bytes, f.type) } })).id,
        ] as const;
      }),
    );
    for (const [k, id] of ids) {
      const r = await finalResponse(h, id, 30_000);
      if (GOOD.includes(k)) {
        assert.equal(r.kind, 'editOriginal', k);
        assert.equal(r.flags & 64, 0, `${k}: public`);
        assert.match(r.body.embeds[0].title, /🌸|Not sure/, k);
      } else {
        assert.equal(r.kind, 'followup', k);
        assert.equal(r.flags & 64, 64, `${k}: ephemeral`);
        assert.match(bodyText(r), BAD[k]!.says, k);
      }
    }
  });

  test('thin and tall images are refused in well under a second each, with bounded memory', async () => {
    const channel = h.emu.channels.flowers.id;
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      // One at a time (so each is timed alone), then all four at once.
      for (const k of THIN) {
        const t0 = Date.now();
        const msg = await postPhoto(h, { name: files[k]!.name, bytes: files[k]!.bytes, contentType: files[k]!.type });
        const reply = await replyTo(h, channel, msg.id, 30_000);
        const ms = Date.now() - t0;
        assert.match(textOf(reply), BAD[k]!.says, k);
        assert.ok(ms < 1_000, `${k}: answered in ${ms} ms`);
      }
      const t0 = Date.now();
      const burst = await Promise.all(
        THIN.map((k) => postPhoto(h, { name: files[k]!.name, bytes: files[k]!.bytes, contentType: files[k]!.type })),
      );
      await Promise.all(burst.map((m) => replyTo(h, channel, m.id, 30_000)));
      assert.ok(Date.now() - t0 < 1_500, `four at once answered in ${Date.now() - t0} ms`);
    } finally {
      clearInterval(sampler);
    }
    // Before the fix a single 1×4000 PNG grew the process by about 760 MB.
    assert.ok(peak - rss0 < 150 * 2 ** 20, `memory grew by ${Math.round((peak - rss0) / 2 ** 20)} MB`);
  });

  test('/identify refuses an SVG attachment as not a photo, without downloading it', async () => {
    const att = h.emu.addAttachment('drawing.svg', files.svg!.bytes, 'image/svg+xml');
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: att } });
    const r = await finalResponse(h, id);
    assert.equal(r.flags & 64, 64);
    assert.match(bodyText(r), /isn't a photo/);
    assert.ok(!h.emu.cdnRequests.some((c) => c.path.includes(att.id)), 'never fetched');
  });

  test('the bot is still healthy afterwards', async () => {
    const msg = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1', 2), contentType: 'image/jpeg' });
    const reply = await replyTo(h, h.emu.channels.flowers.id, msg.id);
    assert.match(reply.message.embeds[0]!.title!, /Red Disc/);
  });
});

// Last: the CLI processes started in before() ran alongside the bot tests.
describe('predict CLI', () => {
  test('good images print JSON, bad ones exit 1 with one friendly line, none hangs', async () => {
    const runs = await cliRuns;
    const names = Object.keys(files);
    const probs: Record<string, Probs> = {};
    for (const [i, k] of names.entries()) {
      const r = runs[i]!;
      assert.equal(r.signal, null, `${k}: finished on its own (not killed)`);
      if (GOOD.includes(k)) {
        assert.equal(r.code, 0, `${k}: exit 0 (stderr: ${r.stderr})`);
        const out = JSON.parse(r.stdout) as { top: { label: string; probability: number }[]; modelVersion: string };
        assert.ok(out.top.length >= 1 && out.top.every((p) => ['1', '2', '3'].includes(p.label)), `${k}: labels`);
        const sum = out.top.reduce((s, p) => s + p.probability, 0);
        assert.ok(Math.abs(sum - 1) < 1e-3, `${k}: probabilities sum to 1 (${sum})`);
        probs[k] = asProbs(out.top);
      } else {
        assert.equal(r.code, 1, `${k}: exit 1`);
        assert.equal(r.stdout, '', `${k}: nothing on stdout`);
        const errLine = r.stderr.split('\n').find((l) => l.startsWith('error: '));
        assert.ok(errLine, `${k}: an error line on stderr (got ${r.stderr})`);
        assert.match(errLine, BAD[k]!.says, k);
        assert.doesNotMatch(r.stderr, /^\s+at /m, `${k}: no stack trace`);
      }
    }
    assertUpright(probs, 'CLI');
  });
});
