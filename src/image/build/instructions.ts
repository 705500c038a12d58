/**
 * What each Dockerfile instruction says: raw instructions (dockerfile.ts) to typed ones, with every
 * flag and form checked and what Berth does not support refused with the line. Words stay
 * unexpanded here; variables are substituted when the build is planned (plan.ts), where their
 * values are known.
 */
import { parseJsonArgs, parseWords, type ParsedDockerfile, type RawInstruction } from './dockerfile.js';
import { BuildError } from './errors.js';

/** RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD: exec (JSON array) or shell form. */
export type Command = { readonly form: 'exec'; readonly argv: readonly string[] } | { readonly form: 'shell'; readonly text: string };

export interface KeyValue {
  readonly key: string;
  /** Unexpanded, quotes still in it. */
  readonly value: string;
}

export interface ArgDeclaration {
  readonly name: string;
  /** The default, unexpanded; undefined for `ARG NAME`. */
  readonly value: string | undefined;
}

interface Base {
  readonly line: number;
  /** The instruction as written (continuations joined). */
  readonly original: string;
}

export type Instruction = Base &
  (
    | { readonly kind: 'FROM'; readonly image: string }
    | { readonly kind: 'ARG'; readonly args: readonly ArgDeclaration[] }
    | { readonly kind: 'ENV' | 'LABEL'; readonly pairs: readonly KeyValue[] }
    | { readonly kind: 'RUN' | 'CMD' | 'ENTRYPOINT'; readonly command: Command }
    | { readonly kind: 'SHELL'; readonly argv: readonly string[] }
    | { readonly kind: 'COPY' | 'ADD'; readonly sources: readonly string[]; readonly dest: string; readonly chown?: string; readonly chmod?: string }
    | { readonly kind: 'WORKDIR' | 'USER' | 'STOPSIGNAL' | 'MAINTAINER'; readonly value: string }
    | { readonly kind: 'EXPOSE'; readonly ports: readonly string[] }
    | { readonly kind: 'VOLUME'; readonly paths: readonly string[] }
    | {
        readonly kind: 'HEALTHCHECK';
        readonly test: 'NONE' | Command;
        /** Durations in nanoseconds, as the image config keeps them. */
        readonly interval?: number;
        readonly timeout?: number;
        readonly startPeriod?: number;
        readonly startInterval?: number;
        readonly retries?: number;
      }
  );

export type InstructionKind = Instruction['kind'];

/** Why an instruction Docker knows is not one Berth builds. */
const UNSUPPORTED: Record<string, string> = {
  ONBUILD: 'ONBUILD is not supported: Berth builds do not record or run build triggers',
};

/** Flags Berth refuses, with why, per instruction. */
const REFUSED_FLAGS: Record<string, Record<string, string>> = {
  FROM: { platform: 'FROM --platform is not supported: Berth builds for the platform of the host it runs on' },
  RUN: {
    mount: 'RUN --mount is not supported: Berth builds have no cache, secret or bind mounts',
    security: 'RUN --security is not supported: build containers always run with the default security settings',
  },
  COPY: {
    from: 'COPY --from is not supported: multi-stage builds are not supported',
    link: 'COPY --link is not supported',
    parents: 'COPY --parents is not supported',
    exclude: 'COPY --exclude is not supported: use .dockerignore',
  },
  ADD: {
    checksum: 'ADD --checksum is not supported: ADD of URLs is not supported (Berth builds have no network)',
    'keep-git-dir': 'ADD --keep-git-dir is not supported: ADD of git repositories is not supported (Berth builds have no network)',
    link: 'ADD --link is not supported',
    unpack: 'ADD --unpack is not supported',
    exclude: 'ADD --exclude is not supported: use .dockerignore',
  },
};

/** Flags each instruction takes, and whether they need a value. */
const ALLOWED_FLAGS: Record<string, Record<string, 'value'>> = {
  RUN: { network: 'value' },
  COPY: { chown: 'value', chmod: 'value' },
  ADD: { chown: 'value', chmod: 'value' },
  HEALTHCHECK: { interval: 'value', timeout: 'value', 'start-period': 'value', 'start-interval': 'value', retries: 'value' },
};

function flagsOf(raw: RawInstruction): Map<string, string> {
  const out = new Map<string, string>();
  const allowed = ALLOWED_FLAGS[raw.keyword] ?? {};
  for (const f of raw.flags) {
    const refusal = REFUSED_FLAGS[raw.keyword]?.[f.name];
    if (refusal !== undefined) throw new BuildError(refusal, raw.line);
    if (!(f.name in allowed)) {
      const known = Object.keys(allowed).map((k) => `--${k}`);
      throw new BuildError(`${raw.keyword} does not take --${f.name}${known.length > 0 ? ` (it takes ${known.join(', ')})` : ''}`, raw.line);
    }
    if (f.value === undefined || f.value === '') throw new BuildError(`${raw.keyword} --${f.name} needs a value: --${f.name}=…`, raw.line);
    if (out.has(f.name)) throw new BuildError(`${raw.keyword} --${f.name} is given twice`, raw.line);
    out.set(f.name, f.value);
  }
  return out;
}

function needArgs(raw: RawInstruction): void {
  if (raw.args === '') throw new BuildError(`${raw.keyword} needs an argument`, raw.line);
}

function command(raw: RawInstruction): Command {
  const argv = parseJsonArgs(raw.args, raw.line);
  return argv === undefined ? { form: 'shell', text: raw.args } : { form: 'exec', argv };
}

/** ENV and LABEL: `KEY=value …`, or the legacy `KEY value with spaces` (one pair). */
function keyValues(raw: RawInstruction, escape: string): KeyValue[] {
  needArgs(raw);
  const words = parseWords(raw.args, escape);
  if (!words[0]!.includes('=')) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(raw.args);
    if (m === null) throw new BuildError(`${raw.keyword} needs a value: ${raw.keyword} ${raw.args}=value`, raw.line);
    return [{ key: m[1]!, value: m[2]! }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) throw new BuildError(`${raw.keyword}: can't find = in ${JSON.stringify(word)}; it must be name=value`, raw.line);
    const key = word.slice(0, eq);
    if (key === '') throw new BuildError(`${raw.keyword} names can not be blank`, raw.line);
    return { key, value: word.slice(eq + 1) };
  });
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * A Go duration ("30s", "1m30s", "1.5h", "0") in nanoseconds, as HEALTHCHECK flags take them.
 *
 * @example parseGoDuration('1m30s') // 90_000_000_000
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = /^([+-]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (m === null) return undefined;
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * GO_DURATION_UNITS[part[2]!]!;
  return Math.round(m[1] === '-' ? -total : total);
}

function healthcheck(raw: RawInstruction): Instruction {
  const flags = flagsOf(raw);
  needArgs(raw);
  const m = /^(\S+)\s*([\s\S]*)$/.exec(raw.args)!;
  const type = m[1]!.toUpperCase();
  const rest = m[2]!;
  const base = { line: raw.line, original: raw.original, kind: 'HEALTHCHECK' as const };
  if (type === 'NONE') {
    if (rest !== '' || flags.size > 0) throw new BuildError('HEALTHCHECK NONE takes no other arguments', raw.line);
    return { ...base, test: 'NONE' };
  }
  if (type !== 'CMD') throw new BuildError(`unknown type ${JSON.stringify(m[1])} in HEALTHCHECK (try CMD)`, raw.line);
  if (rest === '') throw new BuildError('HEALTHCHECK CMD needs a command', raw.line);
  const argv = parseJsonArgs(rest, raw.line);
  const out: { -readonly [K in 'interval' | 'timeout' | 'startPeriod' | 'startInterval' | 'retries']?: number } = {};
  for (const [flag, key] of [['interval', 'interval'], ['timeout', 'timeout'], ['start-period', 'startPeriod'], ['start-interval', 'startInterval']] as const) {
    const text = flags.get(flag);
    if (text === undefined) continue;
    const ns = parseGoDuration(text);
    if (ns === undefined) throw new BuildError(`HEALTHCHECK --${flag}=${text} is not a duration (e.g. 30s, 1m30s)`, raw.line);
    // Docker's rule: 0 means the default; anything else must be at least a millisecond.
    if (ns !== 0 && ns < 1e6) throw new BuildError(`HEALTHCHECK --${flag}=${text} cannot be less than 1ms`, raw.line);
    out[key] = ns;
  }
  const retries = flags.get('retries');
  if (retries !== undefined) {
    if (!/^-?\d+$/.test(retries)) throw new BuildError(`HEALTHCHECK --retries=${retries} is not a whole number`, raw.line);
    if (Number(retries) < 0) throw new BuildError(`HEALTHCHECK --retries cannot be negative (${retries})`, raw.line);
    out.retries = Number(retries);
  }
  return { ...base, test: argv === undefined ? { form: 'shell', text: rest } : { form: 'exec', argv }, ...out };
}

function noFlags(raw: RawInstruction): void {
  flagsOf(raw);
}

/**
 * Turns one raw instruction into a typed one, or refuses it naming the line.
 *
 * @example toInstruction({ keyword: 'COPY', args: 'a b /app/', flags: [{ name: 'chown', value: '1000' }], … }, '\\')
 *   // → { kind: 'COPY', sources: ['a', 'b'], dest: '/app/', chown: '1000', … }
 */
export function toInstruction(raw: RawInstruction, escape: string): Instruction {
  const base = { line: raw.line, original: raw.original };
  const unsupported = UNSUPPORTED[raw.keyword];
  if (unsupported !== undefined) throw new BuildError(unsupported, raw.line);
  switch (raw.keyword) {
    case 'FROM': {
      noFlags(raw);
      needArgs(raw);
      const words = raw.args.split(/\s+/);
      if (words.length === 3 && words[1]!.toUpperCase() === 'AS') throw new BuildError('multi-stage builds are not supported', raw.line);
      if (words.length !== 1) throw new BuildError('FROM takes one image (FROM image[:tag])', raw.line);
      return { ...base, kind: 'FROM', image: words[0]! };
    }
    case 'ARG': {
      noFlags(raw);
      needArgs(raw);
      return {
        ...base,
        kind: 'ARG',
        args: parseWords(raw.args, escape).map((word) => {
          const eq = word.indexOf('=');
          const name = eq < 0 ? word : word.slice(0, eq);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BuildError(`ARG name ${JSON.stringify(name)} must be letters, digits and _ (not starting with a digit)`, raw.line);
          return { name, value: eq < 0 ? undefined : word.slice(eq + 1) };
        }),
      };
    }
    case 'ENV':
    case 'LABEL':
      noFlags(raw);
      return { ...base, kind: raw.keyword, pairs: keyValues(raw, escape) };
    case 'RUN': {
      const network = flagsOf(raw).get('network');
      // Build containers never have a network; asking for none (or the default) says the same.
      if (network !== undefined && network !== 'none' && network !== 'default') {
        throw new BuildError(`RUN --network=${network} is not supported: build containers have no network`, raw.line);
      }
      needArgs(raw);
      return { ...base, kind: 'RUN', command: command(raw) };
    }
    case 'CMD':
    case 'ENTRYPOINT':
      noFlags(raw);
      needArgs(raw);
      return { ...base, kind: raw.keyword, command: command(raw) };
    case 'SHELL': {
      noFlags(raw);
      const argv = parseJsonArgs(raw.args, raw.line);
      if (argv === undefined || argv.length === 0) throw new BuildError('SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]', raw.line);
      return { ...base, kind: 'SHELL', argv };
    }
    case 'COPY':
    case 'ADD': {
      const flags = flagsOf(raw);
      needArgs(raw);
      const words = parseJsonArgs(raw.args, raw.line) ?? raw.args.split(/\s+/);
      if (words.length < 2) throw new BuildError(`${raw.keyword} needs a source and a destination: ${raw.keyword} <src>... <dest>`, raw.line);
      const chown = flags.get('chown');
      const chmod = flags.get('chmod');
      return {
        ...base,
        kind: raw.keyword,
        sources: words.slice(0, -1),
        dest: words[words.length - 1]!,
        ...(chown === undefined ? {} : { chown }),
        ...(chmod === undefined ? {} : { chmod }),
      };
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      noFlags(raw);
      needArgs(raw);
      return { ...base, kind: raw.keyword, value: raw.args };
    case 'EXPOSE':
      noFlags(raw);
      needArgs(raw);
      return { ...base, kind: 'EXPOSE', ports: raw.args.split(/\s+/) };
    case 'VOLUME': {
      noFlags(raw);
      needArgs(raw);
      const paths = parseJsonArgs(raw.args, raw.line) ?? raw.args.split(/\s+/);
      if (paths.length === 0 || paths.some((p) => p.trim() === '')) throw new BuildError('VOLUME needs non-empty paths', raw.line);
      return { ...base, kind: 'VOLUME', paths };
    }
    case 'HEALTHCHECK':
      return healthcheck(raw);
    default:
      throw new BuildError(`unknown instruction: ${raw.keyword}`, raw.line);
  }
}

/**
 * Every instruction of a parsed Dockerfile, typed; the first refusal wins.
 *
 * @example toInstructions(parseDockerfile('FROM scratch\nCOPY app /\n')).map((i) => i.kind) // ['FROM', 'COPY']
 */
export function toInstructions(parsed: ParsedDockerfile): Instruction[] {
  return parsed.instructions.map((raw) => toInstruction(raw, parsed.escape));
}
