/**
 * The server end of agent sessions (`/agent` on the API port): registers the host as a container
 * instance, tells its agent which tasks to run and stop, and stores what the agent reports.
 *
 * Level-triggered: on every (re)connect the hub compares the whole of the instance's desired state
 * with what the agent says it runs, then follows a Store watch on the cluster's tasks from the
 * revision it compared at. Sending is idempotent on the agent's side, so a comparison repeated
 * after a reconnect, a watch restart or a race costs a duplicate message, never a wrong state.
 * Reports are written with compare-and-swap, together with the ListTasks index entry and the
 * instance's counts and reservation, in one transaction; reports arriving together (from any
 * session) share one transaction (agent-hub-reports.ts), and each is acked once that is durable.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  PROTOCOL_VERSION,
  type AgentMessage,
  type ContainerStateChange,
  type ContainerUsage,
  type ServerMessage,
  type StopCode,
  type TaskStateChange,
} from '../agent/protocol.js';
import { clusterNameOf, parseEcsArn } from '../ecs/arn.js';
import { containerInstanceOperations, setAgentConnected } from '../ecs/container-instances.js';
import { keys } from '../ecs/keys.js';
import { readJson } from '../ecs/repo.js';
import type { StoredTaskDefinition, TaskDefinition } from '../ecs/task-definition-types.js';
import { instanceIdOf } from '../ecs/task-reservation.js';
import { taskDefinitionRefOf, type Task } from '../ecs/task-shape.js';
import { consoleLogger, verifySigV4, type CredentialLookup, type Logger, type UpgradeHandler } from '../edge/index.js';
import { toBerthError, type Caller, type RequestContext } from '../protocols/index.js';
import { StoreError, type Store, type Watch, type WatchEvent } from '../store/index.js';
import { createReportWriter, type ReportOutcome } from './agent-hub-reports.js';

/** How often each side sends a heartbeat by default; the agent learns the server's from `welcome`. */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/** A session that sends nothing for this many heartbeat intervals is closed. */
export const IDLE_HEARTBEATS = 3;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** WebSocket close codes the hub uses (4000–4999 are the application's). */
export const CLOSE_REPLACED = 4000;
export const CLOSE_IDLE = 4001;
export const CLOSE_REFUSED = 4002;

export interface AgentHubOptions {
  readonly store: Store;
  readonly region: string;
  /** Access keys of other accounts are refused, as the edge refuses them. */
  readonly accountId: string;
  readonly credentials: CredentialLookup;
  /** The clock for signatures and for the timestamps written to tasks; tests pin it. */
  readonly now?: () => Date;
  readonly logger?: Logger;
  readonly heartbeatMs?: number;
  readonly maxMessageBytes?: number;
  /** Pause before re-watching after a store failure (default 1 s). */
  readonly retryDelayMs?: number;
  /**
   * Whether a task told to stop may be stopped on its host now; false while its load balancer
   * targets drain (the attachment controller's say). A task held back is written again when it
   * may go, which brings its stop.
   */
  readonly readyToStop?: (taskArn: string) => boolean;
}

/** The latest resource usage an agent reported for a task (for metrics and autoscaling). */
export interface TaskUsage {
  /** Epoch milliseconds, as measured on the agent. */
  readonly at: number;
  readonly containerInstanceArn: string;
  readonly containers: readonly ContainerUsage[];
}

export interface AgentHub {
  /** Mount with `edge.mountUpgrade(AGENT_SESSION_PATH, hub.upgrade)`. */
  readonly upgrade: UpgradeHandler;
  /** The latest usage reported for a task still running, or undefined. */
  usage(taskArn: string): TaskUsage | undefined;
  /** Ends every session (their instances are marked disconnected) and refuses new ones. */
  close(): Promise<void>;
}

interface InstanceRef {
  readonly cluster: string;
  readonly id: string;
  readonly arn: string;
  /** `cluster/id`: which session owns the instance. */
  readonly key: string;
}

interface Session {
  readonly ws: WebSocket;
  readonly caller: Caller;
  instance?: InstanceRef;
  /** Tasks the agent runs, or was told to run, and has not reported STOPPED (this session). */
  readonly agentRuns: Set<string>;
  /** Tasks told to stop in this session. */
  readonly stopsSent: Set<string>;
  /** Unfinished tasks placed on the instance: whose stats are taken. */
  readonly onInstance: Set<string>;
  /** The store revision of the last full comparison: the feed's changes up to it are already seen. */
  revision: number;
  lastHeard: number;
  closed: boolean;
  /** Messages are handled one at a time, in order: reports about one task must not overtake. */
  chain: Promise<void>;
  /**
   * What follows the reports' commits, in the order they arrived: acks (an ack covers every earlier
   * seq, so it must never pass a report still being written) and what a stored report implies.
   */
  acks: Promise<void>;
  /** Messages received and not yet done with (a report is done once acked). */
  pending: number;
  following: Promise<void>;
  disconnected: Promise<void>;
  /** What the cluster's task feed handed this session and it has not looked at yet, oldest first. */
  inbox: FeedItem[];
  /** Wakes the session's follow loop when the feed hands it something. */
  wake?: () => void;
  timer?: NodeJS.Timeout;
  /** Resolves when the session ends; cuts a retry pause short. */
  readonly ended: Promise<void>;
  readonly end: () => void;
}

/**
 * One change of a task placed on the session's instance, as the cluster's feed saw it (the task as
 * written, or as it was before it was deleted), or `relist`: the feed lost its place, compare all.
 */
type FeedItem = { readonly kind: 'put' | 'delete'; readonly task: Task; readonly revision: number } | { readonly kind: 'relist' };

/**
 * One watch of a cluster's tasks shared by all of its sessions: each event is parsed once and handed
 * to the session of the instance the task is placed on. (A watch per session parsed every event of
 * the cluster once per connected host: with 2,000 hosts, nearly all of the server's time.)
 */
interface ClusterFeed {
  readonly cluster: string;
  /** Sessions by the container instance ARN they speak for. */
  readonly sessions: Map<string, Session>;
  watch?: Watch;
  /** Resolves once the feed knows the revision it watches from: a session compares only after it. */
  ready: Promise<void>;
  running: Promise<void>;
}

/** Stop codes the protocol carries; others (SpotInterruption…) are not the agent's business. */
const PROTOCOL_STOP_CODES: readonly string[] = ['TaskFailedToStart', 'EssentialContainerExited', 'UserInitiated', 'ServiceSchedulerInitiated'];
const MAX_CACHED_TASK_DEFINITIONS = 1024;
const PAGE = 500;
/** Past this many unhandled messages the socket stops reading until the backlog drains. */
const HIGH_WATER = 256;
const LOW_WATER = 64;
/** Past this many reports waiting for their commit (all sessions), sessions stop reading until it halves. */
const REPORT_BACKLOG_HIGH = 8192;
const REPORT_BACKLOG_LOW = 4096;

/**
 * Creates the hub. The composition root mounts its `upgrade` on the edge and closes it before the
 * store.
 *
 * @example
 * const hub = createAgentHub({ store, region, accountId, credentials: keys.lookup });
 * edge.mountUpgrade(AGENT_SESSION_PATH, hub.upgrade);
 */
export function createAgentHub(options: AgentHubOptions): AgentHub {
  const { store, region } = options;
  const now = options.now ?? (() => new Date());
  const logger = options.logger ?? consoleLogger;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const register = containerInstanceOperations({ store })['RegisterContainerInstance']!;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });

  const all = new Set<Session>();
  const owners = new Map<string, Session>();
  const connectedWrites = new Map<string, Promise<void>>();
  const usages = new Map<string, TaskUsage>();
  const taskDefinitions = new Map<string, TaskDefinition>();
  const feeds = new Map<string, ClusterFeed>();
  const reports = createReportWriter({ store, now, taskDefinitionOf: (task) => taskDefinitionOf(task) });
  /** Sessions that stopped reading because the reports of all sessions piled up. */
  const backlogged = new Set<Session>();
  let closed = false;

  // A key of another account is as unknown here as at the edge.
  const lookup: CredentialLookup = async (accessKeyId) => {
    const credential = await options.credentials(accessKeyId);
    return credential?.accountId === options.accountId ? credential : undefined;
  };

  // ---- the handshake ---------------------------------------------------------------------------

  const upgrade: UpgradeHandler = async (req, socket, head) => {
    // Until ws owns the socket, an error on it (the agent hung up mid-auth) must not go unheard.
    const early = (err: Error) => logger.debug('agent socket failed before the upgrade', { error: err });
    socket.on('error', early);
    if (closed) return refuse(socket, 503, 'ServiceUnavailableException', 'The server is shutting down; retry later.');
    let caller: Caller;
    try {
      const verified = await verifySigV4(
        { method: req.method ?? 'GET', url: req.url ?? '/', headers: headerPairs(req), body: new Uint8Array() },
        { region, service: 'ecs', now: now(), lookup },
      );
      caller = { accessKeyId: verified.accessKeyId, accountId: verified.accountId };
    } catch (thrown) {
      const err = toBerthError(thrown);
      if (err.isFault) logger.error('agent session authentication failed', { error: err });
      else logger.debug('agent session refused', { code: err.code, message: err.message, cause: err.cause });
      return refuse(socket, err.isFault ? 500 : 403, err.code, err.message);
    }
    if (closed) return refuse(socket, 503, 'ServiceUnavailableException', 'The server is shutting down; retry later.');
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', early);
      open(ws, caller);
    });
  };

  function open(ws: WebSocket, caller: Caller): void {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const session: Session = {
      ws,
      caller,
      agentRuns: new Set(),
      stopsSent: new Set(),
      onInstance: new Set(),
      revision: 0,
      lastHeard: Date.now(),
      closed: false,
      chain: Promise.resolve(),
      acks: Promise.resolve(),
      pending: 0,
      following: Promise.resolve(),
      disconnected: Promise.resolve(),
      inbox: [],
      ended,
      end,
    };
    all.add(session);
    ws.on('message', (data, isBinary) => {
      session.lastHeard = Date.now();
      session.pending++;
      if (session.pending > HIGH_WATER) ws.pause();
      else if (reports.backlog > REPORT_BACKLOG_HIGH) {
        // The reports' commits are what is behind: every session waits (the reports under way wake them).
        ws.pause();
        backlogged.add(session);
      }
      session.chain = session.chain
        .then(() => handle(session, data, isBinary))
        .catch((err: unknown) => logger.error('agent message handling failed', { instance: session.instance?.arn, error: err }))
        .finally(() => done(session));
    });
    ws.on('error', (err) => logger.warn('agent session failed', { instance: session.instance?.arn, error: err }));
    ws.on('close', () => endSession(session));
    session.timer = setInterval(() => {
      if (Date.now() - session.lastHeard > IDLE_HEARTBEATS * heartbeatMs) {
        endSession(session, CLOSE_IDLE, `no message for ${IDLE_HEARTBEATS} heartbeat intervals`);
      } else {
        send(session, { type: 'heartbeat', at: now().getTime() });
      }
    }, heartbeatMs);
  }

  /** One received message is done with: the socket reads again once the backlog is low. */
  function done(session: Session): void {
    session.pending--;
    const backlogLow = reports.backlog < REPORT_BACKLOG_LOW;
    if (backlogLow && backlogged.size > 0) {
      for (const other of backlogged) if (other !== session && other.pending < LOW_WATER && other.ws.isPaused) other.ws.resume();
      backlogged.clear();
    }
    if (session.pending < LOW_WATER && session.ws.isPaused && (backlogLow || !backlogged.has(session))) {
      backlogged.delete(session);
      session.ws.resume();
    }
  }

  /** Ends a session once: stops its timer and watch, closes its socket, and updates agentConnected. */
  function endSession(session: Session, code?: number, reason?: string): void {
    if (session.closed) return;
    session.closed = true;
    session.end();
    backlogged.delete(session);
    clearInterval(session.timer);
    session.wake?.();
    if (session.instance !== undefined) {
      const feed = feeds.get(session.instance.cluster);
      if (feed?.sessions.get(session.instance.arn) === session) feed.sessions.delete(session.instance.arn);
    }
    all.delete(session);
    if (session.ws.readyState === session.ws.OPEN) session.ws.close(code, reason);
    const instance = session.instance;
    if (instance !== undefined && owners.get(instance.key) === session) {
      owners.delete(instance.key);
      session.disconnected = syncConnected(instance);
      // Usage from a host no one hears from is stale; a successor session reports afresh.
      for (const taskArn of session.onInstance) usages.delete(taskArn);
    }
  }

  /**
   * Writes agentConnected as the owner map says it is now. Writes for one instance run one after
   * another, so a replaced session's "false" can never land after its successor's "true".
   */
  function syncConnected(instance: InstanceRef): Promise<void> {
    const previous = connectedWrites.get(instance.key) ?? Promise.resolve();
    const write = previous
      .then(async () => {
        const owner = owners.get(instance.key);
        await setAgentConnected(store, instance.cluster, instance.id, owner !== undefined && !owner.closed);
      })
      .catch((err: unknown) => logger.error('could not record whether an agent is connected', { instance: instance.arn, error: err }));
    connectedWrites.set(instance.key, write);
    void write.finally(() => {
      if (connectedWrites.get(instance.key) === write) connectedWrites.delete(instance.key);
    });
    return write;
  }

  // ---- messages from the agent -----------------------------------------------------------------

  async function handle(session: Session, data: RawData, isBinary: boolean): Promise<void> {
    let message: AgentMessage;
    try {
      if (isBinary) throw new InvalidAgentMessage('messages are JSON text, not binary frames');
      message = parseAgentMessage(rawText(data));
    } catch (err) {
      if (!(err instanceof InvalidAgentMessage)) throw err;
      sendError(session, 'InvalidMessage', err.message);
      return;
    }
    switch (message.type) {
      case 'hello':
        return onHello(session, message);
      case 'heartbeat':
        return;
      case 'taskStateChange':
        if (session.instance === undefined) return sendError(session, 'HelloRequired', 'Send hello first.');
        return onTaskStateChange(session, session.instance, message.change, message.seq);
      case 'stats':
        if (session.instance === undefined) return sendError(session, 'HelloRequired', 'Send hello first.');
        return onStats(session, session.instance, message);
    }
  }

  async function onHello(session: Session, hello: Extract<AgentMessage, { type: 'hello' }>): Promise<void> {
    if (session.closed) return;
    if (session.instance !== undefined) return sendError(session, 'AlreadyWelcomed', `This session is already ${session.instance.arn}.`);
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      return refuseSession(session, 'UnsupportedProtocolVersion', `The server speaks protocol version ${PROTOCOL_VERSION}; the agent sent ${hello.protocolVersion}.`);
    }
    const ctx: RequestContext = { requestId: randomUUID(), caller: session.caller, region, now: now() };
    let arn: string;
    let cluster: string;
    try {
      cluster = clusterNameOf(hello.cluster);
      const input = {
        cluster: hello.cluster,
        ...(hello.containerInstanceArn === undefined ? {} : { containerInstanceArn: hello.containerInstanceArn }),
        totalResources: hello.totalResources,
        attributes: hello.attributes,
        versionInfo: { agentVersion: hello.agentVersion },
      };
      const result = (await register(input, ctx)) as { containerInstance: { containerInstanceArn: string } };
      arn = result.containerInstance.containerInstanceArn;
    } catch (thrown) {
      const err = toBerthError(thrown);
      if (err.isFault) logger.error('agent registration failed', { cluster: hello.cluster, hostname: hello.hostname, error: err });
      return refuseSession(session, err.code, err.message);
    }
    if (session.closed) return;
    const instance: InstanceRef = { cluster, id: instanceIdOf(arn), arn, key: `${cluster}/${instanceIdOf(arn)}` };
    session.instance = instance;
    const previous = owners.get(instance.key);
    owners.set(instance.key, session);
    if (previous !== undefined && previous !== session) endSession(previous, CLOSE_REPLACED, 'replaced by a newer session for this instance');
    await syncConnected(instance);
    if (session.closed) return;
    for (const taskArn of hello.runningTaskArns) session.agentRuns.add(taskArn);
    logger.debug('agent connected', { instance: arn, hostname: hello.hostname, agentVersion: hello.agentVersion });
    send(session, { type: 'welcome', containerInstanceArn: arn, heartbeatMs });
    session.following = follow(session, instance);
  }

  /**
   * Hands the report to the group commit and returns at once, so the session's next reports can
   * join the same transaction; what follows its commit (the ack first of all) runs in arrival order.
   */
  function onTaskStateChange(session: Session, instance: InstanceRef, change: TaskStateChange, seq: number | undefined): void {
    // Once a report of this session could not be stored, no later ack may be sent: it would cover it.
    const ack = () => {
      if (seq !== undefined && !session.closed) send(session, { type: 'ack', seq });
    };
    const id = taskIdIn(change.taskArn, instance.cluster);
    let written: Promise<ReportOutcome | undefined>;
    if (id === undefined) {
      written = Promise.resolve(undefined);
    } else {
      // Before the write: the watch may deliver the write's event before its outcome is seen here.
      if (change.status === 'STOPPED') session.agentRuns.delete(change.taskArn);
      else session.agentRuns.add(change.taskArn);
      written = reports.write(instance, id, change);
    }
    session.pending++;
    session.acks = session.acks
      .then(async () => {
        let outcome: ReportOutcome | undefined;
        try {
          outcome = await written;
        } catch (err) {
          if (session.closed) return;
          // Not acked: the agent resends the change after it reconnects.
          logger.error('could not store a task state change', { task: change.taskArn, error: err });
          sendError(session, 'ServerException', 'The task state change could not be stored; reconnect and send it again.');
          endSession(session, 1011, 'store failure');
          return;
        }
        if (outcome === undefined) {
          sendError(session, 'InvalidTaskArn', `${change.taskArn} is not a task ARN of cluster ${instance.cluster}.`);
        } else if ('refused' in outcome) {
          sendError(session, outcome.refused.code, outcome.refused.message);
        } else if (outcome.task.lastStatus === 'STOPPED') {
          const task = outcome.task;
          session.onInstance.delete(task.taskArn);
          usages.delete(task.taskArn);
          // The control plane finished the task already (stopped before the agent reported), yet the
          // agent says it lives: make it stop.
          if (change.status !== 'STOPPED' && !session.stopsSent.has(task.taskArn)) sendStop(session, task);
        }
        ack();
      })
      .catch((err: unknown) => logger.error('handling a stored task state change failed', { instance: instance.arn, error: err }))
      .finally(() => done(session));
  }

  function onStats(session: Session, instance: InstanceRef, stats: Extract<AgentMessage, { type: 'stats' }>): void {
    for (const t of stats.tasks) {
      // Only tasks of this instance: an agent cannot write usage for another host's tasks.
      if (!session.onInstance.has(t.taskArn)) continue;
      usages.set(t.taskArn, { at: stats.at, containerInstanceArn: instance.arn, containers: t.containers });
    }
  }

  // ---- desired state → the agent ---------------------------------------------------------------

  /**
   * Compares the instance's tasks with the agent, then follows what the cluster's feed hands the
   * session; compares everything again when the feed lost its place. The session joins the feed
   * before the comparison reads the tasks, so a change written after that read always reaches it;
   * changes the read already covered (revision ≤ session.revision) are skipped.
   */
  async function follow(session: Session, instance: InstanceRef): Promise<void> {
    await subscribe(session, instance);
    let relist = true;
    while (!session.closed) {
      try {
        if (relist) {
          relist = false;
          await compareAll(session, instance);
        }
        const item = session.inbox.shift();
        if (item === undefined) {
          await new Promise<void>((resolve) => (session.wake = resolve));
          session.wake = undefined;
          continue;
        }
        if (item.kind === 'relist') {
          relist = true;
          continue;
        }
        // Covered by the last comparison's read (one transaction may hold several of the tasks, all at one revision).
        if (item.revision <= session.revision) continue;
        await onTaskItem(session, instance, item);
      } catch (err) {
        if (session.closed || (err instanceof StoreError && err.kind === 'closed')) return;
        logger.error('following the instance tasks failed; retrying', { instance: instance.arn, error: err });
        relist = true;
        await pause(session);
      }
    }
  }

  /** Joins the cluster's feed (starting it for the first session) once it knows where it watches from. */
  async function subscribe(session: Session, instance: InstanceRef): Promise<void> {
    let feed = feeds.get(instance.cluster);
    if (feed === undefined) {
      let ready!: () => void;
      const created: ClusterFeed = { cluster: instance.cluster, sessions: new Map(), ready: new Promise((r) => (ready = r)), running: Promise.resolve() };
      feeds.set(instance.cluster, created);
      created.running = runFeed(created, ready);
      feed = created;
    }
    feed.sessions.set(instance.arn, session);
    await feed.ready;
  }

  function deliver(session: Session, item: FeedItem): void {
    session.inbox.push(item);
    session.wake?.();
  }

  /** The feed's loop: watch the cluster's tasks and hand each change to its instance's session. */
  async function runFeed(feed: ClusterFeed, ready: () => void): Promise<void> {
    // Each session compares against a read made after this one (it waits for `ready`), so watching
    // from here on misses nothing any of them needs.
    let from: number;
    try {
      from = (await store.revision()) + 1;
    } finally {
      ready();
    }
    while (!closed) {
      try {
        const watch = store.watch(keys.tasks(feed.cluster), { fromRevision: from });
        feed.watch = watch;
        if (closed) {
          watch.close();
          return;
        }
        for await (const batch of watch) {
          for (const event of batch) {
            // The report writer reads tasks from what the feed last showed (a hint its compare-and-swap checks).
            reports.observe(event.kv.key, event.type === 'put' ? event.kv.value : undefined, event.kv.modRevision);
            const item = feedItemOf(event);
            if (item === undefined) continue;
            const session = feed.sessions.get(item.task.containerInstanceArn ?? '');
            if (session !== undefined && !session.closed) deliver(session, item);
          }
          const last = batch[batch.length - 1];
          if (last !== undefined) from = last.kv.modRevision + 1;
        }
        if (closed) return;
        logger.warn('task watch ended; watching again', { cluster: feed.cluster, revision: from });
      } catch (err) {
        if (closed || (err instanceof StoreError && err.kind === 'closed')) return;
        if (err instanceof StoreError && err.kind === 'compacted') {
          logger.warn('task watch fell behind compaction; every instance compares again', { cluster: feed.cluster });
        } else {
          logger.error('watching the cluster tasks failed; retrying', { cluster: feed.cluster, error: err });
          await new Promise<void>((resolve) => setTimeout(resolve, retryDelayMs).unref());
        }
        // Changes may have been missed: start again from now, and have every session compare all.
        from = (await store.revision()) + 1;
        for (const session of feed.sessions.values()) deliver(session, { kind: 'relist' });
      }
    }
  }

  function feedItemOf(event: WatchEvent): Extract<FeedItem, { kind: 'put' | 'delete' }> | undefined {
    if (event.type === 'delete') {
      const gone = event.prevKv === undefined ? undefined : parseTask(event.prevKv.key, event.prevKv.value);
      return gone === undefined ? undefined : { kind: 'delete', task: gone, revision: event.kv.modRevision };
    }
    const task = parseTask(event.kv.key, event.kv.value);
    return task === undefined ? undefined : { kind: 'put', task, revision: event.kv.modRevision };
  }

  const pause = (session: Session) =>
    Promise.race([session.ended, new Promise<void>((resolve) => setTimeout(resolve, retryDelayMs).unref())]);

  /** The full comparison: every task of the cluster placed here, and what the agent runs unasked. */
  async function compareAll(session: Session, instance: InstanceRef): Promise<void> {
    const placed = new Set<string>();
    let startAfter: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await store.range(keys.tasks(instance.cluster), { limit: PAGE, ...(startAfter === undefined ? {} : { startAfter }) });
      // Watching from the first page's revision replays whatever changed while paging: a
      // comparison repeated, never one missed.
      revision ??= page.revision;
      for (const kv of page.kvs) {
        const task = parseTask(kv.key, kv.value);
        if (task?.containerInstanceArn !== instance.arn) continue;
        placed.add(task.taskArn);
        await compare(session, instance, task);
        if (session.closed) return;
      }
      if (!page.more || page.kvs.length === 0) break;
      startAfter = page.kvs[page.kvs.length - 1]!.key;
    }
    for (const taskArn of [...session.agentRuns]) {
      if (placed.has(taskArn)) continue;
      session.agentRuns.delete(taskArn);
      sendStop(session, { taskArn, stoppedReason: 'The task is not placed on this container instance.' });
    }
    session.revision = revision;
  }

  async function onTaskItem(session: Session, instance: InstanceRef, item: Extract<FeedItem, { kind: 'put' | 'delete' }>): Promise<void> {
    const task = item.task;
    if (task.containerInstanceArn !== instance.arn) return;
    if (item.kind === 'delete') {
      session.onInstance.delete(task.taskArn);
      usages.delete(task.taskArn);
      if (session.agentRuns.delete(task.taskArn)) sendStop(session, { taskArn: task.taskArn, stoppedReason: 'The task was deleted.' });
      return;
    }
    await compare(session, instance, task);
  }

  /** What the agent must be told about one task, if anything. */
  async function compare(session: Session, instance: InstanceRef, task: Task): Promise<void> {
    const arn = task.taskArn;
    if (task.lastStatus === 'STOPPED') {
      session.onInstance.delete(arn);
      usages.delete(arn);
      if (session.agentRuns.has(arn) && !session.stopsSent.has(arn)) sendStop(session, task);
      return;
    }
    session.onInstance.add(arn);
    if (task.desiredStatus === 'RUNNING') {
      if (!session.agentRuns.has(arn)) await sendRun(session, instance, task);
    } else if (!session.stopsSent.has(arn) && options.readyToStop?.(arn) !== false) {
      sendStop(session, task);
    }
  }

  async function sendRun(session: Session, instance: InstanceRef, task: Task): Promise<void> {
    session.agentRuns.add(task.taskArn);
    const td = await taskDefinitionOf(task);
    if (td !== undefined) {
      send(session, { type: 'runTask', task, taskDefinition: td });
      return;
    }
    // Nothing to run it from: fail it the way ECS fails a task that cannot start.
    session.agentRuns.delete(task.taskArn);
    const id = taskIdIn(task.taskArn, instance.cluster);
    if (id === undefined) return;
    const failed: TaskStateChange = {
      taskArn: task.taskArn,
      status: 'STOPPED',
      stopCode: 'TaskFailedToStart',
      reason: `The task definition ${task.taskDefinitionArn} is not available.`,
      containers: [],
    };
    const outcome = await reports.write(instance, id, failed);
    if ('refused' in outcome) logger.warn('could not fail a task without a task definition', { task: task.taskArn, ...outcome.refused });
  }

  function sendStop(session: Session, task: Pick<Task, 'taskArn' | 'stoppedReason' | 'stopCode'>): void {
    session.stopsSent.add(task.taskArn);
    const stopCode = task.stopCode !== undefined && PROTOCOL_STOP_CODES.includes(task.stopCode) ? (task.stopCode as StopCode) : undefined;
    send(session, {
      type: 'stopTask',
      taskArn: task.taskArn,
      ...(task.stoppedReason === undefined ? {} : { reason: task.stoppedReason }),
      ...(stopCode === undefined ? {} : { stopCode }),
    });
  }

  function send(session: Session, message: ServerMessage): void {
    if (session.ws.readyState !== session.ws.OPEN) return;
    session.ws.send(JSON.stringify(message), (err) => {
      if (err) logger.debug('could not send to an agent', { instance: session.instance?.arn, type: message.type, error: err });
    });
  }

  const sendError = (session: Session, code: string, message: string) => send(session, { type: 'error', code, message });

  function refuseSession(session: Session, code: string, message: string): void {
    sendError(session, code, message);
    endSession(session, CLOSE_REFUSED, code.slice(0, 100));
  }

  // ---- task definitions ------------------------------------------------------------------------

  /** The task's task definition (tags dropped), cached: a registered revision never changes. */
  async function taskDefinitionOf(task: Task): Promise<TaskDefinition | undefined> {
    const cached = taskDefinitions.get(task.taskDefinitionArn);
    if (cached !== undefined) return cached;
    const ref = taskDefinitionRefOf(task);
    const stored = ref === undefined ? undefined : await readJson<StoredTaskDefinition>(store, keys.taskDefinition(ref.family, ref.revision));
    if (stored === undefined) return undefined;
    const { tags: _tags, ...td } = stored.value;
    if (taskDefinitions.size >= MAX_CACHED_TASK_DEFINITIONS) taskDefinitions.clear();
    taskDefinitions.set(task.taskDefinitionArn, td);
    return td;
  }

  function parseTask(key: string, value: string): Task | undefined {
    try {
      return JSON.parse(value) as Task;
    } catch (err) {
      logger.error('ignoring a task record that is not JSON', { key, error: err });
      return undefined;
    }
  }

  return {
    upgrade,
    usage: (taskArn) => usages.get(taskArn),
    async close() {
      closed = true;
      const sessions = [...all];
      for (const session of sessions) endSession(session, 1001, 'server shutting down');
      for (const feed of feeds.values()) feed.watch?.close();
      await Promise.all(sessions.map((s) => Promise.all([s.following, s.chain, s.disconnected])));
      // Reports taken before the end are written (and acked where the socket still listens).
      await Promise.all(sessions.map((s) => s.acks));
      await reports.drain();
      await Promise.all([...feeds.values()].map((f) => f.running));
      await Promise.all([...connectedWrites.values()]);
      // A peer that does not answer the close handshake must not hold the HTTP server open.
      for (const session of sessions) session.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** The task id of an ARN of a task in `cluster` (long ARN format), else undefined. */
function taskIdIn(taskArn: string, cluster: string): string | undefined {
  const arn = parseEcsArn(taskArn);
  if (arn?.resourceType !== 'task') return undefined;
  const parts = arn.resource.split('/');
  return parts.length === 2 && parts[0] === cluster && parts[1] !== '' ? parts[1] : undefined;
}

function headerPairs(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return out;
}

/** Answers an upgrade with an AWS-shaped JSON error and hangs up, before any WebSocket exists. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ __type: code, message });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.1\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Reading agent messages: nothing the agent sends is trusted until it has this shape.

/** A message that is not one of the protocol's; the session answers with `error` and goes on. */
export class InvalidAgentMessage extends Error {
  override readonly name = 'InvalidAgentMessage';
}

type Json = Readonly<Record<string, unknown>>;
const bad = (path: string, rule: string) => new InvalidAgentMessage(`${path} ${rule}`);

function object(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(path, 'must be an object.');
  return value as Json;
}
function string(o: Json, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw bad(`${path}.${key}`, 'must be a string.');
  return v;
}
function optionalString(o: Json, key: string, path: string): string | undefined {
  return o[key] === undefined ? undefined : string(o, key, path);
}
function number(o: Json, key: string, path: string, integer = false, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
    throw bad(`${path}.${key}`, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  return v;
}
function optionalNumber(o: Json, key: string, path: string, integer = false, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return o[key] === undefined ? undefined : number(o, key, path, integer, min, max);
}
function list(o: Json, key: string, path: string): { item: unknown; path: string }[] {
  const v = o[key];
  if (!Array.isArray(v)) throw bad(`${path}.${key}`, 'must be an array.');
  return (v as unknown[]).map((item, i) => ({ item, path: `${path}.${key}[${i}]` }));
}
function oneOf<T extends string>(o: Json, key: string, path: string, values: readonly T[]): T {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw bad(`${path}.${key}`, `must be one of ${values.join(', ')}.`);
  return v as T;
}
function optionalOneOf<T extends string>(o: Json, key: string, path: string, values: readonly T[]): T | undefined {
  return o[key] === undefined ? undefined : oneOf(o, key, path, values);
}
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const TASK_STATUSES = ['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED'] as const;
const CONTAINER_STATUSES = ['PENDING', 'RUNNING', 'STOPPED'] as const;
const HEALTH = ['HEALTHY', 'UNHEALTHY', 'UNKNOWN'] as const;
const STOP_CODES = ['TaskFailedToStart', 'EssentialContainerExited', 'UserInitiated', 'ServiceSchedulerInitiated'] as const;
const PORT_MAX = 65535;

function containerChange(value: unknown, path: string): ContainerStateChange {
  const o = object(value, path);
  const bindings =
    o['networkBindings'] === undefined
      ? undefined
      : list(o, 'networkBindings', path).map(({ item, path: p }) => {
          const b = object(item, p);
          return {
            bindIP: string(b, 'bindIP', p),
            containerPort: number(b, 'containerPort', p, true, 0, PORT_MAX),
            hostPort: number(b, 'hostPort', p, true, 0, PORT_MAX),
            protocol: oneOf(b, 'protocol', p, ['tcp', 'udp'] as const),
          };
        });
  return defined({
    containerName: string(o, 'containerName', path),
    runtimeId: optionalString(o, 'runtimeId', path),
    imageDigest: optionalString(o, 'imageDigest', path),
    status: oneOf(o, 'status', path, CONTAINER_STATUSES),
    exitCode: optionalNumber(o, 'exitCode', path, true, -(2 ** 31), 2 ** 31 - 1),
    reason: optionalString(o, 'reason', path),
    networkBindings: bindings,
    healthStatus: optionalOneOf(o, 'healthStatus', path, HEALTH),
  });
}

function taskChange(value: unknown, path: string): TaskStateChange {
  const o = object(value, path);
  return defined({
    taskArn: string(o, 'taskArn', path),
    status: oneOf(o, 'status', path, TASK_STATUSES),
    reason: optionalString(o, 'reason', path),
    stopCode: optionalOneOf(o, 'stopCode', path, STOP_CODES),
    containers: list(o, 'containers', path).map(({ item, path: p }) => containerChange(item, p)),
    healthStatus: optionalOneOf(o, 'healthStatus', path, HEALTH),
    privateIPv4Address: optionalString(o, 'privateIPv4Address', path),
    pullStartedAt: optionalNumber(o, 'pullStartedAt', path),
    pullStoppedAt: optionalNumber(o, 'pullStoppedAt', path),
    startedAt: optionalNumber(o, 'startedAt', path),
    executionStoppedAt: optionalNumber(o, 'executionStoppedAt', path),
  });
}

/**
 * Reads one agent message from its JSON text, checking every field the server uses; throws
 * InvalidAgentMessage naming the field and the rule otherwise. Unknown fields are dropped.
 *
 * @example parseAgentMessage('{"type":"heartbeat","at":1700000000000}') // { type: 'heartbeat', at: 1700000000000 }
 */
export function parseAgentMessage(text: string): AgentMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidAgentMessage('The message is not JSON.');
  }
  const m = object(value, 'message');
  const type = m['type'];
  switch (type) {
    case 'hello':
      return defined({
        type,
        protocolVersion: number(m, 'protocolVersion', 'hello', true, 0),
        cluster: string(m, 'cluster', 'hello'),
        containerInstanceArn: optionalString(m, 'containerInstanceArn', 'hello'),
        totalResources: list(m, 'totalResources', 'hello').map(({ item, path }) => {
          const r = object(item, path);
          const spec = {
            name: oneOf(r, 'name', path, ['CPU', 'MEMORY', 'PORTS', 'PORTS_UDP'] as const),
            type: oneOf(r, 'type', path, ['INTEGER', 'STRINGSET'] as const),
          };
          return spec.type === 'INTEGER'
            ? { ...spec, integerValue: number(r, 'integerValue', path, true, 0, 2 ** 31 - 1) }
            : { ...spec, stringSetValue: list(r, 'stringSetValue', path).map(({ item: s, path: p }) => stringItem(s, p)) };
        }),
        attributes: list(m, 'attributes', 'hello').map(({ item, path }) => {
          const a = object(item, path);
          return defined({ name: string(a, 'name', path), value: optionalString(a, 'value', path) });
        }),
        agentVersion: string(m, 'agentVersion', 'hello'),
        hostname: string(m, 'hostname', 'hello'),
        runningTaskArns: list(m, 'runningTaskArns', 'hello').map(({ item, path }) => stringItem(item, path)),
      });
    case 'taskStateChange':
      return defined({ type, change: taskChange(m['change'], 'taskStateChange.change'), seq: optionalNumber(m, 'seq', 'taskStateChange', true, 0) });
    case 'stats':
      return {
        type,
        at: number(m, 'at', 'stats'),
        tasks: list(m, 'tasks', 'stats').map(({ item, path }) => {
          const t = object(item, path);
          return {
            taskArn: string(t, 'taskArn', path),
            containers: list(t, 'containers', path).map(({ item: c, path: p }) => {
              const u = object(c, p);
              return defined({
                containerName: string(u, 'containerName', p),
                cpuNanos: number(u, 'cpuNanos', p),
                memoryBytes: number(u, 'memoryBytes', p),
                memoryLimitBytes: optionalNumber(u, 'memoryLimitBytes', p),
              });
            }),
          };
        }),
      };
    case 'heartbeat':
      return { type, at: number(m, 'at', 'heartbeat') };
    default:
      throw new InvalidAgentMessage(`message.type must be one of hello, taskStateChange, stats, heartbeat; got ${JSON.stringify(type) ?? 'nothing'}.`);
  }
}

function stringItem(value: unknown, path: string): string {
  if (typeof value !== 'string') throw bad(path, 'must be a string.');
  return value;
}
