// Progress output of the command-line tools on stderr: a bar per phase on a
// terminal, a line every 10% or every minute otherwise (with the recent rate and
// time left); downloads with a progress bar.
import cliProgress from 'cli-progress';
import type { FetchFile } from '../classifier/modelFiles.ts';
import { createProgressReporter, downloadFile } from '../net/index.ts';
import { RateEstimator } from './eta.ts';
import { log } from './log.ts';

export const fetchWithProgress: FetchFile = async (url, dest, label) => {
  const bar = createProgressReporter()(`Downloading ${label}`);
  try {
    await downloadFile(url, dest, { onProgress: bar.update });
  } finally {
    bar.done();
  }
};

/** A bar per phase when stderr is a terminal; otherwise a line every 10% or every minute, with the recent rate and time left. */
export function phaseProgress(): (label: string, done: number, total: number) => void {
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  let lastPct = -1;
  let lastLine = 0;
  let eta = new RateEstimator();
  return (label, done, total) => {
    if (label !== current) {
      bar?.stop();
      bar = undefined;
      current = label;
      lastPct = -1;
      eta = new RateEstimator();
      if (process.stderr.isTTY) {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0);
      }
    }
    if (bar) {
      bar.update(done);
      if (done >= total) {
        bar.stop();
        bar = undefined;
      }
      return;
    }
    eta.update(done);
    const pct = Math.floor((10 * done) / total) * 10;
    if (pct !== lastPct || Date.now() - lastLine >= 60_000) {
      lastPct = pct;
      lastLine = Date.now();
      log(`${label}: ${done}/${total} (${pct}%)${done < total ? eta.describe(total) : ''}`);
    }
  };
}
