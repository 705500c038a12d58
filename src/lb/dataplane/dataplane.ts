/**
 * Berth's load-balancer data plane: HAProxy carries the bytes, this keeps it in step with the
 * ELBv2 model in the Store. It reads everything under /elbv2/ (range, then watch) and writes only
 * target health back.
 *
 * - Structure (listeners, rules, target groups and their attributes) is rendered into haproxy.cfg;
 *   a change re-renders and reloads through the master CLI. The servers HAProxy has are written into
 *   the config and their state saved first, so a reload loses neither servers nor health.
 * - Targets change without a reload, through the Runtime API (add/enable/drain/del server).
 * - Health: `show stat` is polled, and each target's TargetHealthRecord written when it changes.
 * - If HAProxy dies it is started again (with backoff), and every server is added again.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { consoleLogger, type Logger } from '../../edge/logger.js';
import { StoreError, type Op, type Store, type Watch } from '../../store/store.js';
import { lbKeys, type TargetHealthRecord } from '../model.js';
import { backendName } from './haproxy-syntax.js';
import { HaproxyMaster, stopLeftover, type HaproxyPaths } from './haproxy-process.js';
import { judgeHealth, parseShowStat, sameHealth } from './health.js';
import { readModel, type LbModel } from './model-view.js';
import { renderConfig, type RenderedConfig, type RenderOptions } from './render.js';
import { runtimeAction, runtimeCommand } from './runtime-api.js';
import { desiredServers, desiredTwins, planServers, planTwins, serverId, slotCapacities, slotName, type AppliedServer, type ServerSpec } from './servers.js';

const exec = promisify(execFile);

export interface LbDataPlaneOptions {
  readonly store: Store;
  /** The address every listener binds (`berth up --bind`). */
  readonly bindAddress: string;
  /** HAProxy's config, sockets, pid file, server states and access log live here. */
  readonly stateDir: string;
  readonly logger?: Logger;
  /** Default /usr/sbin/haproxy (Debian's haproxy 2.6). */
  readonly haproxyPath?: string;
  /**
   * The HTTP access log (HAProxy's httplog format) goes to `<stateDir>/access.log` for the load
   * balancers whose attribute access_logs.s3.enabled is 'true' (ELBv2's switch, off by default),
   * or for all of them with this set. A log line per request costs throughput.
   */
  readonly accessLog?: boolean;
  /** How often health is read from HAProxy (default 250 ms). */
  readonly healthPollMs?: number;
  /** How long a burst of store events is gathered before acting (default 30 ms). */
  readonly debounceMs?: number;
}

export interface LbDataPlane {
  /** Settles once HAProxy runs the model as it stood at start (rejects if HAProxy cannot start). */
  readonly ready: Promise<void>;
  /** Where things live, for operators and tests. */
  readonly paths: HaproxyPaths & { readonly stateDir: string; readonly serverStateFile: string };
  /** The HAProxy master's pid, while one runs. */
  masterPid(): number | undefined;
  /** The current HAProxy worker's pid, while one answers. */
  workerPid(): Promise<number | undefined>;
  /** Stops watching and stops HAProxy. */
  close(): Promise<void>;
}

const HEALTH_PREFIX = lbKeys.healths();
const TARGET_PREFIX = lbKeys.targets();
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** Unix socket paths are limited to 108 bytes on Linux. */
const MAX_SOCKET_PATH = 100;

const sameEntries = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** Every backend's slots, all free. */
function emptySlots(capacity: ReadonlyMap<string, number>): Map<string, (ServerSpec | undefined)[]> {
  return new Map([...capacity].map(([backend, n]) => [backend, new Array<ServerSpec | undefined>(n).fill(undefined)]));
}

/**
 * Starts the data plane.
 *
 * @example
 * const lb = startLbDataPlane({ store, bindAddress: '127.0.0.1', stateDir: join(home, 'lb') });
 * await lb.ready; ... await lb.close();
 */
export function startLbDataPlane(options: LbDataPlaneOptions): LbDataPlane {
  const dp = new DataPlane(options);
  return { ready: dp.ready, paths: dp.paths, masterPid: () => dp.masterPid(), workerPid: () => dp.workerPid(), close: () => dp.close() };
}

class DataPlane {
  readonly ready: Promise<void>;
  readonly paths: LbDataPlane['paths'];
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly haproxyPath: string;
  private readonly renderBase: Omit<RenderOptions, 'slots'>;
  private readonly filesDir: string;
  /** Every key under /elbv2/ and its value, as of the last watch event. */
  private readonly mirror = new Map<string, string>();
  /** The targets the running HAProxy has, by serverId, each in its slot. */
  private applied = new Map<string, AppliedServer>();
  /** The last failure of each server change still failing. */
  private readonly failing = new Map<string, string>();
  /** How many server slots each backend of the running config has. */
  private capacity = new Map<string, number>();
  /** Fail-open twins enabled now (servers.ts, desiredTwins); undefined when unknown (after a start or reload). */
  private twins: Map<string, string> | undefined;
  /** The config (without servers) the running HAProxy has; a different one means a reload. */
  private structure: string | undefined;
  /** A config HAProxy refused: not tried again until the model changes. */
  private refused: string | undefined;
  private lastWarnings = '';
  private readonly writtenFiles = new Map<string, string>();
  private haproxy: HaproxyMaster | undefined;
  private watch: Watch | undefined;
  private closed = false;
  private syncing = false;
  private dirty = false;
  private syncDone: Promise<void> = Promise.resolve();
  private debounce: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_MIN_MS;
  private startedAt = 0;
  private settleReady!: (err?: Error) => void;

  constructor(private readonly options: LbDataPlaneOptions) {
    this.store = options.store;
    this.logger = options.logger ?? consoleLogger;
    this.haproxyPath = options.haproxyPath ?? '/usr/sbin/haproxy';
    const dir = options.stateDir;
    this.filesDir = join(dir, 'files');
    this.paths = {
      stateDir: dir,
      configFile: join(dir, 'haproxy.cfg'),
      masterSocket: join(dir, 'master.sock'),
      runtimeSocket: join(dir, 'runtime.sock'),
      pidFile: join(dir, 'haproxy.pid'),
      accessLogFile: join(dir, 'access.log'),
      serverStateFile: join(dir, 'servers.state'),
    };
    this.renderBase = {
      bindAddress: options.bindAddress,
      runtimeSocket: this.paths.runtimeSocket,
      serverStateFile: this.paths.serverStateFile,
      filesDir: this.filesDir,
      accessLog: options.accessLog ?? false,
    };
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (err) => (err === undefined ? resolve() : reject(err));
    });
    this.ready.catch(() => {}); // the caller may not await it; failures are also logged
    void this.start();
  }

  masterPid(): number | undefined {
    return this.haproxy?.pid;
  }

  async workerPid(): Promise<number | undefined> {
    return this.haproxy?.workerPid();
  }

  private async start(): Promise<void> {
    try {
      for (const p of [this.paths.masterSocket, this.paths.runtimeSocket, join(this.filesDir, 'idle.sock')]) {
        if (Buffer.byteLength(p) > MAX_SOCKET_PATH) throw new Error(`lb state directory too deep: unix socket path ${p} is longer than ${MAX_SOCKET_PATH} bytes`);
      }
      mkdirSync(this.filesDir, { recursive: true, mode: 0o700 });
      await stopLeftover(this.paths.pidFile, this.paths.configFile, this.logger);
      const from = await this.relist();
      void this.watchLoop(from);
      // Polling runs from here on: even if HAProxy cannot start now, a later model change may let it.
      this.pollTimer = setInterval(() => void this.poll(), this.options.healthPollMs ?? 250);
      await this.runSync();
      if (this.haproxy === undefined) throw new Error('haproxy did not start (see the errors above)');
      this.settleReady();
    } catch (err) {
      this.logger.error('lb data plane: start failed', { err });
      this.settleReady(err instanceof Error ? err : new Error("lb data plane: start failed", { cause: err }));
    }
  }

  /** Reads every key under /elbv2/ into the mirror; returns the revision to watch from. */
  private async relist(): Promise<number> {
    const res = await this.store.range('/elbv2/');
    this.mirror.clear();
    for (const kv of res.kvs) this.mirror.set(kv.key, kv.value);
    return res.revision + 1;
  }

  private async watchLoop(from: number): Promise<void> {
    while (!this.closed) {
      try {
        this.watch = this.store.watch('/elbv2/', { fromRevision: from });
        for await (const batch of this.watch) {
          let structural = false;
          for (const ev of batch) {
            if (ev.type === 'put') this.mirror.set(ev.kv.key, ev.kv.value);
            else this.mirror.delete(ev.kv.key);
            if (!ev.kv.key.startsWith(HEALTH_PREFIX)) structural = true;
            from = ev.kv.modRevision + 1;
          }
          if (structural) this.schedule();
        }
        return; // the store closed the watch
      } catch (err) {
        if (this.closed) return;
        if (err instanceof StoreError && err.kind === 'compacted') {
          from = await this.relist().catch((e: unknown) => {
            this.logger.error('lb data plane: re-list after compaction failed', { err: e });
            return from;
          });
          this.schedule();
        } else if (err instanceof StoreError && err.kind === 'closed') {
          return;
        } else {
          this.logger.error('lb data plane: watch failed; watching again', { err });
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  }

  /** Gathers a burst of events, then syncs once. */
  private schedule(): void {
    if (this.closed || this.debounce !== undefined) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.runSync();
    }, this.options.debounceMs ?? 30);
  }

  /** One sync at a time; a request during one runs another after it. */
  private runSync(): Promise<void> {
    if (this.syncing) {
      this.dirty = true;
      return this.syncDone;
    }
    this.syncing = true;
    this.syncDone = (async () => {
      try {
        do {
          this.dirty = false;
          if (this.closed) return;
          await this.sync().catch((err: unknown) => this.logger.error('lb data plane: sync failed', { err }));
        } while (this.dirty);
      } finally {
        this.syncing = false;
      }
    })();
    return this.syncDone;
  }

  private model(): LbModel {
    return readModel(this.mirror, (key, err) => this.logger.error('lb data plane: unreadable record', { key, err }));
  }

  private async sync(): Promise<void> {
    const model = this.model();
    const desired = desiredServers(model, Date.now());
    const capacity = slotCapacities(
      model.targetGroups.map((tg) => backendName(tg.TargetGroupArn)),
      desired,
      this.capacity,
    );
    const structural = renderConfig(model, { ...this.renderBase, slots: emptySlots(capacity) });
    const warnings = structural.warnings.join('\n');
    if (warnings !== this.lastWarnings) {
      for (const w of structural.warnings) this.logger.warn('lb data plane: model', { warning: w });
      this.lastWarnings = warnings;
    }

    if (this.haproxy === undefined) {
      await this.startHaproxy(structural, capacity);
    } else if (structural.config !== this.structure && structural.config !== this.refused) {
      await this.reload(model, structural, capacity);
    }
    if (this.haproxy === undefined) return;

    for (const op of planServers(desired, this.applied, this.capacity)) {
      const id = serverId(op.server);
      try {
        switch (op.kind) {
          case 'add':
            // Taken once its address is set: a failure after that leaves the slot to be removed, not reused blind.
            await runtimeAction(this.paths.runtimeSocket, op.lines[0]!);
            this.applied.set(id, { spec: op.server, slot: op.slot });
            await runtimeAction(this.paths.runtimeSocket, op.lines[1]!);
            break;
          case 'remove':
            await runtimeAction(this.paths.runtimeSocket, op.lines[0]!);
            this.applied.delete(id);
            break;
          case 'drain':
          case 'undrain':
            await runtimeAction(this.paths.runtimeSocket, op.lines[0]!);
            this.applied.set(id, { spec: op.server, slot: op.slot });
            break;
        }
        this.failing.delete(id);
      } catch (err) {
        // Tried again every round; said once per distinct failure.
        const message = err instanceof Error ? err.message : String(err);
        if (this.failing.get(id) !== message) this.logger.warn('lb data plane: server change not applied (tried again on the next round)', { op: op.kind, server: id, err });
        this.failing.set(id, message);
      }
    }
    await this.syncTwins(model);
  }

  /** Fail-open: the twins of unhealthy targets on, the others off (servers.ts, twinName). */
  private async syncTwins(model: LbModel): Promise<void> {
    const wanted = desiredTwins(this.applied, model.health);
    const checked = new Set(model.targetGroups.filter((tg) => tg.HealthCheckEnabled).map((tg) => backendName(tg.TargetGroupArn)));
    const lines = planTwins(wanted, this.twins, new Map([...this.capacity].filter(([backend]) => checked.has(backend))));
    try {
      for (const line of lines) await runtimeAction(this.paths.runtimeSocket, line);
      this.twins = wanted;
      this.failing.delete('fail-open');
    } catch (err) {
      this.twins = undefined; // tried again in full on the next round
      const message = err instanceof Error ? err.message : String(err);
      if (this.failing.get('fail-open') !== message) this.logger.warn('lb data plane: fail-open servers not applied (tried again on the next round)', { err });
      this.failing.set('fail-open', message);
    }
  }

  private writeFiles(rendered: RenderedConfig): void {
    for (const [path, content] of rendered.files) {
      if (this.writtenFiles.get(path) === content) continue;
      writeFileSync(path, content, { mode: 0o600 });
      this.writtenFiles.set(path, content);
    }
  }

  /** Writes the config through a checked temp file, so a config HAProxy refuses never replaces a good one. */
  private async writeConfig(config: string): Promise<void> {
    const tmp = `${this.paths.configFile}.new`;
    writeFileSync(tmp, config, { mode: 0o600 });
    try {
      await exec(this.haproxyPath, ['-c', '-q', '-f', tmp]);
    } catch (err) {
      throw new Error(`haproxy refused the rendered config: ${(err as { stderr?: string }).stderr ?? String(err)}`, { cause: err });
    }
    renameSync(tmp, this.paths.configFile);
  }

  private async startHaproxy(structural: RenderedConfig, capacity: Map<string, number>): Promise<void> {
    this.writeFiles(structural);
    await this.writeConfig(structural.config);
    this.applied = new Map();
    this.twins = undefined;
    this.capacity = capacity;
    writeFileSync(this.paths.serverStateFile, ''); // no servers yet: nothing to restore
    const master = await HaproxyMaster.start(this.haproxyPath, this.paths, this.logger);
    this.haproxy = master;
    this.structure = structural.config;
    this.startedAt = Date.now();
    this.logger.debug('lb data plane: haproxy started', { pid: master.pid });
    void master.exited.then(({ code, signal }) => this.onExit(master, code, signal));
  }

  private async reload(model: LbModel, structural: RenderedConfig, capacity: Map<string, number>): Promise<void> {
    // Targets of backends that remain stay in their slots, written into the config; drain is set again afterwards.
    const kept = new Map(
      [...this.applied].filter(([, a]) => a.slot < (capacity.get(a.spec.backend) ?? 0)).map(([id, a]) => [id, { spec: { ...a.spec, draining: false }, slot: a.slot }]),
    );
    const slots = emptySlots(capacity);
    for (const a of kept.values()) slots.get(a.spec.backend)![a.slot] = a.spec;
    const full = renderConfig(model, { ...this.renderBase, slots });
    try {
      this.writeFiles(full);
      await this.writeConfig(full.config);
      writeFileSync(this.paths.serverStateFile, await runtimeCommand(this.paths.runtimeSocket, 'show servers state'));
      const worker = await this.haproxy!.reload();
      this.logger.debug('lb data plane: haproxy reloaded', { worker });
      this.structure = structural.config;
      this.refused = undefined;
      this.applied = kept;
      this.twins = undefined;
      this.capacity = capacity;
    } catch (err) {
      this.refused = structural.config;
      this.logger.error('lb data plane: reload failed; haproxy keeps the previous configuration', { err });
    }
  }

  private onExit(master: HaproxyMaster, code: number | null, signal: NodeJS.Signals | null): void {
    if (master.stopped || this.closed || this.haproxy !== master) return;
    this.haproxy = undefined;
    this.structure = undefined;
    this.applied = new Map();
    this.twins = undefined;
    this.capacity = new Map();
    // A crash loop backs off; one that ran a while starts again at once.
    if (Date.now() - this.startedAt > 10_000) this.restartDelay = RESTART_MIN_MS;
    this.logger.error('haproxy exited; starting it again', { code, signal, inMs: this.restartDelay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.runSync().then(() => {
        if (this.haproxy === undefined && !this.closed) this.onExit(master, code, signal);
      });
    }, this.restartDelay);
    this.restartDelay = Math.min(RESTART_MAX_MS, this.restartDelay * 2);
  }

  /** Reads health from HAProxy and writes what changed; also lets expired drains and stuck changes finish. */
  private async poll(): Promise<void> {
    if (this.polling || this.syncing || this.haproxy === undefined || this.closed) return;
    if (this.nothingToPoll()) return;
    this.polling = true;
    try {
      const stats = parseShowStat(await runtimeCommand(this.paths.runtimeSocket, 'show stat'));
      const now = Date.now();
      const ops: Op[] = [];
      const current = new Map<string, TargetHealthRecord>();
      const bySlot = new Map([...this.applied.values()].map((a) => [`${a.spec.backend}/${slotName(a.slot)}`, a.spec]));
      for (const stat of stats) {
        const spec = bySlot.get(`${stat.backend}/${stat.server}`);
        if (spec === undefined) continue;
        const raw = this.mirror.get(spec.healthKey);
        const previous = raw === undefined ? undefined : (JSON.parse(raw) as TargetHealthRecord);
        const next = judgeHealth(stat, previous, now);
        if (next !== undefined && !sameHealth(previous, next)) current.set(spec.healthKey, next);
      }
      for (const [key, record] of current) ops.push({ type: 'put', key, value: JSON.stringify(record) });
      // A health record outlives its target only until here.
      for (const key of this.mirror.keys()) {
        if (key.startsWith(HEALTH_PREFIX) && !this.mirror.has(TARGET_PREFIX + key.slice(HEALTH_PREFIX.length))) ops.push({ type: 'delete', key });
      }
      if (ops.length > 0) {
        await this.store.txn([], ops);
        // Known at once (the watch confirms), so the next poll does not write the same again.
        for (const op of ops) {
          if (op.type === 'put') this.mirror.set(op.key, op.value);
          else if (op.type === 'delete') this.mirror.delete(op.key);
        }
      }
      const model = this.model();
      const twinsChanged = this.twins === undefined || !sameEntries(desiredTwins(this.applied, model.health), this.twins);
      if (twinsChanged || planServers(desiredServers(model, now), this.applied, this.capacity).length > 0) void this.runSync();
    } catch (err) {
      if (!this.closed && this.haproxy !== undefined) this.logger.warn('lb data plane: health poll failed', { err });
    } finally {
      this.polling = false;
    }
  }

  /**
   * True when a poll could neither read nor write anything: HAProxy has no servers (so no health
   * to read), the model has no targets (so none to add, drain or let expire) and no health records
   * (so none to drop), and the fail-open twins are known to be all off. A Berth with no load
   * balancers then asks HAProxy nothing (`show stat` four times a second cost it 4-16 ms of CPU a
   * second); any of these changing makes the next poll run.
   */
  private nothingToPoll(): boolean {
    if (this.applied.size > 0 || this.twins === undefined || this.twins.size > 0) return false;
    for (const key of this.mirror.keys()) {
      if (key.startsWith(TARGET_PREFIX) || key.startsWith(HEALTH_PREFIX)) return false;
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.debounce);
    clearTimeout(this.restartTimer);
    clearInterval(this.pollTimer);
    this.watch?.close();
    await this.syncDone.catch(() => {});
    await this.haproxy?.stop();
    this.haproxy = undefined;
  }
}
