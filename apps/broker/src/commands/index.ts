import type { Command } from 'commander';
import { registerClusterCommands } from './cluster.js';
import { registerConsumeCommand } from './consume.js';
import { registerGroupCommands } from './group.js';
import { registerMirrorCommand } from './mirror.js';
import { registerProduceCommand } from './produce.js';
import { registerTopicCommands } from './topic.js';

/** The client commands of `sluice`, built on @sluice/client. */
export function registerClientCommands(program: Command): void {
  registerTopicCommands(program);
  registerProduceCommand(program);
  registerConsumeCommand(program);
  registerGroupCommands(program);
  registerClusterCommands(program);
  registerMirrorCommand(program);
}
