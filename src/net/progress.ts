/**
 * Download progress for CLI scripts. A live cli-progress bar when stderr is
 * an interactive terminal; otherwise (CI logs, pipes) an occasional plain
 * line, so logs stay readable. Never writes to stdout, which scripts keep
 * for their actual output.
 */
import cliProgress from 'cli-progress';
import { formatBytes } from './errors.ts';

export interface ProgressHandle {
  /** Matches downloadFile's onProgress, and is safe to pass unbound. */
  readonly update: (received: number, total: number | undefined) => void;
  /** Finish the bar / print the final line. */
  readonly done: () => void;
}

/** Creates one progress display per labelled task (e.g. per file). */
export type ProgressReporter = (label: string) => ProgressHandle;

export interface ProgressOptions {
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Plain-line mode: at most one line per interval. Default 5000 ms. */
  intervalMs?: number;
}

export const silentProgress: ProgressReporter = () => ({ update: () => {}, done: () => {} });

export function createProgressReporter(opts: ProgressOptions = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  return (label) => (stream.isTTY ? barProgress(label, stream) : lineProgress(label, stream, opts.intervalMs ?? 5000));
}

function barProgress(label: string, stream: NodeJS.WriteStream): ProgressHandle {
  let bar: cliProgress.SingleBar | undefined;
  let knownTotal: number | undefined;
  let last = 0;
  const payload = (received: number) => ({ recv: formatBytes(received), size: knownTotal ? formatBytes(knownTotal) : '?' });
  return {
    update: (received, total) => {
      last = received;
      if (!bar) {
        knownTotal = total;
        // Without a total a bar is meaningless; show the byte count only.
        const format = total
          ? `${label} [{bar}] {percentage}% | {recv} / {size} | ETA {eta_formatted}`
          : `${label} {recv} received | {duration_formatted}`;
        bar = new cliProgress.SingleBar(
          { format, stream, hideCursor: true, barsize: 30, etaBuffer: 50 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 1, received, payload(received));
        return;
      }
      bar.update(received, payload(received));
    },
    done: () => {
      if (bar) {
        bar.update(last, payload(last));
        bar.stop();
      }
    },
  };
}

function lineProgress(label: string, stream: NodeJS.WriteStream, intervalMs: number): ProgressHandle {
  let lastLine = 0;
  let last = 0;
  let size: number | undefined;
  const describe = (received: number) =>
    size ? `${Math.floor((received / size) * 100)}% (${formatBytes(received)} / ${formatBytes(size)})` : formatBytes(received);
  return {
    update: (received, total) => {
      last = received;
      size = total;
      const now = Date.now();
      if (now - lastLine >= intervalMs) {
        lastLine = now;
        stream.write(`${label}: ${describe(received)}\n`);
      }
    },
    done: () => {
      if (lastLine > 0) stream.write(`${label}: done, ${formatBytes(last)}\n`);
    },
  };
}
