/** Wire protocols: the error catalog and the operation contract every AWS API module implements. */
export * from './errors.js';
export type * from './types.js';
export * from './json.js';
export * from './query.js';
