// npm run make-check-set -- --data-dir D --out DIR [--split valid] [--size 320]
//
// The real-photo check (issue 12), made from photos kept out of training (the
// valid split by default): DIR/real/<split>/<label>/ holds one photo per
// source photo as people post them (a bed, a far shot, a macro, a hand, a
// filter, a vignette or blown-out exposure: the kinds taken in turn), drawn
// with the check's own seed and only from that split's photos;
// DIR/perturbed/<split>/ holds evaluate --perturb's phone-like copies as files,
// so answer-time crops can be measured on them too. Both are datasets that
// `npm run evaluate -- --data-dir DIR/real --split valid` reads.
import { Command } from 'commander';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { applyTransform, rng, samplePerturbation, seedOf } from '../src/classifier/augment.ts';
import { decodeUpright, type RGBImage } from '../src/classifier/images.ts';
import { renderScene, SCENE_KINDS } from '../src/classifier/scenes.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { defaultPaths } from '../src/paths.ts';
import { scanDataset, type Sample, type Split } from '../src/training/dataset.ts';

const program = new Command('make-check-set')
  .description('Write the real-photo and perturbed check sets from a held-out split')
  .option('--data-dir <dir>', 'dataset root', defaultPaths().dataDir)
  .requiredOption('--out <dir>', 'where to write them (outside the repository)')
  .option('--split <split>', 'the held-out split to draw from', 'valid')
  .option('--size <px>', 'side of the written photos', '320')
  .option('--seed <n>', "the check's seed (never a training seed)", '7001');

interface Options {
  dataDir: string;
  out: string;
  split: string;
  size: string;
  seed: string;
}

const jpeg = (img: RGBImage, quality: number) =>
  sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<Options>();
  const split = o.split as Split;
  const size = Number(o.size),
    seed = Number(o.seed);
  const ds = scanDataset(o.dataDir, { only: split });
  const samples = ds.splits[split] ?? [];
  if (!samples.length) throw new Error(`${o.dataDir} has no ${split}/ photos`);
  const byLabel = new Map<string, Sample[]>();
  for (const s of samples) byLabel.set(s.label, [...(byLabel.get(s.label) ?? []), s]);
  const decode = async (s: Sample) => decodeUpright(await fs.promises.readFile(s.path), undefined, 512);
  const names = path.join(o.dataDir, 'cat_to_name.json');
  for (const set of ['real', 'perturbed']) {
    fs.mkdirSync(path.join(o.out, set, split), { recursive: true });
    if (fs.existsSync(names)) fs.copyFileSync(names, path.join(o.out, set, 'cat_to_name.json'));
  }
  const counts = new Map<string, number>();
  for (const [i, s] of samples.entries()) {
    const buf = await fs.promises.readFile(s.path);
    const sha = crypto.createHash('sha256').update(buf).digest('hex');
    const photo = await decodeUpright(buf, undefined, 512);
    const stem = path.parse(s.path).name;
    // Real-photo check: the kinds in turn, so each is an even sixth of the set.
    const kind = SCENE_KINDS[i % SCENE_KINDS.length]!;
    const others = byLabel.get(s.label)!.filter((x) => x !== s);
    const scene = await renderScene(
      kind,
      rng(seedOf(sha, 'check', seed)),
      { photo, sameSpecies: (r) => (others.length ? decode(others[Math.floor(r() * others.length)]!) : Promise.resolve(photo)) },
      size,
    );
    const realDir = path.join(o.out, 'real', split, s.label);
    fs.mkdirSync(realDir, { recursive: true });
    fs.writeFileSync(path.join(realDir, `${stem}.${kind}.jpg`), await jpeg(scene, 90));
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    // Perturbed: the same draw as evaluate --perturb (seed 1, view 0), rendered larger.
    const t = samplePerturbation(rng(seedOf(sha, 'perturb', 1, 0)));
    const pert = await applyTransform(photo, t, size);
    const pertDir = path.join(o.out, 'perturbed', split, s.label);
    fs.mkdirSync(pertDir, { recursive: true });
    fs.writeFileSync(path.join(pertDir, `${stem}.jpg`), await jpeg({ data: Buffer.from(pert), width: size, height: size }, 95));
    if ((i + 1) % 100 === 0) log(`${i + 1}/${samples.length}`);
  }
  log(
    `wrote ${samples.length} real-photo check photos (${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}) and ${samples.length} perturbed to ${o.out}`,
  );
}

main().catch(fail);
