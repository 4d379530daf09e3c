// The project's layout rules: production code (src/, scripts/, commands/) never
// imports test code, and the `npm test` glob finds every test file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(rel));
    else if (/\.(ts|mts|cts)$/.test(e.name)) out.push(rel);
  }
  return out;
}

/** Module specifiers of static imports, re-exports and dynamic import() calls. */
function importSpecifiers(source: string): string[] {
  const re = /\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...source.matchAll(re)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

test('importSpecifiers finds static, side-effect, re-export and dynamic imports', () => {
  const src = [
    "import fs from 'node:fs';",
    "import { a,\n  b } from '../x.ts';",
    'import type { T } from "./t.ts";',
    "import './side.ts';",
    "export { c } from '../../test/c.ts';",
    "const m = await import('../dyn.ts');",
  ].join('\n');
  assert.deepEqual(importSpecifiers(src), ['node:fs', '../x.ts', './t.ts', './side.ts', '../../test/c.ts', '../dyn.ts']);
});

test('no file under src/, scripts/ or commands/ imports from test/', () => {
  const testDir = path.join(root, 'test') + path.sep;
  const offenders: string[] = [];
  for (const file of ['src', 'scripts', 'commands'].flatMap(tsFiles)) {
    for (const spec of importSpecifiers(fs.readFileSync(path.join(root, file), 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(root, path.dirname(file), spec);
      if (target.startsWith(testDir)) offenders.push(`${file} → ${spec}`);
    }
  }
  assert.ok(tsFiles('src').length > 50, 'the scan sees the source tree');
  assert.deepEqual(offenders, [], 'production code must not import test code');
});

test('the npm test glob finds every *.test.ts file, and no test lives outside test/', () => {
  const script = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { test: string } }).scripts.test;
  const globs = script.split(/\s+/).filter((w) => w.endsWith('.test.ts'));
  assert.ok(globs.length > 0, `no test glob in "${script}"`);
  const patterns = globs.map((g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));
  const tests = ['test', 'src', 'scripts', 'commands'].flatMap(tsFiles).filter((f) => f.endsWith('.test.ts'));
  assert.ok(tests.includes('test/layout.test.ts'));
  const missed = tests.filter((f) => !patterns.some((p) => p.test(f)));
  assert.deepEqual(missed, [], `not run by "npm test": ${missed.join(', ')}`);
});
