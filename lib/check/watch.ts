/**
 * Passive detection of a dead server: one idle TCP connection per distinct target,
 * held open between checks.
 *
 * - A process death: the kernel closes the server's sockets, and this connection ends
 *   (FIN or RST) within milliseconds; the scheduler then runs the target's checks at
 *   once instead of at their next interval.
 * - A silent server (its link down, its host hung or powered off): no FIN comes, and a
 *   connect would only time out. The connection carries TCP keepalive probes on the
 *   check's own pacing ({@link WatchProbe}: one after each idle interval, retried
 *   `count` times `intervalS` apart); a live peer's kernel answers each one, costing
 *   its application nothing. When the last one goes unanswered the kernel aborts the
 *   connection (ETIMEDOUT) and the end is reported `"silent"`: the server has not
 *   answered for as long as the check's retries would have waited.
 *
 * Nothing is sent by the application. Bytes the server sends (an SMTP banner) are read
 * and dropped. A server that closes idle connections by design ends the watch too; the
 * scheduler runs the check, sees it pass, and stops watching that target, so such a
 * server costs one extra check, not one per idle timeout.
 *
 * A libc socket rather than `Deno.connect`: Deno sets SO_KEEPALIVE but not the probe
 * timing (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT), whose defaults (2 hours) would never
 * fire. The held connections wait on the daemon's one reactor, through the checks'
 * thin {@link Reactor} layer, like every other check socket.
 *
 * @module
 */

import { EALREADY, SyscallError } from "../sys/errno.ts";
import { closeFd, recvStream, setsockoptInt, SOL_SOCKET } from "../sys/libc.ts";
import { Reactor } from "./reactor.ts";
import { awaitConnect, connectNow, openTcpSocket } from "./socket.ts";
import { formatEndpoint } from "./result.ts";
import type { Endpoint } from "./types.ts";

/**
 * How the connection ended: `"closed"` by the peer (FIN, RST, refused: its process is
 * gone or closed it), or `"silent"`: the peer's kernel left the keepalive probes
 * unanswered (link down, host gone).
 *
 * @example
 * ```ts
 * const end: WatchEnd = "silent";
 * ```
 */
export type WatchEnd = "closed" | "silent";

/**
 * TCP keepalive timing of a watched connection, in whole seconds (the kernel's unit):
 * a probe after `idleS` without traffic, then every `intervalS` while unanswered; the
 * connection is aborted `intervalS` after the `count`-th unanswered probe. A peer that
 * goes silent is thus noticed within `idleS + count × intervalS`.
 *
 * @example
 * ```ts
 * const p: WatchProbe = { idleS: 1, intervalS: 1, count: 1 }; // silent within 2 s
 * ```
 */
export interface WatchProbe {
  readonly idleS: number;
  readonly intervalS: number;
  readonly count: number;
}

/**
 * Watches targets for the end of an idle connection.
 *
 * @example
 * ```ts
 * const unwatch = watcher.watch({ host: "10.0.0.5", port: 80 }, (end) => runNow(end));
 * unwatch(); // no call after this
 * ```
 */
export interface ConnectionWatcher {
  /**
   * Calls `onEnd` once, when the connection to `target` ends (or cannot be opened):
   * one connection however many watch the same target (the first watcher's `probe`
   * sets its keepalive timing; none = no keepalive). Returns the function that stops
   * watching (idempotent); `onEnd` is never called after it.
   */
  watch(target: Endpoint, onEnd: (end: WatchEnd) => void, probe?: WatchProbe): () => void;
  /** Closes every connection without calling anyone; resolves once all have ended. */
  close(): Promise<void>;
}

/** Connections held at most: each is a file descriptor of the daemon's. */
export const MAX_WATCHES = 4096;

/** An open that takes longer than this gives up (the next passing check tries again). */
const OPEN_TIMEOUT_MS = 1000;

// Linux <netinet/tcp.h>, <asm-generic/socket.h>.
const SO_KEEPALIVE = 9;
const SOL_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
/** The kernel's limits: 1 .. MAX_TCP_KEEPIDLE/INTVL (32767 s), 1 .. 127 probes. */
const MAX_KEEP_S = 32767;
const MAX_KEEPCNT = 127;

interface Watch {
  readonly listeners: Set<(end: WatchEnd) => void>;
  /** Aborted when we stop watching ourselves: its end is no news. */
  readonly stop: AbortController;
}

/**
 * The production {@link ConnectionWatcher}, over libc sockets with TCP keepalive.
 *
 * @example
 * ```ts
 * const w = new TcpWatcher();
 * w.watch({ host: "127.0.0.1", port: 8080 }, (end) => console.log("gone", end));
 * await w.close();
 * ```
 */
export class TcpWatcher implements ConnectionWatcher {
  readonly #watches = new Map<string, Watch>();
  /** Every connection not yet ended, cancelled ones too: close() waits for them all. */
  readonly #holds = new Set<Promise<void>>();
  readonly #reactor = new Reactor();
  #closed = false;

  /** Targets with a connection open or opening (for tests and status). */
  get size(): number {
    return this.#watches.size;
  }

  watch(target: Endpoint, onEnd: (end: WatchEnd) => void, probe?: WatchProbe): () => void {
    if (this.#closed) return () => {};
    const key = formatEndpoint(target);
    let w = this.#watches.get(key);
    if (w === undefined) {
      if (this.#watches.size >= MAX_WATCHES) return () => {};
      w = { listeners: new Set(), stop: new AbortController() };
      this.#watches.set(key, w);
      const done = this.#hold(key, target, w, probe).finally(() => this.#holds.delete(done));
      this.#holds.add(done);
    }
    const watch = w;
    // A wrapper per call: the same function may watch twice and unwatch once.
    const listener = (end: WatchEnd) => onEnd(end);
    watch.listeners.add(listener);
    return () => {
      if (!watch.listeners.delete(listener) || watch.listeners.size > 0) return;
      this.#cancel(key, watch);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [key, w] of [...this.#watches.entries()]) this.#cancel(key, w);
    await Promise.all([...this.#holds]);
    await this.#reactor.idle();
  }

  #cancel(key: string, w: Watch): void {
    w.stop.abort();
    if (this.#watches.get(key) === w) this.#watches.delete(key);
  }

  /** Opens the connection and reads until it ends; then tells the listeners how. */
  async #hold(key: string, target: Endpoint, w: Watch, probe?: WatchProbe): Promise<void> {
    let fd = -1;
    let end: WatchEnd = "closed";
    try {
      fd = openTcpSocket(target);
      if (probe !== undefined) setKeepalive(fd, probe);
      if (!(await this.#connect(fd, target, w.stop.signal))) return;
      // Bytes the server volunteers are dropped; only the end matters.
      const buf = new Uint8Array(512);
      while (await this.#reactor.readable(fd, w.stop.signal)) {
        const n = recvStream(fd, buf);
        if (n === 0) break;
      }
    } catch (e) {
      // Refused, reset or timed out: the end either way; a keepalive abort is silence.
      if (e instanceof SyscallError && e.code === "ETIMEDOUT") end = "silent";
    } finally {
      if (fd >= 0) closeFd(fd);
    }
    if (w.stop.signal.aborted) return;
    if (this.#watches.get(key) === w) this.#watches.delete(key);
    for (const l of [...w.listeners]) l(end);
  }

  /** A non-blocking connect: true once established, false when stopped or too slow. */
  async #connect(fd: number, target: Endpoint, stop: AbortSignal): Promise<boolean> {
    const err = connectNow(fd, target);
    if (err === 0) return true;
    if (err !== EALREADY) throw new SyscallError("connect", err);
    const signal = AbortSignal.any([stop, AbortSignal.timeout(OPEN_TIMEOUT_MS)]);
    try {
      await awaitConnect(fd, signal, this.#reactor);
      return true;
    } catch (e) {
      if (stop.aborted) return false;
      if (e instanceof SyscallError) throw e;
      // An open that timed out is not silence: the watch just did not start.
      throw new Error("connect timed out");
    }
  }
}

/** Turns on keepalive probes with `p`'s timing, clamped to what the kernel accepts. */
function setKeepalive(fd: number, p: WatchProbe): void {
  const secs = (s: number) => Math.min(MAX_KEEP_S, Math.max(1, Math.ceil(s)));
  setsockoptInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  setsockoptInt(fd, SOL_TCP, TCP_KEEPIDLE, secs(p.idleS));
  setsockoptInt(fd, SOL_TCP, TCP_KEEPINTVL, secs(p.intervalS));
  setsockoptInt(fd, SOL_TCP, TCP_KEEPCNT, Math.min(MAX_KEEPCNT, Math.max(1, p.count)));
}
