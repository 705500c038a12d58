/**
 * ECS account settings (PutAccountSetting, PutAccountSettingDefault, DeleteAccountSetting,
 * ListAccountSettings) and the effective value other operations read, e.g. containerInsights for
 * a new cluster.
 *
 * Store layout: one key per principal and setting,
 *   /ecs/account-settings/<encodeURIComponent(principalArn)>/<settingName>  →  Setting JSON
 *   ({name, value, principalArn, type: 'user'}, exactly as the API returns it).
 * The account default (PutAccountSettingDefault) is the root principal's setting,
 * arn:aws:iam::<account>:root, as in ECS. A value nobody set is AWS's default (type aws_managed).
 */
import { BerthError, type Operation, type RequestContext } from '../protocols/index.js';
import type { Store } from '../store/index.js';
import { decodeNextToken, encodeNextToken, invalid, optionalBool, optionalInt, optionalString, requiredString } from './input.js';
import { readJson } from './repo.js';

export const SETTING_NAMES = [
  'serviceLongArnFormat',
  'taskLongArnFormat',
  'containerInstanceLongArnFormat',
  'awsvpcTrunking',
  'containerInsights',
  'fargateFIPSMode',
  'tagResourceAuthorization',
  'fargateTaskRetirementWaitPeriod',
  'guardDutyActivate',
  'defaultLogDriverMode',
  'fargateEventWindows',
] as const;
export type SettingName = (typeof SETTING_NAMES)[number];

export interface Setting {
  readonly name: SettingName;
  readonly value: string;
  readonly principalArn: string;
  readonly type: 'user' | 'aws_managed';
}

/** What each setting accepts, and AWS's value when nobody has set it. */
const SETTING_RULES: Readonly<Record<SettingName, { readonly values: readonly string[]; readonly defaultValue: string }>> = {
  serviceLongArnFormat: { values: ['enabled', 'disabled'], defaultValue: 'enabled' },
  taskLongArnFormat: { values: ['enabled', 'disabled'], defaultValue: 'enabled' },
  containerInstanceLongArnFormat: { values: ['enabled', 'disabled'], defaultValue: 'enabled' },
  awsvpcTrunking: { values: ['enabled', 'disabled'], defaultValue: 'disabled' },
  containerInsights: { values: ['enabled', 'disabled', 'enhanced'], defaultValue: 'disabled' },
  fargateFIPSMode: { values: ['enabled', 'disabled'], defaultValue: 'disabled' },
  tagResourceAuthorization: { values: ['on', 'off'], defaultValue: 'on' },
  fargateTaskRetirementWaitPeriod: { values: ['0', '7', '14'], defaultValue: '7' },
  guardDutyActivate: { values: ['on', 'off'], defaultValue: 'off' },
  // ECS changed this default from blocking to non-blocking on 2025-06-25.
  defaultLogDriverMode: { values: ['blocking', 'non-blocking'], defaultValue: 'non-blocking' },
  fargateEventWindows: { values: ['enabled', 'disabled'], defaultValue: 'disabled' },
};

export const accountSettingKey = (principalArn: string, name: SettingName) =>
  `/ecs/account-settings/${encodeURIComponent(principalArn)}/${name}`;

export const rootPrincipalArn = (accountId: string) => `arn:aws:iam::${accountId}:root`;

/**
 * Who "the authenticated user" is. Berth's credentials are account keys with no IAM users yet,
 * so every caller acts as the account's root user; user- and role-level settings can still be
 * set and listed through principalArn.
 */
const callerPrincipalArn = (ctx: RequestContext) => rootPrincipalArn(ctx.caller.accountId);

const PRINCIPAL_RE = /^arn:aws[a-z-]*:iam::(\d{12}):(root|user\/[\w+=,.@/-]+|role\/[\w+=,.@/-]+)$/;

function readPrincipal(input: Record<string, unknown>, ctx: RequestContext): string {
  const arn = optionalString(input, 'principalArn');
  if (arn === undefined || arn === '') return callerPrincipalArn(ctx);
  const m = PRINCIPAL_RE.exec(arn);
  if (!m) throw invalid(`principalArn '${arn}' is not the ARN of an IAM user, role or root user.`);
  if (m[1] !== ctx.caller.accountId) throw invalid(`principalArn '${arn}' is not in account ${ctx.caller.accountId}.`);
  return arn;
}

function readName(input: Record<string, unknown>, required: boolean): SettingName | undefined {
  const name = required ? requiredString(input, 'name') : optionalString(input, 'name');
  if (name === undefined) return undefined;
  if (!(SETTING_NAMES as readonly string[]).includes(name)) {
    throw invalid(`name must be one of ${SETTING_NAMES.join(', ')}; got '${name}'.`);
  }
  return name as SettingName;
}

function checkValue(name: SettingName, value: string): void {
  const { values } = SETTING_RULES[name];
  if (!values.includes(value)) throw invalid(`The value '${value}' is not valid for ${name}; use ${values.join(' or ')}.`);
}

/**
 * The value of a setting for a principal (default: the account's root user): the principal's own
 * setting, else the account default, else AWS's default.
 *
 * @example await effectiveAccountSetting(store, '000000000000', 'containerInsights') // 'disabled'
 */
export async function effectiveAccountSetting(store: Store, accountId: string, name: SettingName, principalArn?: string): Promise<Setting> {
  const root = rootPrincipalArn(accountId);
  for (const principal of principalArn === undefined || principalArn === root ? [root] : [principalArn, root]) {
    const own = await readJson<Setting>(store, accountSettingKey(principal, name));
    if (own) return own.value;
  }
  return { name, value: SETTING_RULES[name].defaultValue, principalArn: root, type: 'aws_managed' };
}

/** Whether the account (or principal) has explicitly set the setting, rather than left AWS's default. */
export async function explicitAccountSetting(store: Store, accountId: string, name: SettingName): Promise<Setting | undefined> {
  const s = await effectiveAccountSetting(store, accountId, name);
  return s.type === 'user' ? s : undefined;
}

async function putSetting(store: Store, name: SettingName, value: string, principalArn: string): Promise<Setting> {
  const setting: Setting = { name, value, principalArn, type: 'user' };
  await store.txn([], [{ type: 'put', key: accountSettingKey(principalArn, name), value: JSON.stringify(setting) }]);
  return setting;
}

function checkWritable(name: SettingName, principalArn: string, accountId: string): void {
  if (name === 'guardDutyActivate') {
    throw invalid('guardDutyActivate is read-only: Amazon GuardDuty manages it for the account.');
  }
  if (name === 'fargateTaskRetirementWaitPeriod' && principalArn !== rootPrincipalArn(accountId)) {
    throw invalid('fargateTaskRetirementWaitPeriod can only be set for the root user of the account.');
  }
}

export function accountSettingOperations(deps: { readonly store: Store }): Record<string, Operation> {
  const { store } = deps;
  return {
    async PutAccountSetting(input, ctx) {
      const name = readName(input, true)!;
      const value = requiredString(input, 'value');
      const principalArn = readPrincipal(input, ctx);
      checkValue(name, value);
      checkWritable(name, principalArn, ctx.caller.accountId);
      return { setting: await putSetting(store, name, value, principalArn) };
    },

    async PutAccountSettingDefault(input, ctx) {
      const name = readName(input, true)!;
      const value = requiredString(input, 'value');
      const root = rootPrincipalArn(ctx.caller.accountId);
      checkValue(name, value);
      checkWritable(name, root, ctx.caller.accountId);
      return { setting: await putSetting(store, name, value, root) };
    },

    async DeleteAccountSetting(input, ctx) {
      const name = readName(input, true)!;
      const principalArn = readPrincipal(input, ctx);
      if (name === 'guardDutyActivate') checkWritable(name, principalArn, ctx.caller.accountId);
      const key = accountSettingKey(principalArn, name);
      const existing = await readJson<Setting>(store, key);
      if (!existing) {
        // Nothing to delete: answer with what now applies, so that a repeated delete succeeds.
        const effective = await effectiveAccountSetting(store, ctx.caller.accountId, name, principalArn);
        return { setting: { ...effective, principalArn } };
      }
      const res = await store.txn([{ key, target: 'mod', op: '=', value: existing.modRevision }], [{ type: 'delete', key }]);
      if (!res.succeeded) throw new BerthError('ServerException', `The ${name} setting changed while it was being deleted; try again.`);
      return { setting: existing.value };
    },

    async ListAccountSettings(input, ctx) {
      const name = readName(input, false);
      const value = optionalString(input, 'value');
      if (value !== undefined && name === undefined) throw invalid('value can only be used together with name.');
      const principalArn = readPrincipal(input, ctx);
      const effective = optionalBool(input, 'effectiveSettings') ?? false;
      const maxResults = optionalInt(input, 'maxResults', { min: 1, max: 10 }) ?? 10;
      const after = decodeNextToken(optionalString(input, 'nextToken'));

      const names = name === undefined ? SETTING_NAMES : [name];
      const settings: Setting[] = [];
      for (const n of names) {
        if (effective) {
          settings.push(await effectiveAccountSetting(store, ctx.caller.accountId, n, principalArn));
        } else {
          const own = await readJson<Setting>(store, accountSettingKey(principalArn, n));
          if (own) settings.push(own.value);
        }
      }
      const matching = settings.filter((s) => value === undefined || s.value === value);
      // Pages follow the fixed order of SETTING_NAMES; the token names the last setting returned.
      const start = after === undefined ? 0 : matching.findIndex((s) => tokenKey(s.name) === after) + 1;
      if (after !== undefined && start === 0) throw invalid('The nextToken is not valid.');
      const page = matching.slice(start, start + maxResults);
      const more = start + maxResults < matching.length;
      return { settings: page, ...(more ? { nextToken: encodeNextToken(tokenKey(page[page.length - 1]!.name)) } : {}) };
    },
  };
}

const tokenKey = (name: SettingName) => `/account-settings/${name}`;
