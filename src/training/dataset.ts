// The usual labelled-folder layout: <root>/{train,valid[,test]}/<label>/<image>,
// plus cat_to_name.json. Scanning never aborts on a bad entry: it reports it.
import fs from 'node:fs';
import path from 'node:path';

export type Split = 'train' | 'valid' | 'test';

export interface Sample {
  path: string;
  label: string;
}

export interface Dataset {
  root: string;
  /** Labels sorted numerically when numeric (1, 2, …, 10), else alphabetically. */
  labels: string[];
  names: Record<string, string>;
  splits: Partial<Record<Split, Sample[]>>;
  /** Human sentences for everything that was skipped or looks wrong. */
  problems: string[];
}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|heic)$/i;

export function compareLabels(a: string, b: string): number {
  const na = Number(a),
    nb = Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a.localeCompare(b);
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

function readNames(root: string, problems: string[]): Record<string, string> {
  const file = path.join(root, 'cat_to_name.json');
  if (!fs.existsSync(file)) {
    problems.push(`${file} is missing: labels will be shown as their folder names`);
    return {};
  }
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
  } catch (err) {
    problems.push(`${file} is not a JSON object of label → name (${(err as Error).message}): using folder names`);
    return {};
  }
}

function scanSplit(dir: string, split: Split, problems: string[]): Map<string, Sample[]> {
  const byLabel = new Map<string, Sample[]>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) {
      if (!entry.name.startsWith('.')) problems.push(`${split}/${entry.name}: not a class folder, skipped`);
      continue;
    }
    const files: Sample[] = [];
    const classDir = path.join(dir, entry.name);
    for (const f of fs.readdirSync(classDir, { withFileTypes: true })) {
      if (f.name.startsWith('.')) continue;
      if (!f.isFile() || !IMAGE_EXT.test(f.name)) {
        problems.push(`${split}/${entry.name}/${f.name}: not an image file, skipped`);
        continue;
      }
      files.push({ path: path.join(classDir, f.name), label: entry.name });
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    if (files.length === 0) problems.push(`${split}/${entry.name}: empty class folder`);
    byLabel.set(entry.name, files);
  }
  return byLabel;
}

/** Scans and validates; throws DatasetError only when training is impossible. */
export function scanDataset(root: string, opts: { requireValid?: boolean; only?: Split } = {}): Dataset {
  if (!fs.existsSync(root)) throw new DatasetError(`Data folder ${root} does not exist`);
  const problems: string[] = [];
  const names = readNames(root, problems);
  const splits: Dataset['splits'] = {};
  let labels: string[] = [];
  // With `only` (evaluate): that split alone is needed, and its folders are the labels.
  for (const split of opts.only ? [opts.only] : (['train', 'valid', 'test'] as const)) {
    const dir = path.join(root, split);
    if (!fs.existsSync(dir)) {
      if (split === 'train' || split === opts.only || (split === 'valid' && opts.requireValid !== false)) {
        throw new DatasetError(`${root} has no ${split}/ folder (expected ${root}/${split}/<label>/<image>)`);
      }
      continue;
    }
    const byLabel = scanSplit(dir, split, problems);
    if (split === 'train' || split === opts.only) {
      labels = [...byLabel.entries()]
        .filter(([, s]) => s.length > 0)
        .map(([l]) => l)
        .sort(compareLabels);
      if (labels.length < (opts.only ? 1 : 2))
        throw new DatasetError(
          `${dir} needs at least ${opts.only ? 'one non-empty class folder' : 'two non-empty class folders'} (found ${labels.length})`,
        );
    } else {
      for (const l of byLabel.keys()) if (!labels.includes(l)) problems.push(`${split}/${l}: class not in train/, its images are ignored`);
      for (const l of labels) if (!byLabel.has(l)) problems.push(`${split}/ has no folder for class ${l}`);
    }
    splits[split] = [...byLabel.entries()].filter(([l]) => labels.includes(l)).flatMap(([, s]) => s);
  }
  for (const l of labels) if (Object.keys(names).length && !(l in names)) problems.push(`label ${l} has no name in cat_to_name.json`);
  if (!opts.only)
    for (const l of Object.keys(names)) if (!labels.includes(l)) problems.push(`cat_to_name.json names ${l}, which has no train/ folder`);
  return { root, labels, names, splits, problems };
}

/** "3, 13,23" → ['3', '13', '23'] (--exclude-labels, --unknown-labels). */
export function parseLabelList(text: string): string[] {
  return text
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Every photo (train, valid and test) of the given labels: the species a
 * leave-species-out run left out, as photos of flowers it does not know.
 * Refuses labels the model knows, or that the data set lacks.
 */
export function photosOfLabels(ds: Dataset, labels: string[], modelLabels: string[]): Sample[] {
  const known = labels.filter((l) => modelLabels.includes(l));
  if (known.length)
    throw new DatasetError(`the model was trained on label${known.length > 1 ? 's' : ''} ${known.join(', ')}: not unknown to it`);
  const out = (['train', 'valid', 'test'] as const).flatMap((s) => (ds.splits[s] ?? []).filter((x) => labels.includes(x.label)));
  const missing = labels.filter((l) => !out.some((x) => x.label === l));
  if (missing.length) throw new DatasetError(`no photos of label${missing.length > 1 ? 's' : ''} ${missing.join(', ')} in ${ds.root}`);
  return out;
}

export function displayName(ds: Pick<Dataset, 'names'>, label: string): string {
  return ds.names[label] ?? label;
}

/** Every image under a folder, at any depth (sorted), as unlabelled samples: --unknown and --not-flowers. */
export function listImages(dir: string): Sample[] {
  if (!fs.existsSync(dir)) throw new DatasetError(`Folder ${dir} does not exist`);
  const out: Sample[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      const st = e.isSymbolicLink() ? fs.statSync(p, { throwIfNoEntry: false }) : e;
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile() && IMAGE_EXT.test(e.name)) out.push({ path: p, label: '' });
    }
  };
  walk(dir);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
