export * from './frame.js';
export * from './frame-decoder.js';
