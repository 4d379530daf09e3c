// Keeps the checkpoints folder small: only the newest versions stay (and
// always the live one); /model rollback chooses among what is left.
import fs from 'node:fs';
import path from 'node:path';

/** Version folders of a checkpoints root (a meta.json inside), oldest first (names start with a UTC timestamp). */
export function listVersions(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && fs.existsSync(path.join(root, e.name, 'meta.json')))
    .map((e) => e.name)
    .sort();
}

/**
 * Deletes all but the newest `keep` versions under root, never one named in
 * `protect` (the live version, the one CURRENT names). Returns what it deleted.
 */
export function pruneVersions(root: string, keep: number, protect: (string | undefined)[] = []): string[] {
  const current = path.join(root, 'CURRENT');
  const safe = new Set([...protect, fs.existsSync(current) ? fs.readFileSync(current, 'utf8').trim() : undefined]);
  const versions = listVersions(root);
  const doomed = versions.slice(0, Math.max(0, versions.length - keep)).filter((v) => !safe.has(v));
  for (const v of doomed) fs.rmSync(path.join(root, v), { recursive: true, force: true });
  return doomed;
}
