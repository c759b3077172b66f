/**
 * The UDP check: sends the payload from a fresh connected socket; healthy when a reply
 * comes back (matching `expect`, a regex over the reply read as latin1, so any byte
 * can be matched as `\xNN`). A closed port answers with an ICMP port-unreachable,
 * which fails the check at once (ECONNREFUSED).
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { exchangeDatagram } from "./datagram.ts";
import { Deadline } from "./deadline.ts";
import { failed, formatEndpoint, formatMs, passed } from "./result.ts";
import type { CheckResult, UdpCheck } from "./types.ts";

/** The largest UDP payload. */
const REPLY_BUFFER_BYTES = 65536;

/** What a spec needs at every run, worked out once per spec. */
interface Prepared {
  readonly payload: Uint8Array;
  readonly regex: RegExp | null;
  readonly error: string | null;
}

const prepared = new WeakMap<UdpCheck, Prepared>();

function prepare(spec: UdpCheck): Prepared {
  let p = prepared.get(spec);
  if (p !== undefined) return p;
  let error: string | null = null;
  let regex: RegExp | null = null;
  try {
    regex = spec.expect === null ? null : new RegExp(spec.expect);
  } catch (e) {
    error = `expect: ${(e as Error).message}`;
  }
  const payload = hexToBytes(spec.payloadHex);
  if (payload === null) error = `payload_hex: not an even number of hex digits`;
  p = { payload: payload ?? new Uint8Array(0), regex, error };
  prepared.set(spec, p);
  return p;
}

/**
 * Hex digits (whitespace ignored) as bytes, or null when they are not pairs of hex digits.
 *
 * @example
 * ```ts
 * hexToBytes("70 69 6e 67"); // Uint8Array [0x70, 0x69, 0x6e, 0x67]
 * ```
 */
export function hexToBytes(hex: string): Uint8Array | null {
  const s = hex.replace(/\s+/g, "");
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Bytes as a string of the same code points (ISO-8859-1), unlike
 * `TextDecoder("latin1")`, which is windows-1252 and maps 0x80..0x9f elsewhere.
 *
 * @example
 * ```ts
 * latin1(Uint8Array.of(0x70, 0x80)); // "p\x80"
 * ```
 */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/**
 * Runs one UDP check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkUdp({
 *   kind: "udp", target: { host: "127.0.0.1", port: 7 }, payloadHex: "70696e67", expect: "^ping",
 * }, 1000, new AbortController().signal);
 * ```
 */
export async function checkUdp(
  spec: UdpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  const what = `UDP ${formatEndpoint(spec.target)}`;
  try {
    const p = prepare(spec);
    if (p.error !== null) return failed(p.error, d.startedAt);
    const re = p.regex;
    const r = await exchangeDatagram(
      spec.target,
      p.payload,
      REPLY_BUFFER_BYTES,
      d,
      (reply) => reply.slice(),
    );
    if (!r.ok) return failed(`${what}: ${r.error}`, d.startedAt);
    if (re !== null && !re.test(latin1(r.value))) {
      return failed(
        `${what}: reply of ${r.value.length} bytes does not match /${spec.expect}/`,
        d.startedAt,
      );
    }
    return passed(
      `${what}: reply of ${r.value.length} bytes in ${formatMs(checkClock.now() - d.startedAt)}`,
      d.startedAt,
    );
  } finally {
    d.dispose();
  }
}
