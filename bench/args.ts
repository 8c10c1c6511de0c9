/** Command-line flags of the benchmarks. */

/** The value after `flag` in `argv`, undefined when the flag is absent; a flag with no value is an error. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
  return v;
}
