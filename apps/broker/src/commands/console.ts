import type { Command } from 'commander';
import { importOutsideBundle } from '../import-outside-bundle.js';

/**
 * `sluice console …` hands its arguments to @sluice/console (apps/console), loaded by name when
 * run: the console depends on the client, not on the broker, so the broker does not depend on it.
 */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('Serve the web console for a cluster (sluice console --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      // A variable specifier keeps the bundler and tsc from resolving the package at build time.
      const specifier = '@sluice/console';
      let mod: { runConsoleCommand(args: readonly string[]): Promise<number | null> };
      try {
        mod = await importOutsideBundle(specifier);
      } catch (err) {
        process.stderr.write(`sluice console: @sluice/console is not installed or built (${(err as Error).message})\n`);
        process.exit(1);
      }
      const code = await mod.runConsoleCommand(args);
      if (code !== null) process.exit(code);
    });
}
