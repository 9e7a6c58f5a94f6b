/** The key under which dist/cli.js lends its import() to the bundle it runs (scripts/cli-entry.mjs). */
export const LENT_IMPORT = Symbol.for('sluice.cli.import');

/**
 * import() of a package kept out of the bundle (@sluice/console). The built command line runs
 * its bundle as a vm.Script, which has no import() of its own on Node 20 without
 * --experimental-vm-modules (the bundler turns it into require(), which loads an ES module only
 * from Node 20.19 on), so dist/cli.js lends its own; from sources this is the plain import().
 */
export function importOutsideBundle<T>(specifier: string): Promise<T> {
  const lent = (globalThis as Record<symbol, unknown>)[LENT_IMPORT] as ((s: string) => Promise<T>) | undefined;
  return lent ? lent(specifier) : import(specifier);
}
