import type { Command } from 'commander';
import { registerClusterCommands } from './cluster.js';
import { registerConsoleCommand } from './console.js';
import { registerConsumeCommand } from './consume.js';
import { registerGroupCommands } from './group.js';
import { registerMirrorCommand } from './mirror.js';
import { registerProduceCommand } from './produce.js';
import { registerSecurityCommands } from './security.js';
import { registerTopicCommands } from './topic.js';
import { registerTransactionCommands } from './transactions.js';

/** The client commands of `sluice`, built on @sluice/client. */
export function registerClientCommands(program: Command): void {
  registerTopicCommands(program);
  registerProduceCommand(program);
  registerConsumeCommand(program);
  registerGroupCommands(program);
  registerClusterCommands(program);
  registerConsoleCommand(program);
  registerSecurityCommands(program);
  registerTransactionCommands(program);
  registerMirrorCommand(program);
}
