/**
 * AddTags, RemoveTags and DescribeTags over load balancer, target group, listener and rule ARNs,
 * in one call across kinds, and DescribeAccountLimits.
 */
import { BerthError } from '../../protocols/index.js';
import type { Store } from '../../store/index.js';
import type { Tag } from '../model.js';
import { arnKind } from './arns.js';
import type { ResourceKind } from './arns.js';
import { checkFilterLength, keyOf, mustGet, page } from './common.js';
import type { ElbContext } from './common.js';
import { isDefaultRuleArn } from './listeners.js';
import { LIMITS, checkTags, mergeTags } from './rules-check.js';
import { inTxn } from './txn.js';
import type { ElbTxn } from './txn.js';

function kindOf(arn: string, ctx: ElbContext): ResourceKind {
  const kind = arnKind(arn, ctx);
  if (kind === undefined) throw new BerthError('ValidationException', `'${arn}' is not a valid load balancer, target group, listener or rule ARN of ${ctx.region} and account ${ctx.accountId}`);
  return kind;
}

function checkArns(arns: readonly string[], ctx: ElbContext): ResourceKind[] {
  if (arns.length === 0) throw new BerthError('ValidationException', 'ResourceArns must contain at least one ARN');
  checkFilterLength(arns, 'ResourceArns');
  return arns.map((arn) => kindOf(arn, ctx));
}

type Tagged = { readonly Tags: readonly Tag[] } & Record<string, unknown>;

async function retag(tx: ElbTxn, kind: ResourceKind, arn: string, change: (tags: readonly Tag[]) => Tag[]): Promise<void> {
  if (kind === 'listener-rule' && isDefaultRuleArn(arn)) {
    throw new BerthError('OperationNotPermittedException', `A listener's default rule ('${arn}') cannot be tagged: tag the listener`);
  }
  const record = (await mustGet(tx, kind, arn)) as unknown as Tagged;
  tx.put(keyOf(kind, arn), { ...record, Tags: change(record.Tags) });
}

export async function addTags(store: Store, ctx: ElbContext, input: { readonly ResourceArns: readonly string[]; readonly Tags: readonly Tag[] }) {
  const kinds = checkArns(input.ResourceArns, ctx);
  if (input.Tags.length === 0) throw new BerthError('ValidationException', 'Tags must contain at least one tag');
  checkTags(input.Tags);
  return inTxn(store, async (tx) => {
    for (const [i, arn] of input.ResourceArns.entries()) await retag(tx, kinds[i]!, arn, (tags) => mergeTags(tags, input.Tags, arn));
    return {};
  });
}

export async function removeTags(store: Store, ctx: ElbContext, input: { readonly ResourceArns: readonly string[]; readonly TagKeys: readonly string[] }) {
  const kinds = checkArns(input.ResourceArns, ctx);
  if (input.TagKeys.length === 0) throw new BerthError('ValidationException', 'TagKeys must contain at least one key');
  for (const key of input.TagKeys) {
    if (key.length < 1 || key.length > 128) throw new BerthError('ValidationException', `Tag key '${key}' must be 1 to 128 characters long`);
  }
  const drop = new Set(input.TagKeys);
  return inTxn(store, async (tx) => {
    for (const [i, arn] of input.ResourceArns.entries()) await retag(tx, kinds[i]!, arn, (tags) => tags.filter((t) => !drop.has(t.Key)));
    return {};
  });
}

export async function describeTags(store: Store, ctx: ElbContext, input: { readonly ResourceArns: readonly string[] }) {
  const kinds = checkArns(input.ResourceArns, ctx);
  return inTxn(store, async (tx) => {
    const TagDescriptions = [];
    for (const [i, arn] of input.ResourceArns.entries()) {
      const kind = kinds[i]!;
      if (kind === 'listener-rule' && isDefaultRuleArn(arn)) {
        await mustGet(tx, 'listener', arn.replace(':listener-rule/', ':listener/').replace(/\/[0-9a-f]{16}$/, ''));
        TagDescriptions.push({ ResourceArn: arn, Tags: [] });
        continue;
      }
      const record = (await mustGet(tx, kind, arn)) as unknown as Tagged;
      TagDescriptions.push({ ResourceArn: arn, Tags: record.Tags });
    }
    return { TagDescriptions };
  });
}

/** The limits Berth enforces (and a few it reports as ELBv2 does), in ELBv2's names. */
export function describeAccountLimits(_ctx: ElbContext, input: { readonly Marker?: string; readonly PageSize?: number }) {
  const limits = Object.entries(LIMITS).map(([Name, max]) => ({ Name, Max: String(max) }));
  const { items, NextMarker } = page(limits, (l) => l.Name, input.Marker, input.PageSize);
  return { Limits: items, NextMarker };
}
