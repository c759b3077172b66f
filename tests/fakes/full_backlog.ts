/**
 * A loopback listener whose accept queue is full: a further connect stays under way
 * (its SYN is dropped) until a queued connection is accepted, then completes when the
 * SYN is sent again (~1 s). What a check meets at a server whose backlog overflows, or
 * behind a black hole, without leaving loopback.
 *
 * @module
 */
import {
  acceptSocket,
  AF_INET,
  bindSocket,
  closeFd,
  getSockName,
  listenSocket,
  openSocket,
  SOCK_STREAM,
  sockaddrIn,
} from "../../lib/sys/libc.ts";

/** The listener {@link withFullBacklog} hands its test. */
export interface FullBacklog {
  readonly port: number;
  /** Accepts one queued connection (a filler's, or the connect under test): its fd, or null. Closed at the end. */
  accept(): number | null;
}

/**
 * Runs `fn` with a full listener on 127.0.0.1, and closes everything after.
 *
 * @example
 * ```ts
 * await withFullBacklog(async ({ port }) => {
 *   const r = await checkTcp({ kind: "tcp", target: { host: "127.0.0.1", port } }, 300, never);
 * });
 * ```
 */
export async function withFullBacklog(fn: (l: FullBacklog) => Promise<void>): Promise<void> {
  const fd = openSocket(AF_INET, SOCK_STREAM, 0);
  const fillers: Deno.Conn[] = [];
  const accepted: number[] = [];
  try {
    bindSocket(fd, sockaddrIn("127.0.0.1", 0));
    listenSocket(fd, 0);
    const name = getSockName(fd);
    const port = "port" in name ? name.port : 0;
    // Backlog 0 still queues one: fill until a connect no longer completes.
    for (let i = 0; i < 4; i++) {
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 200);
      try {
        fillers.push(await Deno.connect({ hostname: "127.0.0.1", port, signal: ac.signal }));
      } catch {
        break;
      } finally {
        clearTimeout(t);
      }
    }
    await fn({
      port,
      accept: () => {
        const c = acceptSocket(fd);
        if (c !== null) accepted.push(c);
        return c;
      },
    });
  } finally {
    for (const c of fillers) c.close();
    for (const c of accepted) closeFd(c);
    closeFd(fd);
  }
}
