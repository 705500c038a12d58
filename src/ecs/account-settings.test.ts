/** Account settings: put, default, delete, list (own and effective), and what other operations read. */
import { describe, expect, it } from 'vitest';
import { accountSettingKey, effectiveAccountSetting, SETTING_NAMES } from './account-settings.js';
import { ecsHarness, type Json, type MessageMatch } from './testing/ecs-harness.suite.js';

const ACCOUNT = '123456789012';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const USER = `arn:aws:iam::${ACCOUNT}:user/MyUser`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/path/deployer`;

/** Every refusal here is an InvalidParameterException: `refused` names only the message. */
function harness() {
  const h = ecsHarness({ accountId: ACCOUNT });
  const refused = (op: string, input: Record<string, unknown>, message: MessageMatch) => h.refused(op, input, 'InvalidParameterException', message);
  return { store: h.store, call: h.call, refused };
}

describe('PutAccountSetting and PutAccountSettingDefault', () => {
  it('sets a setting for the caller (the root user) or for a named user or role', async () => {
    const { call, store } = harness();
    expect(await call('PutAccountSetting', { name: 'containerInsights', value: 'enhanced' })).toEqual({
      setting: { name: 'containerInsights', value: 'enhanced', principalArn: ROOT, type: 'user' },
    });
    expect((await call('PutAccountSetting', { name: 'awsvpcTrunking', value: 'enabled', principalArn: ROLE })).setting.principalArn).toBe(ROLE);
    // Stored under the documented key, in the wire shape.
    const kv = await store.get(accountSettingKey(ROLE, 'awsvpcTrunking'));
    expect(kv?.key).toBe(`/ecs/account-settings/${encodeURIComponent(ROLE)}/awsvpcTrunking`);
    expect(JSON.parse(kv!.value)).toEqual({ name: 'awsvpcTrunking', value: 'enabled', principalArn: ROLE, type: 'user' });
  });

  it('sets the account default on the root user', async () => {
    const { call } = harness();
    expect(await call('PutAccountSettingDefault', { name: 'serviceLongArnFormat', value: 'disabled' })).toEqual({
      setting: { name: 'serviceLongArnFormat', value: 'disabled', principalArn: ROOT, type: 'user' },
    });
  });

  it.each([
    ['containerInsights', ['enabled', 'disabled', 'enhanced'], 'on'],
    ['tagResourceAuthorization', ['on', 'off'], 'enabled'],
    ['fargateTaskRetirementWaitPeriod', ['0', '7', '14'], '3'],
    ['defaultLogDriverMode', ['blocking', 'non-blocking'], 'enabled'],
    ['taskLongArnFormat', ['enabled', 'disabled'], 'on'],
  ])('%s accepts %j and refuses %s', async (name, good, bad) => {
    const { call, refused } = harness();
    for (const value of good) expect((await call('PutAccountSettingDefault', { name, value })).setting.value).toBe(value);
    await refused('PutAccountSetting', { name, value: bad }, new RegExp(`^The value '${bad}' is not valid for ${name}; use `));
  });

  it.each<[string, Record<string, unknown>, string | RegExp]>([
    ['an unknown name', { name: 'dualStack', value: 'enabled' }, `name must be one of ${SETTING_NAMES.join(', ')}; got 'dualStack'.`],
    ['no name', { value: 'enabled' }, 'name is required.'],
    ['no value', { name: 'awsvpcTrunking' }, 'value is required.'],
    ['guardDutyActivate, which GuardDuty manages', { name: 'guardDutyActivate', value: 'on' }, 'guardDutyActivate is read-only: Amazon GuardDuty manages it for the account.'],
    ['the Fargate wait period for a user', { name: 'fargateTaskRetirementWaitPeriod', value: '14', principalArn: USER }, 'fargateTaskRetirementWaitPeriod can only be set for the root user of the account.'],
    ['a principal that is not an IAM ARN', { name: 'awsvpcTrunking', value: 'enabled', principalArn: 'bob' }, "principalArn 'bob' is not the ARN of an IAM user, role or root user."],
    ['a principal of another account', { name: 'awsvpcTrunking', value: 'enabled', principalArn: 'arn:aws:iam::999999999999:root' }, `principalArn 'arn:aws:iam::999999999999:root' is not in account ${ACCOUNT}.`],
  ])('PutAccountSetting refuses %s', async (_what, input, message) => {
    const { refused } = harness();
    await refused('PutAccountSetting', input, message);
  });

  it('PutAccountSettingDefault refuses guardDutyActivate too', async () => {
    const { refused } = harness();
    await refused('PutAccountSettingDefault', { name: 'guardDutyActivate', value: 'off' }, /is read-only/);
  });
});

describe('ListAccountSettings', () => {
  it("lists only the principal's own settings unless effective settings are asked for", async () => {
    const { call } = harness();
    expect(await call('ListAccountSettings')).toEqual({ settings: [] });
    await call('PutAccountSettingDefault', { name: 'containerInsights', value: 'enabled' });
    await call('PutAccountSetting', { name: 'awsvpcTrunking', value: 'enabled', principalArn: USER });
    expect((await call('ListAccountSettings')).settings).toEqual([{ name: 'containerInsights', value: 'enabled', principalArn: ROOT, type: 'user' }]);
    expect((await call('ListAccountSettings', { principalArn: USER })).settings).toEqual([{ name: 'awsvpcTrunking', value: 'enabled', principalArn: USER, type: 'user' }]);
  });

  it("gives a principal's effective settings: its own, else the account default, else AWS's", async () => {
    const { call } = harness();
    await call('PutAccountSettingDefault', { name: 'containerInsights', value: 'enabled' });
    await call('PutAccountSetting', { name: 'containerInsights', value: 'disabled', principalArn: USER });
    const page1 = await call('ListAccountSettings', { principalArn: USER, effectiveSettings: true });
    const page2 = await call('ListAccountSettings', { principalArn: USER, effectiveSettings: true, nextToken: page1.nextToken });
    const all = [...page1.settings, ...page2.settings];
    expect(page1.settings).toHaveLength(10);
    expect(page2.nextToken).toBeUndefined();
    expect(all.map((s: Json) => s.name)).toEqual([...SETTING_NAMES]);
    const byName = Object.fromEntries(all.map((s: Json) => [s.name, s]));
    expect(byName.containerInsights).toEqual({ name: 'containerInsights', value: 'disabled', principalArn: USER, type: 'user' });
    expect(byName.serviceLongArnFormat).toEqual({ name: 'serviceLongArnFormat', value: 'enabled', principalArn: ROOT, type: 'aws_managed' });
    expect(byName.fargateTaskRetirementWaitPeriod.value).toBe('7');
    const rootView = await call('ListAccountSettings', { name: 'containerInsights', effectiveSettings: true });
    expect(rootView.settings).toEqual([{ name: 'containerInsights', value: 'enabled', principalArn: ROOT, type: 'user' }]);
  });

  it('filters by name and value, and pages by maxResults', async () => {
    const { call } = harness();
    expect((await call('ListAccountSettings', { effectiveSettings: true, name: 'awsvpcTrunking', value: 'disabled' })).settings).toHaveLength(1);
    expect((await call('ListAccountSettings', { effectiveSettings: true, name: 'awsvpcTrunking', value: 'enabled' })).settings).toHaveLength(0);
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call('ListAccountSettings', { effectiveSettings: true, maxResults: 3, ...(nextToken ? { nextToken } : {}) });
      expect(page.settings.length).toBeLessThanOrEqual(3);
      names.push(...page.settings.map((s: Json) => s.name));
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    expect(names).toEqual([...SETTING_NAMES]);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ value: 'enabled' }, 'value can only be used together with name.'],
    [{ maxResults: 11 }, 'maxResults must be at most 10.'],
    [{ maxResults: 0 }, 'maxResults must be at least 1.'],
    [{ nextToken: 'nope' }, 'The nextToken is not valid.'],
    [{ nextToken: Buffer.from('/account-settings/unknown').toString('base64url') }, 'The nextToken is not valid.'],
    [{ name: 'x' }, `name must be one of ${SETTING_NAMES.join(', ')}; got 'x'.`],
  ])('refuses %j', async (input, message) => {
    const { refused } = harness();
    await refused('ListAccountSettings', input, message);
  });
});

describe('DeleteAccountSetting', () => {
  it("removes the principal's setting, answering with it, and the default applies again", async () => {
    const { call, store } = harness();
    await call('PutAccountSettingDefault', { name: 'containerInsights', value: 'enabled' });
    await call('PutAccountSetting', { name: 'containerInsights', value: 'enhanced', principalArn: USER });
    expect(await call('DeleteAccountSetting', { name: 'containerInsights', principalArn: USER })).toEqual({
      setting: { name: 'containerInsights', value: 'enhanced', principalArn: USER, type: 'user' },
    });
    expect((await effectiveAccountSetting(store, ACCOUNT, 'containerInsights', USER)).value).toBe('enabled');
    // Deleting again is not an error: the answer is what now applies.
    expect((await call('DeleteAccountSetting', { name: 'containerInsights', principalArn: USER })).setting).toMatchObject({ value: 'enabled', principalArn: USER });
    await call('DeleteAccountSetting', { name: 'containerInsights' });
    expect(await effectiveAccountSetting(store, ACCOUNT, 'containerInsights')).toEqual({ name: 'containerInsights', value: 'disabled', principalArn: ROOT, type: 'aws_managed' });
  });

  it('refuses bad requests, changing nothing', async () => {
    const { call, refused } = harness();
    await call('PutAccountSettingDefault', { name: 'awsvpcTrunking', value: 'enabled' });
    await refused('DeleteAccountSetting', {}, 'name is required.');
    await refused('DeleteAccountSetting', { name: 'guardDutyActivate' }, /is read-only/);
    await refused('DeleteAccountSetting', { name: 'awsvpcTrunking', principalArn: 'arn:aws:iam::1:root' }, /is not the ARN of an IAM user, role or root user/);
  });
});
