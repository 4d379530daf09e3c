// npm run predict -- IMAGE --checkpoint D --top-k K [--category-names FILE] [--json]
// Says what the bot would: the answer (species, not sure, not a flower) and the calibrated top-k.
import { Command } from 'commander';
import fs from 'node:fs';
import { Classifier } from '../src/classifier/classifier.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { backboneLocations, startBackend } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { UserFacingError } from '../src/errors.ts';
import { loadConfig } from '../src/config.ts';
import { modelDir } from '../src/modelDir.ts';

const program = new Command('predict')
  .description('Name the flower in a photo')
  .argument('<image>', 'photo file (JPEG, PNG, WebP, GIF, TIFF, AVIF)')
  .option(
    '--checkpoint <dir>',
    'checkpoint folder, or a checkpoints root with CURRENT (default: BLOOM_CHECKPOINT_DIR, else your own models/checkpoints, else the shipped models/default)',
    modelDir(loadConfig()).dir,
  )
  .option('--top-k <k>', 'how many candidates to list', '5')
  .option('--category-names <file>', "JSON mapping label → display name (overrides the checkpoint's names)")
  .option('--tta', 'test-time augmentation (flip and crops, averaged)')
  .option('--gpu', 'use the GPU when available')
  .option('--json', 'print JSON on stdout');

interface PredictOptions {
  checkpoint: string;
  topK: string;
  categoryNames?: string;
  tta?: boolean;
  gpu?: boolean;
  json?: boolean;
}

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<PredictOptions>();
  const [image] = program.args as [string];
  const k = Number(o.topK);
  if (!Number.isInteger(k) || k < 1) throw new Error(`--top-k must be a whole number ≥ 1 (got "${o.topK}")`);
  if (!fs.existsSync(image)) throw new Error(`No such file: ${image}`);
  const backend = await startBackend({ gpu: !!o.gpu });
  const clf = await Classifier.load({ checkpoint: o.checkpoint, ...backboneLocations() });
  const names = (o.categoryNames ? JSON.parse(fs.readFileSync(o.categoryNames, 'utf8')) : {}) as Record<string, string>;
  let result;
  try {
    result = await clf.classify(fs.readFileSync(image), { topK: k, tta: !!o.tta, fallbackThreshold: loadConfig().confidenceThreshold });
  } catch (err) {
    if (err instanceof UserFacingError) throw new Error(`${image}: ${err.userMessage}`);
    throw err;
  }
  const top = result.top.map((p) => ({ ...p, name: names[p.label] ?? p.name }));
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        { image, answer: result.answer, top, modelVersion: clf.version, backend: backend.name, ms: Math.round(result.ms) },
        null,
        2,
      ) + '\n',
    );
  } else {
    // As the bot answers: the species, "not sure" with the candidates, or no species at all.
    const best = top[0]!;
    console.log(
      {
        species: `${best.name} (${best.label}), ${(best.probability * 100).toFixed(1)}% sure`,
        notSure: 'Not sure which flower this is. Candidates:',
        notFlower: "That doesn't look like a flower.",
      }[result.answer],
    );
    if (result.answer !== 'notFlower')
      for (const [i, p] of top.entries()) console.log(`${i + 1}. ${p.name} (${p.label})  ${(p.probability * 100).toFixed(1)}%`);
    console.log(`model ${clf.version} · ${backend.name} · ${Math.round(result.ms)} ms`);
  }
  await clf.dispose();
}

main().catch(fail);
