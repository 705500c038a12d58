/**
 * Image references as users write them in task definitions (`registry[:port]/repo[:tag][@digest]`),
 * parsed by the grammar of distribution/reference and normalised the way Docker does.
 */
import { parseDigest } from './digest.js';
import { ImageError } from './errors.js';

export const DOCKER_HUB = 'docker.io';

export interface ImageReference {
  /** Host and optional port, e.g. `127.0.0.1:5000`; `docker.io` for a name without a host. */
  registry: string;
  /** Path inside the registry, e.g. `team/web`; Docker Hub single names gain `library/`. */
  repository: string;
  /** The tag; `latest` when neither tag nor digest was given; absent when only a digest was. */
  tag?: string;
  /** A pinned manifest digest; when present it is what gets fetched. */
  digest?: string;
  /** True when the name carried no registry host and so means Docker Hub. */
  dockerHub: boolean;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const COMPONENT_RE = new RegExp(`^${COMPONENT}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
// A DNS-ish host (labels may hold upper case, as Docker allows), an IPv4, or a bracketed IPv6, then a port.
const DOMAIN_RE = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:.]+\])(?::[0-9]+)?$/;
const MAX_NAME = 255;

/**
 * Parses a reference. The first path part is a registry host when it holds a `.` or `:`, or is
 * `localhost` (Docker's rule); otherwise the whole name is a Docker Hub repository.
 *
 * @example parseReference('127.0.0.1:5000/web')
 *   // → { registry: '127.0.0.1:5000', repository: 'web', tag: 'latest', dockerHub: false }
 * @example parseReference('busybox@sha256:…') // → { registry: 'docker.io', repository: 'library/busybox', digest: 'sha256:…', dockerHub: true }
 */
export function parseReference(input: string): ImageReference {
  const bad = (rule: string): ImageError => new ImageError('InvalidReference', `image reference ${JSON.stringify(input)}: ${rule}`);
  if (input.length === 0) throw bad('must not be empty');
  if (/\s/.test(input)) throw bad('must not contain whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest, 'digest');
    } catch (err) {
      throw bad(`digest ${(err as Error).message.replace(/^digest /, '')}`);
    }
  }

  // A tag is after the last ':' that follows the last '/', so `host:5000/repo` keeps its port.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  let registry: string;
  let repository: string;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (hasHost) {
    registry = first;
    repository = rest.slice(slash + 1);
    if (!DOMAIN_RE.test(registry)) throw bad(`registry host ${JSON.stringify(registry)} is not a host[:port]`);
    if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  const dockerHub = registry === DOCKER_HUB;
  if (dockerHub && !repository.includes('/')) repository = `library/${repository}`;

  if (repository.length === 0) throw bad('repository name is missing');
  for (const part of repository.split('/')) {
    if (!COMPONENT_RE.test(part)) {
      throw bad(`repository component ${JSON.stringify(part)} must be lowercase letters and digits, separated by '.', '_', '__' or '-'`);
    }
  }
  if (repository.length > MAX_NAME) throw bad(`repository name is longer than ${MAX_NAME} characters`);

  const ref: ImageReference = { registry, repository, dockerHub };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = 'latest';
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * The canonical string of a reference; the key images are recorded under.
 *
 * @example formatReference(parseReference('busybox')) // 'docker.io/library/busybox:latest'
 */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** What to put after `/manifests/`: the digest when pinned, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
