export * from './authorizer.js';
export * from './delegation-token.js';
export * from './jaas.js';
export * from './oauthbearer.js';
export * from './plain.js';
export * from './sasl.js';
export * from './scram.js';
export * from './tls.js';
