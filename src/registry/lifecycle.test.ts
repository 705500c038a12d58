/**
 * Lifecycle policies, the pure part, case by case: every refusal of parseLifecyclePolicy with the
 * rule and field it names, and evaluateLifecyclePolicy against ECR's documented evaluation rules
 * (priorities, claims by higher rules, counts versus ages, ties, indexes).
 */
import { describe, expect, it } from 'vitest';
import { BerthError } from '../protocols/index.js';
import { evaluateLifecyclePolicy, parseLifecyclePolicy, tagPatternMatches } from './lifecycle.js';
import type { LifecycleImage, LifecyclePolicy } from './lifecycle.js';

const NOW = new Date('2026-07-01T00:00:00Z');
const DAY = 24 * 3600 * 1000;
const PREFIX = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ";

type Selection = Record<string, unknown>;
const rule = (rulePriority: number, selection: Selection, extra: Record<string, unknown> = {}) => ({ rulePriority, selection, action: { type: 'expire' }, ...extra });
const count = (n: number, tags: Selection = { tagStatus: 'any' }) => ({ ...tags, countType: 'imageCountMoreThan', countNumber: n });
const age = (days: number, tags: Selection = { tagStatus: 'any' }) => ({ ...tags, countType: 'sinceImagePushed', countUnit: 'days', countNumber: days });
const policyOf = (...rules: unknown[]) => parseLifecyclePolicy(JSON.stringify({ rules }));

/** The refusal's text after ECR's prefix; fails the test if the policy is accepted. */
function refusal(policy: unknown): string {
  try {
    parseLifecyclePolicy(typeof policy === 'string' ? policy : JSON.stringify(policy));
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    expect(err.code).toBe('InvalidParameterException');
    expect(err.message.startsWith(PREFIX)).toBe(true);
    expect(err.message.endsWith("'")).toBe(true);
    return err.message.slice(PREFIX.length, -1);
  }
  throw new Error('the policy was accepted');
}

/** An image `days` old; its digest is `sha256:` and 64 times `id`, so ids order digests. */
const image = (id: string, tags: string[], days: number, manifests?: string[]): LifecycleImage => ({
  digest: `sha256:${id.repeat(64)}`,
  tags,
  pushedAt: new Date(NOW.getTime() - days * DAY),
  ...(manifests !== undefined && { manifests: manifests.map((m) => `sha256:${m.repeat(64)}`) }),
});

/** What expires, as `id@priority` in the evaluator's order. */
function expires(policy: LifecyclePolicy, images: LifecycleImage[], now = NOW): string[] {
  return evaluateLifecyclePolicy(policy, images, now).map(({ image, rule }) => `${image.digest.slice(7, 8)}@${rule.rulePriority}`);
}

describe('parseLifecyclePolicy accepts', () => {
  it("ECR's documented examples, and returns the rules in priority order", () => {
    const policy = policyOf(
      rule(10, age(42), { description: 'Remove any images older than 42 days' }),
      rule(1, count(1, { tagStatus: 'untagged' })),
      rule(2, count(3, { tagStatus: 'tagged', tagPrefixList: ['branch-', 'x'] })),
      rule(5, count(3, { tagStatus: 'tagged', tagPatternList: ['*test*1*2*3', 'test*1*2*3*'] })),
    );
    expect(policy.rules.map((r) => r.rulePriority)).toEqual([1, 2, 5, 10]);
    expect(policy.rules[3]).toEqual({
      rulePriority: 10,
      description: 'Remove any images older than 42 days',
      selection: { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 42 },
      action: { type: 'expire' },
    });
    expect(policy.rules[1]!.selection.tagPrefixList).toEqual(['branch-', 'x']);
  });

  it('priorities need not be consecutive, and 50 rules are allowed', () => {
    const rules = Array.from({ length: 50 }, (_, i) => rule(10 * (i + 1), count(1, { tagStatus: 'tagged', tagPrefixList: [`p${i}`] })));
    expect(parseLifecyclePolicy(JSON.stringify({ rules })).rules).toHaveLength(50);
  });
});

describe('parseLifecyclePolicy refuses, naming the rule and the field', () => {
  const ok = count(1);
  it.each<[string, unknown, string]>([
    ['text that is not JSON', '{"rules": [', 'Could not map policyString into LifecyclePolicy.'],
    ['a JSON array', '[]', 'Could not map policyString into LifecyclePolicy.'],
    ['no rules', {}, 'the policy: object has missing required properties (["rules"])'],
    ['an unknown top-level member', { rules: [rule(1, ok)], version: 1 }, 'the policy: object instance has properties which are not allowed by the schema: (["version"])'],
    ['rules that are not a list', { rules: {} }, 'rules: instance type (object) does not match any allowed primitive type (allowed: ["array"])'],
    ['an empty rule list', { rules: [] }, 'rules: array is too short: must have at least 1 elements but instance has 0 elements'],
    ['a rule that is not an object', { rules: [7] }, 'rules[0]: instance type (integer) does not match any allowed primitive type (allowed: ["object"])'],
    ['a rule without selection and action', { rules: [{ rulePriority: 1 }] }, 'rules[0]: object has missing required properties (["action","selection"])'],
    ['an unknown rule member', { rules: [{ ...rule(1, ok), note: 'x' }] }, 'rules[0]: object instance has properties which are not allowed by the schema: (["note"])'],
    ['a rulePriority of 0', { rules: [rule(0, ok)] }, 'rules[0].rulePriority: numeric instance is lower than the required minimum (minimum: 1, found: 0)'],
    ['a fractional rulePriority', { rules: [rule(1.5, ok)] }, 'rules[0].rulePriority: instance type (number) does not match any allowed primitive type (allowed: ["integer"])'],
    ['a rulePriority string', { rules: [rule('1' as unknown as number, ok)] }, 'rules[0].rulePriority: instance type (string) does not match any allowed primitive type (allowed: ["integer"])'],
    ['a description that is not a string', { rules: [rule(4, ok, { description: 5 })] }, 'rule 4 (rules[0]) description: instance type (integer) does not match any allowed primitive type (allowed: ["string"])'],
    ['an action without type', { rules: [{ ...rule(2, ok), action: {} }] }, 'rule 2 (rules[0]) action: object has missing required properties (["type"])'],
    ['an unknown action', { rules: [{ ...rule(2, ok), action: { type: 'delete' } }] }, 'rule 2 (rules[0]) action.type: instance value ("delete") not found in enum (possible values: ["expire"])'],
    ['a transition to archive', { rules: [{ ...rule(2, ok), action: { type: 'transition', targetStorageClass: 'archive' } }] }, 'rule 2 (rules[0]) action: Berth has no archive storage class, so the only action is expire'],
    ['a selection that is not an object', { rules: [rule(1, 'any' as unknown as Selection)] }, 'rule 1 (rules[0]) selection: instance type (string) does not match any allowed primitive type (allowed: ["object"])'],
    ['a selection without countNumber', { rules: [rule(1, { tagStatus: 'any', countType: 'imageCountMoreThan' })] }, 'rule 1 (rules[0]) selection: object has missing required properties (["countNumber"])'],
    ['an unknown selection member', { rules: [rule(1, { ...ok, tagSuffixList: ['x'] })] }, 'rule 1 (rules[0]) selection: object instance has properties which are not allowed by the schema: (["tagSuffixList"])'],
    ['a storageClass selection', { rules: [rule(1, { ...ok, storageClass: 'archive' })] }, 'rule 1 (rules[0]) selection.storageClass: Berth has no archive storage class, so rules select by tags and age only'],
    ['an unknown tagStatus', { rules: [rule(1, count(1, { tagStatus: 'TAGGED' }))] }, 'rule 1 (rules[0]) selection.tagStatus: instance value ("TAGGED") not found in enum (possible values: ["tagged","untagged","any"])'],
    ['an unknown countType', { rules: [rule(1, { tagStatus: 'any', countType: 'imageCount', countNumber: 1 })] }, 'rule 1 (rules[0]) selection.countType: instance value ("imageCount") not found in enum (possible values: ["imageCountMoreThan","sinceImagePushed"])'],
    ['sinceImagePulled', { rules: [rule(1, { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 1 })] }, 'rule 1 (rules[0]) selection.countType: sinceImagePulled is not available (Berth records no pulls and has no archive storage class); use imageCountMoreThan or sinceImagePushed'],
    ['a countNumber of 0', { rules: [rule(1, count(0))] }, 'rule 1 (rules[0]) selection.countNumber: numeric instance is lower than the required minimum (minimum: 1, found: 0)'],
    ['a countNumber string', { rules: [rule(1, count('5' as unknown as number))] }, 'rule 1 (rules[0]) selection.countNumber: instance type (string) does not match any allowed primitive type (allowed: ["integer"])'],
    ['countUnit with imageCountMoreThan', { rules: [rule(1, { ...count(5), countUnit: 'days' })] }, 'rule 1 (rules[0]) selection: instance failed to match exactly one schema (matched 0 out of 2): countUnit applies only to countType sinceImagePushed'],
    ['sinceImagePushed without countUnit', { rules: [rule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countNumber: 5 })] }, 'rule 1 (rules[0]) selection: instance failed to match exactly one schema (matched 0 out of 2): countType sinceImagePushed needs countUnit "days"'],
    ['a countUnit of hours', { rules: [rule(1, { ...age(5), countUnit: 'hours' })] }, 'rule 1 (rules[0]) selection.countUnit: instance value ("hours") not found in enum (possible values: ["days"])'],
    ['tagged without a tag list', { rules: [rule(1, count(1, { tagStatus: 'tagged' }))] }, 'rule 1 (rules[0]) selection: tagStatus tagged needs a tagPrefixList or a tagPatternList'],
    ['tagged with an empty prefix list', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: [] }))] }, 'rule 1 (rules[0]) selection.tagPrefixList: array is too short: must have at least 1 elements but instance has 0 elements'],
    ['a prefix list that is a string', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: 'prod' }))] }, 'rule 1 (rules[0]) selection.tagPrefixList: instance type (string) does not match any allowed primitive type (allowed: ["array"])'],
    ['a prefix that is not a string', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['a', 2] }))] }, 'rule 1 (rules[0]) selection.tagPrefixList[1]: instance type (integer) does not match any allowed primitive type (allowed: ["string"])'],
    ['an empty pattern', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPatternList: [''] }))] }, 'rule 1 (rules[0]) selection.tagPatternList[0]: string "" is too short (length: 0, required minimum: 1)'],
    ['untagged with a prefix list', { rules: [rule(1, count(1, { tagStatus: 'untagged', tagPrefixList: ['a'] }))] }, 'rule 1 (rules[0]) selection: tagPrefixList applies only to tagStatus tagged, not untagged'],
    ['any with a pattern list', { rules: [rule(1, count(1, { tagStatus: 'any', tagPatternList: ['a*'] }))] }, 'rule 1 (rules[0]) selection: tagPatternList applies only to tagStatus tagged, not any'],
    ['both tag lists', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['a'], tagPatternList: ['a*'] }))] }, 'rule 1 (rules[0]) selection: give either tagPrefixList or tagPatternList, not both'],
    ['five wildcards', { rules: [rule(1, count(1, { tagStatus: 'tagged', tagPatternList: ['ok*', 'test*1*2*3*4*'] }))] }, 'rule 1 (rules[0]) selection.tagPatternList[1]: "test*1*2*3*4*" has 5 wildcards; at most 4 are allowed'],
    ['51 rules', { rules: Array.from({ length: 51 }, (_, i) => rule(i + 1, count(1, { tagStatus: 'tagged', tagPrefixList: [`p${i}`] }))) }, 'rules: a lifecycle policy may have at most 50 rules; this one has 51'],
    ['two rules of one priority', { rules: [rule(1, count(1, { tagStatus: 'untagged' })), rule(2, count(1, { tagStatus: 'tagged', tagPrefixList: ['a'] })), rule(2, count(1, { tagStatus: 'tagged', tagPrefixList: ['b'] }))] }, 'rule 2 (rules[1]) and rule 2 (rules[2]) have the same rulePriority; each rule needs its own'],
    ['an any rule that is not last', { rules: [rule(1, count(5)), rule(2, count(1, { tagStatus: 'untagged' }))] }, 'rule 1 (rules[0]) selects tagStatus any, so it must have the highest rulePriority and be evaluated last; rulePriority 2 is higher'],
    ['two any rules', { rules: [rule(7, count(5)), rule(3, age(1))] }, 'rule 3 (rules[1]) selects tagStatus any, so it must have the highest rulePriority and be evaluated last; rulePriority 7 is higher'],
    ['two untagged rules', { rules: [rule(1, count(5, { tagStatus: 'untagged' })), rule(2, age(1, { tagStatus: 'untagged' }))] }, 'rule 1 (rules[0]) and rule 2 (rules[1]) both select untagged images; only one rule may'],
    ['two rules with one prefix set', { rules: [rule(1, count(5, { tagStatus: 'tagged', tagPrefixList: ['a', 'b'] })), rule(2, age(1, { tagStatus: 'tagged', tagPrefixList: ['b', 'a'] }))] }, 'rule 1 (rules[0]) and rule 2 (rules[1]) select the same tags (tagPrefixList); each rule needs its own set'],
    ['two rules with one pattern set', { rules: [rule(1, count(5, { tagStatus: 'tagged', tagPatternList: ['v*'] })), rule(9, age(1, { tagStatus: 'tagged', tagPatternList: ['v*'] }))] }, 'rule 1 (rules[0]) and rule 9 (rules[1]) select the same tags (tagPatternList); each rule needs its own set'],
  ])('%s', (_, policy, message) => {
    expect(refusal(policy)).toBe(message);
  });

  it('a prefix list and a pattern list with the same strings are different selections', () => {
    expect(policyOf(rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['v'] })), rule(2, count(1, { tagStatus: 'tagged', tagPatternList: ['v'] }))).rules).toHaveLength(2);
  });
});

describe('tag patterns', () => {
  it.each<[string, string, boolean]>([
    ['prod', 'prod', true],
    ['prod', 'prod1', false],
    ['prod*', 'prod', true],
    ['prod*', 'prod-2', true],
    ['prod*', 'xprod', false],
    ['*prod', 'xprod', true],
    ['*', 'anything', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['*test*1*2*3', 'my-test-1-2-3', true],
    ['v*.*', 'v1.2', true],
    ['v*.*', 'v12', false],
  ])('%s against %s: %s', (pattern, tag, matches) => {
    expect(tagPatternMatches(pattern, tag)).toBe(matches);
  });
});

describe('evaluateLifecyclePolicy', () => {
  it('imageCountMoreThan keeps the newest countNumber images it selects and expires the rest, oldest first', () => {
    const images = [image('a', [], 5), image('b', [], 1), image('c', [], 3), image('d', [], 9), image('e', ['v1'], 20)];
    expect(expires(policyOf(rule(1, count(2, { tagStatus: 'untagged' }))), images)).toEqual(['d@1', 'a@1']);
    expect(expires(policyOf(rule(1, count(5, { tagStatus: 'untagged' }))), images)).toEqual([]);
  });

  it('sinceImagePushed expires what is older than countNumber days; exactly countNumber days old stays', () => {
    const p = policyOf(rule(1, age(14)));
    const exactly = image('a', ['x'], 14);
    const older = { ...image('b', [], 0), pushedAt: new Date(NOW.getTime() - 14 * DAY - 1) };
    const younger = image('c', [], 13);
    expect(expires(p, [exactly, older, younger])).toEqual(['b@1']);
    // The same images one millisecond later: the one pushed exactly 14 days ago is now older.
    expect(expires(p, [exactly, older, younger], new Date(NOW.getTime() + 1))).toEqual(['b@1', 'a@1']);
  });

  it('untagged selects only images without tags; any selects every image', () => {
    const images = [image('a', ['v1'], 30), image('b', [], 30)];
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'untagged' }))), images)).toEqual(['b@1']);
    expect(expires(policyOf(rule(1, age(1))), images)).toEqual(['a@1', 'b@1']);
  });

  it('tagPrefixList: every prefix must start some tag of the image', () => {
    const images = [image('a', ['prod-1'], 30), image('b', ['prod-2', 'beta-2'], 30), image('c', ['beta-3'], 30), image('d', [], 30)];
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPrefixList: ['prod'] }))), images)).toEqual(['a@1', 'b@1']);
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPrefixList: ['prod', 'beta'] }))), images)).toEqual(['b@1']);
  });

  it('tagPatternList: every pattern must match some tag of the image', () => {
    const images = [image('a', ['release-1.0'], 30), image('b', ['release-1.0-rc1', 'signed'], 30), image('c', ['dev'], 30)];
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPatternList: ['release-*'] }))), images)).toEqual(['a@1', 'b@1']);
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPatternList: ['release-*', 'signed'] }))), images)).toEqual(['b@1']);
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPatternList: ['*-rc*'] }))), images)).toEqual(['b@1']);
    // '*' matches every tag, but an untagged image has no tag to match.
    expect(expires(policyOf(rule(1, age(1, { tagStatus: 'tagged', tagPatternList: ['*'] }))), [...images, image('d', [], 30)])).toEqual(['a@1', 'b@1', 'c@1']);
  });

  // The two worked examples of ECR's user guide ("Filtering on multiple rules").
  it("ECR's example A: rule 2 may not expire an image that rule 1's tags select, yet counts the one rule 1 expired", () => {
    const images = [image('a', ['beta-1', 'prod-1'], 10), image('b', ['beta-2', 'prod-2'], 9), image('c', ['beta-3'], 8)];
    const p = policyOf(rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['prod'] })), rule(2, count(1, { tagStatus: 'tagged', tagPrefixList: ['beta'] })));
    expect(expires(p, images)).toEqual(['a@1']);
  });

  it("ECR's example B: both rules would expire A and B; rule 1 does, and rule 2 adds nothing", () => {
    const images = [image('a', ['beta-1', 'prod-1'], 10), image('b', ['beta-2', 'prod-2'], 9), image('c', ['beta-3', 'prod-3'], 8)];
    const p = policyOf(rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['prod'] })), rule(2, count(1, { tagStatus: 'tagged', tagPrefixList: ['beta'] })));
    expect(expires(p, images)).toEqual(['a@1', 'b@1']);
  });

  it('a higher-priority rule protects what it selects from every lower rule, even when it expires nothing', () => {
    const images = [image('a', ['release-1'], 400), image('b', ['dev-1'], 300), image('c', [], 200), image('d', ['release-2'], 1)];
    const p = policyOf(rule(1, count(1000, { tagStatus: 'tagged', tagPrefixList: ['release'] })), rule(2, age(30)));
    expect(expires(p, images)).toEqual(['b@2', 'c@2']);
  });

  it('a lower rule counts the images higher rules selected when it keeps the newest countNumber', () => {
    // Rule 2 keeps the newest two of all four images: d (protected by rule 1) and c; b and a go.
    // Were protected images left out of its count, it would keep c and b and expire only a.
    const images = [image('a', [], 4), image('b', ['x'], 3), image('c', [], 2), image('d', ['release'], 1)];
    const p = policyOf(rule(1, count(10, { tagStatus: 'tagged', tagPrefixList: ['release'] })), rule(2, count(2)));
    expect(expires(p, images)).toEqual(['a@2', 'b@2']);
  });

  it('an image is expired by one rule only: the first whose count or age expires it', () => {
    const images = [image('a', [], 50), image('b', [], 40)];
    const p = policyOf(rule(1, age(45, { tagStatus: 'untagged' })), rule(2, age(10)));
    // b is selected by rule 1 (untagged) without expiring there: rule 2 may not take it.
    expect(expires(p, images)).toEqual(['a@1']);
  });

  it('rules run by rulePriority, not by their place in the policy; results come by rule, then oldest first', () => {
    const images = [image('a', ['t-1'], 30), image('b', [], 20), image('c', ['t-2'], 10), image('d', [], 5), image('e', ['u'], 40)];
    const p = policyOf(rule(9, age(1)), rule(2, count(1, { tagStatus: 'tagged', tagPrefixList: ['t-'] })), rule(4, count(1, { tagStatus: 'untagged' })));
    expect(expires(p, images)).toEqual(['a@2', 'b@4', 'e@9']);
  });

  it('images pushed at the same instant: the smaller digest counts as older, whatever the input order', () => {
    const same = [image('c', [], 1), image('a', [], 1), image('b', [], 1), image('d', [], 2)];
    const p = policyOf(rule(1, count(2)));
    const orders = [same, [...same].reverse(), [same[2]!, same[0]!, same[3]!, same[1]!]];
    for (const order of orders) expect(expires(p, order)).toEqual(['d@1', 'a@1']);
  });

  it('an empty repository, and an image no rule selects, expire nothing', () => {
    const p = policyOf(rule(1, count(1, { tagStatus: 'tagged', tagPrefixList: ['prod'] })));
    expect(expires(p, [])).toEqual([]);
    expect(expires(p, [image('a', ['dev'], 100), image('b', [], 100)])).toEqual([]);
  });

  it('an image a kept index lists is kept; when the index expires too, both expire', () => {
    // A multi-arch push: a tagged index and its untagged per-platform images.
    const images = [image('i', ['v1'], 30, ['a', 'b']), image('a', [], 30), image('b', [], 30), image('c', [], 30)];
    expect(expires(policyOf(rule(1, age(7, { tagStatus: 'untagged' }))), images)).toEqual(['c@1']);
    expect(expires(policyOf(rule(1, age(7, { tagStatus: 'untagged' })), rule(2, age(7))), images)).toEqual(['a@1', 'b@1', 'c@1', 'i@2']);
  });

  it('keeping holds through nested indexes', () => {
    const images = [image('o', ['top'], 30, ['n']), image('n', [], 30, ['a']), image('a', [], 30)];
    expect(expires(policyOf(rule(1, age(7, { tagStatus: 'untagged' }))), images)).toEqual([]);
    expect(expires(policyOf(rule(1, age(7))), images)).toEqual(['a@1', 'n@1', 'o@1']);
  });
});
