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
import { printReply } from '../src/demo/transcript.ts';
import { createLogger } from '../src/log.ts';
import { scanDataset } from '../src/training/dataset.ts';
import { QUICK_TRAIN_PARAMS } from '../src/training/defaults.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
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

/** The trained model in BLOOM_CHECKPOINT_DIR if there is one, else a quick demo model (built once, then cached). */
async function ensureModel(config: Config): Promise<string> {
  for (const dir of [config.checkpointDir, path.join(DEMO_DIR, 'checkpoints')]) {
    try {
      resolveCheckpointDir(dir);
      log(`Model: ${dir}`);
      return dir;
    } catch { /* not there yet */ }
  }
  const saveDir = path.join(DEMO_DIR, 'checkpoints');
  log(`No trained model yet: training a quick demo model on ${DEMO_PER_CLASS} photos per class (cached for next time)…`);
  const embedder = await makeEmbedder({ arch: QUICK_TRAIN_PARAMS.arch, workers: config.workers, loc: backboneLocations(), backend: backendInfo()?.name });
  const progress = phaseProgress();
  const r = await train({
    ...QUICK_TRAIN_PARAMS, maxPerClass: DEMO_PER_CLASS, dataDir: config.dataDir, saveDir, embedder,
    cache: new FeatureCache(config.featureCache),
    onEvent: (e) => e.phase === 'extract' && progress(`Reading ${e.split} photos`, e.done, e.total),
  });
  await embedder.close();
  setCurrent(saveDir, r.meta.version);
  log(`Demo model ${r.meta.version}: valid top-1 ${(r.meta.validAccuracy * 100).toFixed(1)}% on ${r.meta.validImages} photos (${r.meta.trainSeconds.toFixed(0)} s)`);
  return saveDir;
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
    checkpointDir,
    dbPath: path.join(DEMO_DIR, 'bloom.sqlite'),
    discordApiUrl: emu.apiBase,
    watchChannels: [flowers.id],
    cdnHosts: ['127.0.0.1'],
    userCooldownS: 0,
    guildCooldownS: 0,
  };
  const app = await createApp({ config, log: createLogger({ level: 'warn', secrets: [emu.token] }), addressPolicy: { allowOrigins: [new URL(emu.apiBase).origin] }, fetchFile: fetchWithProgress });
  await app.bot.start(emu.token);
  await registerCommands({ token: emu.token, apiUrl: emu.apiBase, guildId: emu.guild.id });
  console.log(`\nBloom is online in the local Discord emulator (${emu.apiBase}); model ${app.models.version}.\n`);

  // A few validation photos from different classes, as a member would post them.
  const ds = scanDataset(config.dataDir);
  const picks = [0.1, 0.45, 0.8].map((f) => ds.splits.valid!.filter((s) => s.label === ds.labels[Math.floor(f * ds.labels.length)])[0]!);
  const member = emu.users.member.username;
  const repliesDir = path.join(DEMO_DIR, 'replies');
  fs.mkdirSync(repliesDir, { recursive: true });
  for (const s of picks) {
    const name = path.basename(s.path);
    console.log(`👤 ${member} posts ${name} in #flowers   (it is a ${ds.names[s.label] ?? s.label})`);
    const msg = await emu.postMessage({ channelId: flowers.id, attachments: [emu.addAttachment(name, fs.readFileSync(s.path), 'image/jpeg')] });
    const reply = await emu.waitForMessage(flowers.id, (m) => m.message.message_reference?.message_id === msg.id, 120_000);
    console.log(printReply(member, reply.message, reply.files) + '\n');
    for (const f of reply.files) fs.writeFileSync(path.join(repliesDir, `${name}.${f.filename}`), f.bytes);
  }

  const slash = ds.splits.valid!.find((s) => s.label === ds.labels[Math.floor(0.3 * ds.labels.length)])!;
  console.log(`👤 ${member} runs /identify image:${path.basename(slash.path)}   (it is a ${ds.names[slash.label] ?? slash.label})`);
  const inv = await emu.invokeCommand({ name: 'identify', options: { image: emu.addAttachment(path.basename(slash.path), fs.readFileSync(slash.path), 'image/jpeg') } });
  const edit = await emu.waitForInteractionResponse(inv.id, 'editOriginal', 120_000);
  console.log(printReply(member, edit.body, edit.files) + '\n');

  console.log(`👤 ${member} runs /identify image:notes.jpg   (a text file with a photo's name)`);
  const bad = await emu.invokeCommand({ name: 'identify', options: { image: emu.addAttachment('notes.jpg', Buffer.from('just some text'), 'image/jpeg') } });
  const err = await emu.waitForInteractionResponse(bad.id, 'followup', 60_000);
  console.log(printReply(member, err.body, err.files, err.flags) + '\n');

  const rows = app.store.recentPredictions(10);
  console.log(`SQLite log ${config.dbPath}: ${rows.length} recent predictions`);
  for (const r of rows.slice(0, 5)) console.log(`   #${r.id} ${r.source.padEnd(7)} ${r.errorCode ?? `${r.top1Name ?? r.top1Label} ${((r.top1Probability ?? 0) * 100).toFixed(0)}%`}  ${r.latencyMs} ms`);
  console.log(`\nReply images saved in ${path.relative(process.cwd(), repliesDir)}/. Demo finished in ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  await app.stop();
  await emu.close();
}

main().then(() => process.exit(0), fail);
