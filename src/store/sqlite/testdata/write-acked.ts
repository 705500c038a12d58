/**
 * Child process for sqlite-store.test.ts's durability test: writes /acked/<i> one transaction at a
 * time and prints "<i> <revision>" once each txn() has resolved, until it is killed.
 */
import { put } from '../../store.js';
import { SqliteStore } from '../sqlite-store.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: write-acked.ts DATABASE');
const store = SqliteStore.open(path);
// Bounded, so that a child whose parent died without killing it still stops (a broken stdout pipe
// also ends it, on the next write).
for (let i = 0; i < 100_000; i++) {
  const revision = await put(store, `/acked/${i}`, String(i));
  process.stdout.write(`${i} ${revision}\n`);
}
await store.close();
