// npm run demo:teach -- --photos DIR --name "NAME" [--json]
// The learning loop as members and an admin live it, in the local Discord
// emulator: members post half of DIR's photos (a species the model has never
// seen), mark each answer Wrong and type NAME; an admin approves them and runs
// /retrain; then the other half is posted and we count how often the bot names
// NAME. The bot starts from a copy of the current model (your checkpoints are
// not touched) with its own database under data/demo-teach/.
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import type { APIUser } from 'discord.js';
import { createApp, type App } from '../src/app.ts';
import { initBackend } from '../src/classifier/backend.ts';
import { resolveCheckpointDir, setCurrent } from '../src/classifier/checkpoint.ts';
import type { Classifier } from '../src/classifier/classifier.ts';
import { registerCommands } from '../src/bot/registerCommands.ts';
import { NAME_FIELD, PICK } from '../src/bot/feedbackRender.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { fetchWithProgress } from '../src/cli/progress.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { printReply, type ReplyBody } from '../src/demo/transcript.ts';
import { startEmulator, type Emulator } from '../src/dev/emulator/index.ts';
import { createLogger } from '../src/log.ts';
import { modelDir } from '../src/modelDir.ts';
import { listImages, scanDataset, type Sample } from '../src/training/dataset.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { CENTRE_ONLY, extractFeatures } from '../src/training/features.ts';

const program = new Command('demo:teach')
  .description('Teach the bot a species it has never seen, through the buttons and commands people use, and measure what it learnt')
  .requiredOption('--photos <dir>', 'photos of one species the model does not know (split by sorted file name: odd to teach, even to test)')
  .requiredOption('--name <name>', 'the species name members type')
  .option('--out <dir>', 'where the demo keeps its database, contributions and checkpoints', 'data/demo-teach')
  .option('--json', 'print one JSON object with the figures on stdout');

interface Opts {
  photos: string;
  name: string;
  out: string;
  json?: boolean;
}

type Stored = Awaited<ReturnType<Emulator['waitForMessage']>>;

/** Polls until `find` returns something (what the bot does arrives asynchronously). */
async function until<T>(find: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const customIds = (m: { components?: unknown }) =>
  ((m.components ?? []) as { components?: { custom_id: string; label?: string }[] }[]).flatMap((r) => r.components ?? []);

/** Top-1 and top-5 of valid photos of the species a model knows, from their centre views (as the bot sees them). */
async function validAccuracy(clf: Classifier, samples: Sample[], cache: FeatureCache): Promise<number> {
  const r = await extractFeatures(samples, { embedder: clf.embedder, cache, plan: CENTRE_ONLY });
  const probs = clf.probsOfFeatures(r.items.map((it) => it.views[0]!));
  let right = 0;
  r.items.forEach((it, i) => {
    const p = probs[i]!;
    let best = 0;
    for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
    if (clf.meta.labels[best] === it.sample.label) right++;
  });
  return right / Math.max(1, r.items.length);
}

/** Posts a photo as a member and waits for the bot's answer. */
async function post(emu: Emulator, file: string, member: APIUser): Promise<Stored> {
  const msg = await emu.postMessage({
    channelId: emu.channels.flowers.id,
    author: member,
    attachments: [emu.addAttachment(path.basename(file), fs.readFileSync(file), 'image/jpeg')],
  });
  return emu.waitForMessage(emu.channels.flowers.id, (m) => m.message.message_reference?.message_id === msg.id, 180_000);
}

/** ❌ Wrong → "Another species…" → types the name in the form, as a member does. Returns the bot's confirmation. */
async function teach(emu: Emulator, reply: Stored, member: APIUser, name: string): Promise<string> {
  const wrong = customIds(reply.message).find((c) => c.custom_id.startsWith('fb:wrong:'));
  if (!wrong) throw new Error(`the answer has no Wrong button: ${JSON.stringify(reply.message.embeds?.[0]?.title)}`);
  const click = await emu.clickComponent({ message: reply.message.id, customId: wrong.custom_id, user: member });
  const menuResponse = await emu.waitForInteractionResponse(click.id, 'callback', 30_000);
  const menu = customIds(menuResponse.message ?? {})[0];
  if (!menu || !menuResponse.message) throw new Error('the Wrong button opened no menu');
  const open = await emu.clickComponent({ message: menuResponse.message.id, customId: menu.custom_id, user: member, values: [PICK.other] });
  await emu.waitForInteractionResponse(open.id, 'callback', 30_000);
  const sent = await emu.submitModal({ interactionId: open.id, user: member, fields: { [NAME_FIELD]: name } });
  const done = (await emu.waitForInteractionResponse(sent.id, 'editOriginal', 60_000)).body as ReplyBody;
  return done.content ?? '';
}

/** The admin approves every kept photo through /review, pressing Approve on each page as a person would. */
async function approveAll(app: App, emu: Emulator, admin: APIUser): Promise<number> {
  const pending = () => (app.store.db.prepare(`SELECT count(*) AS n FROM contributions WHERE status = 'pending'`).get() as { n: number }).n;
  const before = pending();
  const inv = await emu.invokeCommand({ name: 'review', user: admin });
  const opened = await emu.waitForInteractionResponse(inv.id, 'editOriginal', 30_000);
  const messageId = opened.message!.id;
  // Each Approve edits the same private message to the next photo.
  for (let guard = 0; guard < before + 5 && pending() > 0; guard++) {
    const shown = emu.world.messages.get(messageId)!.message.components as unknown as { components: { custom_id?: string }[] }[];
    const approve = shown.flatMap((r) => r.components).find((c) => c.custom_id?.startsWith('rv:approve:'));
    if (!approve?.custom_id) break;
    const c = await emu.clickComponent({ message: messageId, customId: approve.custom_id, user: admin });
    await emu.waitForInteractionResponse(c.id, 'editOriginal', 30_000);
  }
  if (pending() > 0) throw new Error(`/review left ${pending()} of ${before} photos pending`);
  return before;
}

/** The bot's best guess and its candidates, as shown in the answer. */
function namesIn(reply: Stored): { top1: string; candidates: string[] } {
  const e = reply.message.embeds?.[0];
  const field = e?.fields?.find((f) => f.name === 'Top candidates')?.value ?? '';
  const candidates = field.split('\n').map((l) =>
    l
      .replace(/^`[^`]*`\s*\*\*[^*]*\*\*\s*/, '')
      .replace(/\*\*/g, '')
      .trim(),
  );
  return { top1: candidates[0] ?? '', candidates };
}

async function main(): Promise<void> {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<Opts>();
  const say = o.json ? (s: string) => log(s) : (s: string) => console.log(s);
  const photos = listImages(path.resolve(o.photos)).map((s) => s.path);
  if (photos.length < 4) throw new Error(`${o.photos} has ${photos.length} photos; teaching needs at least 4 (half taught, half tested)`);
  const taught = photos.filter((_, i) => i % 2 === 0);
  const tested = photos.filter((_, i) => i % 2 === 1);

  const base = loadConfig(process.env);
  await initBackend({ prefer: base.backend, log });
  // A copy of the current model: the retrain writes its new version beside it, never into your checkpoints.
  const out = path.resolve(o.out, new Date().toISOString().replace(/[:.]/g, '-'));
  const start = resolveCheckpointDir(modelDir(base).dir);
  const checkpoints = path.join(out, 'checkpoints');
  const version = path.basename(start);
  fs.cpSync(start, path.join(checkpoints, version), { recursive: true });
  setCurrent(checkpoints, version);

  const emu = await startEmulator();
  const config: Config = {
    ...base,
    dbPath: path.join(out, 'bloom.sqlite'),
    checkpointDir: checkpoints,
    contribDir: path.join(out, 'contributions'),
    discordApiUrl: emu.apiBase,
    watchChannels: [emu.channels.flowers.id],
    cdnHosts: ['127.0.0.1'],
    userCooldownS: 0,
    guildCooldownS: 0,
    retrainCooldownMin: 0,
    contribDailyCap: Math.max(base.contribDailyCap, taught.length),
  };
  const app = await createApp({
    config,
    modelDir: checkpoints,
    log: createLogger({ level: 'warn', secrets: [emu.token] }),
    addressPolicy: { allowOrigins: [new URL(emu.apiBase).origin] },
    fetchFile: fetchWithProgress,
  });
  try {
    await app.bot.start(emu.token);
    await registerCommands({ token: emu.token, apiUrl: emu.apiBase, guildId: emu.guild.id });
    const startClf = app.models.current!;
    say(`Bloom is online in the local Discord emulator with model ${startClf.version} (${startClf.meta.labels.length} species).`);
    const known = new Set(startClf.meta.labels);
    const valid = (scanDataset(config.dataDir).splits.valid ?? []).filter((s) => known.has(s.label));
    const cache = new FeatureCache(config.featureCache);
    const validBefore = await validAccuracy(startClf, valid, cache);
    say(`Valid top-1 on the ${valid.length} photos of species it knows: ${(validBefore * 100).toFixed(2)}%.\n`);

    // Members teach the first half.
    const members = Array.from({ length: 3 }, (_, i) => emu.addUser(`gardener${i + 1}`));
    for (const [i, file] of taught.entries()) {
      const member = members[i % members.length]!;
      const reply = await post(emu, file, member);
      const said = await teach(emu, reply, member, o.name);
      if (i < 2) {
        say(`👤 ${member.username} posts ${path.basename(file)} in #flowers`);
        say(printReply(member.username, reply.message, reply.files));
        say(`👤 ${member.username} presses ❌ Wrong → "Another species…" → types "${o.name}"`);
        say(`🤖 Bloom → ${member.username} (only they can see this)\n   ${said.split('\n').join('\n   ')}\n`);
      } else if (i === 2) say(`… and ${taught.length - 2} more photos taught the same way.\n`);
    }

    const admin = emu.users.admin;
    const approved = await approveAll(app, emu, admin);
    say(`👤 ${admin.username} approves ${approved} photos with /review.`);

    say(`👤 ${admin.username} runs /retrain`);
    const t0 = Date.now();
    const inv = await emu.invokeCommand({ name: 'retrain', user: admin });
    const outcome = await until(
      () =>
        emu
          .interactionResponses(inv.id)
          .filter((r) => r.kind === 'editOriginal' || r.kind === 'followup')
          .find((r) => !/Retraining…/.test((r.body as ReplyBody | undefined)?.embeds?.[0]?.title ?? '')),
      30 * 60_000,
      'the retrain',
    );
    const retrainSeconds = (Date.now() - t0) / 1000;
    say(printReply(admin.username, outcome.body as ReplyBody, []) + '\n');
    const after = app.models.current!;
    const validAfter = await validAccuracy(after, valid, cache);

    // The other half: never taught.
    let top1Hits = 0,
      top5Hits = 0;
    const want = o.name.toLowerCase();
    for (const [i, file] of tested.entries()) {
      const member = members[i % members.length]!;
      const reply = await post(emu, file, member);
      const n = namesIn(reply);
      if (n.top1.toLowerCase() === want) top1Hits++;
      if (n.candidates.some((c) => c.toLowerCase() === want)) top5Hits++;
      if (i < 2)
        say(
          `👤 ${member.username} posts ${path.basename(file)} (not taught)\n${printReply(member.username, reply.message, reply.files)}\n`,
        );
    }
    const result = {
      name: o.name,
      taught: taught.length,
      tested: tested.length,
      top1Hits,
      top5Hits,
      validBefore,
      validAfter,
      validImages: valid.length,
      retrainSeconds,
      modelBefore: startClf.version,
      modelAfter: after.version,
      out,
    };
    say(
      `Taught ${taught.length} photos; of the ${tested.length} untaught ones, ${top1Hits} were named ${o.name} first (${((100 * top1Hits) / tested.length).toFixed(0)}%) and ${top5Hits} had it among the candidates.`,
    );
    say(
      `Valid top-1 on the species it already knew: ${(validBefore * 100).toFixed(2)}% → ${(validAfter * 100).toFixed(2)}% (${valid.length} photos). /retrain took ${retrainSeconds.toFixed(0)} s.`,
    );
    if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await app.stop();
    await emu.close();
  }
}

main().then(() => process.exit(0), fail);
