/**
 * Oxford 102 Flowers: download the official files, then lay the images out
 * by the official split and label:
 *
 *   OUT/train/<label>/image_XXXXX.jpg   (label = "1".."102", as in cat_to_name.json)
 *   OUT/valid/<label>/…
 *   OUT/test/<label>/…
 *   OUT/cat_to_name.json
 *   OUT/summary.json                     (written last: marks the layout complete)
 *
 * Downloads go to a sibling cache dir (OUT.downloads/) so an interrupted run
 * resumes; the layout is built in a sibling temp dir and renamed into place,
 * so OUT is never half-built.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tar from 'tar';
import { z } from 'zod';
import { downloadFile } from '../net/downloadFile.ts';
import type { Timeouts } from '../net/http.ts';
import { silentProgress, type ProgressReporter } from '../net/progress.ts';
import { readMat, requireVariable } from './matv5.ts';

export const FLOWERS_BASE_URL = 'https://www.robots.ox.ac.uk/~vgg/data/flowers/102/';
export const FLOWERS_NAMES_URL = 'https://raw.githubusercontent.com/udacity/aipnd-project/master/cat_to_name.json';
export const DEFAULT_FLOWERS_DIR = 'data/flowers102';

export const SPLITS = ['train', 'valid', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** The four inputs, for optional sha256 pinning. */
export type FlowersFile = 'archive' | 'labels' | 'setid' | 'names';

const FILES: Readonly<Record<Exclude<FlowersFile, 'names'>, string>> = {
  archive: '102flowers.tgz',
  labels: 'imagelabels.mat',
  setid: 'setid.mat',
};
/** setid.mat variable for each split. */
const SPLIT_VARIABLE: Readonly<Record<Split, string>> = { train: 'trnid', valid: 'valid', test: 'tstid' };

export interface FlowersDownloadOptions {
  /** Default data/flowers102. */
  outDir?: string;
  /** Directory URL holding the three official files. Default: the VGG page. */
  baseUrl?: string;
  namesUrl?: string;
  /** Keep the download cache (archive included) after success. */
  keepArchive?: boolean;
  /** Rebuild even if the layout is complete (cached, verified downloads are reused). */
  force?: boolean;
  /** Optional pinned checksums; none are assumed by default. */
  sha256?: Partial<Record<FlowersFile, string>>;
  progress?: ProgressReporter;
  log?: (line: string) => void;
  timeouts?: Timeouts;
  signal?: AbortSignal;
}

export interface SplitCounts {
  images: number;
  classes: number;
}

export interface FlowersSummary {
  outDir: string;
  /** True when an existing complete layout was found and nothing was done. */
  skipped: boolean;
  classes: number;
  total: number;
  splits: Record<Split, SplitCounts>;
}

const splitCounts = z.object({ images: z.number().int(), classes: z.number().int() });
const summaryFile = z.object({
  classes: z.number().int(),
  total: z.number().int(),
  splits: z.object({ train: splitCounts, valid: splitCounts, test: splitCounts }),
});
const namesFile = z.record(z.string().regex(/^\d+$/), z.string().min(1));

export async function downloadFlowers(opts: FlowersDownloadOptions = {}): Promise<FlowersSummary> {
  const outDir = resolve(opts.outDir ?? DEFAULT_FLOWERS_DIR);
  const log = opts.log ?? (() => {});
  if (!opts.force) {
    const existing = await readCompleteLayout(outDir);
    if (existing) {
      log(`${outDir} is already complete; use --force to rebuild.`);
      return existing;
    }
  }

  // 1. Fetch (resumable, cached next to the output).
  const cacheDir = `${outDir}.downloads`;
  const baseUrl = withTrailingSlash(opts.baseUrl ?? FLOWERS_BASE_URL);
  const fetchOne = async (file: FlowersFile, url: string, name: string): Promise<string> => {
    const dest = join(cacheDir, name);
    const sha = opts.sha256?.[file];
    if (sha === undefined && existsSync(dest)) return dest; // finished earlier (only complete files get this name)
    const bar = (opts.progress ?? silentProgress)(name);
    try {
      await downloadFile(url, dest, {
        onProgress: bar.update,
        ...(sha ? { expectedSha256: sha } : {}),
        ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } finally {
      bar.done();
    }
    return dest;
  };
  const labelsPath = await fetchOne('labels', new URL(FILES.labels, baseUrl).href, FILES.labels);
  const setidPath = await fetchOne('setid', new URL(FILES.setid, baseUrl).href, FILES.setid);
  const namesPath = await fetchOne('names', opts.namesUrl ?? FLOWERS_NAMES_URL, 'cat_to_name.json');
  const archivePath = await fetchOne('archive', new URL(FILES.archive, baseUrl).href, FILES.archive);

  opts.signal?.throwIfAborted();
  // 2. Read labels and the official split before touching the archive, so bad metadata fails fast.
  const labels = readLabels(await readFile(labelsPath));
  const splits = readSplits(await readFile(setidPath), labels.length);
  const names = parseNames(await readFile(namesPath, 'utf8'));
  const missingNames = [...new Set(labels)].filter((l) => names[String(l)] === undefined);
  if (missingNames.length > 0) log(`warning: no display name for label(s) ${missingNames.join(', ')}`);

  // 3. Build the layout in a temp sibling, then swap it in.
  const staging = `${outDir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await mkdir(staging, { recursive: true });
    const extracted = join(staging, '.extract');
    await extractImages(archivePath, extracted, labels.length, opts.progress ?? silentProgress);
    opts.signal?.throwIfAborted(); // tar can't be interrupted; stop before the next phase instead

    const summary: Omit<FlowersSummary, 'outDir' | 'skipped'> = {
      classes: new Set(labels).size,
      total: 0,
      splits: { train: { images: 0, classes: 0 }, valid: { images: 0, classes: 0 }, test: { images: 0, classes: 0 } },
    };
    for (const split of SPLITS) {
      const classes = new Set<number>();
      for (const id of splits[split]) {
        const label = labels[id - 1]!;
        const file = imageName(id);
        const labelDir = join(staging, split, String(label));
        if (!classes.has(label)) await mkdir(labelDir, { recursive: true });
        classes.add(label);
        try {
          await rename(join(extracted, 'jpg', file), join(labelDir, file));
        } catch (cause) {
          throw new Error(`the archive has no jpg/${file} (listed in the ${split} split)`, { cause });
        }
      }
      summary.splits[split] = { images: splits[split].length, classes: classes.size };
      summary.total += splits[split].length;
    }
    await rm(extracted, { recursive: true, force: true });
    await writeFile(join(staging, 'cat_to_name.json'), `${JSON.stringify(sortedNames(names), null, 2)}\n`);
    await writeFile(join(staging, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await swapIntoPlace(staging, outDir);

    if (!opts.keepArchive) await rm(cacheDir, { recursive: true, force: true });
    return { outDir, skipped: false, ...summary };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export function imageName(id: number): string {
  return `image_${String(id).padStart(5, '0')}.jpg`;
}

/** imagelabels.mat → labels[i] is the class (1-based) of image i+1. */
export function readLabels(mat: Uint8Array): number[] {
  const labels = Array.from(requireVariable(readMat(mat), 'labels').data);
  if (labels.length === 0) throw new Error('imagelabels.mat: "labels" is empty');
  for (const l of labels) {
    if (!Number.isInteger(l) || l < 1) throw new Error(`imagelabels.mat: invalid label ${l}`);
  }
  return labels;
}

/** setid.mat → 1-based image ids per split; checked for range and overlap. */
export function readSplits(mat: Uint8Array, imageCount: number): Record<Split, number[]> {
  const vars = readMat(mat);
  const seen = new Set<number>();
  const out = {} as Record<Split, number[]>;
  for (const split of SPLITS) {
    const ids = Array.from(requireVariable(vars, SPLIT_VARIABLE[split]).data);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 1 || id > imageCount) {
        throw new Error(`setid.mat: ${SPLIT_VARIABLE[split]} has id ${id}, outside 1..${imageCount}`);
      }
      if (seen.has(id)) throw new Error(`setid.mat: image ${id} appears in more than one split`);
      seen.add(id);
    }
    out[split] = ids;
  }
  return out;
}

function parseNames(json: string): Record<string, string> {
  const parsed = namesFile.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`cat_to_name.json is not a {"1": "name", …} map: ${parsed.error.message}`);
  return parsed.data;
}

function sortedNames(names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(names).sort(([a], [b]) => Number(a) - Number(b)));
}

/** Extract only jpg/image_NNNNN.jpg entries (tar itself refuses absolute and ../ paths). */
async function extractImages(archive: string, dest: string, expected: number, progress: ProgressReporter): Promise<void> {
  await mkdir(dest, { recursive: true });
  const bar = progress('extract');
  let count = 0;
  try {
    await tar.x({
      file: archive,
      cwd: dest,
      strict: true,
      filter: (path) => {
        const wanted = /^(\.\/)?jpg\/image_\d{5}\.jpg$/.test(path);
        if (wanted) bar.update(++count, expected);
        return wanted;
      },
    });
  } finally {
    bar.done();
  }
}

/** Replace `outDir` with `staging` using renames (old layout removed only after the new one is in place). */
async function swapIntoPlace(staging: string, outDir: string): Promise<void> {
  await mkdir(dirname(outDir), { recursive: true });
  const old = `${outDir}.old-${process.pid}-${randomBytes(3).toString('hex')}`;
  const hadOld = existsSync(outDir);
  if (hadOld) await rename(outDir, old);
  await rename(staging, outDir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** The summary of a complete layout at `outDir`, or null if absent/incomplete. */
export async function readCompleteLayout(outDir: string): Promise<FlowersSummary | null> {
  let stored: z.infer<typeof summaryFile>;
  try {
    stored = summaryFile.parse(JSON.parse(await readFile(join(outDir, 'summary.json'), 'utf8')));
  } catch {
    return null;
  }
  if (!existsSync(join(outDir, 'cat_to_name.json'))) return null;
  for (const split of SPLITS) {
    const counted = await countImages(join(outDir, split));
    if (counted === null || counted.images !== stored.splits[split].images || counted.classes !== stored.splits[split].classes) {
      return null;
    }
  }
  return { outDir, skipped: true, ...stored };
}

async function countImages(splitDir: string): Promise<SplitCounts | null> {
  try {
    const labelDirs = await readdir(splitDir, { withFileTypes: true });
    let images = 0;
    let classes = 0;
    for (const d of labelDirs) {
      if (!d.isDirectory()) continue;
      classes++;
      images += (await readdir(join(splitDir, d.name))).filter((f) => f.endsWith('.jpg')).length;
    }
    return { images, classes };
  } catch {
    return null;
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** For log lines: "data/flowers102" rather than an absolute path when possible. */
export function displayPath(p: string): string {
  const rel = p.startsWith(process.cwd() + '/') ? p.slice(process.cwd().length + 1) : p;
  return rel || basename(p);
}
