/**
 * The NAT rules that publish container ports on the host, as argument lists for iptables (pure),
 * and the few calls that apply them. Kernel rules rather than a proxy in the agent: published ports
 * keep working while the agent restarts, as the containers behind them do.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RuntimeError } from '../errors.js';

const run = promisify(execFile);

export type Protocol = 'tcp' | 'udp';

/** One rule: where it goes and its match/target arguments (`-A chain` / `-D chain` added when applied). */
export interface IptablesRule {
  readonly table: 'nat' | 'filter';
  readonly chain: string;
  readonly spec: readonly string[];
}

export interface BridgeChains {
  /** nat: holds one DNAT rule per published port. */
  readonly dnat: string;
  /** nat: holds the masquerade rules for this bridge. */
  readonly postrouting: string;
  /** filter: accepts forwarding to and from the bridge, even where FORWARD's policy is DROP (Docker hosts). */
  readonly forward: string;
}

/** Chain names of a bridge (iptables allows 28 characters; bridge names have at most 15). */
export function bridgeChains(bridge: string): BridgeChains {
  return { dnat: `BERTH-DNAT-${bridge}`, postrouting: `BERTH-POST-${bridge}`, forward: `BERTH-FWD-${bridge}` };
}

/**
 * The jumps into a bridge's chains and its masquerade rules:
 * - traffic to any local address (from outside, PREROUTING, or from the host itself, OUTPUT) goes
 *   through the DNAT chain, so a published port answers on every host address, 127.0.0.1 included;
 * - connections from 127.0.0.0/8 that DNAT sent to the bridge leave with the bridge's address,
 *   since a loopback source may not leave the loopback device (this also needs route_localnet);
 * - forwarding to and from the bridge is accepted, whatever FORWARD's policy;
 * - with `outbound`, tasks reach beyond the host from the host's address.
 */
export function bridgeRules(bridge: string, subnet: string, outbound: boolean): IptablesRule[] {
  const c = bridgeChains(bridge);
  const rules: IptablesRule[] = [
    { table: 'nat', chain: 'PREROUTING', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat] },
    { table: 'nat', chain: 'OUTPUT', spec: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat] },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-j', c.postrouting] },
    { table: 'nat', chain: c.postrouting, spec: ['-s', '127.0.0.0/8', '-o', bridge, '-j', 'MASQUERADE'] },
    { table: 'filter', chain: 'FORWARD', spec: ['-j', c.forward] },
    { table: 'filter', chain: c.forward, spec: ['-o', bridge, '-j', 'ACCEPT'] },
    { table: 'filter', chain: c.forward, spec: ['-i', bridge, '-j', 'ACCEPT'] },
  ];
  if (outbound) rules.push({ table: 'nat', chain: c.postrouting, spec: ['-s', subnet, '!', '-o', bridge, '-j', 'MASQUERADE'] });
  return rules;
}

/**
 * The DNAT rule of one published port, tagged with its owner so a reader of `iptables-save` knows it.
 *
 * @example portRule('berth0', 'task-1', '169.254.176.2', { protocol: 'tcp', hostPort: 49153, containerPort: 80 })
 */
export function portRule(
  bridge: string, owner: string, address: string, p: { protocol: Protocol; hostPort: number; containerPort: number },
): IptablesRule {
  return {
    table: 'nat',
    chain: bridgeChains(bridge).dnat,
    spec: ['-p', p.protocol, '--dport', String(p.hostPort), '-m', 'comment', '--comment', `berth:${owner}`,
      '-j', 'DNAT', '--to-destination', `${address}:${p.containerPort}`],
  };
}

async function iptables(args: string[]): Promise<void> {
  // -w: wait for the xtables lock rather than fail when another writer (Docker, firewalld) holds it.
  await run('iptables', ['-w', ...args]);
}

const stderrOf = (err: unknown): string => ((err as { stderr?: string }).stderr ?? String(err)).trim();

/** Creates a chain unless it exists. */
export async function ensureChain(table: string, chain: string): Promise<void> {
  try {
    await iptables(['-t', table, '-N', chain]);
  } catch (err) {
    if (!/exists/i.test(stderrOf(err))) throw new RuntimeError('RuntimeFailed', `iptables -N ${chain}: ${stderrOf(err)}`, { cause: err });
  }
}

/** Appends the rule unless an identical one is there (so setting up twice adds nothing). */
export async function ensureRule(rule: IptablesRule): Promise<void> {
  try {
    await iptables(['-t', rule.table, '-C', rule.chain, ...rule.spec]);
    return;
  } catch {
    // -C fails when the rule is absent: add it.
  }
  try {
    await iptables(['-t', rule.table, '-A', rule.chain, ...rule.spec]);
  } catch (err) {
    throw new RuntimeError('RuntimeFailed', `iptables -A ${rule.chain} ${rule.spec.join(' ')}: ${stderrOf(err)}`, { cause: err });
  }
}

/** Deletes the rule if it is there; a missing rule or chain is already the wanted outcome. */
export async function removeRule(rule: IptablesRule): Promise<void> {
  try {
    await iptables(['-t', rule.table, '-D', rule.chain, ...rule.spec]);
  } catch (err) {
    const msg = stderrOf(err);
    if (!/does a matching rule exist|bad rule|no chain|doesn't exist|does not exist/i.test(msg)) {
      throw new RuntimeError('RuntimeFailed', `iptables -D ${rule.chain} ${rule.spec.join(' ')}: ${msg}`, { cause: err });
    }
  }
}

/** Empties and removes a chain if it exists. */
export async function removeChain(table: string, chain: string): Promise<void> {
  for (const op of ['-F', '-X']) {
    try {
      await iptables(['-t', table, op, chain]);
    } catch (err) {
      const msg = stderrOf(err);
      if (!/no chain|doesn't exist|does not exist/i.test(msg)) throw new RuntimeError('RuntimeFailed', `iptables ${op} ${chain}: ${msg}`, { cause: err });
    }
  }
}

/** The rules of one chain as `iptables -S` prints them (`-A CHAIN ...`), one per line. */
export async function listRules(table: string, chain: string): Promise<string[]> {
  try {
    const { stdout } = await run('iptables', ['-w', '-t', table, '-S', chain]);
    return stdout.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
  } catch (err) {
    if (/no chain|doesn't exist|does not exist/i.test(stderrOf(err))) return [];
    throw new RuntimeError('RuntimeFailed', `iptables -S ${chain}: ${stderrOf(err)}`, { cause: err });
  }
}

/**
 * The owner a published-port rule of `chain` is tagged with, and the rule to delete it by; undefined
 * for a line that is no such rule. Owners are ids (no spaces or quotes), so words split on spaces.
 *
 * @example publishedRuleOf('BERTH-DNAT-b0', '-A BERTH-DNAT-b0 -p tcp -m tcp --dport 49153 -m comment --comment "berth:t1" -j DNAT --to-destination 169.254.176.2:80')
 *   // { owner: 't1', rule: { table: 'nat', chain: 'BERTH-DNAT-b0', spec: ['-p', 'tcp', '-m', 'tcp', '--dport', '49153', ...] } }
 */
export function publishedRuleOf(chain: string, line: string): { owner: string; rule: IptablesRule } | undefined {
  // iptables quotes the comment ("berth:t1"); the words given back to -D go unquoted.
  const words = line.trim().split(/\s+/).map((w) => (w.length >= 2 && w.startsWith('"') && w.endsWith('"') ? w.slice(1, -1) : w));
  if (words[0] !== '-A' || words[1] !== chain) return undefined;
  const at = words.indexOf('--comment');
  const owner = /^berth:(.+)$/.exec(words[at + 1] ?? '')?.[1];
  if (at < 0 || owner === undefined) return undefined;
  return { owner, rule: { table: 'nat', chain, spec: words.slice(2) } };
}
