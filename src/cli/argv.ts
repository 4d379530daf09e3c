// Option spelling of the command-line tools.

/** Accepts the seed project's underscore spellings (--hidden_units) as aliases. */
export function normaliseArgv(argv: string[]): string[] {
  return argv.map((a) => (a.startsWith('--') ? a.replace(/^--([^=]+)/, (_, name: string) => `--${name.replace(/_/g, '-')}`) : a));
}
