/**
 * ECR lifecycle policies, the deciding part: `parseLifecyclePolicy` checks a policy's JSON as ECR
 * does (InvalidParameterException naming the rule and the field), and `evaluateLifecyclePolicy`
 * decides which images expire and by which rule. Pure: the ECR operations (lifecycle-ecr.ts) and
 * the runner (lifecycle-enforce.ts) do the I/O.
 *
 * @example
 * const policy = parseLifecyclePolicy(text);
 * for (const { image, rule } of evaluateLifecyclePolicy(policy, images, now)) expire(image.digest, rule.rulePriority);
 */
import { BerthError } from '../protocols/index.js';

export type LifecycleTagStatus = 'tagged' | 'untagged' | 'any';
export type LifecycleCountType = 'imageCountMoreThan' | 'sinceImagePushed';

export interface LifecycleSelection {
  readonly tagStatus: LifecycleTagStatus;
  /** With tagStatus tagged: every prefix must start some tag of the image. */
  readonly tagPrefixList?: readonly string[];
  /** With tagStatus tagged: every pattern (`*` matches any run of characters) must match some tag. */
  readonly tagPatternList?: readonly string[];
  readonly countType: LifecycleCountType;
  /** Only with sinceImagePushed, and then required. */
  readonly countUnit?: 'days';
  /** imageCountMoreThan: how many of the newest images to keep; sinceImagePushed: the age limit in days. */
  readonly countNumber: number;
}

export interface LifecycleRule {
  readonly rulePriority: number;
  readonly description?: string;
  readonly selection: LifecycleSelection;
  readonly action: { readonly type: 'expire' };
}

export interface LifecyclePolicy {
  /** In evaluation order: lowest rulePriority first. */
  readonly rules: readonly LifecycleRule[];
}

/** An image as a lifecycle policy sees it. Digests are unique within one evaluation. */
export interface LifecycleImage {
  readonly digest: string;
  readonly tags: readonly string[];
  readonly pushedAt: Date;
  /** For an index (manifest list): the digests of the images it lists. */
  readonly manifests?: readonly string[];
}

export interface ExpiredImage {
  readonly image: LifecycleImage;
  readonly rule: LifecycleRule;
}

/** ECR's quota on rules per lifecycle policy. */
export const MAX_LIFECYCLE_RULES = 50;
/** ECR allows at most four wildcards in one tagPatternList entry. */
export const MAX_PATTERN_WILDCARDS = 4;
const DAY_MS = 24 * 60 * 60 * 1000;

// --- validation -----------------------------------------------------------------------------------

/**
 * ECR validates the text against a JSON schema and reports the validator's words after this
 * prefix; Berth keeps the prefix and the words and adds where in the policy the fault is.
 */
const PREFIX = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ";
const failure = (detail: string) => new BerthError('InvalidParameterException', `${PREFIX}${detail}'`);

type Obj = Record<string, unknown>;

/** JSON Schema's name for a value's type, as schema validators print it. */
function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const typeMismatch = (where: string, v: unknown, allowed: string) =>
  failure(`${where}: instance type (${jsonType(v)}) does not match any allowed primitive type (allowed: ["${allowed}"])`);

function checkObject(v: unknown, where: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw typeMismatch(where, v, 'object');
  return v as Obj;
}

/** Missing required members first, then members the schema does not know: the order a schema validator reports them. */
function checkMembers(obj: Obj, where: string, required: readonly string[], allowed: readonly string[]): void {
  const missing = required.filter((k) => obj[k] === undefined).sort();
  if (missing.length > 0) throw failure(`${where}: object has missing required properties (${JSON.stringify(missing)})`);
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k)).sort();
  if (unknown.length > 0) throw failure(`${where}: object instance has properties which are not allowed by the schema: (${JSON.stringify(unknown)})`);
}

function checkInteger(v: unknown, where: string, minimum: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw typeMismatch(where, v, 'integer');
  if (v < minimum) throw failure(`${where}: numeric instance is lower than the required minimum (minimum: ${minimum}, found: ${v})`);
  return v;
}

function checkEnum<const T extends string>(v: unknown, where: string, values: readonly T[]): T {
  if (typeof v !== 'string') throw typeMismatch(where, v, 'string');
  if (!(values as readonly string[]).includes(v)) throw failure(`${where}: instance value ("${v}") not found in enum (possible values: ${JSON.stringify(values)})`);
  return v as T;
}

function checkStringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) throw typeMismatch(where, v, 'array');
  if (v.length === 0) throw failure(`${where}: array is too short: must have at least 1 elements but instance has 0 elements`);
  return v.map((item, i) => {
    if (typeof item !== 'string') throw typeMismatch(`${where}[${i}]`, item, 'string');
    if (item.length === 0) throw failure(`${where}[${i}]: string "" is too short (length: 0, required minimum: 1)`);
    return item;
  });
}

/**
 * Parses and validates a lifecycle policy's text; rules come back in evaluation order. Every
 * refusal is ECR's InvalidParameterException, naming the rule (by rulePriority where it has a valid
 * one, always by its place in `rules`) and the field.
 *
 * @example parseLifecyclePolicy('{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}')
 */
export function parseLifecyclePolicy(text: string): LifecyclePolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw failure('Could not map policyString into LifecyclePolicy.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw failure('Could not map policyString into LifecyclePolicy.');
  const top = doc as Obj;
  checkMembers(top, 'the policy', ['rules'], ['rules']);
  const list = top['rules'];
  if (!Array.isArray(list)) throw typeMismatch('rules', list, 'array');
  if (list.length === 0) throw failure('rules: array is too short: must have at least 1 elements but instance has 0 elements');
  if (list.length > MAX_LIFECYCLE_RULES) throw failure(`rules: a lifecycle policy may have at most ${MAX_LIFECYCLE_RULES} rules; this one has ${list.length}`);
  const rules = list.map((item, i) => parseRule(item, i));
  checkAcrossRules(rules);
  return { rules: rules.map((r) => r.rule).sort((a, b) => a.rulePriority - b.rulePriority) };
}

interface PlacedRule {
  readonly rule: LifecycleRule;
  /** How messages name the rule: `rule 2 (rules[1])`. */
  readonly name: string;
}

function parseRule(item: unknown, i: number): PlacedRule {
  const at = `rules[${i}]`;
  const obj = checkObject(item, at);
  checkMembers(obj, at, ['rulePriority', 'selection', 'action'], ['rulePriority', 'description', 'selection', 'action']);
  const rulePriority = checkInteger(obj['rulePriority'], `${at}.rulePriority`, 1);
  // From here on the rule has a priority: name it by that, as a user reads their policy.
  const name = `rule ${rulePriority} (${at})`;
  const description = obj['description'];
  if (description !== undefined && typeof description !== 'string') throw typeMismatch(`${name} description`, description, 'string');

  const action = checkObject(obj['action'], `${name} action`);
  checkMembers(action, `${name} action`, ['type'], ['type', 'targetStorageClass']);
  if (action['type'] === 'transition' || action['targetStorageClass'] !== undefined) {
    throw failure(`${name} action: Berth has no archive storage class, so the only action is expire`);
  }
  checkEnum(action['type'], `${name} action.type`, ['expire'] as const);

  const sel = checkObject(obj['selection'], `${name} selection`);
  checkMembers(sel, `${name} selection`, ['tagStatus', 'countType', 'countNumber'], ['tagStatus', 'tagPrefixList', 'tagPatternList', 'countType', 'countUnit', 'countNumber', 'storageClass']);
  if (sel['storageClass'] !== undefined) throw failure(`${name} selection.storageClass: Berth has no archive storage class, so rules select by tags and age only`);
  const tagStatus = checkEnum(sel['tagStatus'], `${name} selection.tagStatus`, ['tagged', 'untagged', 'any'] as const);
  const countTypeValue = sel['countType'];
  if (countTypeValue === 'sinceImagePulled' || countTypeValue === 'sinceImageTransitioned') {
    throw failure(`${name} selection.countType: ${countTypeValue} is not available (Berth records no pulls and has no archive storage class); use imageCountMoreThan or sinceImagePushed`);
  }
  const countType = checkEnum(countTypeValue, `${name} selection.countType`, ['imageCountMoreThan', 'sinceImagePushed'] as const);
  const countNumber = checkInteger(sel['countNumber'], `${name} selection.countNumber`, 1);
  const countUnitValue = sel['countUnit'];
  // ECR's schema is a oneOf over the two count types; its message says only that neither matched.
  const oneOf = 'instance failed to match exactly one schema (matched 0 out of 2)';
  if (countType === 'imageCountMoreThan' && countUnitValue !== undefined) {
    throw failure(`${name} selection: ${oneOf}: countUnit applies only to countType sinceImagePushed`);
  }
  if (countType === 'sinceImagePushed' && countUnitValue === undefined) {
    throw failure(`${name} selection: ${oneOf}: countType sinceImagePushed needs countUnit "days"`);
  }
  const countUnit = countUnitValue === undefined ? undefined : checkEnum(countUnitValue, `${name} selection.countUnit`, ['days'] as const);

  const prefixes = sel['tagPrefixList'] === undefined ? undefined : checkStringList(sel['tagPrefixList'], `${name} selection.tagPrefixList`);
  const patterns = sel['tagPatternList'] === undefined ? undefined : checkStringList(sel['tagPatternList'], `${name} selection.tagPatternList`);
  if (tagStatus === 'tagged' && prefixes === undefined && patterns === undefined) {
    throw failure(`${name} selection: tagStatus tagged needs a tagPrefixList or a tagPatternList`);
  }
  if (tagStatus !== 'tagged' && (prefixes !== undefined || patterns !== undefined)) {
    throw failure(`${name} selection: ${prefixes !== undefined ? 'tagPrefixList' : 'tagPatternList'} applies only to tagStatus tagged, not ${tagStatus}`);
  }
  // Both lists would leave it unclear whether they must both hold; one rule says one thing.
  if (prefixes !== undefined && patterns !== undefined) throw failure(`${name} selection: give either tagPrefixList or tagPatternList, not both`);
  for (const [j, pattern] of (patterns ?? []).entries()) {
    const wildcards = pattern.split('*').length - 1;
    if (wildcards > MAX_PATTERN_WILDCARDS) {
      throw failure(`${name} selection.tagPatternList[${j}]: "${pattern}" has ${wildcards} wildcards; at most ${MAX_PATTERN_WILDCARDS} are allowed`);
    }
  }

  const selection: LifecycleSelection = {
    tagStatus,
    ...(prefixes !== undefined && { tagPrefixList: prefixes }),
    ...(patterns !== undefined && { tagPatternList: patterns }),
    countType,
    ...(countUnit !== undefined && { countUnit }),
    countNumber,
  };
  return { rule: { rulePriority, ...(description !== undefined && { description }), selection, action: { type: 'expire' } }, name };
}

/** The rules ECR states about a policy as a whole. */
function checkAcrossRules(rules: readonly PlacedRule[]): void {
  const byPriority = new Map<number, PlacedRule>();
  for (const r of rules) {
    const other = byPriority.get(r.rule.rulePriority);
    if (other !== undefined) throw failure(`${other.name} and ${r.name} have the same rulePriority; each rule needs its own`);
    byPriority.set(r.rule.rulePriority, r);
  }
  const highest = Math.max(...rules.map((r) => r.rule.rulePriority));
  for (const r of rules) {
    if (r.rule.selection.tagStatus === 'any' && r.rule.rulePriority !== highest) {
      throw failure(`${r.name} selects tagStatus any, so it must have the highest rulePriority and be evaluated last; rulePriority ${highest} is higher`);
    }
  }
  const untagged = rules.filter((r) => r.rule.selection.tagStatus === 'untagged');
  if (untagged.length > 1) throw failure(`${untagged[0]!.name} and ${untagged[1]!.name} both select untagged images; only one rule may`);
  // "The set of rules must contain a unique set of tag prefixes": a second rule with the same list
  // could never expire anything, since the first one claims every image it selects.
  const seen = new Map<string, PlacedRule>();
  for (const r of rules) {
    const { tagPrefixList, tagPatternList } = r.rule.selection;
    const key = tagPrefixList !== undefined ? `prefix:${JSON.stringify([...new Set(tagPrefixList)].sort())}` : tagPatternList !== undefined ? `pattern:${JSON.stringify([...new Set(tagPatternList)].sort())}` : undefined;
    if (key === undefined) continue;
    const other = seen.get(key);
    if (other !== undefined) throw failure(`${other.name} and ${r.name} select the same tags (${key.startsWith('prefix') ? 'tagPrefixList' : 'tagPatternList'}); each rule needs its own set`);
    seen.set(key, r);
  }
}

// --- evaluation -----------------------------------------------------------------------------------

/** `*` matches any run of characters (none included); everything else matches itself, over the whole tag. */
export function tagPatternMatches(pattern: string, tag: string): boolean {
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (parts.length === 1) return tag === pattern;
  if (!tag.startsWith(first) || !tag.endsWith(last) || tag.length < first.length + last.length) return false;
  // Greedy left-to-right placement of the middle parts is exact for `*`-only patterns.
  let at = first.length;
  const end = tag.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = tag.indexOf(part, at);
    if (found < 0 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** Whether a rule's tag requirements select the image (its count or age aside). */
export function selectsImage(selection: LifecycleSelection, image: LifecycleImage): boolean {
  switch (selection.tagStatus) {
    case 'any':
      return true;
    case 'untagged':
      return image.tags.length === 0;
    case 'tagged':
      if (image.tags.length === 0) return false;
      if (selection.tagPrefixList !== undefined) return selection.tagPrefixList.every((prefix) => image.tags.some((tag) => tag.startsWith(prefix)));
      return (selection.tagPatternList ?? []).every((pattern) => image.tags.some((tag) => tagPatternMatches(pattern, tag)));
  }
}

/**
 * Newest first. Images pushed at the same instant are ordered by digest (the greater counts as
 * newer), so the outcome never depends on the order a listing happened to return.
 */
function newestFirst(a: LifecycleImage, b: LifecycleImage): number {
  return b.pushedAt.getTime() - a.pushedAt.getTime() || (a.digest < b.digest ? 1 : a.digest > b.digest ? -1 : 0);
}

/**
 * Which images `policy` expires at `now`, each with the rule that expires it; ordered by rule
 * priority, then oldest first. ECR's evaluation rules:
 * - rules run lowest rulePriority first, and an image is expired by one rule or none;
 * - an image that a rule's tag requirements select can be expired by no lower-priority rule;
 * - yet a lower-priority rule still counts such an image when it counts images
 *   (imageCountMoreThan keeps the newest countNumber of all it selects);
 * - sinceImagePushed expires what was pushed more than countNumber days before `now`.
 * One rule of Berth's own: an image that an index kept in the repository lists is kept too, as
 * BatchDeleteImage would refuse it (ImageReferencedByManifestList); so preview equals enforcement.
 */
export function evaluateLifecyclePolicy(policy: LifecyclePolicy, images: readonly LifecycleImage[], now: Date): ExpiredImage[] {
  const ordered = [...images].sort(newestFirst);
  const rules = [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority);
  const claimed = new Set<string>();
  const expiredBy = new Map<string, LifecycleRule>();
  for (const rule of rules) {
    const { selection } = rule;
    const selected = ordered.filter((image) => selectsImage(selection, image));
    const expiring =
      selection.countType === 'imageCountMoreThan'
        ? selected.slice(selection.countNumber)
        : selected.filter((image) => now.getTime() - image.pushedAt.getTime() > selection.countNumber * DAY_MS);
    for (const image of expiring) if (!claimed.has(image.digest)) expiredBy.set(image.digest, rule);
    for (const image of selected) claimed.add(image.digest);
  }
  // Keeping an index keeps what it lists, and what those list in turn: repeat until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const image of images) {
      if (expiredBy.has(image.digest)) continue;
      for (const child of image.manifests ?? []) if (expiredBy.delete(child)) changed = true;
    }
  }
  const byDigest = new Map(images.map((image) => [image.digest, image]));
  return [...expiredBy]
    .map(([digest, rule]) => ({ image: byDigest.get(digest)!, rule }))
    .sort((a, b) => a.rule.rulePriority - b.rule.rulePriority || newestFirst(b.image, a.image));
}
