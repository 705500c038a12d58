/**
 * Repository names and tags as the OCI distribution spec v1.1 defines them, with ECR's length limit
 * for names (the ECR API and the OCI API must agree on which repositories can exist).
 *
 * @example checkRepositoryName('team/web') // ok; checkRepositoryName('Team') throws NAME_INVALID
 */
import { clip } from './digest.js';
import { RegistryError } from './errors.js';

/** ECR's CreateRepository limit; OCI clients also cap host + name at about 255. */
export const MAX_REPOSITORY_NAME_LENGTH = 256;

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_NAME_LENGTH && NAME.test(name);
}

export function checkRepositoryName(name: string): void {
  if (name.length > MAX_REPOSITORY_NAME_LENGTH) {
    throw new RegistryError('NAME_INVALID', `repository name is ${name.length} characters; the limit is ${MAX_REPOSITORY_NAME_LENGTH}`, { detail: { name: clip(name) } });
  }
  if (!NAME.test(name)) {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name '${clip(name)}': lower-case letters and digits, separated by '.', '_', '__' or dashes, in '/'-separated components`,
      { detail: { name: clip(name) } },
    );
  }
}

export const isTag = (tag: string): boolean => TAG.test(tag);

export function checkTag(tag: string): void {
  if (!TAG.test(tag)) {
    throw new RegistryError('TAG_INVALID', `invalid tag '${clip(tag)}': up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'`, { detail: { tag: clip(tag) } });
  }
}
