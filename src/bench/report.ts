// The bench result as readable text: one small table per measurement.
import type { BenchResult } from './run.ts';

const f = (x: number | null | undefined, d = 0) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(w.map((n) => '─'.repeat(n))), ...rows.map(line)].join('\n');
}

export function formatReport(r: BenchResult): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Bloom bench — ${r.startedAt} — ${m.cpus} CPU (${m.cpuModel}), ${m.memoryMb} MiB, node ${m.node}, tfjs ${m.tfjs}`);
  out.push(
    `load average ${f(m.loadAverage.start, 2)} at start, ${f(m.loadAverage.end, 2)} at end${m.loadAverage.start > 0.5 * m.cpus ? '  (busy machine: figures are pessimistic)' : ''}; ${f(r.seconds, 0)} s${r.options.quick ? ', --quick' : ''}`,
  );
  if (r.synthetic) out.push('', "*** SYNTHETIC: some inputs are stand-ins, see the notes; these figures are not the bot's real speed ***");
  if (r.sources.notes.length) out.push('', 'Notes:', ...r.sources.notes.map((n) => `  - ${n}`));

  out.push('', 'Feature extraction — JPEG bytes → prepareImage → pool.embed, ms per image');
  const ex = r.extraction;
  if (ex.skipped) out.push(`  skipped: ${ex.note}`);
  else {
    if (r.sources.photos)
      out.push(
        `  photos: ${r.sources.photos.count} from ${r.sources.photos.dir}${r.sources.photos.synthetic ? ' (synthetic)' : ''}; backend ${ex.backend}`,
      );
    out.push(
      table(
        ['backbone', 'workers', 'b1 latency p50', 'p95', '(decode', 'embed)', 'b1 2 streams', 'b16', 'img/s b16', 'start'],
        ex.runs.map((x) => [
          x.backbone + (r.sources.backbones.find((b) => b.name === x.backbone)?.synthetic ? ' (synthetic)' : ''),
          String(x.workers),
          f(x.batch1?.latencyMs.p50, 1),
          f(x.batch1?.latencyMs.p95, 1),
          f(x.batch1?.decodeMs.p50, 1),
          f(x.batch1?.embedMs.p50, 1),
          f(x.batch1?.twoStreams.msPerImage, 1),
          f(x.batch16?.msPerImage, 1),
          f(x.batch16?.imagesPerSecond, 1),
          `${f(x.startupMs / 1000, 1)} s`,
        ]),
      ),
    );
    out.push(
      '  b1 latency: one photo at a time; b1 2 streams: two concurrent single-photo streams (wall ms / photos); b16: batches of 16 (wall ms / photos)',
    );
    for (const s of ex.speedup) {
      const synthetic = r.sources.backbones.find((b) => b.name === s.backbone)?.synthetic;
      const mark = (ok: boolean) => (synthetic ? '(synthetic stand-in: not judged)' : ok ? '✓' : `✗ (target ≥ ${s.target}×)`);
      out.push(
        `  2 workers vs 1, ${s.backbone}: ${f(s.batch1Streams, 2)}× with two single-photo streams ${mark(s.meetsTarget.batch1Streams)}, ${f(s.batch16, 2)}× at batch 16 ${mark(s.meetsTarget.batch16)}`,
      );
    }
    const wt = ex.wasmThreads;
    if (wt.skipped) out.push(`  multi-threaded wasm: ${wt.note}`);
    else {
      out.push(`  multi-threaded wasm (1 worker, setThreadsCount(${wt.requested})): ${wt.finding}`);
      for (const x of wt.runs)
        out.push(`    ${x.backbone}: b1 latency p50 ${f(x.batch1?.latencyMs.p50, 1)} ms, b16 ${f(x.batch16?.msPerImage, 1)} ms/image`);
    }
  }

  out.push('', 'End to end — photo posted in the emulator → bot reply, ms');
  const e = r.endToEnd;
  if (e.skipped) out.push(`  skipped: ${e.note}`);
  else {
    out.push(`  model ${e.model}; photos from ${e.photos.dir}${e.photos.synthetic ? ' (synthetic)' : ''}`);
    out.push(
      table(
        ['workers', 'alone p50', 'p95', 'max', 'burst p50', 'p95', 'max', 'answered', 'identified', 'img/s', 'batches', 'first', 'start'],
        e.runs.map((x) => [
          String(x.workers),
          f(x.alone.latencyMs.p50),
          f(x.alone.latencyMs.p95),
          f(x.alone.latencyMs.max),
          f(x.burst.latencyMs.p50),
          f(x.burst.latencyMs.p95),
          f(x.burst.latencyMs.max),
          `${x.burst.answered}/${x.burst.posted}`,
          `${x.burst.identified}/${x.burst.posted}`,
          f(x.burst.imagesPerSecond, 1),
          String(x.burst.embedBatches),
          f(x.firstReplyMs),
          `${f(x.startupMs / 1000, 1)} s`,
        ]),
      ),
    );
    const alone = e.runs[0]?.alone.posted ?? 0,
      burst = e.runs[0]?.burst;
    out.push(
      `  alone: ${alone} photos one after another; burst: ${burst?.posted ?? 0} photos posted at once by ${burst?.users ?? 0} users (img/s over first post → last reply; batches = embed calls)`,
    );
    for (const x of e.runs)
      if (x.botProblems)
        out.push(`  ${x.workers} worker(s): the bot logged ${x.botProblems} warning(s)/error(s), e.g. ${x.botProblemSamples[0]}`);
  }

  out.push('', '/retrain — wall time');
  const t = r.retrain;
  if (t.skipped) out.push(`  skipped: ${t.note}`);
  else {
    out.push(
      table(
        [
          'run',
          'photos',
          'workers',
          'total s',
          'start',
          'features',
          'head',
          '(prep',
          'epochs',
          'save)',
          'finish',
          'extracted',
          'status',
          'valid acc',
        ],
        t.runs.map((x) => [
          x.kind,
          `${x.trainImages}+${x.validImages}`,
          String(x.workers),
          f(x.seconds, 1),
          f(x.phases.startS, 1),
          f(x.phases.featuresS, 1),
          f(x.phases.headS, 1),
          f(x.phases.headPrepS, 1),
          f(x.phases.epochsS, 1),
          f(x.phases.headSaveS, 1),
          f(x.phases.finishS, 1),
          String(x.featuresExtracted),
          x.status,
          x.validAccuracy === null ? '—' : `${(x.validAccuracy * 100).toFixed(1)}%`,
        ]),
      ),
    );
    out.push(
      '  start: training worker + its pool; features: read + hash + cache lookup + extraction of misses; head = prep (standardise, tensors) + epochs + save (fold, accuracy, typical photos, write);',
    );
    out.push('  finish: accept check + model swap; extracted: feature vectors added to the cache (0 = warm)');
    const warm = t.runs.find((x) => x.kind === 'warm-project-cache') ?? t.runs.find((x) => x.kind === 'warm');
    if (warm)
      out.push(
        `  warm retrain ${f(warm.seconds, 1)} s (target ≤ 60 s on the full set${warm.maxPerClass ? `; this run used ${warm.maxPerClass} photos per class` : ''})`,
      );
    for (const n of t.notes) out.push(`  note: ${n}`);
  }

  const l = r.learn;
  if (!l.skipped) {
    const c = l.contributions;
    out.push('', `/retrain learning ${c.total} contributed photos — wall time (model ${l.model})`);
    out.push(
      `  contributions: ${c.newSpecies.photos} of "${c.newSpecies.name}" (${c.newSpecies.label}, new; from ${c.newSpecies.dir}) + ${c.known.photos} training photos of ${c.known.species} known species; a new species needs ${l.minPhotos}`,
    );
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    out.push(
      table(
        [
          'run',
          'workers',
          'total s',
          'start',
          'statistics',
          'contributions',
          'valid',
          'train+save',
          'extracted',
          'cached',
          'before',
          'after',
          'known before',
          'after',
          'gate',
        ],
        l.runs.map((x) => [
          x.kind,
          String(x.workers),
          f(x.seconds, 1),
          f(x.phases.startS, 1),
          f(x.phases.statisticsS, 1),
          f(x.phases.contributionsS, 1),
          f(x.phases.validS, 1),
          f(x.phases.trainS, 1),
          String(x.extracted),
          String(x.cached),
          pct(x.before.accuracy),
          pct(x.after.accuracy),
          pct(x.before.knownAccuracy),
          pct(x.after.knownAccuracy),
          x.passesGate ? 'pass' : 'fail',
        ]),
      ),
    );
    const first = l.runs[0];
    if (first) {
      out.push(
        `  start: training worker, live model, plan; statistics: class statistics from training photos (0 when the checkpoint keeps them); extracted/cached: photos (centre view) through the backbone / from the cache`,
      );
      out.push(
        `  before/after: live model and candidate on the same photos (${first.evaluationSet}); known: on the species the live model knew`,
      );
      out.push(
        `  species added: ${first.added.length ? first.added.map((a) => `${a.name} (${a.label}, ${a.photos} photos)`).join(', ') : 'none'}${first.waiting.length ? `; waiting: ${first.waiting.map((w) => `${w.name} (${w.photos}/${w.needed})`).join(', ')}` : ''}; learnt from ${first.learnt}, held out ${first.heldOut}`,
      );
    }
    const verdict = (kind: 'cold' | 'warm', target: number, ok: boolean | null, what: string) => {
      const run = l.runs.find((x) => x.kind === kind);
      if (!run) return;
      const mark = ok === null ? '(synthetic: not judged)' : ok ? '✓' : '✗';
      out.push(`  ${what} ${f(run.seconds, 1)} s (target ≤ ${target} s) ${mark}`);
    };
    verdict('cold', l.targets.coldS, l.meetsTarget.cold, 'cold learning retrain (fresh install, no feature cache)');
    verdict('warm', l.targets.warmS, l.meetsTarget.warm, 'warm learning retrain (same cache)');
    for (const n of l.notes) out.push(`  note: ${n}`);
  }

  const mem = r.memory;
  out.push(
    '',
    `Memory — peak RSS ${f(mem.peakRssMb)} MiB (sampled every ${mem.sampleIntervalMs} ms; worker threads included), maxRSS ${f(mem.maxRssMb)} MiB`,
  );
  out.push(
    table(
      ['phase', 'peak MiB'],
      Object.entries(mem.byPhase).map(([k, v]) => [k, f(v)]),
    ),
  );
  return out.join('\n') + '\n';
}
