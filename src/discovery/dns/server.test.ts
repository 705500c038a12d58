/**
 * The DNS server for real: bound to 127.0.0.1 on an ephemeral port, fed by the API through the
 * store, asked by `dig` (bind9-dnsutils) and by dns-packet over UDP and TCP. Changes are awaited
 * with waitForRevision, never with sleeps. Hostile packets must leave it answering.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../edge/logger.js';
import { StoreError, type Store, type Watch } from '../../store/index.js';
import { discoveryHarness } from '../harness.suite.js';
import { startDnsServer, type DnsServer } from './server.js';

/** dns-packet's decoder, loosely typed (its types lack rcode and per-type members). */
const decode = (bytes: Buffer): any => dnsPacket.decode(bytes);

const run = promisify(execFile);
const haveDig = (process.env['PATH'] ?? '').split(':').some((dir) => existsSync(join(dir, 'dig')));
if (!haveDig) console.warn('server.test.ts: dig tests skipped: needs dig (bind9-dnsutils) on PATH');

const logs: Array<{ level: string; message: string }> = [];
const logger: Logger = {
  error: (message) => logs.push({ level: 'error', message }),
  warn: (message) => logs.push({ level: 'warn', message }),
  debug: () => undefined,
};

/** One UDP query with dns-packet; rejects if no reply within 2 s (a lost reply is a failure, not a wait). */
function udpQuery(port: number, packet: Buffer, expectReply = true): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      if (expectReply) reject(new Error('no UDP reply'));
      else resolve(undefined);
    }, expectReply ? 2000 : 300);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(packet, port, '127.0.0.1');
  });
}

/** Sends raw bytes over one TCP connection and collects the framed replies until `count` arrive or the server closes. */
function tcpExchange(port: number, bytes: Buffer, count: number): Promise<{ replies: Buffer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const replies: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP: ${replies.length} of ${count} replies`));
    }, 3000);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= count) {
        clearTimeout(timer);
        socket.destroy();
        resolve({ replies, closed: false });
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ replies, closed: true });
    });
    socket.on('error', () => undefined);
    socket.write(bytes);
  });
}

const frame = (packet: Buffer) => Buffer.concat([Buffer.from([packet.length >> 8, packet.length & 0xff]), packet]);
const q = (name: string, type: dnsPacket.RecordType = 'A', id = 99) => dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });
const addresses = (p: dnsPacket.Packet) => (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])).sort();

describe('the DNS server', () => {
  let h: ReturnType<typeof discoveryHarness>;
  let dns: DnsServer;
  let serviceId: string;

  beforeEach(async () => {
    logs.length = 0;
    h = discoveryHarness();
    const ns = await h.namespace('example.local', { Properties: { DnsProperties: { SOA: { TTL: 45 } } } });
    serviceId = await h.dnsService(ns, 'web');
    await h.instance(serviceId, 'task1', '10.0.0.1', 8001);
    await h.instance(serviceId, 'task2', '10.0.0.2', 8002);
    dns = await startDnsServer({ store: h.store, address: '127.0.0.1', port: 0, logger });
  });

  afterEach(async () => {
    await dns.close();
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  /** Waits until the server reflects everything written so far. */
  const synced = async () => dns.waitForRevision(await h.store.revision());

  const dig = async (...args: string[]) => (await run('dig', ['-p', String(dns.port), '@127.0.0.1', '+time=2', '+tries=1', ...args], { timeout: 10_000 })).stdout;

  it.skipIf(!haveDig)('answers dig: A, SRV, the SRV targets, NXDOMAIN with SOA, REFUSED outside, over UDP and TCP', async () => {
    expect((await dig('+short', 'web.example.local')).trim().split('\n').sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect((await dig('+short', '+tcp', 'web.example.local')).trim().split('\n').sort()).toEqual(['10.0.0.1', '10.0.0.2']);
    expect((await dig('+short', 'web.example.local', 'SRV')).trim().split('\n').sort()).toEqual(['1 1 8001 task1.web.example.local.', '1 1 8002 task2.web.example.local.']);
    expect((await dig('+short', 'task2.web.example.local')).trim()).toBe('10.0.0.2');
    const full = await dig('web.example.local', 'A');
    expect(full).toMatch(/status: NOERROR/);
    expect(full).toMatch(/flags: qr aa rd;/);
    expect(full).toMatch(/web\.example\.local\.\s+30\s+IN\s+A\s+10\.0\.0\.1/);
    const nx = await dig('nope.example.local');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/example\.local\.\s+45\s+IN\s+SOA\s+ns1\.example\.local\. hostmaster\.example\.local\. \d+ 7200 900 1209600 45/);
    expect(await dig('web.example.local', 'AAAA')).toMatch(/status: NOERROR.*\n.*ANSWER: 0, AUTHORITY: 1/);
    expect(await dig('example.com')).toMatch(/status: REFUSED/);
  });

  it.skipIf(!haveDig)('follows the store: a new instance, an unhealthy one, a deregistered one, a deleted service', async () => {
    await h.instance(serviceId, 'task3', '10.0.0.3', 8003);
    await synced();
    expect((await dig('+short', 'web.example.local')).trim().split('\n').sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    await h.call('UpdateInstanceCustomHealthStatus', { ServiceId: serviceId, InstanceId: 'task1', Status: 'UNHEALTHY' });
    await h.call('DeregisterInstance', { ServiceId: serviceId, InstanceId: 'task2' });
    await synced();
    expect((await dig('+short', 'web.example.local')).trim()).toBe('10.0.0.3');
    expect(await dig('task2.web.example.local')).toMatch(/status: NXDOMAIN/);
    await h.call('UpdateInstanceCustomHealthStatus', { ServiceId: serviceId, InstanceId: 'task1', Status: 'HEALTHY' });
    await synced();
    expect((await dig('+short', 'web.example.local')).trim().split('\n').sort()).toEqual(['10.0.0.1', '10.0.0.3']);
    await h.call('UpdateService', { Id: serviceId, Service: { DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 7 }, { Type: 'SRV', TTL: 8 }] } } });
    await synced();
    expect(await dig('web.example.local')).toMatch(/web\.example\.local\.\s+7\s+IN\s+A/);
    for (const id of ['task1', 'task3']) await h.call('DeregisterInstance', { ServiceId: serviceId, InstanceId: id });
    await synced();
    expect(await dig('web.example.local')).toMatch(/status: NXDOMAIN/);
  });

  it('answers dns-packet over UDP and over TCP, several queries pipelined on one connection', async () => {
    const udp = decode((await udpQuery(dns.port, q('web.example.local', 'A', 1)))!);
    expect([udp.id, udp.rcode, addresses(udp)]).toEqual([1, 'NOERROR', ['10.0.0.1', '10.0.0.2']]);
    const { replies } = await tcpExchange(dns.port, Buffer.concat([frame(q('web.example.local', 'A', 2)), frame(q('task1.web.example.local', 'A', 3)), frame(q('nope.example.local', 'A', 4))]), 3);
    const decoded = replies.map((r) => decode(r));
    expect(decoded.map((d) => [d.id, d.rcode, addresses(d)])).toEqual([
      [2, 'NOERROR', ['10.0.0.1', '10.0.0.2']],
      [3, 'NOERROR', ['10.0.0.1']],
      [4, 'NXDOMAIN', []],
    ]);
    // A query split across TCP segments is still one query.
    const framed = frame(q('web.example.local', 'SRV', 5));
    const socket = connect(dns.port, '127.0.0.1');
    const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(framed.subarray(0, 5));
    await new Promise<void>((resolve) => socket.write(framed.subarray(5), () => resolve()));
    const srv = decode((await reply).subarray(2));
    socket.destroy();
    expect([srv.id, srv.answers!.length]).toEqual([5, 2]);
  });

  it('survives hostile packets and keeps answering', async () => {
    const port = dns.port;
    const header = (qd: number) => Buffer.from([0, 7, 1, 0, 0, qd, 0, 0, 0, 0, 0, 0]);
    // Truncated: no reply for less than a header; FORMERR for a cut question.
    expect(await udpQuery(port, Buffer.from([1, 2, 3]), false)).toBeUndefined();
    const cut = decode((await udpQuery(port, q('web.example.local').subarray(0, 20)))!);
    expect([cut.id, cut.rcode]).toEqual([99, 'FORMERR']);
    // A compression loop in the question.
    const loop = decode((await udpQuery(port, Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])))!);
    expect(loop.rcode).toBe('FORMERR');
    // Many questions.
    const many = Buffer.concat([header(200), ...Array.from({ length: 200 }, () => q('web.example.local').subarray(12))]);
    expect(decode((await udpQuery(port, many))!).rcode).toBe('FORMERR');
    // A huge datagram: a valid question followed by 60 KB of junk is still answered, within 512 bytes.
    const huge = Buffer.concat([q('web.example.local'), Buffer.alloc(60_000, 0xab)]);
    const hugeReply = (await udpQuery(port, huge))!;
    expect(hugeReply.length).toBeLessThanOrEqual(512);
    expect(addresses(decode(hugeReply))).toEqual(['10.0.0.1', '10.0.0.2']);
    // A response sent to the server is not answered (no reflection loops).
    const response = Buffer.from(q('web.example.local'));
    response[2]! |= 0x80;
    expect(await udpQuery(port, response, false)).toBeUndefined();
    // TCP: garbage, then a valid query on the same connection; a length prefix with nothing behind it.
    const { replies } = await tcpExchange(port, Buffer.concat([frame(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])), frame(q('web.example.local', 'A', 77))]), 2);
    expect(replies.map((r) => decode(r).rcode)).toEqual(['FORMERR', 'NOERROR']);
    const dangling = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => dangling.write(Buffer.from([0xff, 0xff, 1, 2, 3]), () => resolve()));
    dangling.destroy();
    // Still serving.
    expect(addresses(decode((await udpQuery(port, q('web.example.local')))!))).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('lists the store again when its watch fails, and misses no change', async () => {
    await dns.close();
    let failures = 1;
    const flaky: Store = {
      get: (key) => h.store.get(key),
      range: (prefix, options) => h.store.range(prefix, options),
      txn: (compares, success, failure) => h.store.txn(compares, success, failure),
      revision: () => h.store.revision(),
      compact: (revision) => h.store.compact(revision),
      close: () => h.store.close(),
      watch: (prefix, options) => {
        if (failures-- <= 0) return h.store.watch(prefix, options);
        const broken: Watch = {
          close: () => undefined,
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new StoreError('compacted', 'history compacted')) }),
        };
        return broken;
      },
    };
    dns = await startDnsServer({ store: flaky, address: '127.0.0.1', port: 0, logger });
    await h.instance(serviceId, 'task9', '10.0.0.9', 8009);
    await synced();
    expect(addresses(decode((await udpQuery(dns.port, q('web.example.local')))!))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.9']);
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['dns: the service discovery watch failed; listing again']);
  });

  it('skips a record that is not JSON (with a warning) and goes on serving', async () => {
    await h.store.txn([], [{ type: 'put', key: '/servicediscovery/services/srv-broken', value: '{not json' }]);
    await h.instance(serviceId, 'task5', '10.0.0.5', 8005);
    await synced();
    expect(addresses(decode((await udpQuery(dns.port, q('web.example.local')))!))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.5']);
    expect(logs.map((l) => l.message)).toEqual(['dns: a service discovery record is not JSON; not served']);
  });

  it('refuses to start on a port in use, and closes with TCP clients still connected', async () => {
    await expect(startDnsServer({ store: h.store, address: '127.0.0.1', port: dns.port, logger })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const idle = connect(dns.port, '127.0.0.1');
    await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    await dns.close();
    await closed;
    dns = await startDnsServer({ store: h.store, address: '127.0.0.1', port: 0, logger });
  });
});
