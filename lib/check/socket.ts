/**
 * The TCP connect of the checks that open a connection (TCP, HTTP, SMTP), on a libc
 * socket: `socket`, a non-blocking `connect`, a second `connect` that finds it done (a
 * nearby server), else a wait on the shared {@link checkReactor} and
 * `getsockopt(SO_ERROR)`. In the User-Mode Linux guest every syscall is a ptrace
 * round-trip; `Deno.connect` made ten and handed the wait to another thread.
 *
 * @module
 */

import { EALREADY, EINPROGRESS, EISCONN, SyscallError } from "../sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  connectErrno,
  getsockoptInt,
  openSocket,
  SO_ERROR,
  SOCK_STREAM,
  sockaddrIn,
  sockaddrIn6,
  SOL_SOCKET,
} from "../sys/libc.ts";
import { checkReactor, type Reactor } from "./reactor.ts";
import type { Endpoint } from "./types.ts";

/**
 * A non-blocking, close-on-exec TCP socket of `target`'s family.
 *
 * @example
 * ```ts
 * const fd = openTcpSocket({ host: "::1", port: 80 });
 * ```
 */
export function openTcpSocket(target: Endpoint): number {
  return openSocket(target.host.includes(":") ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
}

/**
 * One non-blocking `connect`: 0 when it completed at once, EINPROGRESS when under
 * way, else the error. For a caller whose next syscall finds out by itself whether the
 * connect is done (a first `send` fails with EAGAIN while it is under way).
 *
 * @example
 * ```ts
 * const err = connectStart(fd, { host: "10.0.0.5", port: 80 });
 * ```
 */
export function connectStart(fd: number, target: Endpoint): number {
  return connectErrno(fd, sockaddrFor(target));
}

/**
 * Starts the connect: 0 when it completed at once, EALREADY while under way, else the
 * error. A connect under way is asked once more at once (a second `connect` says
 * EISCONN when done, EALREADY while under way, or the error): a nearby server (same
 * host, a veth, often the LAN) has answered the SYN by then, and the check never waits
 * on the reactor. Errnos, not exceptions: most first calls "fail" with EINPROGRESS.
 *
 * @example
 * ```ts
 * const err = connectNow(fd, { host: "10.0.0.5", port: 80 });
 * if (err === EALREADY) await awaitConnect(fd, signal);
 * ```
 */
export function connectNow(fd: number, target: Endpoint): number {
  const sa = sockaddrFor(target);
  const first = connectErrno(fd, sa);
  if (first !== EINPROGRESS) return first;
  const second = connectErrno(fd, sa);
  if (second === EISCONN) return 0;
  return second === EINPROGRESS ? EALREADY : second;
}

/**
 * Waits for a connect under way ({@link connectNow} said EALREADY) to end, on
 * `reactor` (the checks' shared one by default).
 *
 * @example
 * ```ts
 * await awaitConnect(fd, deadline.signal);
 * ```
 * @throws {SyscallError} the connect's error (ECONNREFUSED, EHOSTUNREACH, ...), or an
 *   Error when `signal` aborted first.
 */
export async function awaitConnect(
  fd: number,
  signal: AbortSignal,
  reactor: Reactor = checkReactor,
): Promise<void> {
  if (!(await reactor.writable(fd, signal))) throw new Error("aborted");
  const err = getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
  if (err !== 0) throw new SyscallError("connect", err);
}

/**
 * Connects `fd` to `target`, waiting on the reactor when the connect did not complete
 * at once.
 *
 * @example
 * ```ts
 * await connectFd(fd, { host: "10.0.0.5", port: 25 }, deadline.signal);
 * ```
 * @throws as {@link awaitConnect}.
 */
export async function connectFd(fd: number, target: Endpoint, signal: AbortSignal): Promise<void> {
  const err = connectNow(fd, target);
  if (err === EALREADY) await awaitConnect(fd, signal);
  else if (err !== 0) throw new SyscallError("connect", err);
}

/**
 * Endpoints live as long as their check: the sockaddr is built once per endpoint. The
 * kernel copies it at connect, so one buffer serves every run.
 */
const sockaddrs = new WeakMap<Endpoint, Uint8Array>();

/**
 * The `sockaddr` of `target`, made once per endpoint (do not change it).
 *
 * @example
 * ```ts
 * sockaddrFor({ host: "10.0.0.5", port: 80 }).length; // 16
 * ```
 */
export function sockaddrFor(target: Endpoint): Uint8Array {
  let sa = sockaddrs.get(target);
  if (sa === undefined) {
    sa = target.host.includes(":")
      ? sockaddrIn6(target.host, target.port)
      : sockaddrIn(target.host, target.port);
    sockaddrs.set(target, sa);
  }
  return sa;
}
