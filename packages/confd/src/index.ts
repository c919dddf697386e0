export * from './inputs.js';
export * from './model.js';
export * from './render.js';
export * from './writer.js';
export * from './store.js';
export * from './debounce.js';
export * from './confd.js';
