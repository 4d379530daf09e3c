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
import { printReply, type ReplyBody } from '../src/demo/transcript.ts';
import { createLogger } from '../src/log.ts';
import { hasCheckpoint, modelDir, shippedModelDir } from '../src/modelDir.ts';
import { scanDataset, type Dataset, type Sample } from '../src/training/dataset.ts';
import { QUICK_TRAIN_PARAMS } from '../src/training/defaults.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import type { DemoPick, DemoPlan } from '../src/training/ship.ts';
import { train } from '../src/training/trainer.ts';
import { startEmulator } from '../src/dev/emulator/index.ts';

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

/** The photos to post: the shipped model's demo.json (chosen from its valid answers), else one photo of a few classes. */
function demoPhotos(modelDir: string, ds: Dataset): { plan?: DemoPlan; photos: { sample: Sample; note: string }[] } {
  const file = path.join(resolveCheckpointDir(modelDir), 'demo.json');
  if (fs.existsSync(file)) {
    const plan = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoPlan;
    const photos = plan.picks
      .map((p) => ({ sample: { path: path.join(ds.root, p.photo), label: p.label }, note: KIND_NOTE[p.kind] }))
      .filter((p) => fs.existsSync(p.sample.path));
    if (photos.length) return { plan, photos };
  }
  const photos = [0.1, 0.45, 0.8].map((f) => ({
    sample: ds.splits.valid!.filter((s) => s.label === ds.labels[Math.floor(f * ds.labels.length)])[0]!,
    note: '',
  }));
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

  // Validation photos (never trained on), as a member would post them; the last one through /identify.
  const ds = scanDataset(config.dataDir);
  const { plan, photos } = demoPhotos(checkpointDir, ds);
  if (plan) {
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    const v = plan.valid;
    console.log(
      `On its ${v.images} validation photos this model is sure and right ${pct(v.confidentRight)} of the time, sure and wrong ${pct(v.confidentWrong)}, and answers "not sure" ${pct(v.unsure)} (below ${pct(v.threshold)}). One photo of each kind:\n`,
    );
  }
  const member = emu.users.member.username;
  const repliesDir = path.join(DEMO_DIR, 'replies');
  fs.mkdirSync(repliesDir, { recursive: true });
  const about = (p: { sample: Sample; note: string }) =>
    `(it is a ${ds.names[p.sample.label] ?? p.sample.label}${p.note ? `: ${p.note}` : ''})`;
  for (const p of photos.slice(0, -1)) {
    const name = path.basename(p.sample.path);
    console.log(`👤 ${member} posts ${name} in #flowers   ${about(p)}`);
    const msg = await emu.postMessage({
      channelId: flowers.id,
      attachments: [emu.addAttachment(name, fs.readFileSync(p.sample.path), 'image/jpeg')],
    });
    const reply = await emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === msg.id, 120_000);
    console.log(
      printReply(member, reply.message, reply.files) +
        `\n   (answered ${((Date.now() - t0) / 1000).toFixed(0)} s after the demo started)\n`,
    );
    for (const f of reply.files) fs.writeFileSync(path.join(repliesDir, `${name}.${f.filename}`), f.bytes);
  }

  const slash = photos[photos.length - 1]!;
  console.log(`👤 ${member} runs /identify image:${path.basename(slash.sample.path)}   ${about(slash)}`);
  const inv = await emu.invokeCommand({
    name: 'identify',
    options: { image: emu.addAttachment(path.basename(slash.sample.path), fs.readFileSync(slash.sample.path), 'image/jpeg') },
  });
  const edit = await emu.waitForInteractionResponse(inv.id, 'editOriginal', 120_000);
  console.log(printReply(member, edit.body as ReplyBody, edit.files) + '\n');

  console.log(`👤 ${member} runs /identify image:notes.jpg   (a text file with a photo's name)`);
  const bad = await emu.invokeCommand({
    name: 'identify',
    options: { image: emu.addAttachment('notes.jpg', Buffer.from('just some text'), 'image/jpeg') },
  });
  const err = await emu.waitForInteractionResponse(bad.id, 'followup', 60_000);
  console.log(printReply(member, err.body as ReplyBody, err.files, err.flags) + '\n');

  const rows = app.store.recentPredictions(10);
  console.log(`SQLite log ${config.dbPath}: ${rows.length} recent predictions`);
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
