/**
 * The DNS wire format as Berth's server needs it, hand-written for speed: reading a query's header
 * and its one question (and an EDNS OPT record after it), encoding resource records, and putting a
 * reply together from a precomputed body. Anything malformed is reported, never thrown past here:
 * this code reads bytes from anyone who can reach the port.
 *
 * Names are kept in wire form (length-prefixed labels, lower-cased, as a latin1 string) so a
 * query's name is a map key without converting it to dotted text.
 */

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, AAAA: 28, SRV: 33, OPT: 41, ANY: 255 } as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The UDP payload size Berth offers with EDNS: the 2020 DNS flag day's figure, safe from fragmentation. */
export const EDNS_UDP_SIZE = 1232;
/** Without EDNS a UDP reply may not exceed 512 bytes (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;
const HEADER = 12;
const MAX_NAME = 255;

export interface Query {
  readonly id: number;
  /** Whether the client asked for recursion (copied into the reply's RD bit). */
  readonly rd: boolean;
  /** The question name in wire form, lower-cased (latin1 string), root label included. */
  readonly name: string;
  /** Offsets (within `name`) where each label starts; the last is the root label. */
  readonly labelStarts: readonly number[];
  readonly qtype: number;
  readonly qclass: number;
  /** The question's bytes in the packet: [12, questionEnd). */
  readonly questionEnd: number;
  /** The client's EDNS UDP payload size, or undefined if it sent no OPT record. */
  readonly ednsSize: number | undefined;
}

export type ParseResult =
  | { readonly kind: 'query'; readonly query: Query }
  /** Not worth an answer: shorter than a header, or a response (answering those invites loops). */
  | { readonly kind: 'drop' }
  /** Answer with this rcode (and the question, when it could be read). */
  | { readonly kind: 'error'; readonly id: number; readonly rd: boolean; readonly rcode: number; readonly questionEnd: number };

/**
 * Reads a query. Exactly one question is accepted (RFC 9619 made that the rule); a compression
 * pointer in the question is refused as FORMERR, so no pointer is ever followed and no loop can form.
 *
 * @example parseQuery(dnsPacket.encode({ id: 7, type: 'query', questions: [{ name: 'web.example.local', type: 'A' }] }))
 */
export function parseQuery(buf: Uint8Array): ParseResult {
  if (buf.length < HEADER) return { kind: 'drop' };
  const id = (buf[0]! << 8) | buf[1]!;
  const flags = (buf[2]! << 8) | buf[3]!;
  if (flags & 0x8000) return { kind: 'drop' };
  const rd = (flags & 0x0100) !== 0;
  const opcode = (flags >> 11) & 0xf;
  const qdcount = (buf[4]! << 8) | buf[5]!;
  const arcount = (buf[10]! << 8) | buf[11]!;
  if (opcode !== 0) return { kind: 'error', id, rd, rcode: RCODE.NOTIMP, questionEnd: HEADER };
  if (qdcount !== 1) return { kind: 'error', id, rd, rcode: RCODE.FORMERR, questionEnd: HEADER };

  const labelStarts: number[] = [];
  let p = HEADER;
  for (;;) {
    if (p >= buf.length) return { kind: 'error', id, rd, rcode: RCODE.FORMERR, questionEnd: HEADER };
    const len = buf[p]!;
    if (len > 63) return { kind: 'error', id, rd, rcode: RCODE.FORMERR, questionEnd: HEADER };
    labelStarts.push(p - HEADER);
    p += 1 + len;
    if (p - HEADER > MAX_NAME) return { kind: 'error', id, rd, rcode: RCODE.FORMERR, questionEnd: HEADER };
    if (len === 0) break;
  }
  const nameEnd = p;
  if (nameEnd + 4 > buf.length) return { kind: 'error', id, rd, rcode: RCODE.FORMERR, questionEnd: HEADER };
  const qtype = (buf[nameEnd]! << 8) | buf[nameEnd + 1]!;
  const qclass = (buf[nameEnd + 2]! << 8) | buf[nameEnd + 3]!;
  const questionEnd = nameEnd + 4;
  const name = lowerLatin1(buf, HEADER, nameEnd);

  // An OPT record, if the first additional record is one at the root (as every client sends it;
  // answer and authority sections of a query are empty).
  let ednsSize: number | undefined;
  if (arcount > 0 && questionEnd + 11 <= buf.length && buf[questionEnd] === 0 && buf[questionEnd + 1] === 0 && buf[questionEnd + 2] === TYPE.OPT) {
    ednsSize = (buf[questionEnd + 3]! << 8) | buf[questionEnd + 4]!;
  }
  return { kind: 'query', query: { id, rd, name, labelStarts, qtype, qclass, questionEnd, ednsSize } };
}

/** Bytes [start, end) as a latin1 string with ASCII letters lower-cased (DNS compares names so). */
function lowerLatin1(buf: Uint8Array, start: number, end: number): string {
  let lower = true;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 65 && c <= 90) {
      lower = false;
      break;
    }
  }
  const s = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
  return lower ? s : s.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
}

/**
 * A dotted name in wire form (labels, root label last), lower-cased.
 *
 * @example wireName('Web.Example.local') // '\x03web\x07example\x05local\x00'
 */
export function wireName(dotted: string): string {
  const trimmed = dotted.endsWith('.') ? dotted.slice(0, -1) : dotted;
  if (trimmed === '') return '\x00';
  let out = '';
  for (const label of trimmed.toLowerCase().split('.')) {
    if (label.length === 0 || label.length > 63) throw new Error(`not a DNS name: ${dotted}`);
    out += String.fromCharCode(label.length) + label;
  }
  if (out.length + 1 > MAX_NAME) throw new Error(`DNS name too long: ${dotted}`);
  return `${out}\x00`;
}

/** A wire-form name back to dotted text (for logs and tests). */
export function dottedName(wire: string): string {
  const labels: string[] = [];
  let p = 0;
  while (p < wire.length && wire.charCodeAt(p) !== 0) {
    const len = wire.charCodeAt(p);
    labels.push(wire.slice(p + 1, p + 1 + len));
    p += 1 + len;
  }
  return labels.join('.');
}

/**
 * Builds a reply body (the sections after the question) with name compression: names are written
 * as a wire string, or as a pointer to an offset in the reply where the same name already is.
 */
export class BodyWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;
  /** Offset in the reply where the body starts: 12 + the question's length. */
  constructor(readonly base: number) {}

  /** The reply offset of the next byte written. */
  get offset(): number {
    return this.base + this.length;
  }

  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }

  /** A name: `prefixLabels` written out (wire form, no root), then a pointer to `pointer`; or a whole wire name. */
  name(prefix: string, pointer?: number): void {
    if (pointer === undefined) {
      this.push(Buffer.from(prefix, 'latin1'));
      return;
    }
    const b = Buffer.allocUnsafe(prefix.length + 2);
    b.write(prefix, 0, 'latin1');
    b.writeUInt16BE(0xc000 | pointer, prefix.length);
    this.push(b);
  }

  /** Type, class IN, TTL and the RDATA length. */
  fixed(type: number, ttl: number, rdlength: number): void {
    const b = Buffer.allocUnsafe(10);
    b.writeUInt16BE(type, 0);
    b.writeUInt16BE(CLASS_IN, 2);
    b.writeUInt32BE(ttl >>> 0, 4);
    b.writeUInt16BE(rdlength, 8);
    this.push(b);
  }

  bytes(b: Uint8Array): void {
    this.push(Buffer.from(b));
  }

  u16(...values: number[]): void {
    const b = Buffer.allocUnsafe(values.length * 2);
    values.forEach((v, i) => b.writeUInt16BE(v, i * 2));
    this.push(b);
  }

  u32(...values: number[]): void {
    const b = Buffer.allocUnsafe(values.length * 4);
    values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
    this.push(b);
  }

  /** The body so far. */
  done(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

/** A precomputed reply body and its record counts; `withoutAdditional` is where additional records start. */
export interface Section {
  readonly rcode: number;
  readonly body: Buffer;
  readonly an: number;
  readonly ns: number;
  readonly ar: number;
  readonly withoutAdditional: number;
}

/** An OPT record: root name, type 41, our UDP size as its class, no extended rcode, flags or options. */
const OPT_RR = Buffer.from([0, TYPE.OPT >> 8, TYPE.OPT & 0xff, EDNS_UDP_SIZE >> 8, EDNS_UDP_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);

/**
 * A reply to `packet` (whose question is [12, questionEnd)) carrying `section`. Over UDP
 * (`maxSize` set) a reply that does not fit first loses its additional records, then everything
 * but the question with TC set, so the client retries over TCP.
 */
export function buildReply(packet: Uint8Array, id: number, rd: boolean, questionEnd: number, section: Section, edns: boolean, maxSize: number | undefined): Buffer {
  const qlen = questionEnd - HEADER;
  const opt = edns ? OPT_RR.length : 0;
  let bodyLength = section.body.length;
  let an = section.an;
  let ns = section.ns;
  let ar = section.ar;
  let tc = false;
  if (maxSize !== undefined && HEADER + qlen + bodyLength + opt > maxSize) {
    bodyLength = section.withoutAdditional;
    ar = 0;
    if (HEADER + qlen + bodyLength + opt > maxSize) {
      bodyLength = 0;
      an = 0;
      ns = 0;
      tc = true;
    }
  }
  const out = Buffer.allocUnsafe(HEADER + qlen + bodyLength + opt);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  // QR, opcode QUERY, AA; TC when cut; RD echoed; RA clear (Berth does not recurse).
  out[2] = 0x84 | (tc ? 0x02 : 0) | (rd ? 0x01 : 0);
  out[3] = section.rcode;
  out[4] = 0;
  out[5] = qlen > 0 ? 1 : 0;
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(ns, 8);
  out.writeUInt16BE(ar + (edns ? 1 : 0), 10);
  if (qlen > 0) out.set(packet.subarray(HEADER, questionEnd), HEADER);
  section.body.copy(out, HEADER + qlen, 0, bodyLength);
  if (edns) OPT_RR.copy(out, HEADER + qlen + bodyLength);
  return out;
}

/** A reply with no records: an error rcode (or NODATA), echoing the question if there was one. */
export function emptySection(rcode: number): Section {
  return { rcode, body: Buffer.alloc(0), an: 0, ns: 0, ar: 0, withoutAdditional: 0 };
}

/** 16 bytes of an IPv6 address that net.isIPv6 accepted (`::` and a trailing dotted IPv4 allowed). */
export function ipv6Bytes(text: string): Uint8Array {
  let s = text.split('%')[0]!;
  const tail: number[] = [];
  if (s.includes('.')) {
    const colon = s.lastIndexOf(':');
    const [a, b, c, d] = s.slice(colon + 1).split('.').map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    s = s.slice(0, colon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const gap = s.indexOf('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const left = parse(gap < 0 ? s : s.slice(0, gap));
  const right = gap < 0 ? [] : parse(s.slice(gap + 2));
  const zeros = gap < 0 ? 0 : 8 - tail.length - left.length - right.length;
  const groups = [...left, ...new Array<number>(Math.max(0, zeros)).fill(0), ...right, ...tail];
  const out = new Uint8Array(16);
  groups.slice(0, 8).forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}
