/**
 * The DNS check: one query over UDP; healthy when the reply has RCODE NOERROR and an
 * answer of the asked type (matching `expect`, when set).
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { canonicalIp } from "../net/addr.ts";
import { exchangeDatagram } from "./datagram.ts";
import { Deadline } from "./deadline.ts";
import {
  decodeDnsMessage,
  DNS_CLASS_IN,
  DNS_TYPE,
  type DnsAnswer,
  type DnsMessage,
  encodeDnsQuery,
  normalizeName,
  rcodeName,
} from "./dns_codec.ts";
import { failed, formatEndpoint, formatMs, passed } from "./result.ts";
import type { CheckResult, DnsCheck } from "./types.ts";

/** Without EDNS a server answers in at most 512 bytes; room for one that ignores that. */
const REPLY_BUFFER_BYTES = 4096;

/**
 * Runs one DNS check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkDns(
 *   { kind: "dns", server: { host: "127.0.0.1", port: 53 }, name: "example.com", type: "A", expect: null },
 *   1000,
 *   new AbortController().signal,
 * );
 * ```
 */
export async function checkDns(
  spec: DnsCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  const what = `DNS ${spec.name} ${spec.type} @${formatEndpoint(spec.server)}`;
  try {
    const id = (Math.random() * 0x10000) & 0xffff;
    const qtype = DNS_TYPE[spec.type];
    let query: Uint8Array;
    try {
      query = encodeDnsQuery(id, spec.name, qtype);
    } catch (e) {
      return failed(`${what}: ${(e as Error).message}`, d.startedAt);
    }
    const qname = normalizeName(spec.name);
    const r = await exchangeDatagram(spec.server, query, REPLY_BUFFER_BYTES, d, (reply) => {
      const m = decodeDnsMessage(reply);
      // A reply to some other query (impossible on a fresh connected socket, but cheap
      // to ignore) is not an answer; anything else from the server is.
      if (m.ok && (m.id !== id || !m.response)) return null;
      return m;
    });
    if (!r.ok) return failed(`${what}: ${r.error}`, d.startedAt);
    return verdict(spec, what, qname, qtype, r.value, d.startedAt);
  } finally {
    d.dispose();
  }
}

function verdict(
  spec: DnsCheck,
  what: string,
  qname: string,
  qtype: number,
  m: DnsMessage,
  startedAt: number,
): CheckResult {
  if (!m.ok) return failed(`${what}: malformed reply: ${m.error}`, startedAt);
  const q = m.questions[0];
  if (q === undefined || q.name !== qname || q.type !== qtype || q.cls !== DNS_CLASS_IN) {
    return failed(`${what}: reply is for another question`, startedAt);
  }
  if (m.rcode !== 0) return failed(`${what}: ${rcodeName(m.rcode)}`, startedAt);
  const answers = m.answers.filter((a) => a.type === qtype && a.cls === DNS_CLASS_IN);
  if (answers.length === 0) {
    return failed(
      `${what}: no ${spec.type} record${m.truncated ? " (reply truncated)" : ""}`,
      startedAt,
    );
  }
  if (spec.expect !== null) {
    const want = expected(spec);
    if (!answers.some((a) => answerText(spec, a) === want)) {
      const got = answers.slice(0, 3).map((a) => a.text).join(", ");
      const more = answers.length > 3 ? `, … (${answers.length})` : "";
      return failed(`${what}: answer ${got}${more}, expected ${spec.expect}`, startedAt);
    }
  }
  const took = checkClock.now() - startedAt;
  return passed(`${what}: ${answers[0].text || "answer"} in ${formatMs(took)}`, startedAt);
}

function expected(spec: DnsCheck): string {
  const e = spec.expect ?? "";
  if (spec.type === "A" || spec.type === "AAAA") return canonicalIp(e) ?? e.toLowerCase();
  if (spec.type === "TXT") return e;
  return normalizeName(e);
}

function answerText(spec: DnsCheck, a: DnsAnswer): string {
  return spec.type === "TXT" ? a.text : a.text.toLowerCase();
}
