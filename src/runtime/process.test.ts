/**
 * resolveProcess and friends: Docker's rules for the process of a container, case by case.
 */
import { describe, expect, it } from 'vitest';
import type { ContainerSpec } from './driver.js';
import { isRuntimeError } from './errors.js';
import { containerHostname, DEFAULT_PATH, resolveProcess, resolveUser, stopSignal } from './process.js';

const base: ContainerSpec = { id: 'app-1', rootfs: '/r', network: { mode: 'none' } };
const passwd = 'root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000::/home/app:/bin/sh\nbroken line\nsvc:x:1001:1001::/srv:/bin/false\n';
const group = 'root:x:0:\napp:x:1000:\nextra:x:2000:app,svc\nother:x:3000: app \nsvc:x:1001:\n';

function invalidField(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isRuntimeError(err, 'InvalidSpec')) return err.message.split(':')[0]!;
    throw err;
  }
  throw new Error('expected InvalidSpec');
}

describe('resolveProcess: args', () => {
  const image = { Entrypoint: ['/ep'], Cmd: ['a', 'b'] };
  const args = (over: Partial<ContainerSpec>) => resolveProcess({ ...base, ...over }, {}).args;

  it("is Entrypoint + Cmd; command replaces Cmd; entryPoint replaces Entrypoint and drops the image's Cmd", () => {
    expect(args({ image })).toEqual(['/ep', 'a', 'b']);
    expect(args({ image, command: ['c'] })).toEqual(['/ep', 'c']);
    expect(args({ image, entryPoint: ['/own'] })).toEqual(['/own']);
    expect(args({ image, entryPoint: ['/own'], command: ['c'] })).toEqual(['/own', 'c']);
    expect(args({ image: { Cmd: ['sh'] } })).toEqual(['sh']);
    expect(args({ image, command: [] })).toEqual(['/ep']);
  });

  it('needs something to run', () => {
    expect(invalidField(() => resolveProcess(base, {}))).toBe('command');
    expect(invalidField(() => resolveProcess({ ...base, image: { Entrypoint: [], Cmd: null } }, {}))).toBe('command');
    expect(invalidField(() => resolveProcess({ ...base, entryPoint: [''] }, {}))).toBe('entryPoint');
  });
}
);

describe('resolveProcess: environment, working dir, hostname', () => {
  const run = (over: Partial<ContainerSpec>) => resolveProcess({ ...base, command: ['x'], ...over }, { passwd });

  it('merges environment over the image Env in order, then adds PATH, HOSTNAME and HOME when missing', () => {
    expect(run({ image: { Env: ['A=1', 'B=x=y', 'NOEQ', 'PATH=/bin'] }, environment: [{ name: 'A', value: '2' }, { name: 'C', value: '' }, { name: 'A', value: '3' }] }).env)
      .toEqual(['A=3', 'B=x=y', 'PATH=/bin', 'C=', 'HOSTNAME=app-1', 'HOME=/root']);
    expect(run({}).env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOSTNAME=app-1', 'HOME=/root']);
    expect(run({ environment: [{ name: 'HOME', value: '/h' }, { name: 'HOSTNAME', value: 'h' }] }).env).toEqual(['HOME=/h', 'HOSTNAME=h', `PATH=${DEFAULT_PATH}`]);
    expect(run({ network: { mode: 'host' } }).env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOME=/root']);
  });

  it('refuses names that cannot be environment names', () => {
    expect(invalidField(() => run({ environment: [{ name: 'A=B', value: '1' }] }))).toBe('environment[0].name');
    expect(invalidField(() => run({ environment: [{ name: 'A', value: '1' }, { name: '', value: '1' }] }))).toBe('environment[1].name');
    expect(invalidField(() => run({ environment: [{ name: 'A', value: 'a\0b' }] }))).toBe('environment[0].value');
  });

  it('starts in workingDirectory, else the image WorkingDir, else /', () => {
    expect(run({}).cwd).toBe('/');
    expect(run({ image: { WorkingDir: '' } }).cwd).toBe('/');
    expect(run({ image: { WorkingDir: '/app' } }).cwd).toBe('/app');
    expect(run({ image: { WorkingDir: '/app' }, workingDirectory: '/tmp' }).cwd).toBe('/tmp');
    expect(invalidField(() => run({ workingDirectory: 'tmp' }))).toBe('workingDirectory');
  });

  it('names the host after the spec, else the container id; none in host mode', () => {
    expect(containerHostname({ ...base, hostname: 'web.local' })).toBe('web.local');
    expect(containerHostname({ ...base, id: 'task_1.web-' })).toBe('task-1.web');
    expect(containerHostname({ ...base, id: 'x'.repeat(100) })).toBe('x'.repeat(63));
    expect(containerHostname({ ...base, network: { mode: 'host' } })).toBeUndefined();
    expect(containerHostname({ ...base, network: { mode: 'host' }, hostname: 'h' })).toBe('h');
    for (const bad of ['', '-a', 'a b', 'a'.repeat(64)]) expect(invalidField(() => containerHostname({ ...base, hostname: bad }))).toBe('hostname');
  });

  it('refuses ids runc or the state dir could not hold', () => {
    for (const id of ['', '-x', 'a/b', '../x', 'x'.repeat(129)]) expect(invalidField(() => run({ id }))).toBe('id');
  });
});

describe('resolveUser', () => {
  const db = { passwd, group };

  it('root by default, with its passwd home', () => {
    expect(resolveUser('', db)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
    expect(resolveUser('', {})).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/' });
  });

  it('names and numbers, with supplementary groups of /etc/group', () => {
    expect(resolveUser('app', db)).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000, 3000], home: '/home/app' });
    expect(resolveUser('1000', db)).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000, 3000], home: '/home/app' });
    expect(resolveUser('app:extra', db)).toEqual({ uid: 1000, gid: 2000, additionalGids: [3000], home: '/home/app' });
    expect(resolveUser('svc:0', db)).toEqual({ uid: 1001, gid: 0, additionalGids: [2000], home: '/srv' });
    expect(resolveUser('5000', db)).toEqual({ uid: 5000, gid: 0, additionalGids: [], home: '/' });
    expect(resolveUser('5000:6000', {})).toEqual({ uid: 5000, gid: 6000, additionalGids: [], home: '/' });
  });

  it('refuses unknown names and malformed users', () => {
    expect(invalidField(() => resolveUser('ghost', db))).toBe('user');
    expect(invalidField(() => resolveUser('app:ghosts', db))).toBe('user');
    expect(invalidField(() => resolveUser('1:2:3', db))).toBe('user');
    expect(invalidField(() => resolveUser('app', {}))).toBe('user');
  });
});

describe('stopSignal', () => {
  it("is the image's StopSignal in any spelling, else SIGTERM", () => {
    expect(stopSignal(undefined)).toBe('SIGTERM');
    expect(stopSignal({})).toBe('SIGTERM');
    expect(stopSignal({ StopSignal: 'SIGQUIT' })).toBe('SIGQUIT');
    expect(stopSignal({ StopSignal: 'quit' })).toBe('SIGQUIT');
    expect(stopSignal({ StopSignal: '9' })).toBe('SIGKILL');
    expect(invalidField(() => stopSignal({ StopSignal: 'SIGNOPE' }))).toBe('image.StopSignal');
    expect(invalidField(() => stopSignal({ StopSignal: '999' }))).toBe('image.StopSignal');
  });
});
