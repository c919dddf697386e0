export { Felix, FatalConfigError, type FelixOptions } from './felix.js';
export { resolveConfig, type FelixConfig } from './config.js';
export { Metrics } from './drivers/metrics.js';
export * from './names.js';
