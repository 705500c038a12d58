/**
 * The Dockerfile reader and the typed instructions: continuations, comments, directives, flags,
 * JSON and shell forms, and every refusal naming its line.
 */
import { describe, expect, it } from 'vitest';
import { parseDockerfile, parseJsonArgs, parseWords } from './dockerfile.js';
import { parseGoDuration, toInstructions, type Instruction } from './instructions.js';

const raw = (text: string) => parseDockerfile(text).instructions;
const typed = (text: string) => toInstructions(parseDockerfile(text));
const one = (line: string): Instruction => typed(`FROM scratch\n${line}\n`)[1]!;
const fails = (text: string) => {
  try {
    typed(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the Dockerfile to be refused');
};

describe('parseDockerfile: lines', () => {
  it('joins continuation lines and keeps line numbers of the first and last', () => {
    const [from, run] = raw('FROM busybox\nRUN echo a \\\n  && echo b \\\n  && echo c\n');
    expect(from).toMatchObject({ keyword: 'FROM', line: 1, endLine: 1, args: 'busybox' });
    expect(run).toMatchObject({ keyword: 'RUN', line: 2, endLine: 4, args: 'echo a   && echo b   && echo c' });
  });

  it('allows blanks after the escape character that continues a line', () => {
    expect(raw('RUN a \\   \n b')[0]!.args).toBe('a  b');
  });

  it('skips comment lines and blank lines inside a continuation (warning about blank ones)', () => {
    const parsed = parseDockerfile('RUN a \\\n# a comment\n    # indented comment\n\n b\nCMD x');
    expect(parsed.instructions.map((i) => [i.keyword, i.args, i.line, i.endLine])).toEqual([
      ['RUN', 'a  b', 1, 5],
      ['CMD', 'x', 6, 6],
    ]);
    expect(parsed.warnings).toEqual(['line 1: empty continuation line (Docker will make this an error)']);
  });

  it('ends an instruction continued at the end of the file', () => {
    expect(raw('RUN a \\')[0]).toMatchObject({ args: 'a', line: 1, endLine: 1 });
  });

  it('treats only whole lines starting with # as comments', () => {
    const ins = raw('# top\n  # indented\nRUN echo # not a comment\n');
    expect(ins).toHaveLength(1);
    expect(ins[0]).toMatchObject({ args: 'echo # not a comment', line: 3 });
  });

  it('reads keywords in any case, with leading blanks, CRLF line ends and a byte-order mark', () => {
    const ins = raw('\uFEFFfrom busybox\r\n   run  echo hi\r\n');
    expect(ins.map((i) => [i.keyword, i.args])).toEqual([['FROM', 'busybox'], ['RUN', 'echo hi']]);
  });

  it('refuses an empty Dockerfile', () => {
    expect(() => raw('# only a comment\n\n')).toThrow('the Dockerfile has no instructions');
  });
});

describe('parseDockerfile: directives', () => {
  it('honours escape=` at the top: backticks continue lines, backslashes are plain', () => {
    const parsed = parseDockerfile('# escape=`\nFROM scratch\nCOPY a C:\\dir\\ `\n  /b\n');
    expect(parsed.escape).toBe('`');
    expect(parsed.instructions[1]!.args).toBe('a C:\\dir\\   /b');
  });

  it('reads directive names in any case and with blanks around =', () => {
    expect(parseDockerfile('#  ESCAPE = `\nRUN a').escape).toBe('`');
  });

  it('ignores directives after a comment, a blank line or an instruction', () => {
    expect(parseDockerfile('# hello\n# escape=`\nRUN a').escape).toBe('\\');
    expect(parseDockerfile('\n# escape=`\nRUN a').escape).toBe('\\');
    expect(parseDockerfile('RUN a\n# escape=`\nRUN b').escape).toBe('\\');
    expect(parseDockerfile('# unknown=1\n# escape=`\nRUN b').escape).toBe('\\');
  });

  it('accepts syntax and check directives alongside escape', () => {
    expect(parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nRUN a').escape).toBe('`');
  });

  it('refuses a repeated directive and an escape that is neither \\ nor `', () => {
    expect(() => parseDockerfile('# escape=\\\n# escape=`\nRUN a')).toThrow('only one escape parser directive can be used (line 2)');
    expect(() => parseDockerfile('# escape=x\nRUN a')).toThrow("invalid escape token 'x' does not match ` or \\ (line 1)");
  });
});

describe('parseDockerfile: flags and forms', () => {
  it('splits leading --flags (quotes removed) from the arguments, up to a bare --', () => {
    expect(raw('COPY --chown=1000:1000 --chmod="755" a b')[0]).toMatchObject({
      flags: [{ name: 'chown', value: '1000:1000' }, { name: 'chmod', value: '755' }],
      args: 'a b',
    });
    expect(raw('RUN --network=none -- --not-a-flag')[0]).toMatchObject({ flags: [{ name: 'network', value: 'none' }], args: '--not-a-flag' });
    expect(raw('RUN echo --flag')[0]).toMatchObject({ flags: [], args: 'echo --flag' });
    expect(raw('COPY --link a b')[0]).toMatchObject({ flags: [{ name: 'link', value: undefined }], args: 'a b' });
  });

  it('reads JSON arrays of strings as exec form and anything else as shell form', () => {
    expect(parseJsonArgs('["a", "b c"]', 1)).toEqual(['a', 'b c']);
    expect(parseJsonArgs('  []', 1)).toEqual([]);
    expect(parseJsonArgs('[not json', 1)).toBeUndefined();
    expect(parseJsonArgs("['single']", 1)).toBeUndefined();
    expect(parseJsonArgs('echo [x]', 1)).toBeUndefined();
    expect(() => parseJsonArgs('["a", 1]', 7)).toThrow('arrays must be comprised of strings only (line 7)');
  });

  it('refuses heredocs clearly, but not << inside quotes, arithmetic or JSON', () => {
    expect(() => raw('FROM scratch\nRUN <<EOF\necho hi\nEOF')).toThrow(/heredocs \(RUN <<EOF\) are not supported.*\(line 2\)/);
    expect(() => raw('RUN cat <<-"EOT" > f')).toThrow('heredocs');
    expect(() => raw('COPY <<EOF /x')).toThrow('heredocs (COPY <<EOF)');
    expect(() => raw('RUN cat << EOF')).toThrow('heredocs');
    expect(raw('RUN echo "a << b" $((1<<4))')[0]!.args).toBe('echo "a << b" $((1<<4))');
    expect(raw('RUN ["sh", "-c", "cat <<EOF"]')[0]!.keyword).toBe('RUN');
    expect(raw('CMD cat <<EOF')[0]!.keyword).toBe('CMD');
  });

  it('splits words keeping quotes and escapes for later expansion', () => {
    expect(parseWords('a="b c" d=e\\ f \'g h\'', '\\')).toEqual(['a="b c"', 'd=e\\ f', "'g h'"]);
    expect(parseWords('x="" y', '\\')).toEqual(['x=""', 'y']);
    expect(parseWords('""', '\\')).toEqual(['""']);
  });
});

describe('toInstructions', () => {
  it('reads FROM, and refuses multi-stage builds naming the line', () => {
    expect(typed('FROM busybox:1.36')[0]).toMatchObject({ kind: 'FROM', image: 'busybox:1.36', line: 1 });
    expect(fails('ARG X\nFROM busybox AS build\n')).toBe('multi-stage builds are not supported (line 2)');
    expect(fails('FROM a b')).toBe('FROM takes one image (FROM image[:tag]) (line 1)');
    expect(fails('FROM --platform=linux/arm64 busybox')).toMatch(/FROM --platform is not supported.*\(line 1\)/);
  });

  it('names the line of an unknown or unsupported instruction', () => {
    expect(fails('FROM scratch\nRUN true\nFOO bar\n')).toBe('unknown instruction: FOO (line 3)');
    expect(fails('FROM scratch\n\nONBUILD RUN x\n')).toMatch(/^ONBUILD is not supported.*\(line 3\)$/);
  });

  it('reads ENV and LABEL in both forms, keeping values unexpanded', () => {
    expect(one('ENV A=1 B="two words" C=$A')).toMatchObject({ kind: 'ENV', pairs: [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }, { key: 'C', value: '$A' }] });
    expect(one('ENV PATH /usr/bin:$PATH')).toMatchObject({ pairs: [{ key: 'PATH', value: '/usr/bin:$PATH' }] });
    expect(one('ENV MSG hello   world')).toMatchObject({ pairs: [{ key: 'MSG', value: 'hello   world' }] });
    expect(one('LABEL org.opencontainers.image.title="My app" version=1')).toMatchObject({
      kind: 'LABEL', pairs: [{ key: 'org.opencontainers.image.title', value: '"My app"' }, { key: 'version', value: '1' }],
    });
    expect(fails('FROM scratch\nENV A=1 B\n')).toBe(`ENV: can't find = in "B"; it must be name=value (line 2)`);
    expect(fails('FROM scratch\nENV =1\n')).toBe('ENV names can not be blank (line 2)');
    expect(fails('FROM scratch\nENV ONLY\n')).toBe('ENV needs a value: ENV ONLY=value (line 2)');
    expect(fails('FROM scratch\nLABEL\n')).toBe('LABEL needs an argument (line 2)');
  });

  it('reads ARG with and without defaults', () => {
    expect(one('ARG A B=2 C="x y" D=')).toMatchObject({
      kind: 'ARG', args: [{ name: 'A', value: undefined }, { name: 'B', value: '2' }, { name: 'C', value: '"x y"' }, { name: 'D', value: '' }],
    });
    expect(fails('FROM scratch\nARG 1X=2\n')).toMatch(/ARG name "1X" must be.*\(line 2\)/);
  });

  it('reads RUN, CMD and ENTRYPOINT in exec and shell form', () => {
    expect(one('RUN ["echo", "hi"]')).toMatchObject({ kind: 'RUN', command: { form: 'exec', argv: ['echo', 'hi'] } });
    expect(one('RUN echo "$HOME"')).toMatchObject({ command: { form: 'shell', text: 'echo "$HOME"' } });
    expect(one('CMD []')).toMatchObject({ kind: 'CMD', command: { form: 'exec', argv: [] } });
    expect(one('ENTRYPOINT exec httpd -f')).toMatchObject({ kind: 'ENTRYPOINT', command: { form: 'shell', text: 'exec httpd -f' } });
    expect(one('RUN --network=none true')).toMatchObject({ kind: 'RUN' });
    expect(fails('FROM scratch\nRUN --mount=type=cache,target=/x true\n')).toMatch(/^RUN --mount is not supported.*\(line 2\)$/);
    expect(fails('FROM scratch\nRUN --network=host true\n')).toMatch(/RUN --network=host is not supported.*\(line 2\)/);
    expect(fails('FROM scratch\nRUN --bogus true\n')).toBe('RUN does not take --bogus (it takes --network) (line 2)');
    expect(fails('FROM scratch\nRUN\n')).toBe('RUN needs an argument (line 2)');
    expect(fails('FROM scratch\nCMD --x y\n')).toBe('CMD does not take --x (line 2)');
  });

  it('reads COPY and ADD with their flags, in both forms', () => {
    expect(one('COPY --chown=app:app --chmod=640 a b* /dest/')).toEqual({
      kind: 'COPY', line: 2, original: 'COPY --chown=app:app --chmod=640 a b* /dest/', sources: ['a', 'b*'], dest: '/dest/', chown: 'app:app', chmod: '640',
    });
    expect(one('ADD ["my file", "/my dir/"]')).toMatchObject({ kind: 'ADD', sources: ['my file'], dest: '/my dir/' });
    expect(fails('FROM scratch\nCOPY only\n')).toMatch(/COPY needs a source and a destination.*\(line 2\)/);
    expect(fails('FROM scratch\nCOPY --from=build /a /b\n')).toBe('COPY --from is not supported: multi-stage builds are not supported (line 2)');
    expect(fails('FROM scratch\nADD --checksum=sha256:0 https://x/y /\n')).toMatch(/ADD --checksum is not supported/);
    expect(fails('FROM scratch\nCOPY --chown a b\n')).toBe('COPY --chown needs a value: --chown=… (line 2)');
    expect(fails('FROM scratch\nCOPY --chown=1 --chown=2 a b\n')).toBe('COPY --chown is given twice (line 2)');
  });

  it('reads WORKDIR, USER, STOPSIGNAL, MAINTAINER, EXPOSE and VOLUME', () => {
    expect(one('WORKDIR /app dir')).toMatchObject({ kind: 'WORKDIR', value: '/app dir' });
    expect(one('USER app:app')).toMatchObject({ kind: 'USER', value: 'app:app' });
    expect(one('STOPSIGNAL SIGQUIT')).toMatchObject({ kind: 'STOPSIGNAL', value: 'SIGQUIT' });
    expect(one('MAINTAINER Jo <jo@example.com>')).toMatchObject({ kind: 'MAINTAINER', value: 'Jo <jo@example.com>' });
    expect(one('EXPOSE 80 443/tcp  53/udp')).toMatchObject({ kind: 'EXPOSE', ports: ['80', '443/tcp', '53/udp'] });
    expect(one('VOLUME /data /logs')).toMatchObject({ kind: 'VOLUME', paths: ['/data', '/logs'] });
    expect(one('VOLUME ["/my data"]')).toMatchObject({ kind: 'VOLUME', paths: ['/my data'] });
    expect(fails('FROM scratch\nWORKDIR\n')).toBe('WORKDIR needs an argument (line 2)');
  });

  it('reads SHELL only in JSON form', () => {
    expect(one('SHELL ["/bin/ash", "-eo", "pipefail", "-c"]')).toMatchObject({ kind: 'SHELL', argv: ['/bin/ash', '-eo', 'pipefail', '-c'] });
    expect(fails('FROM scratch\nSHELL /bin/bash -c\n')).toMatch(/SHELL requires the arguments to be in JSON form.*\(line 2\)/);
  });

  it('reads HEALTHCHECK with its options in nanoseconds', () => {
    expect(one('HEALTHCHECK NONE')).toMatchObject({ kind: 'HEALTHCHECK', test: 'NONE' });
    expect(one('HEALTHCHECK --interval=5s --timeout=1m30s --start-period=0 --start-interval=500ms --retries=4 CMD wget -q localhost')).toMatchObject({
      test: { form: 'shell', text: 'wget -q localhost' }, interval: 5e9, timeout: 90e9, startPeriod: 0, startInterval: 5e8, retries: 4,
    });
    expect(one('healthcheck cmd ["true"]')).toMatchObject({ test: { form: 'exec', argv: ['true'] } });
    expect(fails('FROM scratch\nHEALTHCHECK --interval=5 CMD x\n')).toBe('HEALTHCHECK --interval=5 is not a duration (e.g. 30s, 1m30s) (line 2)');
    expect(fails('FROM scratch\nHEALTHCHECK --timeout=10us CMD x\n')).toBe('HEALTHCHECK --timeout=10us cannot be less than 1ms (line 2)');
    expect(fails('FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n')).toBe('HEALTHCHECK --retries cannot be negative (-1) (line 2)');
    expect(fails('FROM scratch\nHEALTHCHECK NONE x\n')).toBe('HEALTHCHECK NONE takes no other arguments (line 2)');
    expect(fails('FROM scratch\nHEALTHCHECK EXEC x\n')).toBe('unknown type "EXEC" in HEALTHCHECK (try CMD) (line 2)');
    expect(fails('FROM scratch\nHEALTHCHECK CMD\n')).toBe('HEALTHCHECK CMD needs a command (line 2)');
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('1h2m3s')).toBe(3723e9);
    expect(parseGoDuration('1.5s')).toBe(1.5e9);
    expect(parseGoDuration('.5ms')).toBe(5e5);
    expect(parseGoDuration('250µs')).toBe(250e3);
    expect(parseGoDuration('-1s')).toBe(-1e9);
    expect(parseGoDuration('5')).toBeUndefined();
    expect(parseGoDuration('1d')).toBeUndefined();
    expect(parseGoDuration('')).toBeUndefined();
  });
});
