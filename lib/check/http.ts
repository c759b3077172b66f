/**
 * The HTTP and HTTPS check: `GET path HTTP/1.1` with `Connection: close`, written by
 * hand over a fresh connection per run (as keepalived's HTTP_GET does): no connection
 * pool, so a server that died is seen dead on the next run, not on the next pool
 * refresh. Healthy when the status is in a configured range and, when set, the body
 * matches the regex and its digest.
 *
 * Only a status check stops reading at the end of the head; a body check reads the
 * body, decoding chunked transfer-coding, up to {@link BODY_CAP_BYTES}.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import type { createHash as CreateHash } from "node:crypto";
import { parseIp } from "../net/addr.ts";
import { defaultReactor } from "../sys/reactor.ts";
import { Deadline } from "./deadline.ts";
import { HttpResponseReader, printable } from "./http_response.ts";
import {
  errorText,
  failed,
  failedFrom,
  formatEndpoint,
  formatMs,
  isRefusal,
  passed,
} from "./result.ts";
import { type ByteStream, connectTcp, connectTls } from "./stream.ts";
import type { CheckResult, HttpCheck } from "./types.ts";

// Loaded by the first digest check: a `node:` import sets up Deno's Node compatibility
// layer, ~10-20 ms that every daemon start paid when this was a static import.
let createHash: typeof CreateHash | null = null;

/** The most body a check reads; a longer body is cut here (and fails a digest). */
export const BODY_CAP_BYTES = 1024 * 1024;

const UTF8 = new TextDecoder();

/** What a spec needs at every run, worked out once per spec. */
interface Prepared {
  readonly request: Uint8Array;
  /** The phases a failure names: connecting (or the TLS handshake), then the request. */
  readonly connectPhase: string;
  readonly getPhase: string;
  readonly regex: RegExp | null;
  readonly serverName: string | null;
  readonly expected: string;
  readonly error: string | null;
}

const prepared = new WeakMap<HttpCheck, Prepared>();

function prepare(spec: HttpCheck): Prepared {
  let p = prepared.get(spec);
  if (p !== undefined) return p;
  const host = spec.hostHeader ?? formatEndpoint(spec.target);
  let error: string | null = null;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(host)) {
    error = `host_header "${printable(host)}" has control characters`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x20\x7f]/.test(spec.path)) {
    error = `path "${printable(spec.path)}" has spaces or control characters`;
  }
  let regex: RegExp | null = null;
  try {
    regex = spec.bodyRegex === null ? null : new RegExp(spec.bodyRegex);
  } catch (e) {
    error = `body_regex: ${(e as Error).message}`;
  }
  const request = new TextEncoder().encode(
    `GET ${spec.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: hacore-check\r\n` +
      `Accept: */*\r\nConnection: close\r\n\r\n`,
  );
  const where = formatEndpoint(spec.target);
  p = {
    request,
    connectPhase: spec.tls ? `TLS ${where}` : `connect ${where}`,
    getPhase: `GET ${spec.path}`,
    regex,
    serverName: spec.sni ?? hostName(spec.hostHeader),
    expected: spec.statusRanges.map(([lo, hi]) => lo === hi ? `${lo}` : `${lo}-${hi}`).join(", "),
    error,
  };
  prepared.set(spec, p);
  return p;
}

/**
 * The name part of a Host header, or null when it is an address (no SNI for those).
 *
 * @example
 * ```ts
 * hostName("www.example.com:8443"); // "www.example.com"
 * hostName("[::1]:443"); // null
 * ```
 */
export function hostName(hostHeader: string | null): string | null {
  if (hostHeader === null || hostHeader.startsWith("[")) return null;
  const name = hostHeader.replace(/:\d+$/, "");
  return name === "" || parseIp(name) !== null ? null : name;
}

/**
 * Runs one HTTP(S) check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkHttp({
 *   kind: "http", tls: false, target: { host: "127.0.0.1", port: 8080 }, path: "/health",
 *   hostHeader: null, sni: null, verifyTls: true, statusRanges: [[200, 299]],
 *   bodyRegex: null, digest: null,
 * }, 1000, new AbortController().signal);
 * r.detail; // "HTTP 200 in 0.8 ms" or "HTTP 503 (expected 200-299)"
 * ```
 */
export async function checkHttp(
  spec: HttpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const p = prepare(spec);
  const d = new Deadline(signal, timeoutMs);
  if (p.error !== null) {
    // Before the try below: its finally would not release the deadline's timer.
    d.dispose();
    return failed(p.error, d.startedAt);
  }
  // Texts made once per spec (prepare): a run builds a string only for its result.
  let phase = p.connectPhase;
  let stream: ByteStream | null = null;
  // A refusal, or a reset before the first byte of a reply, is definitive.
  let replied = false;
  try {
    if (spec.digest !== null && createHash === null) {
      // A module load is Deno's own op: the reactor's waits stay async until it is in.
      const release = defaultReactor().hold();
      try {
        createHash = (await import("node:crypto")).createHash;
      } finally {
        release();
      }
    }
    if (spec.tls) {
      stream = await connectTls(
        spec.target,
        { serverName: p.serverName, verify: spec.verifyTls },
        d,
      );
      phase = p.getPhase;
      await stream.write(p.request);
    } else {
      // The request goes out with the connect (its first send tells the connect is done).
      stream = await connectTcp(spec.target, d, p.request);
      phase = p.getPhase;
    }
    const needBody = spec.bodyRegex !== null || spec.digest !== null;
    const r = new HttpResponseReader({ needBody, bodyCapBytes: BODY_CAP_BYTES });
    while (!r.finished) {
      const chunk = await stream.read();
      if (chunk === null) r.end();
      else {
        replied = true;
        r.push(chunk);
      }
    }
    stream.close();
    if (r.phase === "error") return failed(`${phase}: ${r.error}`, d.startedAt);
    return judge(spec, p, r, d.startedAt);
  } catch (e) {
    const definitive = !d.expired && !replied && isRefusal(e);
    return failedFrom(
      `${phase}: ${d.expired ? d.reason() : errorText(e)}`,
      d.startedAt,
      definitive,
    );
  } finally {
    stream?.close();
    d.dispose();
  }
}

function judge(
  spec: HttpCheck,
  p: Prepared,
  r: HttpResponseReader,
  startedAt: number,
): CheckResult {
  const status = r.status;
  if (!inRanges(status, spec.statusRanges)) {
    return failed(`HTTP ${status} (expected ${p.expected})`, startedAt);
  }
  if (spec.digest !== null || p.regex !== null) {
    const body = r.body();
    if (spec.digest !== null) {
      if (r.truncated) {
        return failed(
          `HTTP ${status}: body over ${BODY_CAP_BYTES} bytes, digest not computed`,
          startedAt,
        );
      }
      const algo = spec.digest.length === 32 ? "md5" : "sha256";
      const got = createHash!(algo).update(body).digest("hex");
      if (got !== spec.digest) {
        return failed(`HTTP ${status}: digest mismatch (${algo} ${got})`, startedAt);
      }
    }
    if (p.regex !== null && !p.regex.test(UTF8.decode(body))) {
      return failed(`HTTP ${status}: body does not match /${spec.bodyRegex}/`, startedAt);
    }
  }
  return passed(`HTTP ${status} in ${formatMs(checkClock.now() - startedAt)}`, startedAt);
}

function inRanges(status: number, ranges: HttpCheck["statusRanges"]): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}
