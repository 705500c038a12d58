/**
 * A stand-in agent for runc.test.ts: creates and starts one container, prints its state as one JSON
 * line, then idles until killed, so the test can kill a real agent process under a running container.
 *   node --import tsx agent.ts STATE_DIR CGROUP_PARENT SPEC_JSON
 */
import type { ContainerSpec } from '../../driver.js';
import { RuncDriver } from '../runc-driver.js';

const [stateDir = '', cgroupParent = '', specJson = '{}'] = process.argv.slice(2);
const driver = new RuncDriver({ stateDir, cgroupParent });
const spec = JSON.parse(specJson) as ContainerSpec;
await driver.create(spec);
process.stdout.write(`${JSON.stringify(await driver.start(spec.id))}\n`);
setInterval(() => undefined, 1 << 30);
