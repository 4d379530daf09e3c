// Progress output of the command-line tools on stderr: a bar per phase on a
// terminal, a line every 10% otherwise; downloads with a progress bar.
import cliProgress from 'cli-progress';
import type { FetchFile } from '../classifier/modelFiles.ts';
import { createProgressReporter, downloadFile } from '../net/index.ts';
import { log } from './log.ts';

export const fetchWithProgress: FetchFile = async (url, dest, label) => {
  const bar = createProgressReporter()(`Downloading ${label}`);
  try {
    await downloadFile(url, dest, { onProgress: bar.update });
  } finally {
    bar.done();
  }
};

/** A bar per phase when stderr is a terminal; a line every 10% otherwise. */
export function phaseProgress(): (label: string, done: number, total: number) => void {
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  let lastPct = -1;
  return (label, done, total) => {
    if (label !== current) {
      bar?.stop();
      bar = undefined;
      current = label;
      lastPct = -1;
      if (process.stderr.isTTY) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
    }
    if (bar) {
      bar.update(done);
      if (done >= total) { bar.stop(); bar = undefined; }
      return;
    }
    const pct = Math.floor((10 * done) / total) * 10;
    if (pct !== lastPct) { lastPct = pct; log(`${label}: ${done}/${total} (${pct}%)`); }
  };
}
