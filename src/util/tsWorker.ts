// Starts a worker thread on a TypeScript module. Worker threads do not inherit
// tsx's loader, so a tiny eval'd bootstrap registers it before importing.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(entry: URL, opts: WorkerOptions = {}): Worker {
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...opts, eval: true });
}
