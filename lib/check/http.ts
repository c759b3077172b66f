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
import { defaultReactor, type WatchHandle } from "../sys/reactor.ts";
import { checkReactor } from "./reactor.ts";
import { atNextSweep, type Sweepable } from "./sweep.ts";
import { Deadline } from "./deadline.ts";
import { HttpResponseReader, printable, statusOfHead } from "./http_response.ts";
import {
  errorText,
  failed,
  failedFrom,
  formatEndpoint,
  formatMs,
  isRefusal,
  passed,
} from "./result.ts";
import {
  type ByteStream,
  connectTcp,
  connectTls,
  readBuffer,
  type StartedStream,
  startTcp,
} from "./stream.ts";
import type { CheckResult, HttpCheck } from "./types.ts";
import { ENDED, ringConnects, type RingRun } from "./ring_connect.ts";
import { SyscallError } from "../sys/errno.ts";

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
  /** Plain HTTP, status only: the run read on callbacks at the sweep (ReplyWait). */
  readonly plainStatus: boolean;
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
    plainStatus: !spec.tls && spec.bodyRegex === null && spec.digest === null,
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
export function checkHttp(
  spec: HttpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const p = prepare(spec);
  const d = new Deadline(signal, timeoutMs);
  if (p.error !== null) {
    d.dispose();
    return Promise.resolve(failed(p.error, d.startedAt));
  }
  if (!p.plainStatus) return runHttp(spec, p, d, null);
  // A plain status-only run (most HTTP checks) is socket, connect, the request sent with
  // it (or at the sweep, when the connect was under way), one read at the next sweep of
  // replies (ReplyWait), close, judged from the shared read buffer: no promise awaited,
  // no stream or response reader, no copy of the reply (an HTTP run allocated ~5 KB
  // against a TCP run's ~2 KB, and its collections were a tenth of the CPU in the
  // User-Mode Linux guest).
  const run = ringConnects()?.start(spec.target, p.request);
  if (run) return viaRing(spec, p, d, run);
  let stream: StartedStream;
  try {
    stream = startTcp(spec.target, d, p.request);
  } catch (e) {
    d.dispose();
    return Promise.resolve(failure(e, d, p.connectPhase, false));
  }
  return new ReplyWait(spec, p, d, stream).result;
}

/**
 * A plain status-only run waiting for its connect and reply, on callbacks: no promise
 * but the result's. At the next sweep (./sweep.ts), with every run waiting then, it
 * sends its request if the connect was still under way at the start, and reads the
 * reply; what is not there by then (a connect to a server across a network, a reply)
 * is watched for on the process reactor. A nearby server's reply is there by the
 * sweep: it costs one read, where a read at once mostly found nothing (EAGAIN: ~90 %
 * of runs in the benchmark's guest) and a watch woke the loop for each reply. The
 * check's own deadline (its end hook) stops it wherever it is. What one read cannot
 * settle (a head in several reads, an interim response, not HTTP) goes on in
 * {@link runHttp}.
 */
class ReplyWait implements Sweepable {
  /** The run's result. */
  readonly result: Promise<CheckResult>;
  readonly #spec: HttpCheck;
  readonly #p: Prepared;
  readonly #d: Deadline;
  readonly #stream: StartedStream;
  #resolve!: (r: CheckResult | Promise<CheckResult>) => void;
  #watch: WatchHandle | null = null;
  #done = false;

  constructor(spec: HttpCheck, p: Prepared, d: Deadline, stream: StartedStream) {
    this.#spec = spec;
    this.#p = p;
    this.#d = d;
    this.#stream = stream;
    this.result = new Promise((resolve) => this.#resolve = resolve);
    checkReactor.enter();
    d.onEnd(this.#onEnd);
    atNextSweep(this);
  }

  /**
   * The sweep's look: the connect done and the request sent (a server across a network
   * may not have answered the SYN yet: then a watch for writability), then the reply
   * read, or a watch for it.
   */
  swept(): void {
    if (this.#done) return;
    if (!this.#started()) {
      this.#watchFor(true);
      return;
    }
    if (!this.#read()) this.#watchFor(false);
  }

  /** Watches the socket for writability (the connect) or for the reply. */
  #watchFor(writable: boolean): void {
    this.#watch?.close();
    this.#watch = null;
    try {
      this.#watch = writable
        ? defaultReactor().watch(this.#stream.fd, this.#onWritable, { writable: true })
        : defaultReactor().watch(this.#stream.fd, this.#onReadable);
    } catch (e) {
      // The reactor is closed (shutting down).
      this.#end(failure(e, this.#d, writable ? this.#p.connectPhase : this.#p.getPhase, false));
    }
  }

  readonly #onWritable = (): void => {
    if (this.#done || !this.#started()) return;
    // Sent: the reply comes later, after a round trip at least.
    this.#watchFor(false);
  };

  readonly #onReadable = (): void => {
    this.#read();
  };

  /** True once the request has gone; on a failed connect the run has ended. */
  #started(): boolean {
    try {
      return this.#stream.startNow();
    } catch (e) {
      this.#end(failure(e, this.#d, this.#p.connectPhase, false));
      return false;
    }
  }

  /** One read: true when the run has ended (or gone on in runHttp). */
  #read(): boolean {
    const spec = this.#spec;
    const p = this.#p;
    const d = this.#d;
    let n: number;
    try {
      n = this.#stream.readNow();
    } catch (e) {
      this.#end(failure(e, d, p.getPhase, false));
      return true;
    }
    if (n < 0) return false;
    const status = n === 0 ? -1 : statusOfHead(readBuffer().subarray(0, n));
    if (status >= 0) {
      this.#end(judgeStatus(spec, p, status, d.startedAt));
      return true;
    }
    const r = new HttpResponseReader(STATUS_ONLY);
    if (n === 0) r.end();
    else r.push(readBuffer().slice(0, n));
    if (r.finished) {
      this.#end(verdict(spec, p, r, p.getPhase, d.startedAt));
      return true;
    }
    // runHttp reads on; it closes the stream and releases the deadline. Started before
    // this run stops counting as a wait: checksIdle() sees no gap.
    const rest = runHttp(spec, p, d, { stream: this.#stream, reader: r });
    this.#stop();
    this.#resolve(rest);
    return true;
  }

  readonly #onEnd = (): void => {
    const phase = this.#stream.started ? this.#p.getPhase : this.#p.connectPhase;
    this.#end(failure(new Error(this.#d.reason()), this.#d, phase, false));
  };

  #stop(): void {
    this.#done = true;
    this.#watch?.close();
    this.#watch = null;
    this.#d.onEnd(null);
    checkReactor.leave();
  }

  #end(result: CheckResult): void {
    if (this.#done) return;
    this.#stop();
    this.#stream.close();
    this.#d.dispose();
    this.#resolve(result);
  }
}

/**
 * A plain status-only run through the ring (./ring_connect.ts): connect, request and
 * the reply's first read are one chain, answered at the sweep after the start; judged
 * as {@link ReplyWait} judges its read. What one read cannot settle goes on in
 * {@link runHttp}, reading through the ring.
 */
async function viaRing(
  spec: HttpCheck,
  p: Prepared,
  d: Deadline,
  run: RingRun,
): Promise<CheckResult> {
  d.onEnd(run.end);
  const n = await run.result;
  d.onEnd(null);
  if (n < 0) {
    run.close();
    d.dispose();
    return failure(ringError(run, n, d), d, ringPhase(run, n, p), false);
  }
  const bytes = run.bytes(n);
  const status = n === 0 ? -1 : statusOfHead(bytes);
  const r = status >= 0 ? null : new HttpResponseReader(STATUS_ONLY);
  if (r !== null) {
    if (n === 0) r.end();
    else r.push(bytes.slice());
    // runHttp reads on; it closes the stream and releases the deadline.
    if (!r.finished) return runHttp(spec, p, d, { stream: new RingStream(run, d), reader: r });
  }
  run.close();
  d.dispose();
  return r === null
    ? judgeStatus(spec, p, status, d.startedAt)
    : verdict(spec, p, r, p.getPhase, d.startedAt);
}

/** What a failed ring answer says, as the classic path's error would. */
function ringError(run: RingRun, answer: number, d: Deadline): Error {
  if (answer === ENDED) return new Error(d.reason());
  return new SyscallError(run.failedOp === "recv" ? "read" : run.failedOp, -answer);
}

/** The phase a failed ring answer belongs to: the connect's until the request went. */
function ringPhase(run: RingRun, answer: number, p: Prepared): string {
  if (answer === ENDED) return run.connected ? p.getPhase : p.connectPhase;
  return run.failedOp === "recv" ? p.getPhase : p.connectPhase;
}

/** The rest of a reply read through the ring, for {@link runHttp}. */
class RingStream implements StartedStream {
  readonly fd = -1;
  readonly started = true;
  readonly #run: RingRun;
  readonly #d: Deadline;

  constructor(run: RingRun, d: Deadline) {
    this.#run = run;
    this.#d = d;
  }

  finishStart(): Promise<void> {
    return Promise.resolve();
  }

  startNow(): boolean {
    return true;
  }

  readNow(): number {
    throw new Error("a ring stream is read with read()");
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#d.expired) throw new Error(this.#d.reason());
    this.#d.onEnd(this.#run.end);
    const n = await this.#run.read();
    this.#d.onEnd(null);
    if (n < 0) throw ringError(this.#run, n, this.#d);
    return n === 0 ? null : this.#run.bytes(n).slice();
  }

  write(): Promise<void> {
    return Promise.reject(new Error("a ring stream sent its request with its connect"));
  }

  close(): void {
    this.#run.close();
  }
}

/** How a status-only run reads (one options object for every run). */
const STATUS_ONLY = { needBody: false, bodyCapBytes: BODY_CAP_BYTES } as const;

/** Where a run that did not end within its first calls stands. */
interface Started {
  readonly stream: StartedStream;
  /** Null until the first bytes of the reply were read. */
  readonly reader: HttpResponseReader | null;
}

/**
 * A run that waits (a connect under way, a reply not there yet, TLS, a body to read):
 * from `started` when {@link checkHttp}'s first pass began it.
 */
async function runHttp(
  spec: HttpCheck,
  p: Prepared,
  d: Deadline,
  started: Started | null,
): Promise<CheckResult> {
  // Texts made once per spec (prepare): a run builds a string only for its result.
  let phase = p.connectPhase;
  let stream: ByteStream | null = started?.stream ?? null;
  // A refusal, or a reset before the first byte of a reply, is definitive.
  let replied = started?.reader != null;
  try {
    if (started !== null) {
      if (!started.stream.started) await started.stream.finishStart();
    } else {
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
      }
    }
    phase = p.getPhase;
    const needBody = spec.bodyRegex !== null || spec.digest !== null;
    const r = started?.reader ?? new HttpResponseReader({ needBody, bodyCapBytes: BODY_CAP_BYTES });
    while (!r.finished) {
      const chunk = await stream!.read();
      if (chunk === null) r.end();
      else {
        replied = true;
        r.push(chunk);
      }
    }
    stream!.close();
    return verdict(spec, p, r, phase, d.startedAt);
  } catch (e) {
    return failure(e, d, phase, replied);
  } finally {
    stream?.close();
    d.dispose();
  }
}

/** The result of a response read to its end (or to the end of its head). */
function verdict(
  spec: HttpCheck,
  p: Prepared,
  r: HttpResponseReader,
  phase: string,
  startedAt: number,
): CheckResult {
  if (r.phase === "error") return failed(`${phase}: ${r.error}`, startedAt);
  return judge(spec, p, r, startedAt);
}

/** A run that threw: its phase and why; a refusal (or a reset before any reply) is definitive. */
function failure(e: unknown, d: Deadline, phase: string, replied: boolean): CheckResult {
  const definitive = !d.expired && !replied && isRefusal(e);
  return failedFrom(`${phase}: ${d.expired ? d.reason() : errorText(e)}`, d.startedAt, definitive);
}

function judge(
  spec: HttpCheck,
  p: Prepared,
  r: HttpResponseReader,
  startedAt: number,
): CheckResult {
  const status = r.status;
  if (inRanges(status, spec.statusRanges)) {
    const wrong = bodyFault(spec, p, r);
    if (wrong !== null) return failed(`HTTP ${status}: ${wrong}`, startedAt);
  }
  return judgeStatus(spec, p, status, startedAt);
}

/** What is wrong with the body (its digest, its match), or null; only when a check asks. */
function bodyFault(spec: HttpCheck, p: Prepared, r: HttpResponseReader): string | null {
  if (spec.digest === null && p.regex === null) return null;
  const body = r.body();
  if (spec.digest !== null) {
    if (r.truncated) return `body over ${BODY_CAP_BYTES} bytes, digest not computed`;
    const algo = spec.digest.length === 32 ? "md5" : "sha256";
    const got = createHash!(algo).update(body).digest("hex");
    if (got !== spec.digest) return `digest mismatch (${algo} ${got})`;
  }
  if (p.regex !== null && !p.regex.test(UTF8.decode(body))) {
    return `body does not match /${spec.bodyRegex}/`;
  }
  return null;
}

/** The verdict on `status` alone: a status-only run's, and a body check's once its body passed. */
function judgeStatus(spec: HttpCheck, p: Prepared, status: number, startedAt: number): CheckResult {
  if (!inRanges(status, spec.statusRanges)) {
    return failed(`HTTP ${status} (expected ${p.expected})`, startedAt);
  }
  return passed(`HTTP ${status} in ${formatMs(checkClock.now() - startedAt)}`, startedAt);
}

function inRanges(status: number, ranges: HttpCheck["statusRanges"]): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}
