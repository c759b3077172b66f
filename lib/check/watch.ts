/**
 * Passive detection of a dead server: one idle TCP connection per distinct target,
 * held open between checks. When the server's process dies the kernel closes its
 * sockets, and this connection ends (FIN or RST) within milliseconds; the scheduler
 * then runs the target's checks at once instead of at their next interval.
 *
 * Nothing is sent on the connection. Bytes the server sends (an SMTP banner) are read
 * and dropped. A server that closes idle connections by design ends the watch too; the
 * scheduler runs the check, sees it pass, and stops watching that target, so such a
 * server costs one extra check, not one per idle timeout.
 *
 * A process death is seen; a link down or a hung host is not (no FIN comes): those
 * still wait for the checks' timeouts.
 *
 * @module
 */

import { formatEndpoint } from "./result.ts";
import type { Endpoint } from "./types.ts";

/**
 * Watches targets for the end of an idle connection.
 *
 * @example
 * ```ts
 * const unwatch = watcher.watch({ host: "10.0.0.5", port: 80 }, () => runNow());
 * unwatch(); // no call after this
 * ```
 */
export interface ConnectionWatcher {
  /**
   * Calls `onEnd` once, when the connection to `target` ends (or cannot be opened):
   * one connection however many watch the same target. Returns the function that
   * stops watching (idempotent); `onEnd` is never called after it.
   */
  watch(target: Endpoint, onEnd: () => void): () => void;
  /** Closes every connection without calling anyone; resolves once all have ended. */
  close(): Promise<void>;
}

/** Connections held at most: each is a file descriptor of the daemon's. */
export const MAX_WATCHES = 4096;

/** An open that takes longer than this gives up (the next passing check tries again). */
const OPEN_TIMEOUT_MS = 1000;

interface Watch {
  readonly listeners: Set<() => void>;
  conn: Deno.TcpConn | null;
  /** Set once we closed it ourselves: its end is no news. */
  cancelled: boolean;
}

/**
 * The production {@link ConnectionWatcher}, over `Deno.connect`.
 *
 * @example
 * ```ts
 * const w = new TcpWatcher();
 * w.watch({ host: "127.0.0.1", port: 8080 }, () => console.log("gone"));
 * await w.close();
 * ```
 */
export class TcpWatcher implements ConnectionWatcher {
  readonly #watches = new Map<string, Watch>();
  /** Every connection not yet ended, cancelled ones too: close() waits for them all. */
  readonly #holds = new Set<Promise<void>>();
  #closed = false;

  /** Targets with a connection open or opening (for tests and status). */
  get size(): number {
    return this.#watches.size;
  }

  watch(target: Endpoint, onEnd: () => void): () => void {
    if (this.#closed) return () => {};
    const key = formatEndpoint(target);
    let w = this.#watches.get(key);
    if (w === undefined) {
      if (this.#watches.size >= MAX_WATCHES) return () => {};
      w = { listeners: new Set(), conn: null, cancelled: false };
      this.#watches.set(key, w);
      const done = this.#hold(key, target, w).finally(() => this.#holds.delete(done));
      this.#holds.add(done);
    }
    const watch = w;
    // A wrapper per call: the same function may watch twice and unwatch once.
    const listener = () => onEnd();
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
  }

  #cancel(key: string, w: Watch): void {
    w.cancelled = true;
    if (this.#watches.get(key) === w) this.#watches.delete(key);
    try {
      w.conn?.close();
    } catch {
      // Already closed.
    }
  }

  /** Opens the connection and reads until it ends; then tells the listeners. */
  async #hold(key: string, target: Endpoint, w: Watch): Promise<void> {
    const signal = AbortSignal.timeout(OPEN_TIMEOUT_MS);
    try {
      const conn = await Deno.connect({ hostname: target.host, port: target.port, signal });
      if (w.cancelled) {
        conn.close();
        return;
      }
      w.conn = conn;
      // Bytes the server volunteers are dropped; only the end matters.
      const buf = new Uint8Array(512);
      while ((await conn.read(buf)) !== null);
    } catch {
      // Refused, reset, timed out or closed by us: the end either way.
    }
    if (w.cancelled) return;
    try {
      w.conn?.close();
    } catch {
      // Closed by the peer's reset already.
    }
    if (this.#watches.get(key) === w) this.#watches.delete(key);
    for (const l of [...w.listeners]) l();
  }
}
