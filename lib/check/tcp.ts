/**
 * The TCP check: healthy when a connection opens within the timeout. The connection
 * is closed at once; nothing is sent. A refused connection is a definitive failure.
 *
 * A libc socket, not `Deno.connect`: `socket`, a non-blocking `connect`, a second
 * `connect` that finds it done (a nearby server), else the shared {@link checkReactor}
 * poll for its completion and `getsockopt(SO_ERROR)`; `close`. Four syscalls per check
 * to a nearby server; `Deno.connect` made ten (its runtime also registers and removes
 * the socket with epoll, asks for both addresses and shuts down before closing, and
 * hands the wait to another thread), and in the User-Mode Linux guest every syscall is
 * a ptrace round-trip.
 *
 * @module
 */

import { checkClock } from "./clock.ts";
import { SyscallError } from "../sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  closeFd,
  connectSocket,
  getsockoptInt,
  openSocket,
  SO_ERROR,
  SOCK_STREAM,
  sockaddrIn,
  sockaddrIn6,
  SOL_SOCKET,
} from "../sys/libc.ts";
import { Deadline } from "./deadline.ts";
import { checkReactor } from "./reactor.ts";
import { errorText, failedFrom, formatEndpoint, formatMs, isRefusal, passed } from "./result.ts";
import type { CheckResult, Endpoint, TcpCheck } from "./types.ts";

/**
 * Runs one TCP check. Never rejects.
 *
 * @example
 * ```ts
 * const r = await checkTcp({ kind: "tcp", target: { host: "127.0.0.1", port: 80 } }, 1000, new AbortController().signal);
 * r.detail; // "connected to 127.0.0.1:80 in 0.1 ms" or "connect 127.0.0.1:80: ECONNREFUSED"
 * ```
 */
export async function checkTcp(
  spec: TcpCheck,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckResult> {
  const d = new Deadline(signal, timeoutMs);
  let fd = -1;
  try {
    const target = spec.target;
    const v6 = target.host.includes(":");
    fd = openSocket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (!connectNow(fd, target)) {
      if (!(await checkReactor.writable(fd, d.signal))) throw new Error("aborted");
      const err = getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
      if (err !== 0) throw new SyscallError("connect", err);
    }
    return passed(
      `connected to ${formatEndpoint(target)} in ${formatMs(checkClock.fresh() - d.startedAt)}`,
      d.startedAt,
    );
  } catch (e) {
    // The failure's duration ends now (the result reads the turn's latest reading).
    checkClock.fresh();
    // Refused: nothing listens there, a definitive failure (CheckResult.definitive).
    return failedFrom(
      `connect ${formatEndpoint(spec.target)}: ${d.expired ? d.reason() : errorText(e)}`,
      d.startedAt,
      !d.expired && isRefusal(e),
    );
  } finally {
    if (fd >= 0) closeFd(fd);
    d.dispose();
  }
}

/**
 * Starts the connect: true when it completed at once, false when under way. A connect
 * under way is asked once more at once (a second `connect` says EISCONN when done,
 * EALREADY while under way, or the error): a nearby server (same host, a veth, often
 * the LAN) has answered the SYN by then, and the check never waits on the poll thread.
 */
function connectNow(fd: number, target: Endpoint): boolean {
  const sa = sockaddrOf(target);
  try {
    connectSocket(fd, sa);
    return true;
  } catch (e) {
    if (!(e instanceof SyscallError) || e.code !== "EINPROGRESS") throw e;
  }
  try {
    connectSocket(fd, sa);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.code === "EISCONN") return true;
    if (e instanceof SyscallError && (e.code === "EALREADY" || e.code === "EINPROGRESS")) {
      return false;
    }
    throw e;
  }
}

/**
 * Endpoints live as long as their check: the sockaddr is built once per endpoint. The
 * kernel copies it at connect, so one buffer serves every run.
 */
const sockaddrs = new WeakMap<Endpoint, Uint8Array>();

function sockaddrOf(target: Endpoint): Uint8Array {
  let sa = sockaddrs.get(target);
  if (sa === undefined) {
    sa = target.host.includes(":")
      ? sockaddrIn6(target.host, target.port)
      : sockaddrIn(target.host, target.port);
    sockaddrs.set(target, sa);
  }
  return sa;
}
