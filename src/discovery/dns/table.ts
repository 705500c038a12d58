/**
 * The DNS server's answers, computed ahead of queries: from Cloud Map's namespaces, services and
 * instances, every (name, type) that has records gets its reply body encoded once, so a query
 * costs a map lookup and a copy. Pure: the view (view.ts) rebuilds a table when the store changes.
 *
 * What is served, as Route 53 auto naming does it for a private namespace `example.local`:
 * - `web.example.local` A/AAAA: the addresses of the service's healthy instances; SRV:
 *   `1 1 <port> <instance>.web.example.local` with their A/AAAA as additional records;
 *   CNAME: an instance's AWS_INSTANCE_CNAME. TTLs are the service's DnsConfig TTLs.
 * - `<instance>.web.example.local` A/AAAA, for services with SRV records (the SRV targets).
 * - MULTIVALUE answers up to 8 healthy records, rotating which (and in what order) across queries;
 *   WEIGHTED answers one, in turn.
 * - the apex answers SOA; a name in a namespace with no records (a service without healthy
 *   instances is such a name) is NXDOMAIN, a name with records of other types NODATA, both with the
 *   SOA in authority; names outside every namespace are REFUSED.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { createHash } from 'node:crypto';
import { ATTR, servesTraffic, type InstanceRecord, type NamespaceRecord, type ServiceRecord } from '../model.js';
import { BodyWriter, CLASS_ANY, CLASS_IN, RCODE, TYPE, emptySection, ipv6Bytes, wireName, type Query, type Section } from './wire.js';

/** What the table is built from: the view's copy of the store. */
export interface DnsState {
  readonly namespaces: ReadonlyMap<string, NamespaceRecord>;
  readonly services: ReadonlyMap<string, ServiceRecord>;
  /** Instances by service id, then instance id. */
  readonly instances: ReadonlyMap<string, ReadonlyMap<string, InstanceRecord>>;
  /** The store revision the state is at: the SOA serial. */
  readonly revision: number;
}

/** Route 53's multivalue answer limit. */
export const MULTIVALUE_MAX = 8;
/** How many differently rotated replies a name keeps when it has more instances than fit in one. */
const MAX_VARIANTS = 16;
const SOA_TIMERS = { refresh: 7200, retry: 900, expire: 1209600 };
const QNAME_POINTER = 12;

interface Answer {
  readonly variants: readonly Section[];
  next: number;
}

interface Zone {
  readonly wire: string;
  readonly nxdomain: Section;
  readonly nodata: Section;
}

interface NameEntry {
  readonly zone: Zone;
  readonly types: Map<number, Answer>;
}

const REFUSED = emptySection(RCODE.REFUSED);

export class DnsTable {
  /** Names that could not be served (too long for DNS, say): for the view to log. */
  readonly problems: string[] = [];
  private readonly names = new Map<string, NameEntry>();
  private readonly zones = new Map<string, Zone>();

  /** The reply section for a query: records, NODATA, NXDOMAIN or REFUSED. */
  answer(q: Query): Section {
    if (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY) return REFUSED;
    const entry = this.names.get(q.name);
    if (entry !== undefined) {
      const answer =
        entry.types.get(q.qtype) ??
        // A name with a CNAME has nothing else: every type is answered with the CNAME.
        entry.types.get(TYPE.CNAME) ??
        // ANY: a subset is enough (RFC 8482); the addresses are what callers want.
        (q.qtype === TYPE.ANY ? (entry.types.get(TYPE.A) ?? entry.types.get(TYPE.AAAA) ?? entry.types.get(TYPE.SRV)) : undefined);
      if (answer === undefined) return entry.zone.nodata;
      const i = answer.next;
      answer.next = i + 1 === answer.variants.length ? 0 : i + 1;
      return answer.variants[i]!;
    }
    for (let i = 1; i < q.labelStarts.length - 1; i++) {
      const zone = this.zones.get(q.name.slice(q.labelStarts[i]));
      if (zone !== undefined) return zone.nxdomain;
    }
    return REFUSED;
  }

  /** Whether a (wire-form) name has records or is an empty non-terminal: for tests and the bench. */
  has(wire: string): boolean {
    return this.names.has(wire);
  }

  static build(state: DnsState): DnsTable {
    const table = new DnsTable();
    const zonesById = new Map<string, Zone>();
    for (const ns of state.namespaces.values()) {
      if (ns.Type === 'HTTP') continue;
      let wire: string;
      try {
        wire = wireName(ns.Name);
      } catch {
        table.problems.push(`namespace ${ns.Id} '${ns.Name}' is not a DNS name`);
        continue;
      }
      const ttl = ns.Properties.DnsProperties.SOA?.TTL ?? 15;
      const zone: Zone = {
        wire,
        nxdomain: negative(RCODE.NXDOMAIN, wire, ttl, state.revision),
        nodata: negative(RCODE.NOERROR, wire, ttl, state.revision),
      };
      table.zones.set(wire, zone);
      zonesById.set(ns.Id, zone);
      table.entry(wire, zone).types.set(TYPE.SOA, { variants: [apexSoa(wire, ttl, state.revision)], next: 0 });
    }
    for (const service of state.services.values()) {
      const zone = zonesById.get(service.NamespaceId);
      if (zone === undefined || service.DnsConfig === undefined || service.Name === '.') continue;
      const healthy = [...(state.instances.get(service.Id)?.values() ?? [])].filter((i) => servesTraffic(service, i)).sort((a, b) => (a.Id < b.Id ? -1 : 1));
      if (healthy.length === 0) continue;
      let serviceWire = '';
      try {
        serviceWire = wireName(service.Name).slice(0, -1) + zone.wire;
      } catch {
        // The API's name rule keeps this from happening; a record written by other means may not.
      }
      if (serviceWire === '' || serviceWire.length > 255) {
        table.problems.push(`service ${service.Id} '${service.Name}' does not make a DNS name in its namespace`);
        continue;
      }
      table.addService(service, serviceWire, zone, healthy);
    }
    return table;
  }

  private entry(wire: string, zone: Zone): NameEntry {
    let e = this.names.get(wire);
    if (e === undefined) {
      e = { zone, types: new Map() };
      this.names.set(wire, e);
      // Every name between this one and the apex exists (empty non-terminals answer NODATA).
      for (let p = wire.charCodeAt(0) + 1; p < wire.length - zone.wire.length; p += wire.charCodeAt(p) + 1) {
        const parent = wire.slice(p);
        if (!this.names.has(parent)) this.names.set(parent, { zone, types: new Map() });
      }
    }
    return e;
  }

  private addService(service: ServiceRecord, wire: string, zone: Zone, healthy: InstanceRecord[]): void {
    const dns = service.DnsConfig!;
    const ttlOf = (type: string) => dns.DnsRecords.find((r) => r.Type === type)?.TTL;
    const weighted = dns.RoutingPolicy === 'WEIGHTED';
    const base = wire.length + 4 + 12;
    const set = (name: string, type: number, variants: Section[]) => {
      if (variants.length > 0) this.entry(name, zone).types.set(type, { variants, next: 0 });
    };

    const aTtl = ttlOf('A');
    // One record per address: tasks behind one host (bridge mode) share its IP, and an RRset
    // holds no duplicates; their ports tell them apart in SRV.
    const v4 = distinctBy(healthy.filter((i) => isIPv4(i.Attributes[ATTR.ipv4] ?? '')), (i) => i.Attributes[ATTR.ipv4]!);
    if (aTtl !== undefined) set(wire, TYPE.A, choose(v4, weighted).map((group) => addresses(base, group, TYPE.A, aTtl)));
    const aaaaTtl = ttlOf('AAAA');
    const v6 = distinctBy(healthy.filter((i) => isIPv6(i.Attributes[ATTR.ipv6] ?? '')), (i) => Buffer.from(ipv6Bytes(i.Attributes[ATTR.ipv6]!)).toString('hex'));
    if (aaaaTtl !== undefined) set(wire, TYPE.AAAA, choose(v6, weighted).map((group) => addresses(base, group, TYPE.AAAA, aaaaTtl)));

    const cnameTtl = ttlOf('CNAME');
    if (cnameTtl !== undefined) {
      const targets: Array<{ instance: InstanceRecord; target: string }> = [];
      for (const instance of healthy) {
        try {
          targets.push({ instance, target: wireName(instance.Attributes[ATTR.cname] ?? '') });
        } catch {
          this.problems.push(`instance ${instance.Id} of ${service.Id}: AWS_INSTANCE_CNAME is not a DNS name`);
        }
      }
      // A name has one CNAME at most: one per reply, in turn, whatever the routing policy.
      set(
        wire,
        TYPE.CNAME,
        targets.map(({ target }) => {
          const w = new BodyWriter(base);
          w.name('', QNAME_POINTER);
          w.fixed(TYPE.CNAME, cnameTtl, target.length);
          w.name(target);
          return section(w, 1, 0, 0, undefined);
        }),
      );
    }

    const srvTtl = ttlOf('SRV');
    if (srvTtl !== undefined) {
      const used = new Set<string>();
      const targets = healthy
        .filter((i) => /^\d+$/.test(i.Attributes[ATTR.port] ?? '') && (isIPv4(i.Attributes[ATTR.ipv4] ?? '') || isIPv6(i.Attributes[ATTR.ipv6] ?? '')))
        .map((instance) => ({ instance, label: instanceLabel(instance.Id, used) }));
      // Addresses of SRV targets: the A (or AAAA) TTL where the service has one, else the SRV's.
      const targetTtl = { a: aTtl ?? srvTtl, aaaa: aaaaTtl ?? srvTtl };
      set(wire, TYPE.SRV, choose(targets, weighted).map((group) => srv(base, group, srvTtl, targetTtl)));
      for (const { instance, label } of targets) {
        const name = String.fromCharCode(label.length) + label + wire;
        const nameBase = name.length + 4 + 12;
        if (isIPv4(instance.Attributes[ATTR.ipv4] ?? '')) set(name, TYPE.A, [addresses(nameBase, [instance], TYPE.A, targetTtl.a)]);
        if (isIPv6(instance.Attributes[ATTR.ipv6] ?? '')) set(name, TYPE.AAAA, [addresses(nameBase, [instance], TYPE.AAAA, targetTtl.aaaa)]);
      }
    }
  }
}

/**
 * The groups of records replies carry, one group per reply variant. WEIGHTED: one record each, in
 * turn. MULTIVALUE: all of them (up to 8) in rotated order, or windows of 8 when there are more.
 */
export function choose<T>(items: readonly T[], weighted: boolean): T[][] {
  const n = items.length;
  if (n === 0) return [];
  if (weighted) return items.map((item) => [item]);
  const size = Math.min(n, MULTIVALUE_MAX);
  const variants = n <= MULTIVALUE_MAX ? n : Math.min(n, MAX_VARIANTS);
  const out: T[][] = [];
  for (let v = 0; v < variants; v++) {
    const start = Math.floor((v * n) / variants);
    out.push(Array.from({ length: size }, (_, k) => items[(start + k) % n]!));
  }
  return out;
}

function distinctBy<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = keyOf(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The label an instance's name gets: its id when that is a valid DNS label (ECS task ids are),
 * else (or when two ids differ only in case) `i-` and a hash of it.
 */
export function instanceLabel(id: string, used: Set<string>): string {
  let label = /^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$/.test(id) ? id.toLowerCase() : '';
  if (label === '' || used.has(label)) label = `i-${createHash('sha256').update(id).digest('hex').slice(0, 20)}`;
  used.add(label);
  return label;
}

function section(w: BodyWriter, an: number, ns: number, ar: number, withoutAdditional: number | undefined): Section {
  const body = w.done();
  return { rcode: RCODE.NOERROR, body, an, ns, ar, withoutAdditional: withoutAdditional ?? body.length };
}

function addresses(base: number, group: readonly InstanceRecord[], type: typeof TYPE.A | typeof TYPE.AAAA, ttl: number): Section {
  const w = new BodyWriter(base);
  for (const instance of group) writeAddress(w, QNAME_POINTER, instance, type, ttl);
  return section(w, group.length, 0, 0, undefined);
}

function writeAddress(w: BodyWriter, owner: number, instance: InstanceRecord, type: typeof TYPE.A | typeof TYPE.AAAA, ttl: number): void {
  w.name('', owner);
  if (type === TYPE.A) {
    w.fixed(TYPE.A, ttl, 4);
    w.bytes(Uint8Array.from(instance.Attributes[ATTR.ipv4]!.split('.').map(Number)));
  } else {
    w.fixed(TYPE.AAAA, ttl, 16);
    w.bytes(ipv6Bytes(instance.Attributes[ATTR.ipv6]!));
  }
}

function srv(base: number, group: ReadonlyArray<{ instance: InstanceRecord; label: string }>, ttl: number, targetTtl: { a: number; aaaa: number }): Section {
  const w = new BodyWriter(base);
  const at: number[] = [];
  for (const { instance, label } of group) {
    w.name('', QNAME_POINTER);
    w.fixed(TYPE.SRV, ttl, 6 + label.length + 1 + 2);
    w.u16(1, 1, Number(instance.Attributes[ATTR.port]));
    at.push(w.offset);
    w.name(String.fromCharCode(label.length) + label, QNAME_POINTER);
  }
  const withoutAdditional = w.offset - base;
  let ar = 0;
  group.forEach(({ instance }, k) => {
    if (isIPv4(instance.Attributes[ATTR.ipv4] ?? '')) {
      writeAddress(w, at[k]!, instance, TYPE.A, targetTtl.a);
      ar++;
    }
    if (isIPv6(instance.Attributes[ATTR.ipv6] ?? '')) {
      writeAddress(w, at[k]!, instance, TYPE.AAAA, targetTtl.aaaa);
      ar++;
    }
  });
  return section(w, group.length, 0, ar, withoutAdditional);
}

function soaRdata(w: BodyWriter, zone: { prefix: string; pointer?: number }, serial: number, minimum: number): void {
  w.name(`\x03ns1${zone.prefix}`, zone.pointer);
  w.name(`\x0ahostmaster${zone.prefix}`, zone.pointer);
  w.u32(serial, SOA_TIMERS.refresh, SOA_TIMERS.retry, SOA_TIMERS.expire, minimum);
}

/** The apex's own SOA answer: names compressed against the question. */
function apexSoa(wire: string, ttl: number, serial: number): Section {
  const w = new BodyWriter(wire.length + 4 + 12);
  w.name('', QNAME_POINTER);
  w.fixed(TYPE.SOA, ttl, 4 + 2 + 11 + 2 + 20);
  soaRdata(w, { prefix: '', pointer: QNAME_POINTER }, serial, ttl);
  return section(w, 1, 0, 0, undefined);
}

/**
 * NXDOMAIN or NODATA: the zone's SOA in authority (its TTL and minimum both the namespace's SOA
 * TTL, which caps negative caching). Names are written in full, since the question they would
 * point into differs from query to query.
 */
function negative(rcode: number, wire: string, ttl: number, serial: number): Section {
  const w = new BodyWriter(0);
  w.name(wire);
  w.fixed(TYPE.SOA, ttl, 4 + wire.length + 11 + wire.length + 20);
  soaRdata(w, { prefix: wire }, serial, ttl);
  const body = w.done();
  return { rcode, body, an: 0, ns: 1, ar: 0, withoutAdditional: body.length };
}
