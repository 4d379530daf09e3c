/**
 * Download the Oxford 102 Flowers dataset and lay it out by official split:
 *   npm run download-flowers -- --out data/flowers102
 */
import { Command, InvalidArgumentError } from 'commander';
import {
  DEFAULT_FLOWERS_DIR,
  FLOWERS_BASE_URL,
  FLOWERS_NAMES_URL,
  SPLITS,
  displayPath,
  downloadFlowers,
  type FlowersFile,
} from '../src/data/flowersDownload.ts';
import { DownloadError } from '../src/net/errors.ts';
import { createProgressReporter } from '../src/net/progress.ts';

const sha256Arg = (value: string, previous: Partial<Record<FlowersFile, string>> = {}) => {
  const m = /^(archive|labels|setid|names)=([0-9a-fA-F]{64})$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected FILE=SHA256 with FILE one of archive, labels, setid, names');
  return { ...previous, [m[1] as FlowersFile]: m[2]!.toLowerCase() };
};

const program = new Command()
  .name('download-flowers')
  .description(
    'Download Oxford 102 Flowers and lay it out as OUT/{train,valid,test}/<label>/image_XXXXX.jpg plus OUT/cat_to_name.json.\n' +
      'Downloads are resumable and cached in OUT.downloads/ until the layout is complete.',
  )
  .option('--out <dir>', 'output directory', DEFAULT_FLOWERS_DIR)
  .option('--base-url <url>', 'directory URL with 102flowers.tgz, imagelabels.mat and setid.mat', FLOWERS_BASE_URL)
  .option('--names-url <url>', 'URL of cat_to_name.json (label → display name)', FLOWERS_NAMES_URL)
  .option('--keep-archive', 'keep the download cache (including the 330 MB archive) afterwards', false)
  .option('--force', 'rebuild even if the layout is already complete (reuses finished downloads)', false)
  .option('--sha256 <file=hex>', 'verify a download, e.g. --sha256 archive=<hex> (repeatable)', sha256Arg)
  .showHelpAfterError();

program.parse();
const opts = program.opts<{
  out: string;
  baseUrl: string;
  namesUrl: string;
  keepArchive: boolean;
  force: boolean;
  sha256?: Partial<Record<FlowersFile, string>>;
}>();

const ac = new AbortController();
process.once('SIGINT', () => {
  // Stop cleanly (partial downloads are kept for resuming); a second Ctrl-C quits at once.
  console.error('\nStopping… press Ctrl-C again to quit immediately.');
  ac.abort();
});

try {
  const summary = await downloadFlowers({
    outDir: opts.out,
    baseUrl: opts.baseUrl,
    namesUrl: opts.namesUrl,
    keepArchive: opts.keepArchive,
    force: opts.force,
    ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
    progress: createProgressReporter(),
    log: (line) => console.error(line),
    signal: ac.signal,
  });
  const rows = SPLITS.map(
    (s) => `  ${s.padEnd(6)} ${String(summary.splits[s].images).padStart(6)} images  ${summary.splits[s].classes} classes`,
  );
  console.log(
    [
      `Oxford 102 Flowers ${summary.skipped ? 'already in' : 'ready in'} ${displayPath(summary.outDir)}`,
      ...rows,
      `  total  ${String(summary.total).padStart(6)} images  ${summary.classes} classes`,
    ].join('\n'),
  );
} catch (err) {
  if (err instanceof DownloadError) {
    console.error(`download-flowers: ${err.message}${err.detail ? ` (${err.detail})` : ''}`);
    if (err.code !== 'BAD_CHECKSUM') console.error('Run the command again to resume.');
  } else if (ac.signal.aborted) {
    console.error('download-flowers: stopped. Run the command again to continue.');
  } else {
    console.error(`download-flowers: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exitCode = 1;
}
