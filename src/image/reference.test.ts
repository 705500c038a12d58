/** Reference parsing: Docker's normalisation and distribution/reference's grammar, with every refusal. */
import { describe, expect, it } from 'vitest';
import { ImageError } from './errors.js';
import { formatReference, manifestReference, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['127.0.0.1:5000/web', { registry: '127.0.0.1:5000', repository: 'web', tag: 'latest', dockerHub: false }],
    ['localhost/team/web:v1.2', { registry: 'localhost', repository: 'team/web', tag: 'v1.2', dockerHub: false }],
    ['localhost:5000/web:1', { registry: 'localhost:5000', repository: 'web', tag: '1', dockerHub: false }],
    ['registry.example.com/a/b/c:t', { registry: 'registry.example.com', repository: 'a/b/c', tag: 't', dockerHub: false }],
    ['[::1]:5000/web', { registry: '[::1]:5000', repository: 'web', tag: 'latest', dockerHub: false }],
    ['busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', dockerHub: true }],
    ['busybox:1.36', { registry: 'docker.io', repository: 'library/busybox', tag: '1.36', dockerHub: true }],
    ['user/app', { registry: 'docker.io', repository: 'user/app', tag: 'latest', dockerHub: true }],
    ['docker.io/busybox', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', dockerHub: true }],
    ['index.docker.io/user/app:x', { registry: 'docker.io', repository: 'user/app', tag: 'x', dockerHub: true }],
    [`web@${D}`, { registry: 'docker.io', repository: 'library/web', digest: D, dockerHub: true }],
    [`h:1/web:t@${D}`, { registry: 'h:1', repository: 'web', tag: 't', digest: D, dockerHub: false }],
    ['a.b/x__y/z-z.w_v', { registry: 'a.b', repository: 'x__y/z-z.w_v', tag: 'latest', dockerHub: false }],
    ['Host/web', { registry: 'Host', repository: 'web', tag: 'latest', dockerHub: false }],
  ])('%s', (input, want) => {
    expect(parseReference(input)).toEqual(want);
  });

  it.each([
    ['', /must not be empty/],
    ['web app', /whitespace/],
    ['Web', /lowercase/],
    ['h:5000/Web', /lowercase/],
    ['h:5000/', /repository name is missing/],
    ['h:5000/web:', /tag ""/],
    ['h:5000/web:-x', /tag "-x"/],
    [`h:5000/web:${'t'.repeat(129)}`, /tag/],
    ['h:5000/a//b', /component ""/],
    ['h:5000/a-/b', /component "a-"/],
    ['-h:5000/web', /registry host/],
    ['h:5000/web@sha256:abc', /digest .*64/],
    [`h:5000/web@md5:${'a'.repeat(32)}`, /algorithm md5/],
    [`h:5000/${'a'.repeat(256)}`, /longer than 255/],
  ])('refuses %j', (input, message) => {
    const err = (() => {
      try {
        parseReference(input);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ImageError);
    expect((err as ImageError).code).toBe('InvalidReference');
    expect((err as ImageError).message).toMatch(message);
  });
});

describe('formatReference / manifestReference', () => {
  it('round-trips the canonical form and fetches by digest when pinned', () => {
    expect(formatReference(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(formatReference(parseReference(`h:1/web:t@${D}`))).toBe(`h:1/web:t@${D}`);
    expect(manifestReference(parseReference(`h:1/web:t@${D}`))).toBe(D);
    expect(manifestReference(parseReference('h:1/web:t'))).toBe('t');
  });
});
