/**
 * A process that runs a data plane and prints its HAProxy master's pid, for the test that kills
 * this process with SIGKILL and expects HAProxy to go with it.
 * Usage: node --import tsx orphan-child.ts <stateDir>
 */
import { join } from 'node:path';
import { SqliteStore } from '../../../store/index.js';
import { startLbDataPlane } from '../dataplane.js';

const stateDir = process.argv[2]!;
const store = SqliteStore.open(join(stateDir, 'state.db'));
const lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(stateDir, 'lb'), logger: { error: () => {}, warn: () => {}, debug: () => {} } });
await lb.ready;
console.log(JSON.stringify({ master: lb.masterPid(), worker: await lb.workerPid() }));
setInterval(() => {}, 60_000);
