/**
 * One DNS message in, one decision out (pure): an answer built here (A records of the zone, NXDOMAIN,
 * NODATA for other types of our names, FORMERR for what cannot be read, NOTIMP for non-queries), or
 * "forward" (the raw message goes upstream unchanged). Uses dns-packet (maintained, MIT) as the
 * wire-format codec rather than a hand-written one.
 */
import dnsPacket from 'dns-packet';
import { lookup, type DnsZone } from './zone.js';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const TTL_SECONDS = 5;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;

export type Decision = { reply: Buffer } | { forward: true } | { drop: true };

/** A reply with this rcode for the message `msg`: its question echoed when it can be read, else the header alone. */
export function errorReply(msg: Buffer, rcode: number): Buffer | undefined {
  if (msg.length < 12) return undefined;
  try {
    const q = dnsPacket.decode(msg);
    if (q.questions?.length === 1) {
      const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
      return dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: dnsPacket.RECURSION_AVAILABLE | rd | rcode,
        questions: q.questions,
      });
    }
  } catch {
    /* unreadable: the header alone */
  }
  const out = Buffer.alloc(12);
  msg.copy(out, 0, 0, 2); // id
  const flags = msg.readUInt16BE(2);
  // QR, the query's opcode and RD, RA (we recurse through upstream), the rcode.
  out.writeUInt16BE(QR | (flags & OPCODE_MASK) | (flags & 0x0100) | 0x0080 | rcode, 2);
  return out;
}

export function respond(msg: Buffer, zone: DnsZone): Decision {
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    const r = errorReply(msg, RCODE.FORMERR);
    return r ? { reply: r } : { drop: true };
  }
  if (q.type !== 'query') return { drop: true };
  if ((msg.readUInt16BE(2) & OPCODE_MASK) >> 11 !== 0) return { reply: errorReply(msg, RCODE.NOTIMP) as Buffer };
  const question = q.questions?.[0];
  if (!question || (q.questions?.length ?? 0) !== 1) return { reply: errorReply(msg, RCODE.FORMERR) as Buffer };
  const found = lookup(zone, question.name);
  if (found.kind === 'forward') return { forward: true };
  if (found.kind === 'refused') return { reply: errorReply(msg, RCODE.REFUSED) as Buffer };
  const rd = q.flags === undefined ? 0 : q.flags & dnsPacket.RECURSION_DESIRED;
  const base = { type: 'response' as const, id: q.id, questions: [question] };
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rd;
  if (found.kind === 'nxdomain') return { reply: dnsPacket.encode({ ...base, flags: flags | RCODE.NXDOMAIN }) };
  // A for the IPv4 addresses, AAAA for the IPv6 ones (NODATA when the name has none of that family).
  const any = question.type === ('ANY' as string);
  const answers = found.addresses.flatMap((ip) => {
    const v6 = ip.includes(':');
    if (v6 ? question.type === 'AAAA' || any : question.type === 'A' || any)
      return [{ type: v6 ? ('AAAA' as const) : ('A' as const), name: question.name, ttl: TTL_SECONDS, data: ip }];
    return [];
  });
  return { reply: dnsPacket.encode({ ...base, flags, answers }) };
}
