/**
 * One request/reply over a fresh, connected UDP socket (the DNS and UDP checks).
 *
 * Connected, so the kernel only delivers datagrams from the target and reports an ICMP
 * port-unreachable as ECONNREFUSED on the next read: a closed port fails at once
 * instead of at the timeout.
 *
 * @module
 */

import { SyscallError } from "../sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  closeFd,
  connectSocket,
  openSocket,
  recvFrom,
  sendTo,
  SOCK_DGRAM,
  sockaddrIn,
  sockaddrIn6,
} from "../sys/libc.ts";
import type { Deadline } from "./deadline.ts";
import { checkReactor } from "./reactor.ts";
import type { Endpoint } from "./types.ts";

/**
 * What a reply handler decides: `null` = not an answer to us, keep waiting; otherwise
 * the exchange ends with this value.
 */
export type ReplyVerdict<T> = T | null;

/**
 * How an exchange ended: the handler's value, or an error text (`ECONNREFUSED`,
 * `timed out after 1000 ms`).
 *
 * @example
 * ```ts
 * const r: ExchangeResult<number> = { ok: false, error: "ECONNREFUSED" };
 * ```
 */
export type ExchangeResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Sends `payload` to `target` and hands each datagram that comes back to `onReply`
 * until it returns a value, the target refuses, or the deadline ends. Never throws.
 *
 * @example
 * ```ts
 * const r = await exchangeDatagram(target, query, 4096, deadline, (reply) => reply.length);
 * ```
 */
export async function exchangeDatagram<T>(
  target: Endpoint,
  payload: Uint8Array,
  bufferBytes: number,
  deadline: Deadline,
  onReply: (reply: Uint8Array) => ReplyVerdict<T>,
): Promise<ExchangeResult<T>> {
  const v6 = target.host.includes(":");
  let fd = -1;
  try {
    fd = openSocket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    connectSocket(
      fd,
      v6 ? sockaddrIn6(target.host, target.port) : sockaddrIn(target.host, target.port),
    );
    if (sendTo(fd, payload, null) === null) {
      return { ok: false, error: "send buffer full (EAGAIN)" };
    }
    const buf = new Uint8Array(bufferBytes);
    for (;;) {
      if (!(await checkReactor.readable(fd, deadline.signal))) {
        return { ok: false, error: deadline.reason() };
      }
      // Drain everything queued: one readiness may cover several datagrams.
      for (;;) {
        const got = recvFrom(fd, buf);
        if (got === null) break;
        const verdict = onReply(buf.subarray(0, Math.min(got.n, buf.length)));
        if (verdict !== null) return { ok: true, value: verdict };
      }
    }
  } catch (e) {
    return { ok: false, error: e instanceof SyscallError ? e.code : String(e) };
  } finally {
    if (fd >= 0) closeFd(fd);
  }
}
