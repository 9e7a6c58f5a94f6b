export { createApp } from './app.js';
export { type BrowseQuery, type BrowseResult, browse } from './browse.js';
export { runConsoleCommand } from './cli.js';
export { ClusterView } from './cluster.js';
export { type ConsoleOptions, discoverMetricsUrls, type RunningConsole, startConsole } from './server.js';
