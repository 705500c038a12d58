/**
 * The DNS wire code and the answer table, in-process: queries encoded by dns-packet, replies built
 * by Berth and decoded by dns-packet again. Hostile input (truncated, pointer loops, many questions,
 * random bytes) must come back as FORMERR or nothing, never an exception.
 */
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import type { InstanceRecord, NamespaceRecord, ServiceRecord } from '../model.js';
import { answerMessage } from './server.js';
import { DnsTable, MULTIVALUE_MAX, choose, instanceLabel } from './table.js';
import { RCODE, buildReply, dottedName, ipv6Bytes, parseQuery, wireName, type Section } from './wire.js';

/** dns-packet's decoder, loosely typed (its types lack rcode and per-type members). */
const decode = (bytes: Buffer): any => dnsPacket.decode(bytes);

const query = (name: string, type: dnsPacket.RecordType = 'A', extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({ id: 4242, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }], ...extra });

const header = (fields: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(fields.id ?? 7, 0);
  b.writeUInt16BE(fields.flags ?? 0, 2);
  b.writeUInt16BE(fields.qd ?? 1, 4);
  b.writeUInt16BE(fields.an ?? 0, 6);
  b.writeUInt16BE(fields.ns ?? 0, 8);
  b.writeUInt16BE(fields.ar ?? 0, 10);
  return b;
};

describe('parseQuery', () => {
  it('reads the id, RD, the lower-cased name in wire form, type, class and EDNS size', () => {
    const r = parseQuery(query('Web.Example.LOCAL', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] }));
    expect(r.kind).toBe('query');
    if (r.kind !== 'query') return;
    expect(r.query).toMatchObject({ id: 4242, rd: true, name: wireName('web.example.local'), qtype: 33, qclass: 1, ednsSize: 4096, labelStarts: [0, 4, 12, 18] });
    expect(dottedName(r.query.name)).toBe('web.example.local');
    const plain = parseQuery(query('a.b'));
    expect(plain.kind === 'query' && plain.query.ednsSize).toBeUndefined();
  });

  it('drops what is not a query worth answering: short packets and responses', () => {
    expect(parseQuery(Buffer.alloc(11))).toEqual({ kind: 'drop' });
    expect(parseQuery(Buffer.alloc(0))).toEqual({ kind: 'drop' });
    const response = Buffer.from(query('a.b'));
    response[2]! |= 0x80;
    expect(parseQuery(response)).toEqual({ kind: 'drop' });
  });

  it('answers FORMERR or NOTIMP to malformed questions, without following any pointer', () => {
    const formerr = (packet: Uint8Array) => expect(parseQuery(packet)).toMatchObject({ kind: 'error', rcode: RCODE.FORMERR });
    formerr(header({ qd: 0 }));
    formerr(Buffer.concat([Buffer.from(query('a.b')).subarray(0, 4), Buffer.from([0, 2]), Buffer.from(query('a.b')).subarray(6)]));
    formerr(header({}));
    formerr(Buffer.concat([header({}), Buffer.from([3, 0x61, 0x62])]));
    formerr(Buffer.concat([header({}), Buffer.from([1, 0x61, 0])]));
    // A pointer to itself: a loop for a decoder that follows pointers.
    formerr(Buffer.concat([header({}), Buffer.from([0xc0, 12, 0, 1, 0, 1])]));
    formerr(Buffer.concat([header({}), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]));
    const long = Buffer.concat([...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]);
    formerr(Buffer.concat([header({}), long]));
    expect(parseQuery(Buffer.concat([header({ flags: 5 << 11 }), Buffer.from([1, 0x61, 0, 0, 1, 0, 1])]))).toMatchObject({ kind: 'error', rcode: RCODE.NOTIMP });
  });

  it('never throws on random bytes', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const table = DnsTable.build({ namespaces: new Map(), services: new Map(), instances: new Map(), revision: 1 });
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 80));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      if (b.length > 5 && i % 2 === 0) b.writeUInt16BE(1, 4);
      if (b.length > 3 && i % 3 === 0) b[2] = 0;
      expect(() => answerMessage(table, b, true)).not.toThrow();
    }
  });
});

describe('wire helpers', () => {
  it('encodes and decodes names', () => {
    expect(wireName('Web.Example.local.')).toBe('\x03web\x07example\x05local\x00');
    expect(wireName('.')).toBe('\x00');
    expect(() => wireName('a..b')).toThrow(/not a DNS name/);
    expect(() => wireName(`${'a'.repeat(63)}.`.repeat(5))).toThrow(/too long/);
  });

  it('reads IPv6 addresses in every form', () => {
    const hex = (s: string) => Buffer.from(ipv6Bytes(s)).toString('hex');
    expect(hex('::1')).toBe(`${'0'.repeat(30)}01`);
    expect(hex('fd00::1')).toBe(`fd00${'0'.repeat(24)}0001`);
    expect(hex('2001:db8::ff00:42:8329')).toBe('20010db8000000000000ff0000428329');
    expect(hex('1:2:3:4:5:6:7:8')).toBe('00010002000300040005000600070008');
    expect(hex('1::')).toBe(`0001${'0'.repeat(28)}`);
    expect(hex('::ffff:1.2.3.4')).toBe('00000000000000000000ffff01020304');
    expect(hex('::1.2.3.4')).toBe('00000000000000000000000001020304');
  });

  it('cuts a UDP reply that does not fit: additional records first, then all but the question with TC', () => {
    const q = query('a.b');
    const section: Section = { rcode: 0, body: Buffer.alloc(600, 1), an: 2, ns: 0, ar: 3, withoutAdditional: 400 };
    const cut = buildReply(q, 1, true, q.length, section, false, 512);
    expect(cut.length).toBe(q.length + 400);
    expect(cut.readUInt16BE(10)).toBe(0);
    expect(cut.readUInt16BE(6)).toBe(2);
    const tc = buildReply(q, 1, true, q.length, { ...section, withoutAdditional: 550 }, false, 512);
    expect(tc.length).toBe(q.length);
    expect(tc[2]! & 0x02).toBe(0x02);
    expect(tc.readUInt16BE(6)).toBe(0);
    expect(buildReply(q, 1, true, q.length, section, false, undefined).length).toBe(q.length + 600);
  });
});

// --- the answer table ---------------------------------------------------------------------------

const ns = (id: string, name: string, type: NamespaceRecord['Type'] = 'DNS_PRIVATE', soa = 30): NamespaceRecord => ({
  Id: id,
  Arn: `arn:${id}`,
  ResourceOwner: '0',
  Name: name,
  Type: type,
  ServiceCount: 0,
  Properties: { DnsProperties: type === 'HTTP' ? {} : { SOA: { TTL: soa } }, HttpProperties: { HttpName: name } },
  CreateDate: 0,
  Tags: [],
});
const svc = (id: string, nsId: string, name: string, records: Array<[string, number]>, extra: Partial<ServiceRecord> = {}): ServiceRecord => ({
  Id: id,
  Arn: `arn:${id}`,
  ResourceOwner: '0',
  Name: name,
  NamespaceId: nsId,
  InstanceCount: 0,
  DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: records.map(([Type, TTL]) => ({ Type: Type as 'A', TTL })) },
  Type: 'DNS_HTTP',
  CreateDate: 0,
  CreatedByAccount: '0',
  Tags: [],
  ...extra,
});
const inst = (id: string, attrs: Record<string, string>, health?: 'HEALTHY' | 'UNHEALTHY'): InstanceRecord => ({
  Id: id,
  Attributes: attrs,
  CreatedByAccount: '0',
  ...(health === undefined ? {} : { CustomHealthStatus: health }),
});

function tableOf(services: ServiceRecord[], instances: Record<string, InstanceRecord[]>, namespaces = [ns('ns-1', 'example.local'), ns('ns-h', 'apps', 'HTTP')]) {
  return DnsTable.build({
    namespaces: new Map(namespaces.map((n) => [n.Id, n])),
    services: new Map(services.map((s) => [s.Id, s])),
    instances: new Map(Object.entries(instances).map(([k, v]) => [k, new Map(v.map((i) => [i.Id, i]))])),
    revision: 77,
  });
}

const ask = (table: DnsTable, name: string, type: dnsPacket.RecordType = 'A', udp = true, extra: Partial<dnsPacket.Packet> = {}) => {
  const reply = answerMessage(table, query(name, type, extra), udp);
  expect(reply).toBeDefined();
  return decode(reply!);
};
const data = (p: dnsPacket.Packet, section: 'answers' | 'additionals' = 'answers') => (p[section] ?? []).filter((a) => a.type !== 'OPT').map((a) => ('data' in a ? a.data : undefined));

describe('the answer table', () => {
  const web = svc('srv-web', 'ns-1', 'web', [['A', 30], ['SRV', 60]], { HealthCheckCustomConfig: {} });
  const instances = {
    'srv-web': [
      inst('task-b', { AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '8002' }),
      inst('task-a', { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8001' }),
      inst('task-c', { AWS_INSTANCE_IPV4: '10.0.0.3', AWS_INSTANCE_PORT: '8003', AWS_INIT_HEALTH_STATUS: 'UNHEALTHY' }),
      inst('task-d', { AWS_INSTANCE_IPV4: '10.0.0.4', AWS_INSTANCE_PORT: '8004' }, 'UNHEALTHY'),
    ],
  };

  it('answers A with the healthy instances, authoritative, with the TTL of the A record, the id and question echoed', () => {
    const table = tableOf([web], instances);
    const reply = ask(table, 'WEB.example.local');
    expect(reply).toMatchObject({ id: 4242, type: 'response', rcode: 'NOERROR', flag_aa: true, flag_rd: true, flag_ra: false });
    expect(reply.questions).toEqual([{ name: 'WEB.example.local', type: 'A', class: 'IN' }]);
    expect(data(reply).sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(reply.answers!.every((a: any) => a.ttl === 30 && a.name === 'WEB.example.local')).toBe(true);
  });

  it('answers SRV with a target per instance, the targets resolvable, with their A records as additional', () => {
    const table = tableOf([web], instances);
    const reply = ask(table, 'web.example.local', 'SRV');
    expect(reply.answers!.map((a: any) => [a.ttl, a.data]).sort()).toEqual([
      [60, { priority: 1, weight: 1, port: 8001, target: 'task-a.web.example.local' }],
      [60, { priority: 1, weight: 1, port: 8002, target: 'task-b.web.example.local' }],
    ]);
    expect(reply.additionals!.map((a: any) => [a.name, a.type, a.ttl, 'data' in a ? a.data : undefined]).sort()).toEqual([
      ['task-a.web.example.local', 'A', 30, '10.0.0.1'],
      ['task-b.web.example.local', 'A', 30, '10.0.0.2'],
    ]);
    expect(data(ask(table, 'task-a.web.example.local'))).toEqual(['10.0.0.1']);
    expect(ask(table, 'task-c.web.example.local').rcode).toBe('NXDOMAIN');
  });

  it('answers NXDOMAIN and NODATA with the SOA, REFUSED outside, and SOA at the apex', () => {
    const table = tableOf([web, svc('srv-empty', 'ns-1', 'empty', [['A', 5]])], instances);
    const nx = ask(table, 'nope.example.local');
    expect(nx.rcode).toBe('NXDOMAIN');
    expect(nx.answers).toEqual([]);
    expect(nx.authorities).toEqual([
      { name: 'example.local', type: 'SOA', ttl: 30, class: 'IN', flush: false, data: { mname: 'ns1.example.local', rname: 'hostmaster.example.local', serial: 77, refresh: 7200, retry: 900, expire: 1209600, minimum: 30 } },
    ]);
    expect(ask(table, 'empty.example.local').rcode).toBe('NXDOMAIN');
    expect(ask(table, 'deep.nope.example.local').rcode).toBe('NXDOMAIN');
    const nodata = ask(table, 'web.example.local', 'AAAA');
    expect(nodata.rcode).toBe('NOERROR');
    expect(nodata.answers).toEqual([]);
    expect(nodata.authorities![0]!.type).toBe('SOA');
    expect(ask(table, 'example.com').rcode).toBe('REFUSED');
    expect(ask(table, 'local').rcode).toBe('REFUSED');
    expect(ask(table, 'api.apps').rcode).toBe('REFUSED');
    const soa = ask(table, 'example.local', 'SOA');
    expect(soa.answers![0]).toMatchObject({ name: 'example.local', type: 'SOA', ttl: 30, data: { mname: 'ns1.example.local', serial: 77, minimum: 30 } });
    expect(ask(table, 'example.local', 'A').rcode).toBe('NOERROR');
    const chaos = answerMessage(table, dnsPacket.encode({ id: 1, type: 'query', questions: [{ name: 'web.example.local', type: 'A', class: 'CH' }] }), true)!;
    expect(decode(chaos).rcode).toBe('REFUSED');
  });

  it('answers NODATA for empty non-terminals and serves AAAA, CNAME and multi-label service names', () => {
    const table = tableOf(
      [
        svc('srv-h', 'ns-1', '_http._tcp', [['A', 5]]),
        svc('srv-6', 'ns-1', 'six', [['AAAA', 9]]),
        svc('srv-c', 'ns-1', 'alias', [['CNAME', 4]], { DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 4 }] } }),
      ],
      {
        'srv-h': [inst('x', { AWS_INSTANCE_IPV4: '10.1.1.1' })],
        'srv-6': [inst('y', { AWS_INSTANCE_IPV6: 'fd00::5' })],
        'srv-c': [inst('z', { AWS_INSTANCE_CNAME: 'db.example.com' })],
      },
    );
    expect(data(ask(table, '_http._tcp.example.local'))).toEqual(['10.1.1.1']);
    const ent = ask(table, '_tcp.example.local');
    expect([ent.rcode, ent.answers]).toEqual(['NOERROR', []]);
    expect(data(ask(table, 'six.example.local', 'AAAA'))).toEqual(['fd00::5']);
    const cname = ask(table, 'alias.example.local', 'A');
    expect(cname.answers).toMatchObject([{ type: 'CNAME', ttl: 4, data: 'db.example.com' }]);
  });

  it('MULTIVALUE: at most 8 records, rotating through all of them across queries; WEIGHTED: one at a time', () => {
    const many = Array.from({ length: 20 }, (_, i) => inst(`t${String(i).padStart(2, '0')}`, { AWS_INSTANCE_IPV4: `10.0.1.${i + 1}` }));
    const table = tableOf([svc('srv-m', 'ns-1', 'many', [['A', 1]]), svc('srv-w', 'ns-1', 'one', [['A', 1]], { DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 1 }] } })], {
      'srv-m': many,
      'srv-w': many,
    });
    const seen = new Set<unknown>();
    for (let i = 0; i < 16; i++) {
      const answers = data(ask(table, 'many.example.local'));
      expect(answers).toHaveLength(MULTIVALUE_MAX);
      expect(new Set(answers).size).toBe(MULTIVALUE_MAX);
      answers.forEach((a) => seen.add(a));
    }
    expect(seen.size).toBe(20);
    const weighted = new Set<unknown>();
    for (let i = 0; i < 20; i++) {
      const answers = data(ask(table, 'one.example.local'));
      expect(answers).toHaveLength(1);
      weighted.add(answers[0]);
    }
    expect(weighted.size).toBe(20);
  });

  it('answers an address once when instances share it (bridge-mode tasks on one host), SRV telling them apart', () => {
    const table = tableOf([svc('srv-b', 'ns-1', 'bridge', [['A', 1], ['SRV', 1]])], {
      'srv-b': [inst('t1', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '32768' }), inst('t2', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '32769' })],
    });
    expect(data(ask(table, 'bridge.example.local'))).toEqual(['127.0.0.1']);
    expect(data(ask(table, 'bridge.example.local', 'SRV')).map((d: any) => d.port).sort()).toEqual([32768, 32769]);
  });

  it('fits UDP replies in 512 bytes without EDNS (additional records dropped) and answers fully over TCP', () => {
    const long = Array.from({ length: 8 }, (_, i) => inst(`${'x'.repeat(29)}${i}`, { AWS_INSTANCE_IPV4: `10.0.2.${i + 1}`, AWS_INSTANCE_PORT: '80' }));
    const table = tableOf([svc('srv-s', 'ns-1', 'big', [['A', 1], ['SRV', 1]])], { 'srv-s': long });
    const udp = answerMessage(table, query('big.example.local', 'SRV'), true)!;
    expect(udp.length).toBeLessThanOrEqual(512);
    const decoded = decode(udp);
    expect([decoded.answers!.length, decoded.additionals!.length, decoded.flag_tc]).toEqual([8, 0, false]);
    const edns = decode(answerMessage(table, query('big.example.local', 'SRV', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] }), true)!);
    expect(edns.additionals!.filter((a: any) => a.type === 'A')).toHaveLength(8);
    const tcp = decode(answerMessage(table, query('big.example.local', 'SRV'), false)!);
    expect(tcp.additionals).toHaveLength(8);
  });

  it('does not serve HTTP namespaces, services without DnsConfig, or unknown namespaces', () => {
    const table = tableOf([svc('srv-x', 'ns-h', 'api', [['A', 1]]), svc('srv-y', 'ns-gone', 'lost', [['A', 1]]), svc('srv-z', 'ns-1', 'nodns', [], { DnsConfig: undefined, Type: 'HTTP' })], {
      'srv-x': [inst('a', { AWS_INSTANCE_IPV4: '10.0.0.1' })],
      'srv-y': [inst('a', { AWS_INSTANCE_IPV4: '10.0.0.1' })],
      'srv-z': [inst('a', { AWS_INSTANCE_IPV4: '10.0.0.1' })],
    });
    expect(ask(table, 'api.apps').rcode).toBe('REFUSED');
    expect(ask(table, 'nodns.example.local').rcode).toBe('NXDOMAIN');
  });
});

describe('choose and instanceLabel', () => {
  it('groups records per reply', () => {
    expect(choose([], false)).toEqual([]);
    expect(choose([1, 2, 3], false)).toEqual([
      [1, 2, 3],
      [2, 3, 1],
      [3, 1, 2],
    ]);
    expect(choose([1, 2], true)).toEqual([[1], [2]]);
    const big = choose(Array.from({ length: 100 }, (_, i) => i), false);
    expect(big).toHaveLength(16);
    expect(big.every((g) => g.length === 8)).toBe(true);
  });

  it('labels instances by id when it is a DNS label, else by a hash; never twice the same', () => {
    const used = new Set<string>();
    expect(instanceLabel('Task-1', used)).toBe('task-1');
    expect(instanceLabel('task-1', used)).toMatch(/^i-[0-9a-f]{20}$/);
    expect(instanceLabel('a/b:c', used)).toMatch(/^i-[0-9a-f]{20}$/);
  });
});
