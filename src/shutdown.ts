// How `npm start` ends: stop the app, then exit. A stop that fails exits 1; one that
// hangs (a stuck reply, a worker that never answers) is cut short after a grace period.

export interface StopAndExitOptions {
  onError?: (err: unknown) => void;
  /** How long the stop may take; in-flight replies get 30 s of it. */
  graceMs?: number;
  exit?: (code: number) => void;
}

export async function stopAndExit(stop: () => Promise<void>, code: number, o: StopAndExitOptions = {}): Promise<void> {
  const exit = o.exit ?? ((c: number) => process.exit(c));
  const timer = setTimeout(() => exit(1), o.graceMs ?? 45_000);
  try {
    await stop();
  } catch (err) {
    o.onError?.(err);
    code = 1;
  }
  clearTimeout(timer);
  exit(code);
}
