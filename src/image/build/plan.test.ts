/**
 * Planning: ARG scopes, ENV over ARG, substitution where Docker applies it, WORKDIR chaining,
 * COPY destinations, CMD/ENTRYPOINT/SHELL, EXPOSE, HEALTHCHECK and the history each step leaves.
 */
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.js';
import { toInstructions } from './instructions.js';
import { planBuild, resolveFrom, type BuildPlan, type ContainerConfig, type PlanStep } from './plan.js';

function plan(text: string, buildArgs: Record<string, string> = {}, baseConfig?: ContainerConfig & { OnBuild?: string[] | null }): BuildPlan {
  const parsed = parseDockerfile(text);
  const instructions = toInstructions(parsed);
  const from = resolveFrom(instructions, parsed.escape, buildArgs);
  return planBuild({ instructions, escape: parsed.escape, from, buildArgs, ...(baseConfig === undefined ? {} : { baseConfig }) });
}
const last = (p: BuildPlan): PlanStep => p.steps[p.steps.length - 1]!;
const env = (p: BuildPlan) => p.config.Env;
const fails = (text: string, buildArgs: Record<string, string> = {}) => {
  try {
    plan(text, buildArgs);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the plan to be refused');
};

describe('resolveFrom', () => {
  const from = (text: string, args: Record<string, string> = {}) => {
    const parsed = parseDockerfile(text);
    return resolveFrom(toInstructions(parsed), parsed.escape, args);
  };

  it('substitutes ARGs declared before FROM, build args winning', () => {
    expect(from('ARG REG=127.0.0.1:5000\nARG TAG=1\nFROM $REG/busybox:${TAG}').image).toBe('127.0.0.1:5000/busybox:1');
    expect(from('ARG TAG=1\nFROM busybox:$TAG', { TAG: '2' }).image).toBe('busybox:2');
    expect(from('ARG A=x\nARG B=$A-y\nFROM img:$B').image).toBe('img:x-y');
    expect(from('FROM scratch')).toMatchObject({ image: 'scratch', line: 1, position: 0 });
  });

  it('refuses anything but ARG before FROM, a second FROM, no FROM, and an image that expands to nothing', () => {
    expect(() => from('RUN true\nFROM scratch')).toThrow('RUN comes before FROM: a Dockerfile must start with FROM (only ARG may come first) (line 1)');
    expect(() => from('FROM a\nRUN true\nFROM b')).toThrow('multi-stage builds are not supported (line 3)');
    expect(() => from('ARG X=1')).toThrow('the Dockerfile has no FROM');
    expect(() => from('ARG IMG\nFROM $IMG')).toThrow('FROM $IMG names no image once its variables are substituted (line 2)');
  });
});

describe('planBuild', () => {
  it('numbers the steps from FROM and records what each one did', () => {
    const p = plan('ARG V=1\nFROM scratch\nENV A=1\nRUN echo hi\nCOPY . /app\n');
    expect(p.steps.map((s) => [s.index, s.line, s.action.kind, s.createdBy])).toEqual([
      [1, 2, 'from', 'FROM scratch'],
      [2, 3, 'config', 'ENV A=1'],
      [3, 4, 'run', 'RUN /bin/sh -c echo hi'],
      [4, 5, 'copy', 'COPY . /app'],
    ]);
  });

  it('keeps global ARGs out of the stage unless an ARG brings them in', () => {
    expect(env(plan('ARG V=1\nFROM scratch\nENV X=$V'))).toEqual(['X=']);
    expect(env(plan('ARG V=1\nFROM scratch\nARG V\nENV X=$V'))).toEqual(['X=1']);
    expect(env(plan('ARG V=1\nFROM scratch\nARG V\nENV X=$V', { V: '2' }))).toEqual(['X=2']);
    // A default in the stage replaces the global one; a build arg still wins.
    expect(env(plan('ARG V=1\nFROM scratch\nARG V=3\nENV X=$V'))).toEqual(['X=3']);
    expect(env(plan('ARG V=1\nFROM scratch\nARG V=3\nENV X=$V', { V: '2' }))).toEqual(['X=2']);
  });

  it('gives an ARG without a value and no build arg no value at all', () => {
    expect(env(plan('FROM scratch\nARG U\nENV A=${U-unset} B=${U:-empty}'))).toEqual(['A=unset', 'B=empty']);
    expect(env(plan('FROM scratch\nARG U=\nENV A=${U-unset} B=${U:-empty}'))).toEqual(['A=', 'B=empty']);
  });

  it('lets all pairs of one ENV see the variables as they were before it', () => {
    expect(env(plan('FROM scratch\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc'))).toEqual(['abc=bye', 'def=hello', 'ghi=bye']);
  });

  it('lets ENV win over an ARG of the same name, in substitution and in RUN', () => {
    const p = plan('FROM scratch\nARG NAME=fromarg\nENV NAME=fromenv\nARG OTHER=o\nLABEL n=$NAME\nRUN true');
    expect(p.config.Labels).toEqual({ n: 'fromenv' });
    expect(last(p).action).toEqual({ kind: 'run', argv: ['/bin/sh', '-c', 'true'], env: ['NAME=fromenv', 'OTHER=o'], user: '', workdir: '/' });
  });

  it('keeps the base image env in place when ENV changes it, and appends new names', () => {
    const p = plan('FROM base\nENV PATH=/app/bin:$PATH NEW=1', {}, { Env: ['PATH=/usr/bin:/bin', 'HOME=/root'] });
    expect(env(p)).toEqual(['PATH=/app/bin:/usr/bin:/bin', 'HOME=/root', 'NEW=1']);
  });

  it('runs with the user, working directory and env of its point in the Dockerfile', () => {
    const p = plan('FROM base\nUSER app\nWORKDIR /srv\nARG MODE=dev\nRUN ["make", "$MODE"]\nUSER root\nRUN id', {}, { Env: ['PATH=/bin'] });
    expect(p.steps[4]!.action).toEqual({ kind: 'run', argv: ['make', '$MODE'], env: ['MODE=dev', 'PATH=/bin'], user: 'app', workdir: '/srv' });
    expect(last(p).action).toMatchObject({ user: 'root', argv: ['/bin/sh', '-c', 'id'] });
  });

  it('chains relative WORKDIRs from the base image on, and expands variables in them', () => {
    const p = plan('FROM base\nWORKDIR app\nENV SUB=src\nWORKDIR $SUB\nWORKDIR ../lib/\n', {}, { WorkingDir: '/srv' });
    expect(p.steps.filter((s) => s.action.kind === 'workdir').map((s) => s.action)).toEqual([
      { kind: 'workdir', path: '/srv/app', user: '' },
      { kind: 'workdir', path: '/srv/app/src', user: '' },
      { kind: 'workdir', path: '/srv/app/lib', user: '' },
    ]);
    expect(p.config.WorkingDir).toBe('/srv/app/lib');
  });

  it('makes COPY destinations absolute from WORKDIR and says when they name a directory', () => {
    const copy = (line: string) => last(plan(`FROM scratch\nWORKDIR /app\nENV D=conf\n${line}`)).action;
    expect(copy('COPY a.txt b')).toEqual({ kind: 'copy', add: false, sources: ['a.txt'], dest: '/app/b', destIsDir: false });
    expect(copy('COPY a.txt .')).toMatchObject({ dest: '/app', destIsDir: true });
    expect(copy('COPY a.txt $D/')).toMatchObject({ dest: '/app/conf', destIsDir: true });
    expect(copy('COPY a b /x/')).toMatchObject({ sources: ['a', 'b'], dest: '/x', destIsDir: true });
    expect(copy('COPY --chown=$D:$D --chmod=0640 ${D}.yml /etc/')).toMatchObject({ sources: ['conf.yml'], chown: 'conf:conf', chmod: 0o640 });
    expect(copy('ADD app.tar.gz /')).toMatchObject({ add: true, dest: '/', destIsDir: true });
    expect(last(plan('FROM scratch\nCOPY --chmod=755 a b* /x/')).createdBy).toBe('COPY --chmod=755 a b* /x/');
  });

  it('refuses COPY and ADD sources and destinations Berth cannot honour, naming the line', () => {
    expect(fails('FROM scratch\nCOPY a b /x')).toBe('when using COPY with more than one source file, the destination must be a directory and end with a / (line 2)');
    expect(fails('FROM scratch\nADD https://example.com/x.tgz /')).toMatch(/^ADD of a URL \(https:\/\/example.com\/x.tgz\) is not supported: Berth builds have no network.*\(line 2\)$/);
    expect(fails('FROM scratch\nADD git@github.com:a/b.git /')).toMatch(/ADD of a URL/);
    expect(fails('FROM scratch\nCOPY http://x/y /')).toBe('COPY cannot take a URL (http://x/y) as its source (line 2)');
    expect(fails('FROM scratch\nCOPY --chmod=u+x a /')).toBe('COPY --chmod=u+x is not an octal mode (e.g. 755 or 0640) (line 2)');
    expect(fails('FROM scratch\nARG E\nCOPY a $E')).toBe('COPY has an empty destination (line 3)');
  });

  it('runs shell forms through SHELL, and lets ENTRYPOINT drop only an inherited CMD', () => {
    const base = { Cmd: ['base-cmd'], Entrypoint: ['/base-ep'] };
    expect(plan('FROM b\nENTRYPOINT ["/ep"]', {}, base).config).toMatchObject({ Entrypoint: ['/ep'], Cmd: null });
    expect(plan('FROM b\nCMD ["own"]\nENTRYPOINT ["/ep"]', {}, base).config).toMatchObject({ Entrypoint: ['/ep'], Cmd: ['own'] });
    expect(plan('FROM b\nENTRYPOINT ["/ep"]\nCMD ["own"]', {}, base).config).toMatchObject({ Entrypoint: ['/ep'], Cmd: ['own'] });
    const p = plan('FROM b\nSHELL ["/bin/ash", "-eo", "pipefail", "-c"]\nRUN a | b\nCMD serve --port 80');
    expect(p.steps[2]!.action).toMatchObject({ argv: ['/bin/ash', '-eo', 'pipefail', '-c', 'a | b'] });
    expect(p.config).toMatchObject({ Shell: ['/bin/ash', '-eo', 'pipefail', '-c'], Cmd: ['/bin/ash', '-eo', 'pipefail', '-c', 'serve --port 80'] });
    expect(fails('FROM b\nRUN []')).toBe('RUN needs a command (line 2)');
  });

  it('records EXPOSE ports with protocols and ranges, variables expanded', () => {
    const p = plan('FROM scratch\nENV P="8080 9090/udp"\nEXPOSE 80 53/UDP $P 7000-7002/tcp');
    expect(Object.keys(p.config.ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8080/tcp', '9090/udp', '7000/tcp', '7001/tcp', '7002/tcp']);
    expect(last(p).createdBy).toBe('EXPOSE 80/tcp 53/udp 8080/tcp 9090/udp 7000/tcp 7001/tcp 7002/tcp');
    expect(fails('FROM scratch\nEXPOSE http')).toBe('EXPOSE http: expected port[-port][/tcp|udp|sctp] (line 2)');
    expect(fails('FROM scratch\nEXPOSE 80/icmp')).toBe('EXPOSE 80/icmp: the protocol must be tcp, udp or sctp (line 2)');
    expect(fails('FROM scratch\nEXPOSE 70000')).toBe('EXPOSE 70000: ports are 1-65535, a range low-high (line 2)');
  });

  it('sets LABEL, USER, STOPSIGNAL, VOLUME, HEALTHCHECK and MAINTAINER', () => {
    const p = plan(
      'FROM scratch\nARG V=2\nLABEL "com.example.v"="$V" plain=a\\ b\nUSER 1000:1000\nSTOPSIGNAL SIGQUIT\nVOLUME /data $V\n' +
        'HEALTHCHECK --interval=10s --retries=2 CMD wget -q -O- localhost\nMAINTAINER Jo <jo@example.com>',
      {},
      { Labels: { base: 'yes' } },
    );
    expect(p.config).toEqual({
      Labels: { base: 'yes', 'com.example.v': '2', plain: 'a b' },
      User: '1000:1000',
      StopSignal: 'SIGQUIT',
      Volumes: { '/data': {}, '2': {} },
      Healthcheck: { Test: ['CMD-SHELL', 'wget -q -O- localhost'], Interval: 10e9, Retries: 2 },
    });
    expect(p.author).toBe('Jo <jo@example.com>');
    expect(plan('FROM scratch\nSTOPSIGNAL 9').config.StopSignal).toBe('9');
    expect(plan('FROM scratch\nSTOPSIGNAL term').config.StopSignal).toBe('term');
    expect(plan('FROM scratch\nHEALTHCHECK NONE').config.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(fails('FROM scratch\nSTOPSIGNAL SIGNOPE')).toBe('STOPSIGNAL SIGNOPE is not a signal (a name like SIGTERM, or a number 1-64) (line 2)');
  });

  it('keeps only the config members an image carries from the base', () => {
    const p = plan('FROM base', {}, { Env: ['A=1'], Cmd: ['x'], Labels: { l: '1' }, Hostname: 'old', Image: 'sha256:…' } as ContainerConfig);
    expect(p.config).toEqual({ Env: ['A=1'], Cmd: ['x'], Labels: { l: '1' } });
  });

  it('refuses a base image with ONBUILD triggers at the FROM line', () => {
    expect(() => plan('\nFROM base', {}, { OnBuild: ['RUN x'] })).toThrow("the base image base has ONBUILD triggers, which Berth's builds do not run (line 2)");
  });

  it('reports build args no ARG declares, but not the predefined proxy ones', () => {
    expect(plan('ARG A\nFROM scratch\nARG B', { A: '1', B: '2', C: '3', HTTP_PROXY: 'x' }).unusedBuildArgs).toEqual(['C']);
  });

  it('names the line of a substitution error', () => {
    expect(fails('FROM scratch\n\nENV A="${B:?must be given}"')).toBe('B: must be given (line 3)');
    expect(fails('FROM scratch\nWORKDIR ${X')).toBe("syntax error: missing '}' (line 2)");
  });

  it('takes the escape directive into substitution', () => {
    expect(env(plan('# escape=`\nFROM scratch\nENV A=C:\\x B=`$A'))).toEqual(['A=C:\\x', 'B=$A']);
  });
});
