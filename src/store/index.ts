/** The Store module: the revisioned key-value contract and its backends. */
export * from './store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';
