// npm run demo: the whole bot on this machine, no Discord token needed.
// Starts the local Discord emulator, the bot (SQLite under data/demo), posts a
// few flower photos as a member, runs /identify, and prints the conversation.
import fs from 'node:fs';
import path from 'node:path';
import { createApp } from '../src/app.ts';
import { backendInfo, initBackend } from '../src/classifier/backend.ts';
import { resolveCheckpointDir, setCurrent } from '../src/classifier/checkpoint.ts';
import { backboneLocations } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { fetchWithProgress, phaseProgress } from '../src/cli/progress.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { registerCommands } from '../src/bot/registerCommands.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { downloadFlowers } from '../src/data/flowersDownload.ts';
import { pressRight, pressWrong } from '../src/demo/feedback.ts';
import { figuresLine } from '../src/demo/figures.ts';
import { spreadsheetScreenshot } from '../src/demo/notFlowerPhoto.ts';
import { printReply, type ReplyBody } from '../src/demo/transcript.ts';
import { createLogger } from '../src/log.ts';
import { hasCheckpoint, modelDir, shippedModelDir } from '../src/modelDir.ts';
import { scanDataset, type Dataset, type Sample } from '../src/training/dataset.ts';
import { QUICK_TRAIN_PARAMS } from '../src/training/defaults.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import type { DemoPick, DemoPlan } from '../src/training/ship.ts';
import { train } from '../src/training/trainer.ts';
import { startEmulator, type StoredMessage } from '../src/dev/emulator/index.ts';

/** Discord's flag for a reply only its member sees. */
const EPHEMERAL_FLAG = 64;

const DEMO_DIR = path.resolve('data/demo');
/** Images per class for the demo's own quick model (the full set takes ~10 min here). */
const DEMO_PER_CLASS = Number(process.env.BLOOM_DEMO_PER_CLASS ?? 12);

async function ensureData(config: Config): Promise<void> {
  if (fs.existsSync(path.join(config.dataDir, 'train'))) return void log(`Flowers: ${config.dataDir}`);
  log(`No flower photos at ${config.dataDir}: downloading Oxford 102 Flowers (about 330 MB, once)…`);
  await downloadFlowers({ outDir: config.dataDir, log });
}

/**
 * The model the bot would start with: BLOOM_CHECKPOINT_DIR, your own
 * checkpoints, or the shipped default model (src/modelDir.ts). Only a checkout
 * without models/default (a development branch) trains a quick demo model.
 */
async function ensureModel(config: Config): Promise<string> {
  const live = modelDir(config);
  for (const dir of [live.dir, path.join(DEMO_DIR, 'checkpoints')]) {
    if (!hasCheckpoint(dir)) continue;
    log(`Model: ${dir}${dir === live.dir && live.source === 'shipped' ? ' (the shipped default model)' : ''}`);
    return dir;
  }
  const saveDir = path.join(DEMO_DIR, 'checkpoints');
  log(
    `No model in ${live.dir} and no shipped model in ${shippedModelDir()}: training a quick demo model on ${DEMO_PER_CLASS} photos per class (cached for next time)…`,
  );
  const embedder = await makeEmbedder({
    arch: QUICK_TRAIN_PARAMS.arch,
    workers: config.workers,
    loc: backboneLocations(),
    backend: backendInfo()?.name,
  });
  const progress = phaseProgress();
  const r = await train({
    ...QUICK_TRAIN_PARAMS,
    maxPerClass: DEMO_PER_CLASS,
    dataDir: config.dataDir,
    saveDir,
    embedder,
    cache: new FeatureCache(config.featureCache),
    onEvent: (e) => e.phase === 'extract' && progress(`Reading ${e.split} photos`, e.done, e.total),
  });
  await embedder.close();
  setCurrent(saveDir, r.meta.version);
  log(
    `Demo model ${r.meta.version}: valid top-1 ${(r.meta.validAccuracy * 100).toFixed(1)}% on ${r.meta.validImages} photos (${r.meta.trainSeconds.toFixed(0)} s)`,
  );
  return saveDir;
}

const KIND_NOTE: Record<DemoPick['kind'], string> = {
  'confident-right': 'a usual confident answer',
  unsure: 'a photo it is not sure about',
  wrong: 'a photo it gets wrong',
};

interface DemoPhoto {
  name: string;
  type: string;
  sample: Sample;
  kind?: DemoPick['kind'];
  /** Asked with /identify instead of posted in #flowers. */
  slash?: boolean;
  note: string;
  /** What the transcript says about the photo, when it is not a data set photo. */
  about?: string;
}

const photoOf = (sample: Sample, kind?: DemoPick['kind']): DemoPhoto => ({
  name: path.basename(sample.path),
  type: 'image/jpeg',
  sample,
  kind,
  slash: kind === 'unsure',
  note: kind ? KIND_NOTE[kind] : '',
});

/** The photos to post: the shipped model's demo.json (chosen from its valid answers), else one photo of a few classes. */
function demoPhotos(modelDir: string, ds: Dataset): { plan?: DemoPlan; photos: DemoPhoto[] } {
  const file = path.join(resolveCheckpointDir(modelDir), 'demo.json');
  if (fs.existsSync(file)) {
    const plan = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoPlan;
    const photos = plan.picks
      .map((p) => photoOf({ path: path.join(ds.root, p.photo), label: p.label }, p.kind))
      .filter((p) => fs.existsSync(p.sample.path));
    if (photos.length) return { plan, photos };
  }
  // A model without demo.json (the quick demo model): one photo of a few classes, the last through /identify.
  const photos = [0.1, 0.45, 0.8].map((f) =>
    photoOf(ds.splits.valid!.filter((s) => s.label === ds.labels[Math.floor(f * ds.labels.length)])[0]!),
  );
  photos[photos.length - 1]!.slash = true;
  return { photos };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const base = loadConfig(process.env);
  await initBackend({ prefer: base.backend, log });
  await ensureData(base);
  const checkpointDir = await ensureModel(base);

  const emu = await startEmulator();
  const { flowers } = emu.channels;
  const config: Config = {
    ...base,
    dbPath: path.join(DEMO_DIR, 'bloom.sqlite'),
    // Photos members vote on are kept with the demo's database, not with your bot's.
    contribDir: path.join(DEMO_DIR, 'contributions'),
    discordApiUrl: emu.apiBase,
    watchChannels: [flowers.id],
    cdnHosts: ['127.0.0.1'],
    userCooldownS: 0,
    guildCooldownS: 0,
  };
  const app = await createApp({
    config,
    modelDir: checkpointDir,
    log: createLogger({ level: 'warn', secrets: [emu.token] }),
    addressPolicy: { allowOrigins: [new URL(emu.apiBase).origin] },
    fetchFile: fetchWithProgress,
  });
  await app.bot.start(emu.token);
  await registerCommands({ token: emu.token, apiUrl: emu.apiBase, guildId: emu.guild.id });
  console.log(`\nBloom is online in the local Discord emulator (${emu.apiBase}); model ${app.models.version}.\n`);

  // Validation photos (never trained on), as a member would post them; the unsure one through /identify.
  const ds = scanDataset(config.dataDir);
  const { plan, photos } = demoPhotos(checkpointDir, ds);
  if (plan) console.log(figuresLine(plan) + ' One photo of each kind:\n');
  const member = emu.users.member.username;
  const repliesDir = path.join(DEMO_DIR, 'replies');
  fs.rmSync(repliesDir, { recursive: true, force: true });
  fs.mkdirSync(repliesDir, { recursive: true });
  const save = (name: string, files: { filename: string; bytes: Buffer }[]) =>
    files.forEach((f) => fs.writeFileSync(path.join(repliesDir, `${name}.${f.filename}`), f.bytes));
  const article = (name: string) => (/^[aeiou]/i.test(name) ? 'an' : 'a');
  const about = (p: DemoPhoto) => {
    const name = ds.names[p.sample.label] ?? p.sample.label;
    return p.about ?? `(it is ${article(name)} ${name}${p.note ? `: ${p.note}` : ''})`;
  };
  const answers = new Map<DemoPhoto, StoredMessage>();
  const post = async (p: DemoPhoto, bytes: Buffer) => {
    console.log(`👤 ${member} posts ${p.name} in #flowers   ${about(p)}`);
    const msg = await emu.postMessage({ channelId: flowers.id, attachments: [emu.addAttachment(p.name, bytes, p.type)] });
    const reply = await emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === msg.id, 120_000);
    console.log(
      printReply(member, reply.message, reply.files) +
        `\n   (answered ${((Date.now() - t0) / 1000).toFixed(0)} s after the demo started)\n`,
    );
    save(p.name, reply.files);
    answers.set(p, reply);
  };
  for (const p of photos) {
    if (!p.slash) {
      await post(p, fs.readFileSync(p.sample.path));
      continue;
    }
    console.log(`👤 ${member} runs /identify image:${p.name}   ${about(p)}`);
    const inv = await emu.invokeCommand({
      name: 'identify',
      options: { image: emu.addAttachment(p.name, fs.readFileSync(p.sample.path), 'image/jpeg') },
    });
    const edit = await emu.waitForInteractionResponse(inv.id, 'editOriginal', 120_000);
    console.log(printReply(member, edit.body as ReplyBody, edit.files) + '\n');
    save(p.name, edit.files);
  }

  // Something that is not a flower: a screenshot made here (the demo ships no photo files).
  const screenshot: DemoPhoto = {
    name: 'expenses-december.jpg',
    type: 'image/jpeg',
    sample: { path: '', label: '' },
    note: '',
    about: '(a screenshot of a spreadsheet, posted by mistake)',
  };
  const shot = await spreadsheetScreenshot();
  fs.writeFileSync(path.join(repliesDir, `posted.${screenshot.name}`), shot);
  await post(screenshot, shot);

  // Other members answer the buttons: ✅ on the usual answer, ❌ on the wrong one with the right species.
  const right = photos.find((p) => p.kind === 'confident-right');
  const wrong = photos.find((p) => p.kind === 'wrong');
  const voter = (name: string) => emu.addUser(name);
  if (right && answers.has(right)) {
    const carol = voter('carol');
    console.log(`👤 carol presses ✅ Right under the answer to ${right.name}`);
    const r = await pressRight(emu, answers.get(right)!, carol);
    console.log(printReply('carol', { content: r.thanks }, [], EPHEMERAL_FLAG));
    console.log(`   (the answer to ${right.name} now ends with: ${r.tally})\n`);
  }
  if (wrong && answers.has(wrong)) {
    const dave = voter('dave');
    const want = { label: wrong.sample.label, name: ds.names[wrong.sample.label] ?? wrong.sample.label };
    console.log(`👤 dave presses ❌ Wrong under the answer to ${wrong.name}`);
    const r = await pressWrong(emu, answers.get(wrong)!, dave, want);
    console.log(printReply('dave', r.menu, [], EPHEMERAL_FLAG) + '\n');
    console.log(`👤 dave ${r.chose}`);
    console.log(printReply('dave', { content: r.thanks }, [], EPHEMERAL_FLAG));
    console.log(`   (the answer to ${wrong.name} now ends with: ${r.tally})\n`);
  }

  console.log(`👤 ${member} runs /identify image:notes.jpg   (a text file with a photo's name)`);
  const bad = await emu.invokeCommand({
    name: 'identify',
    options: { image: emu.addAttachment('notes.jpg', Buffer.from('just some text'), 'image/jpeg') },
  });
  const err = await emu.waitForInteractionResponse(bad.id, 'followup', 60_000);
  console.log(printReply(member, err.body as ReplyBody, err.files, err.flags) + '\n');

  const rows = app.store.recentPredictions(10);
  console.log(`SQLite log ${config.dbPath}: ${rows.length} recent predictions (each with the model's best guess, whatever the answer was)`);
  for (const r of rows.slice(0, 5))
    console.log(
      `   #${r.id} ${r.source.padEnd(7)} ${r.errorCode ?? `${r.top1Name ?? r.top1Label} ${((r.top1Probability ?? 0) * 100).toFixed(0)}%`}  ${r.latencyMs} ms`,
    );
  console.log(
    `\nReply images saved in ${path.relative(process.cwd(), repliesDir)}/. Demo finished in ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
  );
  await app.stop();
  await emu.close();
}

main().then(() => process.exit(0), fail);
