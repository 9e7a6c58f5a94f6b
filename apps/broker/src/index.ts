export * from './config/index.js';
export type { BrokerLogger } from './logger.js';
export { type RunningBroker, type StartBrokerOptions, startBroker } from './server/broker.js';
export type { BrokerContext } from './server/context.js';
