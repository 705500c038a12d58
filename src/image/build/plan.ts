/**
 * Planning a build: typed instructions, the base image's config and the build args in, the steps
 * to execute out — every variable substituted, every path made absolute, the image config after
 * each step. Pure, so every Dockerfile rule is tested without running anything; the builder only
 * executes what the plan says (RUN, COPY/ADD, WORKDIR) and assembles the result.
 *
 * Docker's rules kept here: ARGs before FROM are visible only to FROM (an `ARG NAME` after FROM
 * brings one in); ENV wins over an ARG of the same name; all pairs of one ENV see the variables as
 * they were before it; a relative WORKDIR builds on the previous one; ENTRYPOINT clears a CMD
 * inherited from the base image but not one set in this Dockerfile; shell forms run through SHELL
 * (default `/bin/sh -c`); build args no ARG declares are reported unused.
 */
import { constants } from 'node:os';
import { posix } from 'node:path';
import { BuildError } from './errors.js';
import type { Command, Instruction } from './instructions.js';
import { expandWord, expandWords, type Variables } from './substitute.js';

/** The image config's `config` object (OCI image-spec, plus Docker's Shell), as the build shapes it. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  Shell?: string[];
}

/** What a step does beyond changing the config. */
export type StepAction =
  | { readonly kind: 'from'; readonly image: string }
  | { readonly kind: 'config' }
  | {
      readonly kind: 'run';
      readonly argv: readonly string[];
      /** NAME=value: the config's Env with the ARGs in scope (ENV winning), sorted by name. */
      readonly env: readonly string[];
      readonly user: string;
      readonly workdir: string;
    }
  | {
      readonly kind: 'copy';
      readonly add: boolean;
      /** Context-relative patterns, as written after substitution. */
      readonly sources: readonly string[];
      /** Absolute path in the image. */
      readonly dest: string;
      /** The destination names a directory (trailing `/`, or `.`): sources go inside it. */
      readonly destIsDir: boolean;
      readonly chown?: string;
      readonly chmod?: number;
    }
  | { readonly kind: 'workdir'; readonly path: string; readonly user: string };

export interface PlanStep {
  /** 1-based, FROM being 1: what progress shows as [n/total]. */
  readonly index: number;
  readonly line: number;
  /** The instruction as written. */
  readonly display: string;
  /** The image history's created_by: the instruction with its variables substituted. */
  readonly createdBy: string;
  readonly action: StepAction;
  /** The image config once this step is done. */
  readonly config: ContainerConfig;
}

export interface BuildPlan {
  readonly steps: readonly PlanStep[];
  /** The final image config. */
  readonly config: ContainerConfig;
  /** MAINTAINER's text, the config's `author`. */
  readonly author?: string;
  /** Build args given that no ARG declares. */
  readonly unusedBuildArgs: readonly string[];
}

export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];
/** Args Docker lets any build set without declaring them (proxies); never reported unused. */
const PREDEFINED_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/** The FROM of a Dockerfile: which image to start from, after the global ARGs. */
export interface FromClause {
  /** The image reference with variables substituted, or `scratch`. */
  readonly image: string;
  readonly line: number;
  /** Where FROM sits in the instruction list. */
  readonly position: number;
  /** Global ARGs (declared before FROM) with their values: what an `ARG NAME` after FROM brings in. */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
}

function expand(word: string, vars: Variables, escape: string, line: number): string {
  try {
    return expandWord(word, vars, escape);
  } catch (err) {
    throw new BuildError((err as Error).message, line, { cause: err });
  }
}

function expandSplit(word: string, vars: Variables, escape: string, line: number): string[] {
  try {
    return expandWords(word, vars, escape);
  } catch (err) {
    throw new BuildError((err as Error).message, line, { cause: err });
  }
}

function defined(args: ReadonlyMap<string, string | undefined>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of args) if (v !== undefined) out.set(k, v);
  return out;
}

/**
 * Finds the one FROM, checks that only ARGs come before it and that no second FROM follows, and
 * substitutes the global ARGs into its image.
 *
 * @example resolveFrom(toInstructions(parseDockerfile('ARG V=1\nFROM busybox:$V')), '\\', {}).image // 'busybox:1'
 */
export function resolveFrom(instructions: readonly Instruction[], escape: string, buildArgs: Readonly<Record<string, string>>): FromClause {
  const globalArgs = new Map<string, string | undefined>();
  let from: { image: string; line: number; position: number } | undefined;
  for (const [position, ins] of instructions.entries()) {
    if (ins.kind === 'FROM') {
      if (from !== undefined) throw new BuildError('multi-stage builds are not supported', ins.line);
      from = { image: expand(ins.image, defined(globalArgs), escape, ins.line), line: ins.line, position };
      if (from.image === '') throw new BuildError(`FROM ${ins.image} names no image once its variables are substituted`, ins.line);
      continue;
    }
    if (from !== undefined) continue;
    if (ins.kind !== 'ARG') throw new BuildError(`${ins.kind} comes before FROM: a Dockerfile must start with FROM (only ARG may come first)`, ins.line);
    for (const a of ins.args) {
      const value = buildArgs[a.name] ?? (a.value === undefined ? undefined : expand(a.value, defined(globalArgs), escape, ins.line));
      globalArgs.set(a.name, value);
    }
  }
  if (from === undefined) throw new BuildError('the Dockerfile has no FROM');
  return { ...from, globalArgs };
}

function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const at = out.findIndex((e) => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')) === key);
  if (at >= 0) out[at] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

function envMap(env: readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) out.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return out;
}

function commandArgv(cmd: Command, shell: readonly string[]): string[] {
  return cmd.form === 'exec' ? [...cmd.argv] : [...shell, cmd.text];
}

/** EXPOSE's `80`, `80/udp`, `8000-8002/tcp` as the config's `port/proto` keys. */
export function exposedPorts(spec: string, line: number): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
  if (m === null) throw new BuildError(`EXPOSE ${spec}: expected port[-port][/tcp|udp|sctp]`, line);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new BuildError(`EXPOSE ${spec}: the protocol must be tcp, udp or sctp`, line);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535 || last < first) throw new BuildError(`EXPOSE ${spec}: ports are 1-65535, a range low-high`, line);
  return Array.from({ length: last - first + 1 }, (_, i) => `${first + i}/${proto}`);
}

/** Whether STOPSIGNAL's value is a signal: a name (with or without SIG) or a number 1-64. */
function validSignal(value: string): boolean {
  if (/^\d+$/.test(value)) return Number(value) >= 1 && Number(value) <= 64;
  const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
  return name in constants.signals || /^SIGRTM(IN|AX)([+-]\d+)?$/.test(name);
}

function isUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^git@/.test(source);
}

export interface PlanInput {
  readonly instructions: readonly Instruction[];
  readonly escape: string;
  readonly from: FromClause;
  /** The base image's config object (undefined for scratch). */
  readonly baseConfig?: ContainerConfig & { OnBuild?: string[] | null };
  readonly buildArgs: Readonly<Record<string, string>>;
}

/**
 * Plans the build after FROM.
 *
 * @example planBuild({ instructions, escape: '\\', from, baseConfig, buildArgs: {} }).steps.map((s) => s.action.kind)
 *   // ['from', 'run', 'copy', 'config']
 */
export function planBuild(input: PlanInput): BuildPlan {
  const { escape, from } = input;
  if ((input.baseConfig?.OnBuild ?? []).length > 0) {
    throw new BuildError(`the base image ${from.image} has ONBUILD triggers, which Berth's builds do not run`, from.line);
  }
  let config: ContainerConfig = structuredClone(baseConfigOf(input.baseConfig));
  const args = new Map<string, string | undefined>();
  const declared = new Set<string>(from.globalArgs.keys());
  let cmdSet = false;
  let author: string | undefined;
  const steps: PlanStep[] = [];
  const rest = input.instructions.slice(from.position + 1);
  const total = rest.length + 1;

  steps.push({
    index: 1,
    line: from.line,
    display: input.instructions[from.position]!.original,
    createdBy: `FROM ${from.image}`,
    action: { kind: 'from', image: from.image },
    config: structuredClone(config),
  });

  // ENV over ARG: what `$NAME` means at this point of the Dockerfile.
  const vars = (): Map<string, string> => new Map([...defined(args), ...envMap(config.Env)]);
  const shell = (): readonly string[] => config.Shell ?? DEFAULT_SHELL;

  for (const [i, ins] of rest.entries()) {
    const line = ins.line;
    let createdBy: string;
    let action: StepAction = { kind: 'config' };
    switch (ins.kind) {
      case 'FROM':
        throw new BuildError('multi-stage builds are not supported', line);
      case 'ARG': {
        const parts: string[] = [];
        for (const a of ins.args) {
          declared.add(a.name);
          let value: string | undefined;
          if (a.name in input.buildArgs) value = input.buildArgs[a.name];
          else if (a.value !== undefined) value = expand(a.value, vars(), escape, line);
          else value = from.globalArgs.get(a.name);
          args.set(a.name, value);
          parts.push(a.value === undefined ? a.name : `${a.name}=${a.value}`);
        }
        createdBy = `ARG ${parts.join(' ')}`;
        break;
      }
      case 'ENV': {
        const before = vars();
        let env = config.Env ?? [];
        const parts: string[] = [];
        for (const p of ins.pairs) {
          const value = expand(p.value, before, escape, line);
          env = setEnv(env, p.key, value);
          parts.push(`${p.key}=${value}`);
        }
        config = { ...config, Env: env };
        createdBy = `ENV ${parts.join(' ')}`;
        break;
      }
      case 'LABEL': {
        const labels = { ...(config.Labels ?? {}) };
        const parts: string[] = [];
        for (const p of ins.pairs) {
          const key = expand(p.key, vars(), escape, line);
          if (key === '') throw new BuildError('LABEL names can not be blank', line);
          labels[key] = expand(p.value, vars(), escape, line);
          parts.push(`${key}=${labels[key]}`);
        }
        config = { ...config, Labels: labels };
        createdBy = `LABEL ${parts.join(' ')}`;
        break;
      }
      case 'RUN': {
        const argv = commandArgv(ins.command, shell());
        if (argv.length === 0 || argv[0] === '') throw new BuildError('RUN needs a command', line);
        const env = new Map([...defined(args), ...envMap(config.Env)]);
        action = {
          kind: 'run',
          argv,
          env: [...env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`),
          user: config.User ?? '',
          workdir: config.WorkingDir || '/',
        };
        createdBy = `RUN ${argv.join(' ')}`;
        break;
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = commandArgv(ins.command, shell());
        if (ins.kind === 'CMD') {
          config = { ...config, Cmd: argv };
          cmdSet = true;
        } else {
          config = { ...config, Entrypoint: argv };
          // Docker: a new ENTRYPOINT drops the base image's CMD, not one this Dockerfile set.
          if (!cmdSet) config = { ...config, Cmd: null };
        }
        createdBy = `${ins.kind} ${JSON.stringify(argv)}`;
        break;
      }
      case 'SHELL':
        config = { ...config, Shell: [...ins.argv] };
        createdBy = `SHELL ${JSON.stringify(ins.argv)}`;
        break;
      case 'COPY':
      case 'ADD': {
        const v = vars();
        const sources = ins.sources.map((s) => expand(s, v, escape, line));
        const destWord = expand(ins.dest, v, escape, line);
        for (const s of sources) {
          if (s === '') throw new BuildError(`${ins.kind} has an empty source`, line);
          if (isUrl(s)) {
            throw new BuildError(
              ins.kind === 'ADD'
                ? `ADD of a URL (${s}) is not supported: Berth builds have no network; download it beside the Dockerfile and COPY it`
                : `COPY cannot take a URL (${s}) as its source`,
              line,
            );
          }
        }
        if (destWord === '') throw new BuildError(`${ins.kind} has an empty destination`, line);
        const destIsDir = destWord.endsWith('/') || destWord === '.' || destWord.endsWith('/.') || sources.length > 1;
        if (sources.length > 1 && !destWord.endsWith('/')) {
          throw new BuildError(`when using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`, line);
        }
        const dest = posix.resolve(config.WorkingDir || '/', destWord);
        let chmod: number | undefined;
        if (ins.chmod !== undefined) {
          const text = expand(ins.chmod, v, escape, line);
          if (!/^[0-7]{3,4}$/.test(text)) throw new BuildError(`${ins.kind} --chmod=${text} is not an octal mode (e.g. 755 or 0640)`, line);
          chmod = parseInt(text, 8);
        }
        const chown = ins.chown === undefined ? undefined : expand(ins.chown, v, escape, line);
        if (chown === '') throw new BuildError(`${ins.kind} --chown is empty once its variables are substituted`, line);
        action = {
          kind: 'copy',
          add: ins.kind === 'ADD',
          sources,
          dest,
          destIsDir,
          ...(chown === undefined ? {} : { chown }),
          ...(chmod === undefined ? {} : { chmod }),
        };
        const flags = [chown === undefined ? '' : `--chown=${chown} `, ins.chmod === undefined ? '' : `--chmod=${chmod!.toString(8).padStart(3, '0')} `].join('');
        createdBy = `${ins.kind} ${flags}${sources.join(' ')} ${destWord}`;
        break;
      }
      case 'WORKDIR': {
        const value = expand(ins.value, vars(), escape, line);
        if (value === '') throw new BuildError('WORKDIR is empty once its variables are substituted', line);
        const path = posix.resolve(config.WorkingDir || '/', value);
        config = { ...config, WorkingDir: path };
        action = { kind: 'workdir', path, user: config.User ?? '' };
        createdBy = `WORKDIR ${path}`;
        break;
      }
      case 'USER': {
        const value = expand(ins.value, vars(), escape, line);
        if (value === '') throw new BuildError('USER is empty once its variables are substituted', line);
        config = { ...config, User: value };
        createdBy = `USER ${value}`;
        break;
      }
      case 'STOPSIGNAL': {
        const value = expand(ins.value, vars(), escape, line);
        if (!validSignal(value)) throw new BuildError(`STOPSIGNAL ${value} is not a signal (a name like SIGTERM, or a number 1-64)`, line);
        config = { ...config, StopSignal: value };
        createdBy = `STOPSIGNAL ${value}`;
        break;
      }
      case 'MAINTAINER':
        author = ins.value;
        createdBy = `MAINTAINER ${ins.value}`;
        break;
      case 'EXPOSE': {
        const ports = { ...(config.ExposedPorts ?? {}) };
        const added: string[] = [];
        for (const word of ins.ports) {
          for (const spec of expandSplit(word, vars(), escape, line)) {
            for (const key of exposedPorts(spec, line)) {
              ports[key] = {};
              added.push(key);
            }
          }
        }
        config = { ...config, ExposedPorts: ports };
        createdBy = `EXPOSE ${added.join(' ')}`;
        break;
      }
      case 'VOLUME': {
        const volumes = { ...(config.Volumes ?? {}) };
        const added: string[] = [];
        for (const word of ins.paths) {
          for (const p of expandSplit(word, vars(), escape, line)) {
            if (p === '') throw new BuildError('VOLUME specified can not be an empty string', line);
            volumes[p] = {};
            added.push(p);
          }
        }
        config = { ...config, Volumes: volumes };
        createdBy = `VOLUME ${JSON.stringify(added)}`;
        break;
      }
      case 'HEALTHCHECK': {
        const test = ins.test === 'NONE' ? ['NONE'] : ins.test.form === 'exec' ? ['CMD', ...ins.test.argv] : ['CMD-SHELL', ins.test.text];
        const hc: NonNullable<ContainerConfig['Healthcheck']> = { Test: test };
        if (ins.interval) hc.Interval = ins.interval;
        if (ins.timeout) hc.Timeout = ins.timeout;
        if (ins.startPeriod) hc.StartPeriod = ins.startPeriod;
        if (ins.startInterval) hc.StartInterval = ins.startInterval;
        if (ins.retries) hc.Retries = ins.retries;
        config = { ...config, Healthcheck: hc };
        createdBy = `HEALTHCHECK ${JSON.stringify(test)}`;
        break;
      }
    }
    steps.push({ index: i + 2, line, display: ins.original, createdBy, action, config: structuredClone(config) });
  }

  const unusedBuildArgs = Object.keys(input.buildArgs).filter((name) => !declared.has(name) && !PREDEFINED_ARGS.has(name)).sort();
  if (steps.length !== total) throw new Error('internal: a step was lost while planning');
  return { steps, config, ...(author === undefined ? {} : { author }), unusedBuildArgs };
}

/** The base config members a build keeps (the rest, e.g. Docker's Hostname or Image, goes). */
function baseConfigOf(base: ContainerConfig | undefined): ContainerConfig {
  if (base === undefined) return {};
  const keep: (keyof ContainerConfig)[] = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'Shell'];
  const out: Record<string, unknown> = {};
  for (const k of keep) if (base[k] !== undefined && base[k] !== null) out[k] = base[k];
  return out;
}
