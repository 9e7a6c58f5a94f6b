export * from './frame.js';
export * from './frame-decoder.js';
export * from './request-frame.js';
